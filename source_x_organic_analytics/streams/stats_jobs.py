"""The scheduler of X's asynchronous analytics jobs: up to 90 days a request instead of 7, for backfills. It decides
when each job is created, polled and downloaded, by its clock; `job_api` sends the requests.

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
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..errors import XApiError, expecting_x_shape
from ..stats_budget import MAX_PROCESSING_JOBS
from .job_api import Call, Job, JobApi, JobResult, JobStatus, JobWindow
from .result_files import Origin, ResultFiles, result_file_origins

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
# Downloads in flight while jobs remain to create (the creations take the other workers).
DOWNLOADS_WHILE_CREATING = 1
# X's refusal of a creation while 100 jobs of the account are processing, whoever created them.
SLOTS_TAKEN = "TOO_MANY_JOBS"

__all__ = ["MAX_PROCESSING_JOBS", "Job", "JobResult", "JobStatus", "JobWindow", "StatsJobs"]


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
        self.api = JobApi(call, ResultFiles(logger, result_origins or result_file_origins()), logger, sleep)
        self.executor = executor
        self.parallel = parallel
        self.logger = logger
        self.sleep = sleep
        self.clock = clock
        self._plans: dict[str, AccountJobs] = {}
        # Every job id X gave this sync: one given twice cannot say which request its result answers.
        self.job_ids: set[str] = set()

    def plan(self, account_id: str, windows: Sequence[JobWindow]) -> AccountJobs:
        """Plans the jobs of `windows` (in the order they will be read) of one account, replacing any earlier plan
        of it. Its jobs are created and polled whenever any planned account is read: X runs them in the meantime."""
        plan = self._plans[account_id] = AccountJobs(self, account_id, windows)
        return plan

    def planned(self, account_id: str) -> AccountJobs | None:
        return self._plans.get(account_id)

    def wants_plans_ahead(self, account_id: str) -> bool:
        """Whether the plans of the accounts other than `account_id` (the one being read) hold fewer jobs to read
        than X lets one account have processing: their jobs keep X busy while this account is read, and more would
        only make their results wait longer for their turn."""
        ahead = sum(plan.jobs_to_read() for planned, plan in self._plans.items() if planned != account_id)
        return ahead < MAX_PROCESSING_JOBS

    def drop(self, account_id: str) -> None:
        """Forgets an account's plan (it failed or was read to the end); jobs already created are left to expire."""
        self._plans.pop(account_id, None)

    def drop_all(self) -> None:
        """Forgets every plan: none of their jobs will be read (the sync reads its metrics elsewhere now)."""
        self._plans.clear()

    def read(self, account_id: str, key: Hashable) -> Iterator[JobResult]:
        """The results of the next window of an account's plan. The pool's work is bounded (`_start_requests`): two
        rounds of requests queued at most, and one poll per account, so the pool always has work while only a few
        results are held in memory."""
        plan = self._plans[account_id]
        if key != plan.next_window:
            raise ValueError(f"window {key!r} is not the next one of {account_id}'s plan ({plan.next_window!r})")
        stalled_at = self.clock() + STALL_TIMEOUT_SECONDS
        while plan.left_to_read(key):
            plan.raise_if_failed(key)
            plan.raise_if_stalled(key, stalled_at - self.clock())
            plans = [plan, *(p for p in self._plans.values() if p is not plan)]
            self._start_requests(plans, key)
            downloaded = plan.take_downloaded(key)
            if downloaded:
                stalled_at = self.clock() + STALL_TIMEOUT_SECONDS
            for result in downloaded:
                if plan.hand_back(key, result):
                    yield result
            if not plan.left_to_read(key):
                break
            self._start_requests(plans, key)  # again: a job handed back to be created again is sent at once
            due_in = self._start_polls(plans)
            self._wait(plan, key, plans, due_in, stalled_at - self.clock())
            for each in plans:
                each.harvest()
        plan.end_window()
        if plan.next_window is None:
            self.drop(account_id)

    def _start_requests(self, plans: list[AccountJobs], key: Hashable) -> None:
        """Job creations first, up to `parallel` in flight over all plans and one queued (a worker that finishes one
        takes the next without waiting for this loop to turn around), the account being read first: X runs a job
        while the pool does other work, so the sooner every job is created, the less the downloads wait for X at the
        end. While jobs remain to create, one download at a time beside them keeps records flowing; then up to two
        rounds of downloads are queued: the window's, then those of the windows read next (the account's later ones,
        then the accounts planned ahead) while fewer than `parallel` results are held, so the pool stays busy across
        the end of a window."""
        budget = self.parallel + 1 - sum(p.creations_in_flight() for p in plans)
        for each in plans:
            budget -= each.start_creations(budget)
        if any(p.may_create_next() for p in plans):
            room = DOWNLOADS_WHILE_CREATING - sum(p.downloads_in_flight() for p in plans)
        else:
            room = 2 * self.parallel - sum(p.requests_in_flight() for p in plans)
        room -= plans[0].start_downloads(key, max(0, room))
        ahead = min(room, self.parallel - sum(p.downloads_held() for p in plans))
        for each in plans:
            ahead -= each.start_downloads_ahead(ahead, reading=key if each is plans[0] else None)

    def _start_polls(self, plans: list[AccountJobs]) -> list[float]:
        """Starts the polls that are due and useful; returns the seconds until the next poll or creation falls due.
        A poll is useful when what it finds can be used now: when the requests the engine could start
        (`_start_requests`, just before) leave its queue short (fewer than `parallel` and the downloads beside the
        creations, or two rounds once no job is left to create), or to free slots for a plan whose creations wait
        for X's limit. Otherwise it would take a worker to find jobs that would wait for one."""
        creating = any(p.may_create_next() for p in plans)
        queue = self.parallel + (DOWNLOADS_WHILE_CREATING if creating else self.parallel)
        short = sum(p.requests_in_flight() for p in plans) < queue
        due = {each: each.poll_due_in() for each in plans if short or each.waits_for_slots()}
        for each, due_in in due.items():
            if due_in is not None and due_in <= 0:
                each.start_poll()
        creations = [each.creations_due_in() for each in plans]
        return [d for d in (*due.values(), *creations) if d is not None]

    def _wait(
        self, plan: AccountJobs, key: Hashable, plans: list[AccountJobs], due_in: list[float], stalled_in: float
    ) -> None:
        """Waits for the first future to finish or the next poll or creation to fall due; never past the window's
        stall deadline, so that a request that hangs cannot hold the read beyond it."""
        in_flight = [f for p in plans for f in p.futures() if not f.done()]
        timeout = max(0.0, min([*due_in, stalled_in]))
        if in_flight:
            wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        elif not any(p.to_harvest() for p in plans) and not plan.downloads_pending(key):
            # Nothing in flight nor to download: only a poll or a creation due later can move things on, and only if
            # the window's jobs are all somewhere the engine will come back to. Else waiting (or looping) never ends.
            plan.raise_if_lost(key, can_wait=bool(due_in))
            self.sleep(timeout)


