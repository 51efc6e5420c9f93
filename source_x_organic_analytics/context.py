"""What the streams of one sync share: config, one authenticator, the clock, and reads made once per sync."""

from __future__ import annotations

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


@dataclass
class SyncContext:
    config: XConfig
    # One authenticator for every stream, so an OAuth 2.0 token is refreshed (and its single-use refresh token
    # rotated) once, not once per stream.
    authenticator: AuthBase
    clock: Callable[[], datetime] = utc_now
    accounts: AccountDirectory = field(init=False)
    timelines: TimelineCache = field(init=False)
