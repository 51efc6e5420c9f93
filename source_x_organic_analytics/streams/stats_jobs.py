"""X's asynchronous analytics jobs: up to 90 days a request instead of 7, for backfills.

A job is created per batch of tweet ids, polled in batches, and its gzip'd result (same shape as the synchronous
answer) downloaded from a URL that needs no OAuth. Nothing is dropped silently: a job whose result cannot be trusted
or read here (it FAILED or was CANCELLED, vanished from X's list, shares its id with another job, has a result file
of another request, too large, off X's hosts or gone twice) is handed back with the reason, so its tweets can be read
through the synchronous endpoint; a job that does not finish in time, or a window that makes no progress at all, ends
the sync with an error.

Jobs run as a pipeline over windows and accounts: while the current window's results are downloaded and emitted, the
jobs of the account's next windows, and of any other account already planned, are created in the slots X's limit of
100 processing jobs per account leaves free, so the wait for X to run them overlaps useful work instead of adding up
window by window. Results are still handed back window by window, in order, so the stream's state never passes a
window not emitted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..errors import XApiError, expecting_x_shape, required_id
from .result_files import LinkGone, Origin, ResultFiles, Unfetchable, mismatch, result_file_origins

MAX_PROCESSING_JOBS = 100  # X's limit per ads account
FIRST_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 15.0
POLL_GROWTH = 1.5
JOB_TIMEOUT_SECONDS = 2 * 3600
# The longest a window may hand back nothing: X's job slots may stay taken up to JOB_TIMEOUT_SECONDS, and a job may
# then run as long; anything slower is a stall the engine cannot explain, and ends the sync rather than hang it.
STALL_TIMEOUT_SECONDS = 2 * JOB_TIMEOUT_SECONDS
# A job X leaves out of its answers this many polls in a row, over at least this long (a fresh job may take a moment
# to be listed), is gone: its batch is read another way.
VANISHED_AFTER_POLLS = 3
VANISHED_AFTER_SECONDS = 10.0
DOWNLOAD_ATTEMPTS = 3
GARBLED_RETRY_SECONDS = 1.0  # times the attempt: a garbled file is not fetched again at once, into the same fault
FINISHED = ("SUCCESS", "FAILED", "CANCELLED")
# Set by the engine on a job whose result link was gone: it is created again, once.
LINK_GONE = "LINK_GONE"
# X's refusal of a creation while 100 jobs of the account are processing, whoever created them.
SLOTS_TAKEN = "TOO_MANY_JOBS"

Call = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class JobWindow:
    """One window's jobs: a key the reader names it by, its stats parameters, and one batch of tweet ids per job."""

    key: Hashable
    params: Mapping[str, str]
    batches: Sequence[Sequence[str]]


@dataclass(eq=False)
class Job:
    window: Hashable
    params: Mapping[str, str]
    batch: Sequence[str]
    account_id: str
    job_id: str | None = None
    status: str = "PENDING"
    url: str | None = None
    created_at: float = 0.0  # the runner's clock when X accepted the job
    creation: int = 1  # 2 for the job created again after its result link was gone
    reread: str | None = None  # why its batch must be read another way, said after "X's analytics job <id>"
    missing_polls: int = 0  # polls in a row whose answer left this job out
    missing_since: float | None = None


Outcome = Job | tuple[Job, Mapping[str, Any]]