class AccountJobs:
    """One account's jobs over its windows, in the order they are read; `StatsJobs.read` drives them."""

    def __init__(self, runner: StatsJobs, account_id: str, windows: Sequence[JobWindow]):
        self._runner = runner
        self._account_id = account_id
        self._order = deque(w.key for w in windows)
        self._rank = {w.key: rank for rank, w in enumerate(windows)}
        self._to_create = deque(Job(w.key, w.params, batch, account_id) for w in windows for batch in w.batches)
        self._unread = Counter(job.window for job in self._to_create)
        self._creating: dict[Future, Job] = {}
        self._finished: dict[Hashable, deque[Job]] = defaultdict(deque)
        self._processing = RunningJobs(runner.clock, self._finished)
        # Downloads started and not handed back yet, in the order they were started, each with its window.
        self._downloading: deque[tuple[Hashable, Future[JobResult]]] = deque()
        # A refused creation stops creating the jobs of its window and of later ones; the error is raised when its
        # window is read, so the windows before it are still created, emitted and saved. A failed poll stops the
        # plan and is raised when it is read next.
        self._refused: dict[Hashable, BaseException] = {}
        self._failed: BaseException | None = None
        # Until X accepts one job, only the first window's are sent, one at a time: parameters X refuses (say, a day
        # convention the account does not use) then cost one job.
        self._accepted = False
        self._polling: Future | None = None
        self._polled: list[Job] = []  # the jobs the poll in flight asks about
        self._polls = PollSchedule(runner.clock)
        self._slots = SlotWait(runner.clock)

    @property
    def next_window(self) -> Hashable | None:
        return self._order[0] if self._order else None

    def end_window(self) -> None:
        self._order.popleft()

    def jobs_to_read(self) -> int:
        """How many jobs of the plan, over all its windows, have not been handed back yet."""
        return sum(self._unread.values())

    def left_to_read(self, key: Hashable) -> int:
        """How many of the window's jobs have not been handed back yet."""
        return self._unread[key]

    def creations_in_flight(self) -> int:
        return len(self._creating)

    def downloads_pending(self, key: Hashable) -> int:
        """The window's downloads not handed back yet, and its finished jobs still to download."""
        return self._downloads_of(key) + len(self._finished[key])

    def downloads_in_flight(self) -> int:
        return sum(not future.done() for _, future in self._downloading)

    def waits_for_slots(self) -> bool:
        """Whether jobs remain to create while X's processing-job slots are all taken: only polls free them."""
        return bool(self._to_create) and (self._slots_full() or self._slots.waiting)

    def _slots_full(self) -> bool:
        """Whether this sync's jobs of the account, being created or processing, take all of X's slots."""
        return len(self._creating) + len(self._processing) >= MAX_PROCESSING_JOBS

    def downloads_held(self) -> int:
        """Downloads started and not handed back yet, of any window."""
        return len(self._downloading)

    def _downloads_of(self, key: Hashable) -> int:
        return sum(window == key for window, _ in self._downloading)

    def take_downloaded(self, key: Hashable) -> list[JobResult]:
        """The window's downloads done, in the order they were started (results are handed back in that order)."""
        done: list[JobResult] = []
        for entry in [entry for entry in self._downloading if entry[0] == key]:
            if not entry[1].done():
                break
            self._downloading.remove(entry)
            done.append(entry[1].result())
        return done

    def hand_back(self, key: Hashable, result: JobResult) -> bool:
        """Counts `result` as read (True), or creates its job again when its result link was gone (False)."""
        if self._created_again(result):
            return False
        self._unread[key] -= 1
        return True

    def raise_if_failed(self, key: Hashable) -> None:
        error = self._refused.get(key) or self._failed
        if error is not None:
            raise error

    def raise_if_stalled(self, key: Hashable, stalled_in: float) -> None:
        """Ends a window that has handed nothing back for longer than any wait the engine knows can take."""
        if stalled_in <= 0:
            raise _stalled(self._account_id, key, self._unread[key])

    def raise_if_lost(self, key: Hashable, can_wait: bool) -> None:
        """Fails the read when some of the window's jobs are nowhere the engine will come back to: a job it cannot
        account for must end in an error, never in a wait or a loop without end."""
        held = sum(
            job.window == key for job in (*self._creating.values(), *self._to_create, *self._processing.jobs())
        ) + self.downloads_pending(key)
        if held < self._unread[key] or not can_wait:
            lost = self._unread[key] - held if held < self._unread[key] else self._unread[key]
            raise _lost(self._account_id, key, lost)

    def _created_again(self, result: JobResult) -> bool:
        """Puts a job whose result link was gone back to be created again (X's links expire); True if it was."""
        job = result.job
        if job.status is not JobStatus.LINK_GONE:
            return False
        self._runner.logger.warning(
            f"X's analytics job {job.job_id} for ads account {self._account_id} {job.reread}: the link has "
            "expired or was withdrawn; creating the job once more."
        )
        self._to_create.appendleft(Job(job.window, job.params, job.batch, self._account_id, creation=2))
        return True

    def futures(self) -> list[Future]:
        """The requests of this plan in flight, or done and not yet harvested or handed back."""
        return [*(f for _, f in self._downloading), *self.to_harvest()]

    def to_harvest(self) -> list[Future]:
        """The creations and the poll of this plan, in flight or done but not yet harvested."""
        return [*self._creating, *([self._polling] if self._polling else [])]

    def requests_in_flight(self) -> int:
        """This plan's requests in the pool, not done yet."""
        return sum(not f.done() for f in self.futures())

    def start_downloads(self, key: Hashable, budget: int) -> int:
        """Up to `budget` downloads of the window's finished jobs; returns how many."""
        started = 0
        finished = self._finished[key]
        while finished and started < budget:
            job = finished.popleft()
            self._downloading.append((key, self._runner.executor.submit(self._runner.api.download, job)))
            started += 1
        return started

    def start_downloads_ahead(self, budget: int, reading: Hashable | None) -> int:
        """Up to `budget` downloads of the windows after `reading` (all of the plan's when None), in the order they
        will be read; returns how many."""
        started = 0
        for key in self._order:
            if key != reading:
                started += self.start_downloads(key, budget - started)
        return started

    def start_creations(self, budget: int) -> int:
        """Sends up to `budget` job creations X's limit allows; returns how many."""
        sent = 0
        while sent < budget and self.may_create_next():
            job = self._to_create.popleft()
            self._creating[self._runner.executor.submit(self._runner.api.create, job)] = job
            sent += 1
        return sent

    def may_create_next(self) -> bool:
        """Whether the next job to create may be sent now: the plan has not failed, no earlier window's creation
        was refused, X's limit leaves a slot, X accepted a job already (else only the first window's are sent, one
        at a time), and no wait for X's slots is on."""
        if not self._to_create or self._failed is not None:
            return False
        window = self._to_create[0].window
        return (
            self._rank[window] < min((self._rank[w] for w in self._refused), default=float("inf"))
            and not self._slots_full()
            and (self._accepted or (window == self._order[0] and not self._creating))
            and self._slots.resumed(creating=bool(self._creating))
        )

    def creations_due_in(self) -> float | None:
        """Seconds until creations may resume after X said its job slots were taken; None when not waiting."""
        if not self._to_create or self._failed:
            return None
        return self._slots.due_in()

    def poll_due_in(self) -> float | None:
        """Seconds until this account's next poll (<= 0: now), None while none is wanted."""
        if self._polling is not None or not self._processing or self._failed:
            return None
        return self._polls.due_in()

    def start_poll(self) -> None:
        # X takes up to 200 job ids a poll, and at most MAX_PROCESSING_JOBS (100) are processing: one poll covers all.
        self._polled = self._processing.jobs()
        self._polling = self._runner.executor.submit(self._runner.api.poll, self._account_id, self._polled)

    def harvest(self) -> None:
        for future in [f for f in self._creating if f.done()]:
            job = self._creating.pop(future)
            error = future.exception()
            if isinstance(error, XApiError) and error.detail.code == SLOTS_TAKEN:
                self._wait_for_a_slot(job)
                continue
            if error is not None:
                self._refused.setdefault(job.window, error)
                continue
            job.created_at = self._runner.clock()
            self._accepted = True
            self._slots.accepted()
            if job.job_id in self._runner.job_ids:
                # Its result, if any, could answer either request: the other job's file is checked against its own
                # request when it comes, and this batch is read another way.
                job.reread = "was given by X the id of another job of this sync"
                self._finished[job.window].append(job)
                continue
            self._runner.job_ids.add(job.job_id)
            self._processing.add(job)
            self._polls.job_created()
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
            if self._processing.overdue():
                # Raised when this plan is read.
                self._failed = _too_slow(self._account_id, len(self._processing))

    def _wait_for_a_slot(self, job: Job) -> None:
        """Puts back a job X refused because 100 jobs of the account are processing, and pauses creations: until one
        of this sync's jobs finishes (a poll says so), else for a growing while -- the slots may be held by jobs this
        sync cannot see. Fails the plan when they stay taken as long as a job may take."""
        self._to_create.appendleft(job)
        now = self._runner.clock()
        if not self._slots.waiting:
            self._runner.logger.info(
                f"X's {MAX_PROCESSING_JOBS} processing-job slots of ads account {self._account_id} are all taken "
                f"({len(self._processing)} by this sync): creating more jobs once some finish."
            )
        elif self._slots.waited_too_long(now):
            self._failed = _slots_kept(self._account_id, len(self._processing))
            return
        self._slots.refused(now)

    def _update(self, answer: Mapping[str, Any]) -> None:
        found = self._processing.update(answer, self._polled)
        if found:
            self._slots.slot_freed()
        self._polls.polled(found=bool(found), processing=bool(self._processing))


