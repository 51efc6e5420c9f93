"""What the streams of one sync share: the connection (config, one authenticator, the clock, the X API v2 usage) and
the sync-wide services built on it, the account directory and the timelines, each read once per sync."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, Protocol, TypeVar

from requests.auth import AuthBase

from .config import XConfig
from .errors import RateLimitGates
from .http_session import EnvironmentOnceSession
from .stats_budget import SyncStatsBudget
from .timelines import Timelines


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


T = TypeVar("T")


class RequestPool(ThreadPoolExecutor):
    """The sync's one pool of workers, shared by every stream: every request of the sync is sent from one of its
    threads (`run`), so at most `workers` requests are in flight at any time, whichever streams send them.

    A task sends its own requests and never waits on another task of the pool: with every worker waiting, none would
    be left to run the tasks they wait on. Only the main thread waits on tasks."""

    def __init__(self, workers: int):
        self._local = threading.local()
        super().__init__(max_workers=workers, thread_name_prefix="x-requests", initializer=self._enter)
        self.workers = workers

    def _enter(self) -> None:
        self._local.worker = True

    def run(self, send: Callable[..., T], *args: Any) -> T:
        """`send(*args)` on a worker, waiting for it; directly on a worker (a task sends its own requests)."""
        if getattr(self._local, "worker", False):
            return send(*args)
        return self.submit(send, *args).result()


@dataclass
class Connection:
    """What every request of a sync needs, one of each per sync."""

    config: XConfig
    # One authenticator for every stream, so an OAuth 2.0 token is refreshed (and its single-use refresh token
    # rotated) once, not once per stream.
    authenticator: AuthBase
    clock: Callable[[], datetime] = utc_now
    v2_usage: V2Usage = field(default_factory=V2Usage)
    # One session (its connection pool and the environment's proxy and CA settings) under every stream's HTTP client.
    session: EnvironmentOnceSession = field(default_factory=EnvironmentOnceSession)
    # The rate-limit gates of the whole sync (per user and endpoint, per ads account and endpoint, as X counts its
    # budgets), whichever stream asks.
    rate_limit_gates: RateLimitGates = field(default_factory=RateLimitGates)
    # Every request of the sync goes through this pool of `num_workers` workers (built from the config if not given).
    pool: RequestPool = None  # type: ignore[assignment]
    # The user's synchronous stats budget, over the gates above: shared by every account and metrics stream.
    stats_budget: SyncStatsBudget = field(init=False)

    def __post_init__(self) -> None:
        if self.pool is None:
            self.pool = RequestPool(self.config.num_workers)
        stats_url = f"{self.config.ads_api_root}stats/accounts/-"
        self.stats_budget = SyncStatsBudget(self.rate_limit_gates, stats_url, self.config.num_workers)


class ReadOnce(Generic[T]):
    """A read made once per sync, its failure included: every stream would otherwise redo the same failing calls
    with their retries."""

    def __init__(self, read: Callable[[], T]):
        self._read = read
        self._value: T | None = None
        self._failure: Exception | None = None

    def get(self) -> T:
        if self._failure is not None:
            raise self._failure
        if self._value is None:
            try:
                self._value = self._read()
            except Exception as error:
                self._failure = error
                raise
        return self._value


class Directory(Protocol):
    """The accounts of a sync (ads accounts, or the authenticated user in x_api_v2 mode), read once."""

    def listed(self) -> list[Mapping[str, Any]]: ...

    def readable(self) -> list[Mapping[str, Any]]: ...

    def get(self, account_id: str) -> Mapping[str, Any]: ...

    def missing(self) -> list[str]: ...

    def raise_for_missing(self) -> None: ...


class ReadsAhead(Protocol):
    """A stream that can request its first pages of some accounts before it reads them."""

    def read_ahead_accounts(self, accounts: list[Mapping[str, Any]]) -> None: ...


@dataclass(kw_only=True)
class SyncContext(Connection):
    """The connection and the services every stream of the sync shares, built complete before any stream."""

    accounts: Directory
    timelines: Timelines
    # The selected streams not read yet, in the order the sync reads them: while one stream reads its accounts, the
    # first pages of the streams to come are requested too (each stream bounds what it holds), so that their
    # requests fill the workers that the read's own waits leave idle instead of adding up at their turn.
    streams_to_come: list[ReadsAhead] = field(default_factory=list)
