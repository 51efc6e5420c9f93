"""Each account's timeline, paged once per sync and shared: the `tweets` stream emits its records, `organic_report`
asks metrics for its tweet ids. Whichever stream comes first pages it; the sync reads `tweets` first only so that the
report finds the timeline already paged."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from .windows import Window


class TimelineReader(Protocol):
    """Reads timelines by account slice (`{"account_id": ...}`)."""

    def read_pages(self, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """The account's timeline's tweet records, page after page."""

    def read_ahead(self, slices: Iterable[Mapping[str, Any]]) -> None:
        """Requests the first page of each of these accounts' timelines, for `read_pages` to take."""


@dataclass(frozen=True)
class TimelineTweet:
    id: str
    created_at: datetime


class Timelines:
    """The timelines service: `records` pages an account's timeline for the `tweets` stream and keeps each tweet's id
    and creation time; `get` hands `organic_report` the kept timeline, paging it (records dropped) if no stream has."""

    def __init__(self, pages: TimelineReader):
        self._pages = pages
        self._timelines: dict[str, list[TimelineTweet]] = {}

    def read_ahead(self, account_ids: list[str]) -> None:
        """Requests the first page of these accounts' timelines not paged yet, while another account is read."""
        self._pages.read_ahead({"account_id": a} for a in account_ids if a not in self._timelines)

    def records(self, account_id: str) -> Iterator[Mapping[str, Any]]:
        timeline: list[TimelineTweet] = []
        for record in self._pages.read_pages({"account_id": account_id}):
            # A tweet without a creation time cannot be placed in a window; the page reader already refused it.
            created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
            timeline.append(TimelineTweet(record["id"], created))
            yield record
        # Kept only once paged to the end: a timeline cut short by an error would lose tweets' metrics.
        self._timelines[account_id] = timeline

    def get(self, account_id: str) -> list[TimelineTweet]:
        if account_id not in self._timelines:
            for _ in self.records(account_id):
                pass
        return self._timelines[account_id]


def eligible_ids(timeline: list[TimelineTweet], window: Window) -> list[str]:
    """Every organic tweet that existed before the window ends: old tweets keep earning impressions."""
    return [t.id for t in timeline if t.created_at < window.end]