class StatsJobs:
    """What every account's jobs share: the authenticated `call(method, path, params)` of the stream, the bounded
    worker pool, and the plain HTTP client that downloads results."""

    def __init__(
        self,
        call: Call,
        executor: Executor,
        parallel: int,
        logger: logging.Logger,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        result_origins: frozenset[Origin] | None = None,
    ):
        self.call = call
        self.executor = executor
        self.parallel = parallel
        self.logger = logger
        self.sleep = sleep
        self.clock = clock
        self._plans: dict[str, AccountJobs] = {}
        # Every job id X gave this sync: one given twice cannot say which request its result answers.
        self.job_ids: set[str] = set()
        self._files = ResultFiles(logger, result_origins or result_file_origins())

    def plan(self, account_id: str, windows: Sequence[JobWindow]) -> AccountJobs:
        """Plans the jobs of `windows` (in the order they will be read) of one account, replacing any earlier plan
        of it. Its jobs are created and polled whenever any planned account is read: X runs them in the meantime."""
        plan = self._plans[account_id] = AccountJobs(self, account_id, windows)
        return plan

    def planned(self, account_id: str) -> AccountJobs | None:
        return self._plans.get(account_id)

    def drop(self, account_id: str) -> None:
        """Forgets an account's plan (it failed or was read to the end); jobs already created are left to expire."""
        self._plans.pop(account_id, None)

    def drop_all(self) -> None:
        """Forgets every plan: none of their jobs will be read (the sync reads its metrics elsewhere now)."""
        self._plans.clear()

    def read(self, account_id: str, key: Hashable) -> Iterator[Outcome]:
        """The outcomes of the next window of an account's plan. The pool's work is bounded: at most `parallel`
        job creations (this account's first) and `parallel` downloads queued, and one poll per account, so the pool
        always has work while only a few results are held in memory."""
        plan = self._plans[account_id]
        if key != plan.next_window:
            raise ValueError(f"window {key!r} is not the next one of {account_id}'s plan ({plan.next_window!r})")
        stalled_at = self.clock() + STALL_TIMEOUT_SECONDS
        while plan.unread[key]:
            plan.raise_if_failed(key)
            plan.raise_if_stalled(key, stalled_at - self.clock())
            plan.start_downloads(key)
            while plan.downloading and plan.downloading[0].done():
                outcome = plan.downloading.popleft().result()
                stalled_at = self.clock() + STALL_TIMEOUT_SECONDS
                if not plan.created_again(outcome):
                    plan.unread[key] -= 1
                    yield outcome
            if not plan.unread[key]:
                break
            plans = [plan, *(p for p in self._plans.values() if p is not plan)]
            budget = self.parallel - sum(len(p.creating) for p in plans)
            for each in plans:
                budget -= each.start_creations(budget)
            # Polls wait while the pool has two rounds of other work: they would find jobs to start before there
            # are workers for them.
            backlog = sum(len(p.creating) for p in plans) + len(plan.downloading) + len(plan.finished[key])
            due = {each: each.poll_due_in() for each in plans} if backlog < 2 * self.parallel else {}
            for each, due_in in due.items():
                if due_in is not None and due_in <= 0:
                    each.start_poll()
            creations = [each.creations_due_in() for each in plans]
            due_in = [d for d in (*due.values(), *creations) if d is not None]
            self._wait(plan, key, plans, due_in, stalled_at - self.clock())
            for each in plans:
                each.harvest()
        plan.end_window()
        if plan.next_window is None:
            self.drop(account_id)

    def _wait(
        self, plan: AccountJobs, key: Hashable, plans: list[AccountJobs], due_in: list[float], stalled_in: float
    ) -> None:
        """Waits for the first future to finish or the next poll or creation to fall due; never past the window's
        stall deadline, so that a request that hangs cannot hold the read beyond it."""
        futures = [*plan.downloading, *(f for p in plans for f in p.futures())]
        in_flight = [f for f in futures if not f.done()]
        timeout = max(0.0, min([*due_in, stalled_in]))
        if in_flight:
            wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        elif not futures and not plan.finished[key]:
            # Nothing in flight nor to download: only a poll or a creation due later can move things on, and only if
            # the window's jobs are all somewhere the engine will come back to. Else waiting (or looping) never ends.
            plan.raise_if_lost(key, can_wait=bool(due_in))
            self.sleep(timeout)

    def collect(self, job: Job) -> Outcome:
        """`(job, body)` for a job whose result file answers it; the job itself, with `reread` saying why, for one
        whose batch must be read another way; the job with status LINK_GONE for one to create again."""
        if job.reread is None and (job.status != "SUCCESS" or not job.url):
            job.reread = f"ended {job.status}" + (" without a result URL" if job.status == "SUCCESS" else "")
        if job.reread is not None:
            return job
        # A truncated or garbled file is downloaded again: the URL stays valid until the job expires.
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                body = self._files.fetch(job.url)
            except LinkGone as gone:
                if job.creation == 1:
                    job.status, job.reread = LINK_GONE, str(gone)
                else:
                    job.reread = f"{gone}, also once created again"
                return job
            except Unfetchable as refused:
                job.reread = str(refused)
                return job
            except (ValueError, OSError, EOFError) as error:
                self.logger.warning(
                    f"The result of X's analytics job {job.job_id} is unreadable ({error}); try {attempt}."
                )
                if attempt < DOWNLOAD_ATTEMPTS:
                    self.sleep(GARBLED_RETRY_SECONDS * attempt)
                continue
            job.reread = mismatch(body, job.account_id, job.params, job.batch)
            return job if job.reread else (job, body)
        raise AirbyteTracedException(
            message=f"The result file of X's analytics job {job.job_id} could not be read after {DOWNLOAD_ATTEMPTS} "
            "downloads; the sync state was not moved past its window. Retry the sync later.",
            failure_type=FailureType.transient_error,
        )


