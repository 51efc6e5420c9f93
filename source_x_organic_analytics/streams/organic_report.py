"""The `organic_report` stream: organic metrics per tweet per account-local day, incremental per account."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from itertools import chain, compress, repeat
from operator import is_not, itemgetter
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    EstimateType,
    FailureType,
    SyncMode,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..config import config_error
from ..errors import AccountDataError, XApiError, expecting_x_shape, metric_value, required_id, response_json
from ..windows import (
    ASYNC_WINDOW_DAYS,
    SYNC_WINDOW_DAYS,
    DayConvention,
    DayWindow,
    WindowMaker,
    chunk_days,
    chunk_local_days,
    day_window,
    format_x_time,
    read_range,
)
from .base import AccountStream
from .post_analytics import (
    ADS_API_INSTEAD,
    ADS_API_MODE_INSTEAD,
    MAX_IDS_PER_V2_REQUEST,
    PLACEMENT,
    V2RangeError,
    raise_for_v2_problem,
    v2_day_records,
    v2_params,
)
from .result_files import result_file_origins
from .stats_jobs import JobWindow, StatsJobs
from .tweets import TimelineTweet

ENGAGEMENT_METRICS = (
    "impressions",
    "engagements",
    "retweets",
    "replies",
    "likes",
    "follows",
    "unfollows",
    "clicks",
    "url_clicks",
    "app_clicks",
    "card_engagements",
    "qualified_impressions",
    "carousel_swipes",
    "poll_card_vote",
    "tweets_send",
)
VIDEO_METRICS = (
    "video_total_views",
    "video_views_25",
    "video_views_50",
    "video_views_75",
    "video_views_100",
    "video_cta_clicks",
    "video_content_starts",
    "video_3s100pct_views",
    "video_6s_views",
    "video_15s_views",
)
METRICS = ENGAGEMENT_METRICS + VIDEO_METRICS
MAX_IDS_PER_REQUEST = 20


def batched(ids: list[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most `size` ids: X caps the ids of one request."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def eligible_ids(timeline: list[TimelineTweet], window: DayWindow) -> list[str]:
    """Every organic tweet that existed before the window ends: old tweets keep earning impressions."""
    return [t.id for t in timeline if t.created_at < window.end]


def sanitize_state(
    state: Any, today: date | None, log: list[str] | None = None, end_date: date | None = None
) -> dict[str, dict[str, str]]:
    """Keep each `{"<account_id>": {"date": "YYYY-MM-DD"}}` entry that makes sense: a malformed one is dropped
    (that account restarts at `start_date`) and a future date is clamped to `today`, or to `end_date` when that is
    earlier, so that no state is written back beyond the days this connection reads. Accounts no longer configured
    keep their entry, so adding them back later resumes where they were."""
    log = log if log is not None else []
    if not isinstance(state, Mapping):
        if state:
            log.append(f"Ignoring organic_report state of unexpected shape {type(state).__name__}; starting over.")
        return {}
    clean: dict[str, dict[str, str]] = {}
    for account_id, entry in state.items():
        raw = entry.get("date") if isinstance(entry, Mapping) else None
        try:
            saved = date.fromisoformat(str(raw))
        except ValueError:
            log.append(f"Ignoring organic_report state {account_id!r}: {entry!r} is not {{'date': 'YYYY-MM-DD'}}.")
            continue
        if today is not None and saved > today:
            clamped = min(today, end_date or today)
            log.append(f"organic_report state of {account_id} is in the future ({saved}); treating it as {clamped}.")
            saved = clamped
        clean[str(account_id)] = {"date": saved.isoformat()}
    return clean


# Types that make the cheap checks below pass; anything else takes the slow path that names the problem.
_SERIES_TYPES = {list}
_PLAIN_METRIC_TYPES = {int, type(None)}
_RECORD_KEYS = ("account_id", "tweet_id", "date", "placement", *METRICS)
_is_present = partial(is_not, None)


def bucket_records(body: Mapping[str, Any], window: DayWindow, account_id: str) -> list[dict[str, Any]]:
    """One record per tweet per day with any non-zero metric; a metric X returned as null stays null."""
    with expecting_x_shape(f"the stats of account {account_id} for {window.first}..{window.last}"):
        return _bucket_records(body, window, account_id)


@lru_cache(maxsize=32)
def _day_names(first: date, days: int) -> tuple[str, ...]:
    # A sync reads a few windows, each answered in many batches: the dates are formatted once per window.
    return tuple((first + timedelta(days=bucket)).isoformat() for bucket in range(days))


def _raise_for_malformed_series(series: list[Any], tweet_id: str, account_id: str, window: DayWindow) -> None:
    for name, values in zip(METRICS, series, strict=True):
        if values is not None and (not isinstance(values, list) or len(values) != window.days):
            raise AirbyteTracedException(
                message=f"X returned a malformed `{name}` series for tweet {tweet_id} in account "
                f"{account_id} ({window.first}..{window.last}); the sync state was not moved past that window.",
                internal_message=f"expected a list of {window.days} numbers, got {values!r:.200}",
                failure_type=FailureType.system_error,
            )


def _bucket_records(body: Mapping[str, Any], window: DayWindow, account_id: str) -> list[dict[str, Any]]:
    # A backfill year is ~10^6 tweet-days of 25 metrics, most of them zero: every check, the search for the non-zero
    # days and the building of the records run in C (map, filter, compress, itemgetter, zip, set) over whole series,
    # so Python code runs per tweet, and per value only when X sent something other than integers and nulls.
    days = window.days
    dates = _day_names(window.first, days)
    lengths = {days}
    records: list[dict[str, Any]] = []
    for item in body.get("data") or []:
        tweet_id = required_id(item, "id")
        metrics = ((item.get("id_data") or [{}])[0] or {}).get("metrics") or {}
        series = list(map(metrics.get, METRICS))
        present = list(filter(_is_present, series))
        if not (set(map(type, present)) <= _SERIES_TYPES and set(map(len, present)) <= lengths):
            _raise_for_malformed_series(series, tweet_id, account_id, window)
        live = list(filter(any, present))
        if not live:
            continue
        flags = live[0] if len(live) == 1 else list(map(any, zip(*live, strict=True)))
        buckets = list(compress(range(days), flags))
        # itemgetter of one index returns the value itself, not a 1-tuple.
        pick = itemgetter(*buckets) if len(buckets) > 1 else lambda values, bucket=buckets[0]: (values[bucket],)
        absent = (None,) * len(buckets)
        columns = [absent if values is None else pick(values) for values in series]
        if not set(map(type, chain.from_iterable(columns))) <= _PLAIN_METRIC_TYPES:
            columns = [tuple(map(metric_value, column)) for column in columns]
        # One tuple of values a day, in _RECORD_KEYS' order, each zipped with the keys into its record.
        count = len(buckets)
        rows = zip((account_id,) * count, (tweet_id,) * count, pick(dates), (PLACEMENT,) * count, *columns, strict=True)
        records.extend(map(dict, map(zip, repeat(_RECORD_KEYS), rows)))
    return records


@dataclass(frozen=True)
class Schedule:
    """An account's days to read in this sync and their windows (7 days, or 90 for a backfill read with jobs)."""

    span: tuple[date, date]
    use_jobs: bool
    windows: list[tuple[date, date]]


