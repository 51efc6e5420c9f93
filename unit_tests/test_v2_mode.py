"""`api: x_api_v2` without a server: its config fields, calendar days across DST, and the timeline's 3,200 cap."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics import SourceXOrganicAnalytics
from source_x_organic_analytics.config import parse_config
from source_x_organic_analytics.streams.post_analytics import v2_day_records
from source_x_organic_analytics.streams.tweets import Tweets
from source_x_organic_analytics.streams.v2_user import TIMELINE_CAP
from source_x_organic_analytics.windows import DayConvention, chunk_local_days, day_window

from .conftest import make_config

TODAY = date(2026, 11, 26)
BERLIN = ZoneInfo("Europe/Berlin")
X_API = "https://api.test"


def test_api_defaults_to_ads_api_and_timezone_to_utc():
    parsed = parse_config(make_config(), today=TODAY)
    assert (parsed.api, parsed.timezone, parsed.v2_mode) == ("ads_api", "UTC", False)
    parsed = parse_config(make_config(api="x_api_v2", timezone="Europe/Berlin"), today=TODAY)
    assert (parsed.api, parsed.timezone, parsed.v2_mode) == ("x_api_v2", "Europe/Berlin", True)
    # Ignored in ads_api mode, where each ads account's zone decides.
    assert parse_config(make_config(timezone="Asia/Kolkata"), today=TODAY).timezone == "Asia/Kolkata"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"api": "graph_api"}, "`api`"),
        ({"api": "x_api_v2", "timezone": "Mars/Olympus"}, "`timezone`"),
        # X API v2 buckets are UTC hours: a +05:30 day cannot be made of them.
        ({"api": "x_api_v2", "timezone": "Asia/Kolkata"}, "`timezone` Asia/Kolkata is offset"),
    ],
)
def test_a_wrong_api_or_timezone_is_a_config_error_naming_the_field(overrides, field):
    with pytest.raises(AirbyteTracedException) as raised:
        parse_config(make_config(**overrides), today=TODAY)
    assert raised.value.failure_type == FailureType.config_error
    assert field in raised.value.message


def hourly(start: datetime, hours: int) -> list[dict]:
    stamps = (start + timedelta(hours=h) for h in range(hours))
    return [{"timestamp": s.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "metrics": {"impressions": 1}} for s in stamps]


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 10, 25), 25), (date(2026, 3, 29), 23)])
def test_a_dst_day_in_calendar_days_sums_its_23_or_25_hours(day, hours):
    now = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
    window = day_window(day, day, BERLIN, now, DayConvention.DAY_OFFSET)
    assert window.end - window.start == timedelta(hours=hours)
    # One impression an hour, from the hour before the day to the hour after it.
    body = {"data": [{"id": "7", "timestamped_metrics": hourly(window.start - timedelta(hours=1), hours + 2)}]}
    records = list(v2_day_records(body, window, "me", calendar_zone=BERLIN))
    assert [(r["date"], r["impressions"]) for r in records] == [(day.isoformat(), hours)]


def test_a_timeline_that_reaches_the_cap_is_logged(requests_mock, caplog):
    config = make_config(api="x_api_v2", x_api_base_url=X_API)
    tweets = next(s for s in SourceXOrganicAnalytics().streams(config) if s.name == "tweets")
    assert isinstance(tweets, Tweets)
    pages = TIMELINE_CAP // 100
    created = "2026-11-01T10:00:00.000Z"
    responses = [
        {
            "json": {
                "data": [{"id": str(page * 100 + i + 1), "text": "t", "created_at": created} for i in range(100)],
                "meta": {"next_token": f"p{page + 1}"} if page + 1 < pages else {"result_count": 100},
            }
        }
        for page in range(pages)
    ]
    requests_mock.get(f"{X_API}/2/users/42/tweets", responses)
    with caplog.at_level(logging.WARNING):
        records = list(tweets.read_records(SyncMode.full_refresh, stream_slice={"account_id": "42"}))
    assert len(records) == TIMELINE_CAP
    assert records[0] == {
        "id": "1",
        "tweet_id": "1",
        "id_str": "1",
        "account_id": "42",
        "full_text": "t",
        "created_at": "2026-11-01T10:00:00Z",
        "lang": None,
        "source": None,
        "favorite_count": None,
        "retweet_count": None,
        "reply_count": None,
        "quote_count": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id_str": None,
        "conversation_id": None,
        "user": {"id": "42", "id_str": "42"},
    }
    assert any("limit of the 3,200 most recent posts" in r.message for r in caplog.records)
    assert "pagination_token=p31" in requests_mock.request_history[-1].url
    assert tweets.context.v2_usage.posts_read == TIMELINE_CAP


def test_v2_windows_are_as_few_as_a_week_of_hours_allows_around_a_dst_change():
    windows = list(chunk_local_days(date(2026, 10, 19), date(2026, 11, 8), BERLIN, 7 * 24))
    # 2026-10-25 has 25 hours in Berlin: a window holding it can be six days long only (169 hours > 7 x 24).
    assert windows == [
        (date(2026, 10, 19), date(2026, 10, 24)),
        (date(2026, 10, 25), date(2026, 10, 30)),
        (date(2026, 10, 31), date(2026, 11, 6)),
        (date(2026, 11, 7), date(2026, 11, 8)),
    ]
    # A 23-hour day fits in a week like any other.
    spring = list(chunk_local_days(date(2026, 3, 23), date(2026, 4, 5), BERLIN, 7 * 24))
    assert spring == [(date(2026, 3, 23), date(2026, 3, 29)), (date(2026, 3, 30), date(2026, 4, 5))]