class AccountJobs:
    """One account's jobs over its windows, in the order they are read; `StatsJobs.read` drives them."""

    def __init__(self, runner: StatsJobs, account_id: str, windows: Sequence[JobWindow]):
        self._runner = runner
        self._path = f"stats/jobs/accounts/{account_id}"
        self._account_id = account_id
        self._order = deque(w.key for w in windows)
        self._rank = {w.key: rank for rank, w in enumerate(windows)}
        self._to_create = deque(Job(w.key, w.params, batch, account_id) for w in windows for batch in w.batches)
        self.unread = Counter(job.window for job in self._to_create)
        self.creating: dict[Future, Job] = {}
        self._processing: dict[str, Job] = {}
        self.finished: dict[Hashable, deque[Job]] = defaultdict(deque)
        self.downloading: deque[Future] = deque()
        # A refused creation stops creating the jobs of its window and of later ones; the error is raised when its
        # window is read, so the windows before it are still created, emitted and saved. A failed poll stops the
        # plan and is raised when it is read next.
        self._refused: dict[Hashable, BaseException] = {}
        self._failed: BaseException | None = None
        # Until X accepts one job, only the first window's are sent: parameters X refuses (say, a day convention
        # the account does not use) then cost no jobs of later windows.
        self._accepted = False
        self._polling: Future | None = None
        self._polled: list[Job] = []  # the jobs the poll in flight asks about
        self._next_poll: float | None = None
        self._interval = FIRST_POLL_SECONDS
        # X counts every processing job of the account against its 100, also jobs this sync did not create (another
        # sync or tool, or this connection's previous attempt): a creation it refuses for that waits for a free slot.
        self._slots_taken_since: float | None = None
        self._create_after: float | None = None
        self._create_wait = FIRST_POLL_SECONDS

    @property
    def next_window(self) -> Hashable | None:
        return self._order[0] if self._order else None

    def end_window(self) -> None:
        self._order.popleft()

    def raise_if_failed(self, key: Hashable) -> None:
        error = self._refused.get(key) or self._failed
        if error is not None:
            raise error

    def raise_if_stalled(self, key: Hashable, stalled_in: float) -> None:
        """Ends a window that has handed nothing back for longer than any wait the engine knows can take."""
        if stalled_in <= 0:
            raise AirbyteTracedException(
                message=f"X's analytics jobs for ads account {self._account_id} brought no result for "
                f"{STALL_TIMEOUT_SECONDS // 60} minutes ({self.unread[key]} still to read in window "
                f"{_window_name(key)}); the sync state was not moved past them. Retry the sync later.",
                failure_type=FailureType.transient_error,
            )

    def raise_if_lost(self, key: Hashable, can_wait: bool) -> None:
        """Fails the read when some of the window's jobs are nowhere the engine will come back to: a job it cannot
        account for must end in an error, never in a wait or a loop without end."""
        held = (
            sum(job.window == key for job in (*self.creating.values(), *self._to_create, *self._processing.values()))
            + len(self.finished[key])
            + len(self.downloading)
        )
        if held < self.unread[key] or not can_wait:
            lost = self.unread[key] - held if held < self.unread[key] else self.unread[key]
            raise AirbyteTracedException(
                message=f"The connector lost track of {lost} analytics job(s) of ads account {self._account_id} "
                f"(window {_window_name(key)}); the sync state was not moved past that window. Retry the sync; if "
                "this persists, report it with the logs.",
                failure_type=FailureType.system_error,
            )

    def created_again(self, outcome: Outcome) -> bool:
        """Puts a job whose result link was gone back to be created again (X's links expire); True if it was."""
        if not isinstance(outcome, Job) or outcome.status != LINK_GONE:
            return False
        self._runner.logger.warning(
            f"X's analytics job {outcome.job_id} for ads account {self._account_id} {outcome.reread}: the link has "
            "expired or was withdrawn; creating the job once more."
        )
        self._to_create.appendleft(Job(outcome.window, outcome.params, outcome.batch, self._account_id, creation=2))
        return True

    def futures(self) -> list[Future]:
        return [*self.creating, *([self._polling] if self._polling else [])]

    def start_downloads(self, key: Hashable) -> None:
        finished = self.finished[key]
        while finished and len(self.downloading) < self._runner.parallel:
            self.downloading.append(self._runner.executor.submit(self._runner.collect, finished.popleft()))

    def start_creations(self, budget: int) -> int:
        """Sends up to `budget` job creations X's limit allows; returns how many."""
        sent = 0
        while (
            sent < budget
            and self._to_create
            and self._rank[self._to_create[0].window] < self._first_refused_rank()
            and self._failed is None
            and len(self.creating) + len(self._processing) < MAX_PROCESSING_JOBS
            and (self._accepted or self._to_create[0].window == self._order[0])
            and (self._create_after is None or self._runner.clock() >= self._create_after)
            # While X's slots are taken, one creation at a time finds out whether one is free again.
            and (self._slots_taken_since is None or not self.creating)
        ):
            job = self._to_create.popleft()
            self.creating[self._runner.executor.submit(self._create, job)] = job
            sent += 1
        return sent

    def _first_refused_rank(self) -> float:
        return min((self._rank[window] for window in self._refused), default=float("inf"))

    def _create(self, job: Job) -> Job:
        answer = self._runner.call("POST", self._path, {**job.params, "entity_ids": ",".join(job.batch)})
        with expecting_x_shape(f"a new analytics job of ads account {self._account_id}"):
            job.job_id, job.status = required_id(answer["data"], "id_str", "id"), str(answer["data"].get("status"))
        job.created_at = self._runner.clock()
        return job

    def creations_due_in(self) -> float | None:
        """Seconds until creations may resume after X said its job slots were taken; None when not waiting."""
        if self._create_after is None or not self._to_create or self._failed:
            return None
        return self._create_after - self._runner.clock()

    def poll_due_in(self) -> float | None:
        """Seconds until this account's next poll (<= 0: now), None while none is wanted."""
        if self._polling is not None or not self._processing or self._next_poll is None or self._failed:
            return None
        return self._next_poll - self._runner.clock()

    def start_poll(self) -> None:
        # X takes up to 200 job ids a poll, and at most MAX_PROCESSING_JOBS (100) are processing: one poll covers all.
        self._polled = list(self._processing.values())
        ids = ",".join(job.job_id for job in self._polled)
        self._polling = self._runner.executor.submit(self._runner.call, "GET", self._path, {"job_ids": ids})

    def harvest(self) -> None:
        for future in [f for f in self.creating if f.done()]:
            job = self.creating.pop(future)
            error = future.exception()
            if isinstance(error, XApiError) and error.detail.code == SLOTS_TAKEN:
                self._wait_for_a_slot(job)
                continue
            if error is not None:
                self._refused.setdefault(job.window, error)
                continue
            self._accepted = True
            self._slots_taken_since = self._create_after = None
            self._create_wait = FIRST_POLL_SECONDS
            if job.job_id in self._runner.job_ids:
                # Its result, if any, could answer either request: the other job's file is checked against its own
                # request when it comes, and this batch is read another way.
                job.reread = "was given by X the id of another job of this sync"
                self.finished[job.window].append(job)
                continue
            self._runner.job_ids.add(job.job_id)
            self._processing[job.job_id] = job
            if self._next_poll is None:
                self._next_poll = self._runner.clock() + self._interval
        if self._polling is not None and self._polling.done():
            polled, self._polling = self._polling, None
            if polled.exception() is not None:
                self._failed = polled.exception()
                return
            try:
                with expecting_x_shape(f"the analytics job statuses of ads account {self._account_id}"):
                    self._update(polled.result())
            except AirbyteTracedException as error:  # raised when this plan is read, not in another's read
                self._failed = error
                return
            self._check_deadline()

    def _wait_for_a_slot(self, job: Job) -> None:
        """Puts back a job X refused because 100 jobs of the account are processing, and pauses creations: until one
        of this sync's jobs finishes (a poll says so), else for a growing while -- the slots may be held by jobs this
        sync cannot see. Fails the plan when they stay taken as long as a job may take."""
        self._to_create.appendleft(job)
        now = self._runner.clock()
        if self._slots_taken_since is None:
            self._slots_taken_since = now
            self._runner.logger.info(
                f"X's {MAX_PROCESSING_JOBS} processing-job slots of ads account {self._account_id} are all taken "
                f"({len(self._processing)} by this sync): creating more jobs once some finish."
            )
        elif now - self._slots_taken_since > JOB_TIMEOUT_SECONDS:
            self._failed = AirbyteTracedException(
                message=f"X kept all {MAX_PROCESSING_JOBS} processing-job slots of ads account {self._account_id} "
                f"taken for {JOB_TIMEOUT_SECONDS // 60} minutes, {len(self._processing)} of them by this sync: "
                "another sync or tool may be running analytics jobs on that account. The sync state was not moved "
                "past them; retry the sync later.",
                failure_type=FailureType.transient_error,
            )
            return
        if self._create_after is None or now >= self._create_after:
            self._create_after = now + self._create_wait
            self._create_wait = min(self._create_wait * POLL_GROWTH, MAX_POLL_SECONDS)

    def _update(self, answer: Mapping[str, Any]) -> None:
        found = 0
        listed = set()
        for state in answer.get("data") or []:
            job = self._processing.get(str(state.get("id_str") or state.get("id")))
            if job is None:
                continue
            listed.add(job.job_id)
            job.missing_polls, job.missing_since = 0, None
            job.status, job.url = str(state.get("status")), state.get("url")
            if job.status in FINISHED:
                self._finish(job)
                found += 1
        found += sum(map(self._note_missing, (j for j in self._polled if j.job_id not in listed)))
        # Finished jobs free slots for the next ones, which are worth checking soon; otherwise back off.
        self._interval = FIRST_POLL_SECONDS if found else min(self._interval * POLL_GROWTH, MAX_POLL_SECONDS)
        if found:
            self._create_after = None
        self._next_poll = self._runner.clock() + self._interval if self._processing else None

    def _finish(self, job: Job) -> None:
        del self._processing[job.job_id]
        self.finished[job.window].append(job)

    def _note_missing(self, job: Job) -> bool:
        """Counts a poll that left `job` out; once X has left it out long enough, it is finished for the engine,
        with its batch to read another way. True when it is."""
        if self._processing.get(job.job_id) is not job:
            return False
        now = self._runner.clock()
        job.missing_polls += 1
        job.missing_since = now if job.missing_since is None else job.missing_since
        if job.missing_polls < VANISHED_AFTER_POLLS or now - job.missing_since < VANISHED_AFTER_SECONDS:
            return False
        job.reread = f"is no longer in X's list of the account's jobs ({job.missing_polls} polls in a row)"
        self._finish(job)
        return True

    def _check_deadline(self) -> None:
        """Fails the plan once a job has been processing too long; the error is raised when the plan is read."""
        oldest = min((job.created_at for job in self._processing.values()), default=None)
        if oldest is not None and self._runner.clock() - oldest > JOB_TIMEOUT_SECONDS:
            self._failed = AirbyteTracedException(
                message=f"X's analytics jobs for ads account {self._account_id} did not finish within "
                f"{JOB_TIMEOUT_SECONDS // 60} minutes ({len(self._processing)} still processing); the sync state "
                "was not moved past them. Retry the sync later.",
                failure_type=FailureType.transient_error,
            )


def _window_name(key: Hashable) -> str:
    """A window key as a user reads it: `first..last` for the reader's (first day, last day) keys."""
    return "..".join(map(str, key)) if isinstance(key, tuple) else str(key)
