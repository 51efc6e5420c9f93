"""What the streams of one sync share: config, one authenticator, the clock, and reads made once per sync."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from requests.auth import AuthBase

from .config import XConfig

if TYPE_CHECKING:
    from .streams.accounts import AccountDirectory
    from .streams.tweets import TimelineCache


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class V2Usage:
    """What a sync read from X API v2: on X's pay-per-use plans every post read is billed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.posts_read = 0
        self.analytics_requests = 0

    def add_posts(self, count: int) -> None:
        with self._lock:
            self.posts_read += count

    def add_analytics_request(self) -> None:
        with self._lock:
            self.analytics_requests += 1

    def summary(self) -> str:
        return (
            f"X API v2 usage of this sync: {self.posts_read} posts read from the user timeline, "
            f"{self.analytics_requests} post analytics requests (GET /2/tweets/analytics)."
        )


@dataclass
class SyncContext:
    config: XConfig
    # One authenticator for every stream, so an OAuth 2.0 token is refreshed (and its single-use refresh token
    # rotated) once, not once per stream.
    authenticator: AuthBase
    clock: Callable[[], datetime] = utc_now
    accounts: AccountDirectory = field(init=False)
    timelines: TimelineCache = field(init=False)
    v2_usage: V2Usage = field(default_factory=V2Usage)
