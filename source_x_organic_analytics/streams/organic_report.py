"""The `organic_report` stream: organic metrics per tweet per account-local day, incremental per account.

The stream keeps the slices (an account's windows, from its plan in `account_plan`), the state, the row estimates
and the two fallbacks; the records come from one of three metric readers: the Ads API's synchronous endpoint or its
asynchronous jobs (`ads_stats`), or X API v2 (`post_analytics`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    EstimateType,
    SyncMode,
    TraceType,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..account_plan import ChooseJobs, HourSchedule, Schedule, account_timezone, plan_account
from ..context import SyncContext
from ..errors import XApiError
from ..stats_budget import EndpointCosts
from ..timelines import eligible_ids
from ..windows import DayConventions, Window, WindowMaker, day_window
from .ads_stats import MAX_IDS_PER_REQUEST, AdsJobsReader, AdsSyncReader, request_count
from .base import AccountStream
from .post_analytics import ADS_API_INSTEAD, ADS_API_MODE_INSTEAD, V2Reader
from .result_files import result_file_origins
from .stats_jobs import StatsJobs


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


def refuses_organic_tweet(error: XApiError) -> bool:
    """The Ads API's answer when the app may not read organic tweet analytics: X API v2 may still serve them."""
    detail = error.detail
    entity_refused = detail.code == "INVALID_PARAMETER" and detail.parameter == "entity"
    return detail.code == "FEATURE_NOT_AVAILABLE" or entity_refused


def estimate_message(stream: str, rows: int) -> AirbyteMessage:
    estimate = AirbyteEstimateTraceMessage(name=stream, type=EstimateType.STREAM, row_estimate=rows)
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(type=TraceType.ESTIMATE, emitted_at=time.time() * 1000, estimate=estimate),
    )


def metric_readers(
    stream: OrganicReport, calendar_zone: ZoneInfo | None
) -> tuple[AdsSyncReader, AdsJobsReader, V2Reader]:
    """A metrics stream's three readers over the sync's pool: at most num_workers requests in flight, all streams
    together."""
    config, pool = stream.context.config, stream.context.pool
    sync_reader = AdsSyncReader(stream.call, pool)
    origins = result_file_origins(config.api_base_url, config.x_api_base_url)
    jobs = StatsJobs(stream.call, pool, config.num_workers, stream.logger, result_origins=origins)
    instead = ADS_API_MODE_INSTEAD if config.v2_mode else ADS_API_INSTEAD
    v2_reader = V2Reader(
        stream.send_gated, config.x_api_base_url, stream.context.v2_usage, pool, stream.logger, calendar_zone, instead
    )
    return sync_reader, AdsJobsReader(jobs, sync_reader, stream.logger), v2_reader