class OrganicReport(AccountStream):
    primary_key = ["account_id", "tweet_id", "date"]
    cursor_field = "date"
    # Ranges longer than this many days are read with asynchronous jobs.
    async_after_days = SYNC_WINDOW_DAYS

    def __init__(self, context):
        super().__init__(context)
        self._state: dict[str, dict[str, str]] = {}
        self._conventions: dict[str, DayConvention] = {}
        self._confirmed: set[str] = set()
        self._estimated: dict[str, int] = {}
        self._schedules: dict[str, Schedule | None] = {}
        self._planned_ahead: set[str] = set()
        self._use_v2 = context.config.metrics_source == "x_api_v2" or context.config.v2_mode
        # x_api_v2 mode has no Ads API day convention to follow: its days are the calendar days of `timezone`.
        self._calendar_zone = ZoneInfo(context.config.timezone) if context.config.v2_mode else None
        self._ads_api_instead = ADS_API_MODE_INSTEAD if context.config.v2_mode else ADS_API_INSTEAD
        # Bounded concurrency: at most num_workers requests of this stream in flight.
        self._pool = ThreadPoolExecutor(max_workers=context.config.num_workers, thread_name_prefix="organic_report")
        self._jobs = StatsJobs(
            self.call,
            self._pool,
            context.config.num_workers,
            self.logger,
            result_origins=result_file_origins(context.config.api_base_url, context.config.x_api_base_url),
        )

    def _estimate(self, account_id: str, timeline: list[TimelineTweet]) -> AirbyteMessage | None:
        """An upper bound of rows (one per tweet per day it existed), known once the account's timeline is read; the
        platform shows progress against it. Summed over the accounts seen so far."""
        schedule = self._schedules.get(account_id)
        if account_id in self._estimated or schedule is None:
            return None
        first, last = schedule.span
        self._estimated[account_id] = sum(
            max(0, (last - max(first, t.created_at.date())).days + 1) for t in timeline if t.created_at.date() <= last
        )
        estimate = AirbyteEstimateTraceMessage(
            name=self.name, type=EstimateType.STREAM, row_estimate=sum(self._estimated.values())
        )
        return AirbyteMessage(
            type=Type.TRACE,
            trace=AirbyteTraceMessage(type=TraceType.ESTIMATE, emitted_at=time.time() * 1000, estimate=estimate),
        )

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        notes: list[str] = []
        tomorrow = self.context.clock().date() + timedelta(days=1)
        self._state = sanitize_state(value, today=tomorrow, log=notes, end_date=self.context.config.end_date)
        for note in notes:
            self.logger.warning(note)

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"stats/accounts/{(stream_slice or {})['account_id']}"

    # -- slices: one per (account, window of at most 7 local days) ------------------------------------------------

    def stream_slices(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any] | None]:
        if sync_mode == SyncMode.full_refresh:
            self._state = {}
        yield from super().stream_slices(sync_mode, **kwargs)

    def account_slices(self, account: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        schedule = self._schedule(account)
        if schedule is None:
            return
        for number, (first, last) in enumerate(schedule.windows, start=1):
            yield {
                "account_id": account["id"],
                "first": first.isoformat(),
                "last": last.isoformat(),
                "use_jobs": schedule.use_jobs,
                "progress": f"window {number}/{len(schedule.windows)}",
            }

    def _schedule(self, account: Mapping[str, Any]) -> Schedule | None:
        """The account's days to read and their windows, worked out once per sync: its jobs may be planned before
        its own slices are read, and both must see the same windows."""
        if account["id"] in self._schedules:
            return self._schedules[account["id"]]
        config = self.context.config
        tz = self._timezone(account)
        today = self.context.clock().astimezone(tz).date()
        saved = self._state.get(account["id"], {}).get("date")
        # The state setter only knows UTC; an account west of UTC may still be on the day before that.
        saved_day = min(date.fromisoformat(saved), today) if saved else None
        span = read_range(config.start_date, config.end_date, today, saved_day, config.lookback_window_days)
        schedule = None
        if span is not None:
            schedule = self._v2_schedule(span, tz) if self._calendar_zone else self._ads_schedule(span, account, tz)
        self._schedules[account["id"]] = schedule
        return schedule

    def _ads_schedule(self, span: tuple[date, date], account: Mapping[str, Any], tz: ZoneInfo) -> Schedule:
        breaks = tuple(d for d in [self._switch_day(account, tz)] if d)
        # A backfill goes through asynchronous jobs (90 days a request); a short incremental range stays synchronous.
        use_jobs = (span[1] - span[0]).days + 1 > self.async_after_days
        size = ASYNC_WINDOW_DAYS if use_jobs else SYNC_WINDOW_DAYS
        return Schedule(span, use_jobs, list(chunk_days(span[0], span[1], size, breaks)))

    @staticmethod
    def _v2_schedule(span: tuple[date, date], tz: ZoneInfo) -> Schedule:
        """x_api_v2 mode: windows of at most a week of hours (six days around a 25-hour day), each saved once read;
        v2 has no jobs."""
        return Schedule(span, False, list(chunk_local_days(span[0], span[1], tz, SYNC_WINDOW_DAYS * 24)))

    @staticmethod
    def _timezone(account: Mapping[str, Any]) -> ZoneInfo:
        name = account.get("timezone") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise AccountDataError(
                account["id"], "timezone", name, "is not a time zone this system knows (its days cannot be placed)"
            ) from None

    @staticmethod
    def _switch_day(account: Mapping[str, Any], tz: ZoneInfo) -> date | None:
        switched = account.get("timezone_switch_at")
        if not switched:
            return None
        try:
            return datetime.fromisoformat(str(switched).replace("Z", "+00:00")).astimezone(tz).date()
        except ValueError:
            raise AccountDataError(
                account["id"], "timezone_switch_at", switched, "is not a date-time (its report would have a gap)"
            ) from None

    # -- reading one window ---------------------------------------------------------------------------------------

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        account_id = stream_slice["account_id"]
        account = self.context.accounts.get(account_id)
        first, last = date.fromisoformat(stream_slice["first"]), date.fromisoformat(stream_slice["last"])
        started, emitted = time.monotonic(), 0
        # At most one switch of day convention and one switch of metrics source, each re-reading this window.
        for _ in range(3):
            try:
                for record in self._read_window(
                    account_id, first, last, self._window_maker(account), stream_slice["use_jobs"]
                ):
                    emitted += isinstance(record, dict)
                    yield record
                break
            except XApiError as error:
                if self._should_switch_to_v2(error):
                    self._switch_to_v2(error)
                elif error.detail.code == "INVALID_TIME_WINDOW" and account_id not in self._confirmed:
                    convention = self._convention(account_id)
                    other = next(c for c in DayConvention if c is not convention)
                    self.logger.warning(
                        f"X refused a DAY window of account {account_id} written with {convention.value} "
                        f"({error.detail}); retrying it once with {other.value} and keeping that for this account "
                        "for the rest of the sync."
                    )
                    self._conventions[account_id] = other
                    self._confirmed.add(account_id)
                else:
                    raise
        self._confirmed.add(account_id)
        self.logger.info(
            f"organic_report: account {account_id} {stream_slice['progress']} ({first}..{last}) done: "
            f"{emitted} records in {time.monotonic() - started:.1f} s."
        )
        saved = self._state.get(account_id, {}).get("date")
        if saved is None or saved < last.isoformat():
            self._state[account_id] = {"date": last.isoformat()}

    def _convention(self, account_id: str) -> DayConvention:
        """How the account's day windows are written in this sync: today's offset, unless X refused it; in
        x_api_v2 mode, local midnights with each day's own offset (calendar days)."""
        default = DayConvention.DAY_OFFSET if self._calendar_zone else DayConvention.TODAY_OFFSET
        return self._conventions.get(account_id, default)

    def _window_maker(self, account: Mapping[str, Any]) -> WindowMaker:
        tz, now, convention = self._timezone(account), self.context.clock(), self._convention(account["id"])
        return lambda first, last: day_window(first, last, tz, now, convention)

    def _read_window(
        self, account_id: str, first: date, last: date, windows: WindowMaker, use_jobs: bool
    ) -> Iterable[Mapping[str, Any]]:
        window = windows(first, last)
        timeline = self.context.timelines.get(account_id)
        estimate = self._estimate(account_id, timeline)
        if estimate is not None:
            yield estimate
        if self._use_v2:
            yield from self._read_window_v2(account_id, window, windows, eligible_ids(timeline, window))
            return
        if use_jobs:
            yield from self._read_window_with_jobs(account_id, window, windows, timeline)
            return
        batches = batched(eligible_ids(timeline, window), MAX_IDS_PER_REQUEST)
        for body in self._pool.map(lambda batch: self._sync_stats(account_id, window, batch), batches):
            yield from bucket_records(body, window, account_id)

    def _sync_stats(self, account_id: str, window: DayWindow, batch: list[str]) -> Mapping[str, Any]:
        params = {**self._stats_params(window), "entity_ids": ",".join(batch)}
        return self.call("GET", f"stats/accounts/{account_id}", params)

    @staticmethod
    def _job_key(window: DayWindow) -> tuple[date, date]:
        """How a window is named in a jobs plan: a planned window is read when a slice names the same key."""
        return window.first, window.last

    def _job_window(self, window: DayWindow, timeline: list[TimelineTweet]) -> JobWindow:
        batches = batched(eligible_ids(timeline, window), MAX_IDS_PER_REQUEST)
        return JobWindow(self._job_key(window), self._stats_params(window), batches)

    def _read_window_with_jobs(
        self, account_id: str, window: DayWindow, windows: WindowMaker, timeline: list[TimelineTweet]
    ) -> Iterable[Mapping[str, Any]]:
        key = self._job_key(window)
        plan = self._jobs.planned(account_id)
        if plan is None or plan.next_window != key:
            self._plan_jobs(account_id, window.first, windows, timeline)
        self._plan_next_account(account_id)
        finished = False
        try:
            yield from self._window_outcomes(account_id, window, windows, self._jobs.read(account_id, key))
            finished = True
        finally:
            # A window that fails (or is retried with another convention or source) restarts the plan from it.
            if not finished:
                self._jobs.drop(account_id)

    def _plan_jobs(self, account_id: str, first: date, windows: WindowMaker, timeline: list[TimelineTweet]) -> None:
        """The jobs of the account's windows from `first` on: created as soon as X's limit allows."""
        schedule = self._schedules[account_id]
        assert schedule is not None  # its slices come from it
        later = [w for w in schedule.windows if w[0] >= first]
        self._jobs.plan(account_id, [self._job_window(windows(*w), timeline) for w in later])

    def _plan_next_account(self, account_id: str) -> None:
        """Plans the jobs of the account read after this one, so X runs them while this one is read. One account
        ahead, not all: a result file must not sit waiting until it expires."""
        readable = self.context.accounts.readable()
        position = next(i for i, a in enumerate(readable) if a["id"] == account_id)
        if position + 1 == len(readable) or readable[position + 1]["id"] in self._planned_ahead:
            return
        account = readable[position + 1]
        self._planned_ahead.add(account["id"])
        try:
            schedule = self._schedule(account)
            if schedule is None or not schedule.use_jobs or self._use_v2:
                return
            timeline = self.context.timelines.get(account["id"])
        except AirbyteTracedException:
            return  # its own slices report why it cannot be read
        self._plan_jobs(account["id"], schedule.windows[0][0], self._window_maker(account), timeline)

    def _window_outcomes(
        self, account_id: str, window: DayWindow, windows: WindowMaker, outcomes: Iterable[Any]
    ) -> Iterable[Mapping[str, Any]]:
        for outcome in outcomes:
            if isinstance(outcome, tuple):
                yield from bucket_records(outcome[1], window, account_id)
                continue
            # A job whose result cannot be had or trusted loses nothing: its tweets are read through the synchronous
            # endpoint instead.
            self.logger.warning(
                f"X's analytics job {outcome.job_id} for account {account_id} ({window.first}..{window.last}) "
                f"{outcome.reread}; reading its {len(outcome.batch)} tweets with synchronous requests instead."
            )
            for first, last in chunk_days(window.first, window.last, SYNC_WINDOW_DAYS):
                part = windows(first, last)
                yield from bucket_records(self._sync_stats(account_id, part, list(outcome.batch)), part, account_id)

    # -- the X API v2 fallback ------------------------------------------------------------------------------------

    @staticmethod
    def _refuses_organic_tweet(error: XApiError) -> bool:
        detail = error.detail
        return detail.code == "FEATURE_NOT_AVAILABLE" or (
            detail.code == "INVALID_PARAMETER" and detail.parameter == "entity"
        )

    def _should_switch_to_v2(self, error: XApiError) -> bool:
        return self.context.config.metrics_source == "auto" and not self._use_v2 and self._refuses_organic_tweet(error)

    def _switch_to_v2(self, error: XApiError) -> None:
        self._use_v2 = True
        self._jobs.drop_all()  # accounts planned ahead would keep creating and polling jobs nobody reads
        self.logger.warning(
            f"The Ads API refused organic tweet analytics ({error.detail}); `metrics_source` is `auto`, so the rest "
            "of this sync reads organic metrics from the X API v2 (GET /2/tweets/analytics), starting again at the "
            "window that was refused."
        )

    def _read_window_v2(
        self, account_id: str, window: DayWindow, windows: WindowMaker, tweet_ids: list[str]
    ) -> Iterable[Mapping[str, Any]]:
        batches = batched(tweet_ids, MAX_IDS_PER_V2_REQUEST)
        for first, last in chunk_days(window.first, window.last, SYNC_WINDOW_DAYS):
            part = windows(first, last)
            for records in self._pool.map(
                lambda batch, part=part: self._v2_records(account_id, part, windows, batch), batches
            ):
                yield from records

    def _v2_records(
        self, account_id: str, window: DayWindow, windows: WindowMaker, batch: list[str]
    ) -> list[dict[str, Any]]:
        """One batch's records; a range X refuses is split in two, since v2's range limits are undocumented."""
        response = self.send_gated(
            "GET", f"{self.context.config.x_api_base_url}/2/tweets/analytics", v2_params(window, batch)
        )
        self.context.v2_usage.add_analytics_request()
        try:
            raise_for_v2_problem(response, self._ads_api_instead)
        except V2RangeError as error:
            if window.days == 1:
                # One day is within any range limit: X refuses its start, so the day is older than v2 keeps.
                raise config_error(
                    f"X API v2 refused the post analytics of {window.first} ({error}): X API v2 keeps none that old "
                    f"(how long it keeps them is undocumented). Set `start_date` to a later day, or "
                    f"{self._ads_api_instead} to read older days from the Ads API."
                ) from None
            middle = window.first + (window.last - window.first) // 2
            self.logger.info(f"X API v2 refused {window.first}..{window.last}; splitting it at {middle}.")
            halves = (windows(window.first, middle), windows(middle + timedelta(days=1), window.last))
            return [r for half in halves for r in self._v2_records(account_id, half, windows, batch)]
        return list(v2_day_records(response_json(response), window, account_id, self._calendar_zone))

    @staticmethod
    def _stats_params(window: DayWindow) -> dict[str, str]:
        return {
            "entity": "ORGANIC_TWEET",
            "start_time": format_x_time(window.start),
            "end_time": format_x_time(window.end),
            "granularity": "DAY",
            "metric_groups": "ENGAGEMENT,VIDEO",
            "placement": PLACEMENT,
        }
