"""X's time-window rules for analytics, shared by the server (validation) and the truth (bucket boundaries).

The key quirk: a DAY (or TOTAL) window must start and end at midnight in the account's time zone using the UTC offset
in force *today* (at the emulator's ``now``), not the offset of the day asked for. So across a DST change a "day" of
the report is the 24 hours from local midnight-with-today's-offset, which may be 23:00 or 01:00 by the wall clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


def today_offset(tz: str, now: dt.datetime) -> dt.timedelta:
    """The account's UTC offset at ``now`` (an aware datetime)."""
    offset = now.astimezone(ZoneInfo(tz)).utcoffset()
    assert offset is not None
    return offset


def day_start_utc(day: dt.date, tz: str, now: dt.datetime) -> dt.datetime:
    """Start of the report day ``day``: local midnight of that date with TODAY's offset, as UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone(today_offset(tz, now))).astimezone(UTC)


def hour_index(ts: dt.datetime) -> int:
    """Whole hours since the epoch (ts must be aware and, for bucket edges, on a whole hour)."""
    return int(ts.timestamp()) // 3600


def now_hour(now: dt.datetime) -> int:
    """Hours whose index is below this are complete at ``now`` and may carry metrics."""
    return int(now.timestamp() // 3600)


class TimeParseError(ValueError):
    pass


def parse_time(value: str, tz: str, now: dt.datetime) -> dt.datetime:
    """Parse an ISO 8601 ``start_time``/``end_time`` into an aware UTC datetime.

    A date-only value (YYYY-MM-DD) is local midnight with today's offset (as X reads it); a date-time must carry an
    offset or 'Z' (a naive date-time is rejected rather than guessed).
    """
    value = value.strip()
    if len(value) == 10:
        try:
            return day_start_utc(dt.date.fromisoformat(value), tz, now)
        except ValueError as exc:
            raise TimeParseError(str(exc)) from None
    try:
        # Python 3.10's fromisoformat does not know "Z"
        parsed = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError as exc:
        raise TimeParseError(str(exc)) from None
    if parsed.tzinfo is None:
        raise TimeParseError("a time zone offset or Z is required")
    return parsed.astimezone(UTC)


def is_local_midnight_today_offset(ts: dt.datetime, tz: str, now: dt.datetime) -> bool:
    local = ts.astimezone(dt.timezone(today_offset(tz, now)))
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def is_whole_hour(ts: dt.datetime) -> bool:
    return ts.minute == 0 and ts.second == 0 and ts.microsecond == 0
