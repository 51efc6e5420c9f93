"""The X API v2 post analytics endpoint: the source of organic metrics in `api: x_api_v2` mode, and the fallback when
the Ads API refuses `entity=ORGANIC_TWEET`.

`GET /2/tweets/analytics` answers hourly buckets per tweet. As a fallback they are summed into the same account-local
days the Ads API reports (24 hours from local midnight with today's UTC offset), so both sources give the same days;
in x_api_v2 mode, into the calendar days of the configured `timezone`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from airbyte_cdk.models import FailureType

from ..errors import XApiError, XErrorDetail, expecting_x_shape, metric_value, required_id
from ..metrics import PLACEMENT, V2_ANALYTICS_FIELDS, V2_TO_COLUMN
from ..windows import DayWindow, format_x_time

MAX_IDS_PER_V2_REQUEST = 100


class V2RangeError(Exception):
    """X refused the time range (its limits are undocumented): the caller splits the window and retries."""


def v2_params(window: DayWindow, tweet_ids: list[str]) -> dict[str, str]:
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
        problem = response.json()
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