def _window_name(key: Hashable) -> str:
    """A window key as a user reads it: `first..last` for the reader's (first day, last day) keys."""
    return "..".join(map(str, key)) if isinstance(key, tuple) else str(key)


class RunningJobs:
    """The jobs of one account X is running, as its polls tell: one that finished, or that X no longer lists, moves to
    its window's `finished` jobs."""

    def __init__(self, clock: Callable[[], float], finished: dict[Hashable, deque[Job]]):
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._finished = finished

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, job: Job) -> None:
        self._jobs[str(job.job_id)] = job

    def jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def update(self, answer: Mapping[str, Any], polled: list[Job]) -> int:
        """Reads a poll's answer about `polled`; returns how many jobs it finished."""
        found = 0
        listed = set()
        for state in answer.get("data") or []:
            job = self._jobs.get(str(state.get("id_str") or state.get("id")))
            if job is None:
                continue
            listed.add(job.job_id)
            job.missing_polls, job.missing_since = 0, None
            job.status, job.url = JobStatus.from_x(state.get("status")), state.get("url")
            if job.status.finished:
                self._finish(job)
                found += 1
        return found + sum(map(self._note_missing, (j for j in polled if j.job_id not in listed)))

    def _finish(self, job: Job) -> None:
        del self._jobs[str(job.job_id)]
        self._finished[job.window].append(job)

    def _note_missing(self, job: Job) -> bool:
        """Counts a poll that left `job` out; once X has left it out long enough, it is finished for the engine,
        with its batch to read another way. True when it is."""
        if self._jobs.get(str(job.job_id)) is not job:
            return False
        now = self._clock()
        job.missing_polls += 1
        job.missing_since = now if job.missing_since is None else job.missing_since
        if job.missing_polls < VANISHED_AFTER_POLLS or now - job.missing_since < VANISHED_AFTER_SECONDS:
            return False
        job.reread = f"is no longer in X's list of the account's jobs ({job.missing_polls} polls in a row)"
        self._finish(job)
        return True

    def overdue(self) -> bool:
        """A job has been processing longer than X's jobs may take."""
        oldest = min((job.created_at for job in self._jobs.values()), default=None)
        return oldest is not None and self._clock() - oldest > JOB_TIMEOUT_SECONDS


