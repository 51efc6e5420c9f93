"""organic_report_hourly's plan (which whole UTC hours, in which windows) and its state, without HTTP."""

from datetime import datetime, timedelta, timezone

from source_x_organic_analytics.account_plan import plan_account_hours
from source_x_organic_analytics.config import parse_config
from source_x_organic_analytics.streams.organic_report_hourly import sanitize_hour_state
from source_x_organic_analytics.windows import HourWindow

from .conftest import make_config

UTC = timezone.utc
NOW = datetime(2026, 7, 15, 10, 37, tzinfo=UTC)


def plan(zone: str, saved: str | None = None, **config):
    parsed = parse_config(make_config(**config), today=NOW.date())
    # Jobs for any range longer than a week: the choice itself is stats_budget's (test_stats_budget.py).
    return plan_account_hours({"id": "a1", "timezone": zone}, parsed, NOW, saved, lambda sync, jobs: len(sync) > 1)


def test_the_hours_start_at_xs_local_midnight_and_end_at_the_last_complete_hour():
    schedule = plan("America/New_York", start_date="2026-07-13", end_date=None)
    # New York is UTC-4 in July: local midnight is 04:00 UTC; 10:37 leaves 10:00 incomplete.
    assert schedule.span == (datetime(2026, 7, 13, 4, tzinfo=UTC), datetime(2026, 7, 15, 10, tzinfo=UTC))
    assert schedule.windows == [schedule.span] and not schedule.use_jobs


def test_a_fractional_offset_zone_starts_at_the_whole_hour_before_its_midnight():
    schedule = plan("Asia/Kolkata", start_date="2026-07-14", end_date="2026-07-14")
    # Kolkata midnight is 18:30 UTC the day before: X takes whole hours only.
    assert schedule.span == (datetime(2026, 7, 13, 18, tzinfo=UTC), datetime(2026, 7, 14, 18, tzinfo=UTC))


def test_a_long_range_is_read_in_45_day_job_windows_and_in_weeks_in_x_api_v2_mode():
    jobs = plan("UTC", start_date="2026-04-16", end_date=None)
    assert jobs.use_jobs
    assert [end - start for start, end in jobs.windows[:-1]] == [timedelta(days=45)] * (len(jobs.windows) - 1)
    week = plan("UTC", start_date="2026-07-05", end_date=None, api="x_api_v2", timezone="UTC")
    assert not week.use_jobs and max(end - start for start, end in week.windows) == timedelta(days=7)
    assert week.windows[0][0] == week.span[0] and week.windows[-1][1] == week.span[1]
    assert all(a[1] == b[0] for a, b in zip(week.windows, week.windows[1:], strict=False))


def test_an_incremental_plan_restarts_lookback_days_before_the_saved_hour():
    schedule = plan("UTC", "2026-07-15T08:00:00Z", start_date="2026-06-01", lookback_window_days=2)
    assert schedule.span[0] == datetime(2026, 7, 13, 8, tzinfo=UTC)
    nothing = plan("UTC", start_date="2026-07-16", end_date=None)
    assert nothing is None


def test_an_hour_window_names_its_buckets_and_halves_down_to_a_day():
    window = HourWindow(datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 3, tzinfo=UTC))
    assert window.buckets == 48 and window.labels()[:2] == ("2026-07-01T00:00:00Z", "2026-07-01T01:00:00Z")
    first, second = window.halves()
    assert first == (window.start, datetime(2026, 7, 2, tzinfo=UTC)) and second[1] == window.end
    assert HourWindow(*first).halves() is None


def test_hour_state_keeps_good_entries_drops_malformed_and_clamps_the_future():
    notes: list[str] = []
    state = {
        "ok": {"hour": "2026-07-14T23:00:00Z"},
        "day": {"date": "2026-07-14"},
        "half": {"hour": "2026-07-14T23:30:00Z"},
        "naive": {"hour": "2026-07-14T23:00:00"},
        "future": {"hour": "2026-07-16T00:00:00Z"},
    }
    assert sanitize_hour_state(state, NOW, notes) == {
        "ok": {"hour": "2026-07-14T23:00:00Z"},
        "future": {"hour": "2026-07-15T09:00:00Z"},
    }
    assert len(notes) == 4
    assert sanitize_hour_state(None, NOW, notes) == {}
