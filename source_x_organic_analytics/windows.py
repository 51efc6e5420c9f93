"""Date-window arithmetic for X's DAY reports, as pure functions (no HTTP, no clock of their own).

X reads DAY windows as whole days in the ads account's time zone and wants both ends at local midnight written with
the UTC offset in force *today*, not on the day asked for; buckets are then 24 hours each from the start. Some
accounts have been seen to need each day's own offset instead: `DayConvention` names the two so a caller can switch.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

SYNC_WINDOW_DAYS = 7  # the synchronous stats endpoint's longest range
ASYNC_WINDOW_DAYS = 90  # an asynchronous job's longest range
SYNC_WINDOW_HOURS = SYNC_WINDOW_DAYS * 24
# X documents no separate limit for HOUR jobs; some clients use 45 days, and a window X refuses is split anyway.
ASYNC_HOUR_WINDOW_DAYS = 45
HOUR = timedelta(hours=1)


class DayConvention(enum.Enum):
    TODAY_OFFSET = "today's UTC offset"  # X's documented rule
    DAY_OFFSET = "each day's own UTC offset"


class DayConventions:
    """How each account's day windows are written in this sync: today's offset (X's documented rule) unless X
    refused a window written so, then each day's own; in x_api_v2 mode (`calendar_days`), each day's own. An account
    switches at most once, and not after one of its windows was read."""

    def __init__(self, calendar_days: bool):
        self._default = DayConvention.DAY_OFFSET if calendar_days else DayConvention.TODAY_OFFSET
        self._chosen: dict[str, DayConvention] = {}
        self._confirmed: set[str] = set()

    def of(self, account_id: str) -> DayConvention:
        return self._chosen.get(account_id, self._default)

    def confirm(self, account_id: str) -> None:
        """X accepted a window of the account as written: its convention stays."""
        self._confirmed.add(account_id)

    def may_switch(self, account_id: str) -> bool:
        return account_id not in self._confirmed

    def switch(self, account_id: str) -> DayConvention:
        """Writes the account's windows the other way for the rest of the sync; returns the new convention."""
        other = next(c for c in DayConvention if c is not self.of(account_id))
        self._chosen[account_id] = other
        self._confirmed.add(account_id)
        return other


@dataclass(frozen=True)
class DayWindow:
    """Local days `first`..`last` inclusive, and the UTC instants X wants for them (end exclusive)."""

    first: date
    last: date
    start: datetime
    end: datetime

    granularity: ClassVar[str] = "DAY"  # the Ads API's `granularity`
    cursor: ClassVar[str] = "date"  # the record key naming a bucket

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def buckets(self) -> int:
        return self.days

    @property
    def key(self) -> tuple[date, date]:
        """How the window is named in a jobs plan and in messages."""
        return self.first, self.last

    def day(self, bucket: int) -> date:
        return self.first + timedelta(days=bucket)

    def labels(self) -> tuple[str, ...]:
        """Each bucket's value of the `date` key."""
        return _day_names(self.first, self.days)

    def sync_parts(self) -> list[tuple[date, date]]:
        """The window in pieces the synchronous endpoint takes, as a WindowMaker's arguments."""
        return list(chunk_days(self.first, self.last, SYNC_WINDOW_DAYS))

    def halves(self) -> tuple[tuple[date, date], tuple[date, date]] | None:
        """The window cut in two whole-day halves, as a WindowMaker's arguments; None for a single day."""
        if self.days == 1:
            return None
        middle = self.first + (self.last - self.first) // 2
        return (self.first, middle), (middle + timedelta(days=1), self.last)


@dataclass(frozen=True)
class HourWindow:
    """Whole UTC hours `start`..`end` (end exclusive): HOUR reports need no local midnight, only whole hours."""

    start: datetime
    end: datetime

    granularity: ClassVar[str] = "HOUR"
    cursor: ClassVar[str] = "hour"

    @property
    def buckets(self) -> int:
        return (self.end - self.start) // HOUR

    @property
    def key(self) -> tuple[datetime, datetime]:
        return self.start, self.end

    def labels(self) -> tuple[str, ...]:
        """Each bucket's value of the `hour` key, its UTC start."""
        return _hour_names(self.start, self.buckets)

    def sync_parts(self) -> list[tuple[datetime, datetime]]:
        return list(chunk_hours(self.start, self.end, SYNC_WINDOW_HOURS))

    def halves(self) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]] | None:
        """The window cut in two whole-hour halves; None once it is a day or less (within any range limit)."""
        if self.buckets <= 24:
            return None
        middle = self.start + (self.buckets // 2) * HOUR
        return (self.start, middle), (middle, self.end)


# A window of either granularity: the metric readers take both.
Window = DayWindow | HourWindow
# (first, last) days → DayWindow, or (start, end) instants → HourWindow: how an account's windows are written.
WindowMaker = Callable[[Any, Any], Window]


@lru_cache(maxsize=32)
def _day_names(first: date, days: int) -> tuple[str, ...]:
    # A sync reads a few windows, each answered in many batches: the labels are formatted once per window.
    return tuple((first + timedelta(days=bucket)).isoformat() for bucket in range(days))


@lru_cache(maxsize=32)
def _hour_names(start: datetime, hours: int) -> tuple[str, ...]:
    return tuple(format_x_time(start + bucket * HOUR) for bucket in range(hours))


def floor_hour(instant: datetime) -> datetime:
    return instant.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def chunk_hours(start: datetime, end: datetime, max_hours: int) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive [start, end) ranges of at most `max_hours` whole hours covering start..end."""
    while start < end:
        stop = min(end, start + max_hours * HOUR)
        yield start, stop
        start = stop


def local_midnight(day: date, tz: ZoneInfo, now: datetime, convention: DayConvention) -> datetime:
    """The UTC instant X means by midnight starting `day` in `tz`."""
    if convention is DayConvention.DAY_OFFSET:
        return datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)
    offset = now.astimezone(tz).utcoffset() or timedelta(0)
    return datetime.combine(day, time(), tzinfo=timezone.utc) - offset


def day_window(first: date, last: date, tz: ZoneInfo, now: datetime, convention: DayConvention) -> DayWindow:
    return DayWindow(
        first=first,
        last=last,
        start=local_midnight(first, tz, now, convention),
        end=local_midnight(last + timedelta(days=1), tz, now, convention),
    )


def chunk_days(first: date, last: date, max_days: int, breaks: tuple[date, ...] = ()) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive ranges of at most `max_days` covering first..last; a range never crosses a break day
    (a new range starts on it), which keeps a time-zone switch out of the middle of a request."""
    start = first
    cuts = sorted(b for b in breaks if first < b <= last)
    while start <= last:
        end = min(last, start + timedelta(days=max_days - 1))
        for cut in cuts:
            if start < cut <= end:
                end = cut - timedelta(days=1)
                break
        yield start, end
        start = end + timedelta(days=1)


def read_range(
    start_date: date,
    end_date: date | None,
    today: date,
    saved: date | None,
    lookback_days: int,
) -> tuple[date, date] | None:
    """The local days to read this sync: from the saved day minus the look-back (never before `start_date`) to the
    configured end or today, whichever is first. None when there is nothing to read."""
    first = start_date if saved is None else max(start_date, saved - timedelta(days=lookback_days))
    last = today if end_date is None else min(end_date, today)
    return (first, last) if first <= last else None


def format_x_time(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunk_local_days(first: date, last: date, tz: ZoneInfo, max_hours: int) -> Iterator[tuple[date, date]]:
    """Consecutive inclusive ranges of whole local days covering first..last, each at most `max_hours` long in `tz`:
    a week holding a 25-hour day (a DST change) is cut to six days rather than refused by an API that counts hours."""
    start = first
    while start <= last:
        end, hours = start, _day_length(start, tz)
        while end < last and hours + _day_length(end + timedelta(days=1), tz) <= timedelta(hours=max_hours):
            end += timedelta(days=1)
            hours += _day_length(end, tz)
        yield start, end
        start = end + timedelta(days=1)


def _day_length(day: date, tz: ZoneInfo) -> timedelta:
    begins = datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(timezone.utc) - begins
