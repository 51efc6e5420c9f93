"""Which endpoint reads an account's metrics: the synchronous stats endpoint or asynchronous jobs, chosen by what
finishes first against the user's synchronous budget, for every account and metrics stream of the sync.

The synchronous endpoint answers at once but takes 7 days a request and 250 requests per user per 15 minutes, shared
by every ads account the user reads; jobs take 90 days a request but need a creation, a poll and a download each, and
X's processing time. A plan that would spend more synchronous requests than the user has left waits for the next rate
window, counted here as its full length: a daily sync of a few big accounts takes the budget's worth synchronously
and the rest through jobs, and never waits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import Budget, RateLimitGates

# X's documented budget of the synchronous stats endpoint per user and 15 minutes: the assumption until X announces
# its own on an answer.
DOCUMENTED_SYNC_LIMIT = 250
RATE_WINDOW_SECONDS = 15 * 60
# A synchronous request a failed job falls back to, a retried window: kept out of what plans may take.
SYNC_RESERVE = 10
# The cost model's assumptions: one request's round trip to X, and how long X takes to run a round of jobs. X documents
# no processing time, and recommends jobs for scheduled syncs and backfills (the synchronous budget serves real-time
# use): 2 s keeps a range of a few days synchronous and sends a quarter of a year or more to jobs.
REQUEST_SECONDS = 0.25
JOB_ROUND_SECONDS = 2.0
MAX_PROCESSING_JOBS = 100  # X runs at most this many jobs of an ads account at a time (the job engine keeps to it)


@dataclass(frozen=True)
class EndpointCosts:
    """What reading one account's range costs each way: the requests of each of its windows, in the order read."""

    sync_windows: tuple[int, ...]  # synchronous requests: ceil(tweets / 20) per 7-day window
    job_windows: tuple[int, ...]  # job creations (as many downloads): ceil(tweets / 20) per 90-day window

    @property
    def sync_requests(self) -> int:
        return sum(self.sync_windows)

    @property
    def job_requests(self) -> int:
        return sum(self.job_windows)

    def sync_seconds(self, left: int, limit: int, workers: int) -> float:
        """The synchronous read's time: window after window, each one's requests over the workers; and a whole rate
        window per window of waits beyond the `left` requests of the current one."""
        over = self.sync_requests - max(left, 0)
        waits = 0 if over <= 0 else math.ceil(over / max(limit, 1))
        round_trips = sum(math.ceil(n / workers) for n in self.sync_windows)
        return round_trips * REQUEST_SECONDS + waits * RATE_WINDOW_SECONDS

    def jobs_seconds(self, workers: int) -> float:
        """The jobs' time: their creations and downloads over the workers, and per round of jobs X's processing and
        a poll (the jobs of all windows are created ahead, up to X's limit)."""
        rounds = math.ceil(self.job_requests / MAX_PROCESSING_JOBS)
        round_trips = 2 * math.ceil(self.job_requests / workers) + rounds
        return round_trips * REQUEST_SECONDS + rounds * JOB_ROUND_SECONDS

    def jobs_finish_first(self, left: int, limit: int, workers: int) -> bool:
        return self.jobs_seconds(workers) < self.sync_seconds(left, limit, workers)


class SyncStatsBudget:
    """The user's synchronous stats requests of the current rate window not yet promised to a plan. X announces its
    remaining budget on each answer (the rate-limit gate keeps it); until the sync has one, a plan that may go
    synchronous sends its first request alone to learn it (`probe`). Plans are made on the sync's main thread."""

    def __init__(self, gates: RateLimitGates, stats_url: str, workers: int, clock: Callable[[], float] = time.time):
        self._gates = gates
        self._stats_url = stats_url
        self._workers = workers
        self._clock = clock
        self._window: float | None = None  # the reset of the rate window the promises below are counted in
        self._base = 0  # the window's remaining budget when its first promise was made
        self._promised = 0
        self._probed = False

    def prefers_jobs(self, costs: EndpointCosts, probe: Callable[[], None]) -> bool:
        """Whether the account with `costs` is read through jobs; a synchronous plan's requests are promised."""
        if costs.sync_requests == 0:
            return False
        limit = DOCUMENTED_SYNC_LIMIT
        if costs.jobs_finish_first(limit - SYNC_RESERVE, limit, self._workers):
            return True  # even a whole untouched window would not make it faster synchronously
        budget = self._announced()
        if budget is None and not self._probed:
            self._probed = True  # once: X may announce no budget at all
            probe()
            budget = self._announced()
        left, limit = self._left(budget)
        if costs.jobs_finish_first(left - SYNC_RESERVE, limit, self._workers):
            return True
        self._promised += costs.sync_requests
        return False

    def _announced(self) -> Budget | None:
        return self._gates.user_budget("GET", self._stats_url)

    def _left(self, budget: Budget | None) -> tuple[int, int]:
        """(requests of the current window not promised yet, the window's limit). Requests sent since the window's
        first promise count against the promises (they were sent for them); any beyond are another client's."""
        if budget is None:  # X announces no budget: the documented one, less what this sync promised
            return DOCUMENTED_SYNC_LIMIT - self._promised, DOCUMENTED_SYNC_LIMIT
        remaining, reset, limit = budget
        limit = limit or DOCUMENTED_SYNC_LIMIT
        if self._clock() >= reset:
            remaining, reset = limit, math.inf  # a fresh window, not announced yet
        if reset != self._window:
            self._window, self._base, self._promised = reset, remaining, 0
        outstanding = max(0, self._promised - (self._base - remaining))
        return remaining - outstanding, limit


def choose_endpoints(costs: list[EndpointCosts], workers: int) -> list[bool]:
    """Whether each account (in the order they are read) goes through jobs, by `SyncStatsBudget`'s own rule in a sync
    whose X announces no budget (the documented one): what the bench expects of the connector."""
    budget = SyncStatsBudget(RateLimitGates(), "", workers)
    return [budget.prefers_jobs(each, probe=lambda: None) for each in costs]