class PollSchedule:
    """When an account's jobs are polled next: soon after its first job is created, and after a poll that found a
    job finished (finished jobs free slots for the next ones); backing off while none finishes. Clock-driven."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._next: float | None = None
        self._interval = FIRST_POLL_SECONDS

    def job_created(self) -> None:
        if self._next is None:
            self._next = self._clock() + self._interval

    def polled(self, found: bool, processing: bool) -> None:
        self._interval = FIRST_POLL_SECONDS if found else min(self._interval * POLL_GROWTH, MAX_POLL_SECONDS)
        self._next = self._clock() + self._interval if processing else None

    def due_in(self) -> float | None:
        """Seconds until the next poll (<= 0: now); None while none is wanted."""
        return None if self._next is None else self._next - self._clock()


class SlotWait:
    """The pause of an account's job creations while X says its processing-job slots are all taken. X counts every
    processing job of the account against its 100, also jobs this sync did not create (another sync or tool, or this
    connection's previous attempt): creations wait until one of this sync's jobs finishes (a poll says so), else for
    a growing while. Driven by the scheduler's clock only."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._since: float | None = None
        self._after: float | None = None
        self._wait = FIRST_POLL_SECONDS

    @property
    def waiting(self) -> bool:
        return self._since is not None

    def waited_too_long(self, now: float) -> bool:
        """The slots have stayed taken as long as a job may take."""
        return self._since is not None and now - self._since > JOB_TIMEOUT_SECONDS

    def refused(self, now: float) -> None:
        """X refused a creation for want of a slot: the pause starts, or grows once it is over."""
        if self._since is None:
            self._since = now
        if self._after is None or now >= self._after:
            self._after = now + self._wait
            self._wait = min(self._wait * POLL_GROWTH, MAX_POLL_SECONDS)

    def slot_freed(self) -> None:
        """One of this sync's jobs finished: a creation may try again at once."""
        self._after = None

    def accepted(self) -> None:
        self._since = self._after = None
        self._wait = FIRST_POLL_SECONDS

    def resumed(self, creating: bool) -> bool:
        """Whether a creation may be sent: the pause is over, and while the slots are taken, none is in flight (one
        creation at a time finds out whether a slot is free again)."""
        over = self._after is None or self._clock() >= self._after
        return over and (self._since is None or not creating)

    def due_in(self) -> float | None:
        """Seconds until the pause is over; None when there is none."""
        return None if self._after is None else self._after - self._clock()


def _jobs_error(message: str, failure_type: FailureType = FailureType.transient_error) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, failure_type=failure_type)


