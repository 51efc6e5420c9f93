"""The X API v2 post analytics endpoint: the source of organic metrics in `api: x_api_v2` mode, and the fallback when
the Ads API refuses `entity=ORGANIC_TWEET`.

`GET /2/tweets/analytics` answers hourly buckets per tweet. As a fallback they are summed into the same account-local
days the Ads API reports (24 hours from local midnight with today's UTC offset), so both sources give the same days;
in x_api_v2 mode, into the calendar days of the configured `timezone`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import requests
from airbyte_cdk.models import FailureType

from ..config import config_error
from ..context import V2Usage
from ..errors import XApiError, XErrorDetail, expecting_x_shape, metric_value, required_id, response_json
from ..metrics import PLACEMENT, V2_ANALYTICS_FIELDS, V2_TO_COLUMN
from ..windows import DayWindow, HourWindow, Window, WindowMaker, format_x_time
from .ads_stats import window_name
from .metric_reader import MetricReader

MAX_IDS_PER_V2_REQUEST = 100


class V2RangeError(Exception):
    """X refused the time range (its limits are undocumented): the caller splits the window and retries."""


def v2_params(window: Window, tweet_ids: list[str]) -> dict[str, str]:
    return {
        "ids": ",".join(tweet_ids),
        "start_time": format_x_time(window.start),
        "end_time": format_x_time(window.end),
        "granularity": "hourly",
        "analytics.fields": V2_ANALYTICS_FIELDS,
    }


def v2_problem(response: requests.Response) -> tuple[XErrorDetail, Mapping[str, Any]]:
    """v2 errors are problem objects (`title`, `detail`, `type`, `reason`), not the Ads API's `errors` list."""
    try:
        problem = response_json(response)
    except ValueError:
        problem = {}
    problem = problem if isinstance(problem, Mapping) else {}
    title, detail = str(problem.get("title") or response.reason), str(problem.get("detail") or "")
    code = str(problem.get("reason") or problem.get("type") or title)
    return XErrorDetail(status=response.status_code, code=code, message=f"{title}: {detail}".strip(": ")), problem


# How to read organic metrics from the Ads API instead, as the messages below say it.
ADS_API_INSTEAD = "set `metrics_source` to `ads_api`"
ADS_API_MODE_INSTEAD = "set `api` to `ads_api` (with an X app approved for the Ads API)"


def raise_for_v2_problem(response: requests.Response, ads_api_instead: str = ADS_API_INSTEAD) -> None:
    if response.ok:
        return
    error, problem = v2_problem(response)
    detail = str(problem.get("detail") or "")
    if response.status_code == 403 and problem.get("reason") == "client-not-enrolled":
        raise XApiError(
            error,
            f"X API v2 refused the post analytics request ({error}). The X app must be attached to a Project in the "
            f"X Developer Portal with an access tier that includes GET /2/tweets/analytics; or {ads_api_instead}.",
        )
    if response.status_code == 400 and "start_time" in detail + str(problem.get("errors", "")):
        raise V2RangeError(str(error))
    raise XApiError(
        error,
        f"X API v2 rejected the post analytics request ({error}).",
        failure_type=FailureType.config_error if response.status_code in (401, 403) else FailureType.system_error,
    )


def v2_day_records(
    body: Mapping[str, Any], window: DayWindow, account_id: str, calendar_zone: ZoneInfo | None = None
) -> Iterator[dict[str, Any]]:
    """Sum each tweet's hourly buckets into the window's days; emit the days with any non-zero metric. Without a
    `calendar_zone` a day is the 24 hours from its start in `window` (the Ads API's days); with one, a bucket belongs
    to the calendar day of its start in that zone (x_api_v2 mode: a DST day sums 23 or 25 buckets)."""
    with expecting_x_shape(f"the post analytics of account {account_id} for {window.first}..{window.last}"):
        records = list(_v2_day_records(body, window, account_id, calendar_zone))
    yield from records


def v2_hour_records(body: Mapping[str, Any], window: HourWindow, account_id: str) -> list[dict[str, Any]]:
    """Each tweet's hourly buckets inside the window with any non-zero metric, one record each."""
    with expecting_x_shape(f"the post analytics of account {account_id} for {window_name(window)}"):
        return list(_v2_hour_records(body, window, account_id))


