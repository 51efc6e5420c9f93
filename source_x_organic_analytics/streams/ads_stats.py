"""Organic metrics from the Ads API's stats: the synchronous endpoint (20 tweets and 7 days a request) and the
asynchronous jobs (90 days a request, for backfills), each a reader turning (account, window, tweet ids) into records.
X answers both in the same shape: a series per metric per tweet, one value per day of the window."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from itertools import chain, compress, repeat
from operator import is_not, itemgetter
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..errors import XApiError, expecting_x_shape, metric_value, required_id
from ..metrics import ADS_METRIC_GROUPS, ADS_METRICS, ADS_RECORD_KEYS, PLACEMENT
from ..windows import Window, WindowMaker, format_x_time
from .metric_reader import MetricReader, batched
from .stats_jobs import JobResult, JobWindow, StatsJobs

MAX_IDS_PER_REQUEST = 20
Call = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]
# A window → the ids of the tweets it asks metrics for.
TweetIds = Callable[[Window], list[str]]


# Types that make the cheap checks below pass; anything else takes the slow path that names the problem.
_SERIES_TYPES = {list}
_PLAIN_METRIC_TYPES = {int, type(None)}
_is_present = partial(is_not, None)


def window_name(window: Window) -> str:
    """`first..last` days, a single day alone, or `start..end` instants."""
    first, last = (format_x_time(end) if isinstance(end, datetime) else str(end) for end in window.key)
    return first if first == last else f"{first}..{last}"


def bucket_records(body: Mapping[str, Any], window: Window, account_id: str) -> list[dict[str, Any]]:
    """One record per tweet per bucket (day or hour) with any non-zero metric; a metric X returned as null stays
    null."""
    with expecting_x_shape(f"the stats of account {account_id} for {window_name(window)}"):
        return _bucket_records(body, window, account_id)


def _raise_for_malformed_series(series: list[Any], tweet_id: str, account_id: str, window: Window) -> None:
    for name, values in zip(ADS_METRICS, series, strict=True):
        if values is not None and (not isinstance(values, list) or len(values) != window.buckets):
            raise AirbyteTracedException(
                message=f"X returned a malformed `{name}` series for tweet {tweet_id} in account "
                f"{account_id} ({window_name(window)}); the sync state was not moved past that window.",
                internal_message=f"expected a list of {window.buckets} numbers, got {values!r:.200}",
                failure_type=FailureType.system_error,
            )


def _bucket_records(body: Mapping[str, Any], window: Window, account_id: str) -> list[dict[str, Any]]:
    # A backfill year is ~10^6 tweet-days of 25 metrics, most of them zero: every check, the search for the non-zero
    # days and the building of the records run in C (map, filter, compress, itemgetter, zip, set) over whole series,
    # so Python code runs per tweet, and per value only when X sent something other than integers and nulls.
    days = window.buckets
    dates = window.labels()
    record_keys = ADS_RECORD_KEYS[window.cursor]
    lengths = {days}
    records: list[dict[str, Any]] = []
    for item in body.get("data") or []:
        tweet_id = required_id(item, "id")
        metrics = ((item.get("id_data") or [{}])[0] or {}).get("metrics") or {}
        series = list(map(metrics.get, ADS_METRICS))
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
        # One tuple of values a bucket, in the record keys' order, each zipped with the keys into its record.
        count = len(buckets)
        rows = zip((account_id,) * count, (tweet_id,) * count, pick(dates), (PLACEMENT,) * count, *columns, strict=True)
        records.extend(map(dict, map(zip, repeat(record_keys), rows)))
    return records


def stats_params(window: Window) -> dict[str, str]:
    return {
        "entity": "ORGANIC_TWEET",
        "start_time": format_x_time(window.start),
        "end_time": format_x_time(window.end),
        "granularity": window.granularity,
        "metric_groups": ADS_METRIC_GROUPS,
        "placement": PLACEMENT,
    }


def request_count(tweet_ids: Sequence[str]) -> int:
    """The stats requests (or jobs) one window of these tweets takes."""
    return -(-len(tweet_ids) // MAX_IDS_PER_REQUEST)


class AdsSyncReader(MetricReader):
    """The synchronous stats endpoint: batches of 20 tweets, at most `num_workers` requests in flight."""

    batch_size = MAX_IDS_PER_REQUEST

    def __init__(self, call: Call, pool: Executor):
        super().__init__(pool)
        self._call = call
        # Answers of requests sent ahead of their window's read (`prefetch`), or X's refusal of them, until that
        # read asks for them.
        self._kept: dict[tuple[str, datetime, datetime, tuple[str, ...]], Mapping[str, Any] | XApiError] = {}

    def prefetch(self, account_id: str, window: Window, batch: list[str]) -> None:
        """Sends one batch's request now and keeps its answer, or X's refusal, for when its window is read: a
        refused request is not sent twice, and its window's read meets the refusal where its fallbacks apply."""
        key = (account_id, window.start, window.end, tuple(batch))
        try:
            self._kept[key] = self._stats(account_id, window, batch)
        except XApiError as refusal:
            self._kept[key] = refusal

    def read_batches(
        self, account_id: str, window: Window, windows: WindowMaker, batches: list[list[str]]
    ) -> Iterator[dict[str, Any]]:
        for body in self._pool.map(lambda batch: self._stats(account_id, window, batch), batches):
            yield from bucket_records(body, window, account_id)

    def read_by_weeks(
        self, account_id: str, window: Window, windows: WindowMaker, batch: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """One batch over a window of any length, a week a request (the endpoint's limit)."""
        for first, last in window.sync_parts():
            part = windows(first, last)
            yield from bucket_records(self._stats(account_id, part, list(batch)), part, account_id)

    def _stats(self, account_id: str, window: Window, batch: list[str]) -> Mapping[str, Any]:
        kept = self._kept.pop((account_id, window.start, window.end, tuple(batch)), None)
        if isinstance(kept, XApiError):
            raise kept
        if kept is not None:
            return kept
        params = {**stats_params(window), "entity_ids": ",".join(batch)}
        return self._call("GET", f"stats/accounts/{account_id}", params)


def job_key(window: Window) -> tuple[Any, Any]:
    """How a window is named in a jobs plan: a planned window is read when a slice names the same key."""
    return window.key


class AdsJobsReader:
    """X's asynchronous jobs, planned ahead: the jobs of an account's later windows (and of another account planned
    meanwhile) are created while the current window is read. A job whose result cannot be had or trusted loses
    nothing: its tweets are read through the synchronous endpoint instead."""

    def __init__(self, jobs: StatsJobs, sync: AdsSyncReader, logger: logging.Logger):
        self._jobs = jobs
        self._sync = sync
        self._logger = logger

    def plan(self, account_id: str, windows: WindowMaker, days: Iterable[tuple[Any, Any]], ids: TweetIds) -> None:
        """Plans the jobs of an account's windows `days` (in the order they will be read), created as soon as X's
        limit allows; `ids` names each window's tweets."""
        planned = []
        for first, last in days:
            window = windows(first, last)
            planned.append(JobWindow(job_key(window), stats_params(window), batched(ids(window), MAX_IDS_PER_REQUEST)))
        self._jobs.plan(account_id, planned)

    def planned_from(self, account_id: str, window: Window) -> bool:
        """Whether the account's plan starts at `window` (else it is planned again from there)."""
        plan = self._jobs.planned(account_id)
        return plan is not None and plan.next_window == job_key(window)

    def wants_plans_ahead(self, account_id: str) -> bool:
        """Whether the accounts planned ahead of `account_id` (the one being read) hold few enough jobs to plan
        another."""
        return self._jobs.wants_plans_ahead(account_id)

    def drop_all(self) -> None:
        """Forgets every plan: jobs planned ahead would keep being created and polled for nobody."""
        self._jobs.drop_all()

    def read(self, account_id: str, window: Window, windows: WindowMaker) -> Iterator[dict[str, Any]]:
        finished = False
        try:
            for result in self._jobs.read(account_id, job_key(window)):
                yield from self._records(account_id, window, windows, result)
            finished = True
        finally:
            # A window that fails (or is retried with another convention or source) restarts the plan from it.
            if not finished:
                self._jobs.drop(account_id)

    def _records(
        self, account_id: str, window: Window, windows: WindowMaker, result: JobResult
    ) -> Iterator[dict[str, Any]]:
        if result.body is not None:
            yield from bucket_records(result.body, window, account_id)
            return
        self._logger.warning(
            f"X's analytics job {result.job_id} for account {account_id} ({window_name(window)}) "
            f"{result.reread}; reading its {len(result.batch)} tweets with synchronous requests instead."
        )
        yield from self._sync.read_by_weeks(account_id, window, windows, result.batch)
