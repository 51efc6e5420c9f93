"""The X API v2 post analytics endpoint, the fallback when the Ads API refuses `entity=ORGANIC_TWEET`.

`GET /2/tweets/analytics` answers hourly buckets per tweet; they are summed into the same account-local days the Ads
API reports (24 hours from local midnight with today's UTC offset), so both sources give the same days.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import requests
from airbyte_cdk.models import FailureType

from ..errors import XApiError, XErrorDetail, expecting_x_shape, metric_value, required_id
from ..windows import DayWindow, format_x_time

MAX_IDS_PER_V2_REQUEST = 100
# The Ads API placement organic metrics are read for; v2 rows carry it too, so both sources give the same keys.
PLACEMENT = "ALL_ON_TWITTER"
# v2 field → report column. Columns only the Ads API has stay null in v2 records, and the reverse.
V2_TO_COLUMN = {
    "impressions": "impressions",
    "engagements": "engagements",
    "likes": "likes",
    "retweets": "retweets",
    "replies": "replies",
    "url_clicks": "url_clicks",
    "follows": "follows",
    "unfollows": "unfollows",
    # Views of every media type (images and GIFs too): not the Ads API's video-only `video_total_views`.
    "media_views": "media_views",
    "bookmarks": "bookmarks",
    "quote_tweets": "quote_tweets",
    "user_profile_clicks": "user_profile_clicks",
    "detail_expands": "detail_expands",
}
ANALYTICS_FIELDS = ",".join(V2_TO_COLUMN)


class V2RangeError(Exception):
    """X refused the time range (its limits are undocumented): the caller splits the window and retries."""


def v2_params(window: DayWindow, tweet_ids: list[str]) -> dict[str, str]:
    return {
        "ids": ",".join(tweet_ids),
        "start_time": format_x_time(window.start),
        "end_time": format_x_time(window.end),
        "granularity": "hourly",
        "analytics.fields": ANALYTICS_FIELDS,
    }


def raise_for_v2_problem(response: requests.Response) -> None:
    """v2 errors are problem objects (`title`, `detail`, `type`), not the Ads API's `errors` list."""
    if response.ok:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    problem = problem if isinstance(problem, Mapping) else {}
    title, detail = str(problem.get("title") or response.reason), str(problem.get("detail") or "")
    code = str(problem.get("reason") or problem.get("type") or title)
    error = XErrorDetail(status=response.status_code, code=code, message=f"{title}: {detail}".strip(": "))
    if response.status_code == 403 and problem.get("reason") == "client-not-enrolled":
        raise XApiError(
            error,
            f"X API v2 refused the post analytics request ({error}). The X app must be attached to a Project in the "
            "X Developer Portal with an access tier that includes GET /2/tweets/analytics; or set `metrics_source` "
            "to `ads_api`.",
        )
    if response.status_code == 400 and "start_time" in detail + str(problem.get("errors", "")):
        raise V2RangeError(str(error))
    raise XApiError(
        error,
        f"X API v2 rejected the post analytics request ({error}).",
        failure_type=FailureType.config_error if response.status_code in (401, 403) else FailureType.system_error,
    )


def v2_day_records(body: Mapping[str, Any], window: DayWindow, account_id: str) -> Iterator[dict[str, Any]]:
    """Sum each tweet's hourly buckets into the window's days; emit the days with any non-zero metric."""
    with expecting_x_shape(f"the post analytics of account {account_id} for {window.first}..{window.last}"):
        records = list(_v2_day_records(body, window, account_id))
    yield from records


def _v2_day_records(body: Mapping[str, Any], window: DayWindow, account_id: str) -> Iterator[dict[str, Any]]:
    day = timedelta(days=1)
    for item in body.get("data") or []:
        tweet_id = required_id(item, "id")
        days: dict[int, dict[str, int]] = {}
        for bucket in item.get("timestamped_metrics") or []:
            start = datetime.fromisoformat(str(bucket["timestamp"]).replace("Z", "+00:00"))
            index = (start - window.start) // day
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
