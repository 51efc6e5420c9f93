"""The X API v2 hourly buckets summed into the Ads API's account-local days, without HTTP."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from source_x_organic_analytics.errors import UnexpectedResponseError
from source_x_organic_analytics.streams.post_analytics import v2_day_records
from source_x_organic_analytics.windows import DayConvention, day_window

NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)
LA_WINDOW = day_window(
    date(2026, 11, 20), date(2026, 11, 21), ZoneInfo("America/Los_Angeles"), NOW, DayConvention.TODAY_OFFSET
)  # local days start at 08:00 UTC


def hour(day: int, h: int, **metrics) -> dict:
    stamp = (datetime(2026, 11, day, tzinfo=timezone.utc) + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"timestamp": stamp, "metrics": metrics}


def test_hours_are_summed_into_local_days_and_mapped_to_report_columns():
    body = {
        "data": [
            {
                "id": "7",
                "timestamped_metrics": [
                    hour(20, 7, impressions=100),  # 23:00 on the 19th in Los Angeles: before the window
                    hour(20, 8, impressions=3, media_views=1),  # the first hour of the 20th
                    hour(21, 7, impressions=4, bookmarks=2),  # the last hour of the 20th
                    hour(21, 8, impressions=0),  # the 21st, all zero: no record
                ],
            }
        ]
    }
    records = list(v2_day_records(body, LA_WINDOW, "acc1"))
    assert len(records) == 1
    record = records[0]
    assert (record["tweet_id"], record["date"]) == ("7", "2026-11-20")
    assert (record["impressions"], record["media_views"], record["bookmarks"]) == (7, 1, 2)
    assert "video_total_views" not in record  # v2 counts views of every media type, not of videos only


@pytest.mark.parametrize(
    "item",
    [
        {"timestamped_metrics": [hour(20, 9, impressions=1)]},  # no id
        {"id": "7", "timestamped_metrics": [hour(20, 9, impressions="a")]},  # not a count
        {"id": "7", "timestamped_metrics": [{"metrics": {"impressions": 1}}]},  # no timestamp
    ],
)
def test_a_malformed_v2_answer_is_a_clear_error(item):
    with pytest.raises(UnexpectedResponseError) as raised:
        list(v2_day_records({"data": [item]}, LA_WINDOW, "acc1"))
    assert "post analytics of account acc1 for 2026-11-20..2026-11-21" in raised.value.message
