"""The `organic_report_hourly` stream: organic metrics per tweet per UTC hour, incremental per account.

It is `organic_report` read with HOUR buckets: the same metric readers (the Ads API's synchronous endpoint for up to
7 days a request, its jobs for longer ranges, or X API v2 with `granularity=hourly`), the same slices per window, the
same state per account (its cursor the last hour read) and the same fallback to X API v2. Its windows are whole UTC
hours, not days: X wants local midnights only for DAY and TOTAL, so no day convention applies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..account_plan import HourSchedule, plan_account_hours
from ..errors import XApiError
from ..timelines import eligible_ids
from ..windows import HOUR, SYNC_WINDOW_DAYS, HourWindow, Window, WindowMaker, floor_hour, format_x_time
from .ads_stats import window_name
from .organic_report import OrganicReport


def parse_hour(value: Any) -> datetime:
    """A cursor value `YYYY-MM-DDTHH:00:00Z` as a UTC instant; ValueError for anything else."""
    text = str(value)
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if instant.tzinfo is None or instant != floor_hour(instant):
        raise ValueError(text)
    return instant.astimezone(timezone.utc)


def sanitize_hour_state(state: Any, now: datetime, log: list[str]) -> dict[str, dict[str, str]]:
    """Keep each `{"<account_id>": {"hour": "YYYY-MM-DDTHH:00:00Z"}}` entry that makes sense: a malformed one is
    dropped (that account restarts at `start_date`), an hour not yet complete is clamped to the last complete one.
    Accounts no longer configured keep their entry."""
    if not isinstance(state, Mapping):
        if state:
            log.append(
                f"Ignoring organic_report_hourly state of unexpected shape {type(state).__name__}; starting over."
            )
        return {}
    last_complete = floor_hour(now) - HOUR
    clean: dict[str, dict[str, str]] = {}
    for account_id, entry in state.items():
        try:
            saved = parse_hour(entry.get("hour") if isinstance(entry, Mapping) else None)
        except ValueError:
            log.append(
                f"Ignoring organic_report_hourly state {account_id!r}: {entry!r} is not "
                "{'hour': 'YYYY-MM-DDTHH:00:00Z'}."
            )
            continue
        if saved > last_complete:
            log.append(f"organic_report_hourly state of {account_id} is in the future ({saved}); treating it as now.")
            saved = last_complete
        clean[str(account_id)] = {"hour": format_x_time(saved)}
    return clean


class OrganicReportHourly(OrganicReport):
    primary_key = ["account_id", "tweet_id", "hour"]
    cursor_field = "hour"

    def _sanitize(self, value: Any, notes: list[str]) -> dict[str, dict[str, str]]:
        return sanitize_hour_state(value, self.context.clock(), notes)

    def _plan(self, account: Mapping[str, Any], saved: str | None) -> HourSchedule | None:
        return plan_account_hours(
            account, self.context.config, self.context.clock(), saved, self._jobs_chooser(account)
        )

    def _bounds(self, stream_slice: Mapping[str, Any]) -> tuple[datetime, datetime]:
        return datetime.fromisoformat(stream_slice["first"]), datetime.fromisoformat(stream_slice["last"])

    def _cursor_after(self, first: datetime, last: datetime) -> str:
        # A slice's bounds are [start, end): its last hour starts an hour before the end.
        return format_x_time(last - HOUR)

    def _window_maker(self, account: Mapping[str, Any]) -> WindowMaker:
        return HourWindow

    def _fall_back(self, account_id: str, error: XApiError) -> bool:
        """Only the switch to X API v2: hourly windows have no day convention to switch."""
        if self._should_switch_to_v2(error):
            self._switch_to_v2(error)
            return True
        return False

    def _read_by_jobs(self, account_id: str, window: Window, windows: WindowMaker) -> Iterable[dict[str, Any]]:
        """X documents no longest HOUR job: a window it refuses as too long is read again in two halves, each in its
        own jobs (and split again if refused again). Records of a refused window emitted before the refusal come
        again, with the same primary key."""
        try:
            yield from super()._read_by_jobs(account_id, window, windows)
        except XApiError as error:
            yield from self._read_halves(account_id, window, windows, error)

    def _read_halves(
        self, account_id: str, window: Window, windows: WindowMaker, error: XApiError
    ) -> Iterable[dict[str, Any]]:
        halves = window.halves() if error.detail.code == "INVALID_TIME_WINDOW" else None
        if halves is None or window.buckets <= SYNC_WINDOW_DAYS * 24:
            raise error
        self.logger.warning(
            f"X refused the hourly analytics jobs of account {account_id} for {window_name(window)} ({error.detail}); "
            f"reading that range in two halves, split at {format_x_time(halves[1][0])}."
        )
        timeline = self.context.timelines.get(account_id)
        for first, last in halves:
            part = windows(first, last)
            # Each half is a plan of its own; the next slice plans the account's later windows again.
            self._jobs_reader.plan(account_id, windows, [(first, last)], lambda w: eligible_ids(timeline, w))
            try:
                yield from self._jobs_reader.read(account_id, part, windows)
            except XApiError as again:
                yield from self._read_halves(account_id, part, windows, again)
