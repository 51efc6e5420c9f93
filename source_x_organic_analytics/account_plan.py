"""An account's plan for one sync: which days to read, in which windows, in which time zone, around which switch of
time zone, and whether through asynchronous jobs (the caller's choice, see `stats_budget`). `organic_report` works it
out once per account."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import XConfig
from .errors import AccountDataError
from .timelines import TimelineTweet
from .windows import (
    ASYNC_HOUR_WINDOW_DAYS,
    ASYNC_WINDOW_DAYS,
    HOUR,
    SYNC_WINDOW_DAYS,
    SYNC_WINDOW_HOURS,
    DayConvention,
    chunk_days,
    chunk_hours,
    chunk_local_days,
    floor_hour,
    local_midnight,
    read_range,
)

T = TypeVar("T", date, datetime)


@dataclass(frozen=True)
class PlannedSpan(Generic[T]):
    """What an account reads in this sync (`span`), in which windows, and whether through asynchronous jobs."""

    span: tuple[T, T]
    use_jobs: bool
    windows: list[tuple[T, T]]

    def row_bound(self, timeline: list[TimelineTweet]) -> int:
        """An upper bound of the rows, for the platform's progress estimate."""
        raise NotImplementedError


class Schedule(PlannedSpan[date]):
    """An account's days to read in this sync and their windows (7 days, or 90 when read with jobs)."""

    def row_bound(self, timeline: list[TimelineTweet]) -> int:
        """An upper bound of the rows: one per tweet per day of the span it existed."""
        first, last = self.span
        return sum(
            max(0, (last - max(first, t.created_at.date())).days + 1) for t in timeline if t.created_at.date() <= last
        )


def account_timezone(account: Mapping[str, Any]) -> ZoneInfo:
    name = account.get("timezone") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise AccountDataError(
            account["id"], "timezone", name, "is not a time zone this system knows (its days cannot be placed)"
        ) from None


def switch_day(account: Mapping[str, Any], tz: ZoneInfo) -> date | None:
    """The local day the account switched time zone, which no window may straddle; None if it never did."""
    switched = account.get("timezone_switch_at")
    if not switched:
        return None
    try:
        return datetime.fromisoformat(str(switched).replace("Z", "+00:00")).astimezone(tz).date()
    except ValueError:
        raise AccountDataError(
            account["id"], "timezone_switch_at", switched, "is not a date-time (its report would have a gap)"
        ) from None


# An account's candidate windows: (7-day synchronous ones, job ones) → whether to read it through jobs.
ChooseJobs = Callable[[list[tuple[Any, Any]], list[tuple[Any, Any]]], bool]


def plan_account(
    account: Mapping[str, Any], config: XConfig, now: datetime, saved: str | None, prefers_jobs: ChooseJobs
) -> Schedule | None:
    """The account's schedule, None when it has no day to read. `saved` is its state's last day read; in ads_api
    mode `prefers_jobs` chooses between its 7-day synchronous windows and its 90-day job windows."""
    tz = account_timezone(account)
    today = now.astimezone(tz).date()
    # The state setter only knows UTC; an account west of UTC may still be on the day before that.
    saved_day = min(date.fromisoformat(saved), today) if saved else None
    span = read_range(config.start_date, config.end_date, today, saved_day, config.lookback_window_days)
    if span is None:
        return None
    if config.v2_mode:
        # Windows of at most a week of hours (six days around a 25-hour day), each saved once read; v2 has no jobs.
        return Schedule(span, False, list(chunk_local_days(span[0], span[1], tz, SYNC_WINDOW_DAYS * 24)))
    breaks = tuple(d for d in [switch_day(account, tz)] if d)
    sync = list(chunk_days(span[0], span[1], SYNC_WINDOW_DAYS, breaks))
    jobs = list(chunk_days(span[0], span[1], ASYNC_WINDOW_DAYS, breaks))
    use_jobs = prefers_jobs(sync, jobs)
    return Schedule(span, use_jobs, jobs if use_jobs else sync)


class HourSchedule(PlannedSpan[datetime]):
    """An account's hours to read in this sync, `span` = [start, end), and their windows of whole UTC hours."""

    def row_bound(self, timeline: list[TimelineTweet]) -> int:
        """An upper bound of the rows: one per tweet per hour of the span it existed."""
        start, end = self.span
        return sum(max(0, (end - max(start, floor_hour(t.created_at))) // HOUR) for t in timeline)


def plan_account_hours(
    account: Mapping[str, Any], config: XConfig, now: datetime, saved: str | None, prefers_jobs: ChooseJobs
) -> HourSchedule | None:
    """The hourly report's schedule of an account, None when it has no complete hour to read: from local midnight of
    `start_date` (or `lookback_window_days` before the saved hour) to the end of `end_date` or the last complete hour.
    Local midnight is the one `organic_report` starts its days at (X's today's-offset rule in ads_api mode, the
    calendar day in x_api_v2 mode), so the hours of a report day are exactly that day's."""
    tz = account_timezone(account)
    convention = DayConvention.DAY_OFFSET if config.v2_mode else DayConvention.TODAY_OFFSET
    start = floor_hour(local_midnight(config.start_date, tz, now, convention))
    if saved is not None:
        start = max(
            start,
            floor_hour(datetime.fromisoformat(saved.replace("Z", "+00:00")))
            - timedelta(days=config.lookback_window_days),
        )
    end = floor_hour(now)
    if config.end_date is not None:
        end = min(end, floor_hour(local_midnight(config.end_date + timedelta(days=1), tz, now, convention)))
    if start >= end:
        return None
    sync = list(chunk_hours(start, end, SYNC_WINDOW_HOURS))
    if config.v2_mode:
        return HourSchedule((start, end), False, sync)
    jobs = list(chunk_hours(start, end, ASYNC_HOUR_WINDOW_DAYS * 24))
    use_jobs = prefers_jobs(sync, jobs)
    return HourSchedule((start, end), use_jobs, jobs if use_jobs else sync)
