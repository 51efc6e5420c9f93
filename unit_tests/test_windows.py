"""The DAY-window arithmetic, without HTTP: X wants local midnights written with *today's* UTC offset."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from source_x_organic_analytics.windows import (
    DayConvention,
    chunk_days,
    day_window,
    format_x_time,
    local_midnight,
    read_range,
)

TODAY_RULE = DayConvention.TODAY_OFFSET
WINTER_NOW = datetime(2026, 1, 15, 12, tzinfo=timezone.utc)
SUMMER_NOW = datetime(2026, 7, 15, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "tz, now, day, expected",
    [
        ("America/Los_Angeles", WINTER_NOW, date(2026, 1, 10), "2026-01-10T08:00:00Z"),  # PST, UTC-8
        ("America/Los_Angeles", SUMMER_NOW, date(2026, 7, 10), "2026-07-10T07:00:00Z"),  # PDT, UTC-7
        ("Asia/Tokyo", SUMMER_NOW, date(2026, 7, 10), "2026-07-09T15:00:00Z"),  # ahead of UTC: the day before
        ("UTC", SUMMER_NOW, date(2026, 7, 10), "2026-07-10T00:00:00Z"),
        ("Europe/Berlin", WINTER_NOW, date(2026, 1, 10), "2026-01-09T23:00:00Z"),  # CET, UTC+1
        ("Europe/Berlin", SUMMER_NOW, date(2026, 7, 10), "2026-07-09T22:00:00Z"),  # CEST, UTC+2
    ],
)
def test_local_midnight_in_season(tz, now, day, expected):
    assert format_x_time(local_midnight(day, ZoneInfo(tz), now, TODAY_RULE)) == expected


def test_a_summer_day_read_in_winter_uses_todays_offset_not_the_days_own():
    la = ZoneInfo("America/Los_Angeles")
    # X's rule: today (January, PST) decides the offset even for a July day.
    assert format_x_time(local_midnight(date(2026, 7, 10), la, WINTER_NOW, TODAY_RULE)) == "2026-07-10T08:00:00Z"
    assert format_x_time(local_midnight(date(2026, 7, 10), la, WINTER_NOW, DayConvention.DAY_OFFSET)) == (
        "2026-07-10T07:00:00Z"
    )


def test_window_across_a_dst_change_is_whole_days_of_24_hours_with_todays_offset():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)  # CET today
    window = day_window(date(2026, 3, 26), date(2026, 4, 1), berlin, now, TODAY_RULE)  # DST began 2026-03-29
    assert (format_x_time(window.start), format_x_time(window.end)) == ("2026-03-25T23:00:00Z", "2026-04-01T23:00:00Z")
    assert (window.end - window.start).total_seconds() == 7 * 24 * 3600
    assert window.days == 7 and window.day(6) == date(2026, 4, 1)
    own = day_window(date(2026, 3, 26), date(2026, 4, 1), berlin, now, DayConvention.DAY_OFFSET)
    assert (own.end - own.start).total_seconds() == 7 * 24 * 3600 - 3600  # the spring-forward day has 23 hours


def test_one_day_window():
    window = day_window(date(2026, 11, 20), date(2026, 11, 20), ZoneInfo("Asia/Tokyo"), SUMMER_NOW, TODAY_RULE)
    assert (format_x_time(window.start), format_x_time(window.end)) == ("2026-11-19T15:00:00Z", "2026-11-20T15:00:00Z")
    assert window.days == 1


def test_chunks_of_seven_days_cover_the_range_without_gaps_or_overlap():
    chunks = list(chunk_days(date(2026, 1, 1), date(2026, 1, 20), 7))
    assert chunks == [
        (date(2026, 1, 1), date(2026, 1, 7)),
        (date(2026, 1, 8), date(2026, 1, 14)),
        (date(2026, 1, 15), date(2026, 1, 20)),
    ]


def test_start_equal_to_end_is_one_chunk():
    assert list(chunk_days(date(2026, 1, 5), date(2026, 1, 5), 7)) == [(date(2026, 1, 5), date(2026, 1, 5))]


def test_a_time_zone_switch_day_starts_a_new_chunk():
    chunks = list(chunk_days(date(2026, 1, 1), date(2026, 1, 10), 7, breaks=(date(2026, 1, 4),)))
    assert chunks == [
        (date(2026, 1, 1), date(2026, 1, 3)),
        (date(2026, 1, 4), date(2026, 1, 10)),
    ]


def test_range_ending_today_includes_today():
    today = date(2026, 11, 26)
    assert read_range(date(2026, 11, 1), None, today, None, 3) == (date(2026, 11, 1), today)
    # An end date in the future is cut at today: X has nothing after it yet.
    assert read_range(date(2026, 11, 1), date(2026, 12, 31), today, None, 3) == (date(2026, 11, 1), today)


def test_range_restarts_at_saved_day_minus_lookback_but_never_before_start():
    today = date(2026, 11, 26)
    assert read_range(date(2026, 11, 1), None, today, date(2026, 11, 20), 3) == (date(2026, 11, 17), today)
    assert read_range(date(2026, 11, 19), None, today, date(2026, 11, 20), 3) == (date(2026, 11, 19), today)
    assert read_range(date(2026, 11, 1), None, today, date(2026, 11, 20), 0) == (date(2026, 11, 20), today)


def test_nothing_to_read_when_start_is_after_today():
    assert read_range(date(2026, 11, 27), None, date(2026, 11, 26), None, 3) is None


def test_the_window_ending_today_ends_at_tomorrows_local_midnight():
    la = ZoneInfo("America/Los_Angeles")
    now = datetime(2026, 11, 26, 20, tzinfo=timezone.utc)  # 12:00 PST
    window = day_window(date(2026, 11, 24), date(2026, 11, 26), la, now, TODAY_RULE)
    assert format_x_time(window.end) == "2026-11-27T08:00:00Z"