def _v2_hour_records(body: Mapping[str, Any], window: HourWindow, account_id: str) -> Iterator[dict[str, Any]]:
    for item in body.get("data") or []:
        tweet_id = required_id(item, "id")
        for bucket in item.get("timestamped_metrics") or []:
            start = datetime.fromisoformat(str(bucket["timestamp"]).replace("Z", "+00:00")).astimezone(timezone.utc)
            if not window.start <= start < window.end:
                continue
            totals = dict.fromkeys(V2_TO_COLUMN.values(), 0)
            for field, value in (bucket.get("metrics") or {}).items():
                column = V2_TO_COLUMN.get(field)
                if column is not None and value is not None:
                    totals[column] += metric_value(value)
            if any(totals.values()):
                hour = format_x_time(start)
                yield {"account_id": account_id, "tweet_id": tweet_id, "hour": hour, "placement": PLACEMENT, **totals}


def _day_index(start: datetime, window: DayWindow, calendar_zone: ZoneInfo | None) -> int:
    if calendar_zone is None:
        return (start - window.start) // timedelta(days=1)
    return (start.astimezone(calendar_zone).date() - window.first).days


def _v2_day_records(
    body: Mapping[str, Any], window: DayWindow, account_id: str, calendar_zone: ZoneInfo | None
) -> Iterator[dict[str, Any]]:
    for item in body.get("data") or []:
        tweet_id = required_id(item, "id")
        days: dict[int, dict[str, int]] = {}
        for bucket in item.get("timestamped_metrics") or []:
            start = datetime.fromisoformat(str(bucket["timestamp"]).replace("Z", "+00:00"))
            index = _day_index(start, window, calendar_zone)
            if not 0 <= index < window.days:
                continue
            totals = days.setdefault(index, dict.fromkeys(V2_TO_COLUMN.values(), 0))
            for field, value in (bucket.get("metrics") or {}).items():
                column = V2_TO_COLUMN.get(field)
                if column is not None and value is not None:
                    totals[column] += metric_value(value)
        for index in sorted(days):
            totals = days[index]
            if any(totals.values()):
                yield {
                    "account_id": account_id,
                    "tweet_id": tweet_id,
                    "date": window.day(index).isoformat(),
                    "placement": PLACEMENT,
                    **totals,
                }


# Sends one request through the rate-limit gates, `policy` raising for an answer X refused: (method, url, params,
# policy) → X's answer.
Send = Callable[[str, str, Mapping[str, Any], Callable[[requests.Response], None]], requests.Response]


class V2Reader(MetricReader):
    """Organic metrics from `GET /2/tweets/analytics`: batches of 100 posts, a week a request, at most `num_workers`
    requests in flight. Days are the Ads API's (no `calendar_zone`) or the calendar days of one (x_api_v2 mode)."""

    batch_size = MAX_IDS_PER_V2_REQUEST

    def __init__(
        self,
        send: Send,
        x_api_base_url: str,
        usage: V2Usage,
        pool: Executor,
        logger: logging.Logger,
        calendar_zone: ZoneInfo | None,
        ads_api_instead: str,
    ):
        super().__init__(pool)
        self._send = send
        self._url = f"{x_api_base_url}/2/tweets/analytics"
        self._usage = usage
        self._logger = logger
        self._calendar_zone = calendar_zone
        self._ads_api_instead = ads_api_instead

    def read_batches(
        self, account_id: str, window: Window, windows: WindowMaker, batches: list[list[str]]
    ) -> Iterator[dict[str, Any]]:
        for first, last in window.sync_parts():
            part = windows(first, last)
            for records in self._pool.map(
                lambda batch, part=part: self._records(account_id, part, windows, batch), batches
            ):
                yield from records

    def _refusals(self, response: requests.Response) -> None:
        """Counts the request (X bills it, refused or not) and raises for a refusal."""
        self._usage.add_analytics_request()
        raise_for_v2_problem(response, self._ads_api_instead)

    def _records(self, account_id: str, window: Window, windows: WindowMaker, batch: list[str]) -> list[dict[str, Any]]:
        """One batch's records; a range X refuses is split in two, since v2's range limits are undocumented."""
        try:
            response = self._send("GET", self._url, v2_params(window, batch), self._refusals)
        except V2RangeError as error:
            halves = window.halves()
            if halves is None:
                # A day is within any range limit: X refuses its start, so the day is older than v2 keeps.
                raise config_error(
                    f"X API v2 refused the post analytics of {window_name(window)} ({error}): X API v2 keeps none "
                    f"that old (how long it keeps them is undocumented). Set `start_date` to a later day, or "
                    f"{self._ads_api_instead} to read older days from the Ads API."
                ) from None
            self._logger.info(f"X API v2 refused {window_name(window)}; splitting it at {halves[1][0]}.")
            parts = [windows(*half) for half in halves]
            return [r for part in parts for r in self._records(account_id, part, windows, batch)]
        body = response_json(response)
        if isinstance(window, HourWindow):
            return v2_hour_records(body, window, account_id)
        return list(v2_day_records(body, window, account_id, self._calendar_zone))