class OrganicReport(AccountStream):
    primary_key = ["account_id", "tweet_id", "date"]
    cursor_field = "date"

    def __init__(self, context: SyncContext):
        super().__init__(context)
        config = context.config
        self._state: dict[str, dict[str, str]] = {}
        self._estimated: dict[str, int] = {}
        self._schedules: dict[str, Schedule | HourSchedule | None] = {}
        self._planned_ahead: set[str] = set()
        self._use_v2 = config.metrics_source == "x_api_v2" or config.v2_mode
        # x_api_v2 mode has no Ads API day convention to follow: its days are the calendar days of `timezone`.
        calendar_zone = ZoneInfo(config.timezone) if config.v2_mode else None
        self._conventions = DayConventions(calendar_days=calendar_zone is not None)
        self._sync_reader, self._jobs_reader, self._v2_reader = metric_readers(self, calendar_zone)

    def _estimate(self, account_id: str) -> AirbyteMessage | None:
        """An upper bound of rows (one per tweet per day it existed), known once the account's timeline is read; the
        platform shows progress against it. Summed over the accounts seen so far."""
        schedule = self._schedules.get(account_id)
        if account_id in self._estimated or schedule is None:
            return None
        self._estimated[account_id] = schedule.row_bound(self.context.timelines.get(account_id))
        return estimate_message(self.name, sum(self._estimated.values()))

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        notes: list[str] = []
        self._state = self._sanitize(value, notes)
        for note in notes:
            self.logger.warning(note)

    def _sanitize(self, value: Any, notes: list[str]) -> dict[str, dict[str, str]]:
        tomorrow = self.context.clock().date() + timedelta(days=1)
        return sanitize_state(value, today=tomorrow, log=notes, end_date=self.context.config.end_date)

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"stats/accounts/{(stream_slice or {})['account_id']}"

    # -- slices: one per (account, window) ------------------------------------------------------------------------

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

    def _schedule(self, account: Mapping[str, Any]) -> Schedule | HourSchedule | None:
        """The account's plan, worked out once per sync: its jobs may be planned before its own slices are read, and
        both must see the same windows."""
        if account["id"] not in self._schedules:
            saved = self._state.get(account["id"], {}).get(self.cursor_field)
            self._schedules[account["id"]] = self._plan(account, saved)
        return self._schedules[account["id"]]

    def _plan(self, account: Mapping[str, Any], saved: str | None) -> Schedule | HourSchedule | None:
        return plan_account(account, self.context.config, self.context.clock(), saved, self._jobs_chooser(account))

    def _jobs_chooser(self, account: Mapping[str, Any]) -> ChooseJobs:
        """Chooses between an account's synchronous and job windows by what finishes first within the user's
        synchronous budget (`stats_budget`), from the requests each needs for the account's timeline."""

        def prefers_jobs(sync: list[tuple[Any, Any]], jobs: list[tuple[Any, Any]]) -> bool:
            if self._use_v2:
                # X API v2 reads any window in its own requests: only the windows' length (a slice's) is chosen here.
                return len(sync) > 1
            if self.context.config.stats_endpoint != "auto":
                return self.context.config.stats_endpoint == "jobs"
            account_id, windows = account["id"], self._window_maker(account)
            ids = [self._ids(account_id, windows(*bounds)) for bounds in sync]
            costs = EndpointCosts(
                sync_windows=tuple(map(request_count, ids)),
                job_windows=tuple(request_count(self._ids(account_id, windows(*bounds))) for bounds in jobs),
            )
            return self.context.stats_budget.prefers_jobs(costs, lambda: self._probe(account_id, windows, sync, ids))

        return prefers_jobs

    def _probe(self, account_id: str, windows: WindowMaker, sync: list[tuple[Any, Any]], ids: list[list[str]]) -> None:
        """Sends the synchronous plan's first request ahead, its answer kept for the read: it tells X's budget."""
        number = next(n for n, each in enumerate(ids) if each)
        self._sync_reader.prefetch(account_id, windows(*sync[number]), ids[number][:MAX_IDS_PER_REQUEST])

    def _bounds(self, stream_slice: Mapping[str, Any]) -> tuple[Any, Any]:
        """A slice's window as its WindowMaker's arguments."""
        return date.fromisoformat(stream_slice["first"]), date.fromisoformat(stream_slice["last"])

    def _cursor_after(self, first: Any, last: Any) -> str:
        """The state's cursor once the window first..last is emitted: its last bucket."""
        return last.isoformat()

    # -- reading one window ---------------------------------------------------------------------------------------

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        account_id = stream_slice["account_id"]
        account = self.context.accounts.get(account_id)
        first, last = self._bounds(stream_slice)
        started, emitted = time.monotonic(), 0
        # Each fallback applies at most once and re-reads the window: three attempts at most.
        for _ in range(3):
            try:
                for record in self._read_window(account, first, last, stream_slice["use_jobs"]):
                    emitted += isinstance(record, dict)
                    yield record
                break
            except XApiError as error:
                if not self._fall_back(account_id, error):
                    raise
        self._conventions.confirm(account_id)
        self.logger.info(
            f"{self.name}: account {account_id} {stream_slice['progress']} ({first}..{last}) done: "
            f"{emitted} records in {time.monotonic() - started:.1f} s."
        )
        saved, reached = self._state.get(account_id, {}).get(self.cursor_field), self._cursor_after(first, last)
        if saved is None or saved < reached:
            self._state[account_id] = {self.cursor_field: reached}

    def _read_window(self, account: Mapping[str, Any], first: Any, last: Any, use_jobs: bool) -> Iterable[Any]:
        account_id = account["id"]
        windows = self._window_maker(account)
        window = windows(first, last)
        estimate = self._estimate(account_id)
        if estimate is not None:
            yield estimate
        if self._use_v2:
            yield from self._v2_reader.read(account_id, window, windows, self._ids(account_id, window))
            return
        if not use_jobs:
            yield from self._sync_reader.read(account_id, window, windows, self._ids(account_id, window))
            return
        yield from self._read_by_jobs(account_id, window, windows)

    def _ids(self, account_id: str, window: Window) -> list[str]:
        return eligible_ids(self.context.timelines.get(account_id), window)

    def _read_by_jobs(self, account_id: str, window: Window, windows: WindowMaker) -> Iterable[dict[str, Any]]:
        if not self._jobs_reader.planned_from(account_id, window):
            self._plan_jobs(account_id, window.key[0], windows)
        self._plan_ahead(account_id)
        yield from self._jobs_reader.read(account_id, window, windows)

    def _window_maker(self, account: Mapping[str, Any]) -> WindowMaker:
        tz, now, convention = account_timezone(account), self.context.clock(), self._conventions.of(account["id"])
        return lambda first, last: day_window(first, last, tz, now, convention)

    # -- the jobs plan --------------------------------------------------------------------------------------------

    def _plan_jobs(self, account_id: str, first: Any, windows: WindowMaker) -> None:
        """The jobs of the account's windows from `first` on: created as soon as X's limit allows."""
        schedule = self._schedules[account_id]
        assert schedule is not None  # its slices come from it
        timeline = self.context.timelines.get(account_id)
        later = [w for w in schedule.windows if w[0] >= first]
        self._jobs_reader.plan(account_id, windows, later, lambda window: eligible_ids(timeline, window))

    def _plan_ahead(self, account_id: str) -> None:
        """Plans the jobs of the next accounts read through jobs, so X runs them while this one's jobs are read (the
        accounts between, read synchronously, hold no job): the next such account, and the ones after it while the
        plans ahead hold few jobs (`StatsJobs.wants_plans_ahead`): a result file must not sit waiting until it
        expires."""
        readable = self.context.accounts.readable()
        position = next(i for i, a in enumerate(readable) if a["id"] == account_id)
        for account in readable[position + 1 :]:
            if account["id"] not in self._planned_ahead:
                self._planned_ahead.add(account["id"])
                self._plan_account_jobs(account)
            if not self._jobs_reader.wants_plans_ahead(account_id):
                return

    def _plan_account_jobs(self, account: Mapping[str, Any]) -> None:
        """Plans the jobs of an account read through jobs, from its first window."""
        try:
            schedule = self._schedule(account)
            if schedule is None or not schedule.use_jobs:
                return
            self.context.timelines.get(account["id"])
        except AirbyteTracedException:
            return  # its own slices report why it cannot be read
        self._plan_jobs(account["id"], schedule.windows[0][0], self._window_maker(account))

    # -- the two fallbacks ----------------------------------------------------------------------------------------

    def _fall_back(self, account_id: str, error: XApiError) -> bool:
        """Applies the fallback `error` calls for, True; False when there is none (the error stands)."""
        if self._should_switch_to_v2(error):
            self._switch_to_v2(error)
            return True
        if error.detail.code == "INVALID_TIME_WINDOW" and self._conventions.may_switch(account_id):
            self._switch_convention(account_id, error)
            return True
        return False

    def _switch_convention(self, account_id: str, error: XApiError) -> None:
        """X refused a DAY window as written: the account's windows are written the other way for the rest of the
        sync (X accepts one of the two conventions per account)."""
        convention = self._conventions.of(account_id)
        other = self._conventions.switch(account_id)
        self.logger.warning(
            f"X refused a DAY window of account {account_id} written with {convention.value} "
            f"({error.detail}); retrying it once with {other.value} and keeping that for this account "
            "for the rest of the sync."
        )

    def _should_switch_to_v2(self, error: XApiError) -> bool:
        return self.context.config.metrics_source == "auto" and not self._use_v2 and refuses_organic_tweet(error)

    def _switch_to_v2(self, error: XApiError) -> None:
        self._use_v2 = True
        self._jobs_reader.drop_all()  # accounts planned ahead would keep creating and polling jobs nobody reads
        self.logger.warning(
            f"The Ads API refused organic tweet analytics ({error.detail}); `metrics_source` is `auto`, so the rest "
            "of this sync reads organic metrics from the X API v2 (GET /2/tweets/analytics), starting again at the "
            "window that was refused."
        )