def _stalled(account_id: str, key: Hashable, unread: int) -> AirbyteTracedException:
    return _jobs_error(
        f"X's analytics jobs for ads account {account_id} brought no result for {STALL_TIMEOUT_SECONDS // 60} "
        f"minutes ({unread} still to read in window {_window_name(key)}); the sync state was not moved past them. "
        "Retry the sync later."
    )


def _lost(account_id: str, key: Hashable, lost: int) -> AirbyteTracedException:
    return _jobs_error(
        f"The connector lost track of {lost} analytics job(s) of ads account {account_id} (window "
        f"{_window_name(key)}); the sync state was not moved past that window. Retry the sync; if this persists, "
        "report it with the logs.",
        FailureType.system_error,
    )


def _slots_kept(account_id: str, processing: int) -> AirbyteTracedException:
    return _jobs_error(
        f"X kept all {MAX_PROCESSING_JOBS} processing-job slots of ads account {account_id} taken for "
        f"{JOB_TIMEOUT_SECONDS // 60} minutes, {processing} of them by this sync: another sync or tool may be "
        "running analytics jobs on that account. The sync state was not moved past them; retry the sync later."
    )


def _too_slow(account_id: str, processing: int) -> AirbyteTracedException:
    return _jobs_error(
        f"X's analytics jobs for ads account {account_id} did not finish within {JOB_TIMEOUT_SECONDS // 60} minutes "
        f"({processing} still processing); the sync state was not moved past them. Retry the sync later."
    )
