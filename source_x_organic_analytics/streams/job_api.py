"""X's analytics job endpoints, HTTP only: create a job, poll the account's jobs, download a job's result file.

The scheduling (when to create, poll and download, X's limit of 100 processing jobs per account) is `stats_jobs`'s;
this module only sends the requests and says what their answers mean, in the types both share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..errors import expecting_x_shape, required_id
from .result_files import LinkGone, ResultFiles, StillFailing, Unfetchable, mismatch

DOWNLOAD_ATTEMPTS = 3
GARBLED_RETRY_SECONDS = 1.0  # times the attempt: a garbled file is not fetched again at once, into the same fault

Call = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]


class JobStatus(str, Enum):
    """A job's status as X reports it, and LINK_GONE, the engine's own for a job to create again once."""

    PENDING = "PENDING"  # not yet accepted by X
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    LINK_GONE = "LINK_GONE"

    @classmethod
    def from_x(cls, value: Any) -> JobStatus:
        """X's documented statuses; anything else is a job still processing for the engine."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.PROCESSING

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED)


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
    status: JobStatus = JobStatus.PENDING
    url: str | None = None
    created_at: float = 0.0  # the scheduler's clock when X accepted the job
    creation: int = 1  # 2 for the job created again after its result link was gone
    reread: str | None = None  # why its batch must be read another way, said after "X's analytics job <id>"
    missing_polls: int = 0  # polls in a row whose answer left this job out
    missing_since: float | None = None


@dataclass(frozen=True)
class JobResult:
    """What a finished job gives: its result `body`, or None when its batch must be read another way (`reread`
    says why)."""

    job: Job
    body: Mapping[str, Any] | None = None

    @property
    def window(self) -> Hashable:
        return self.job.window

    @property
    def batch(self) -> Sequence[str]:
        return self.job.batch

    @property
    def job_id(self) -> str | None:
        return self.job.job_id

    @property
    def status(self) -> JobStatus:
        return self.job.status

    @property
    def reread(self) -> str | None:
        return self.job.reread


def jobs_path(account_id: str) -> str:
    return f"stats/jobs/accounts/{account_id}"


class JobApi:
    """The job requests, sent with the stream's authenticated `call(method, path, params)`; result files are fetched
    by `ResultFiles`, without credentials."""

    def __init__(self, call: Call, files: ResultFiles, logger: logging.Logger, sleep: Callable[[float], None]):
        self._call = call
        self._files = files
        self._logger = logger
        self._sleep = sleep

    def create(self, job: Job) -> Job:
        """Creates `job` at X; fills in its id and status."""
        answer = self._call("POST", jobs_path(job.account_id), {**job.params, "entity_ids": ",".join(job.batch)})
        with expecting_x_shape(f"a new analytics job of ads account {job.account_id}"):
            job.job_id = required_id(answer["data"], "id_str", "id")
            job.status = JobStatus.from_x(answer["data"].get("status"))
        return job

    def poll(self, account_id: str, jobs: Sequence[Job]) -> Mapping[str, Any]:
        """X's answer about `jobs` of one account (one request: X takes up to 200 ids)."""
        return self._call("GET", jobs_path(account_id), {"job_ids": ",".join(job.job_id or "" for job in jobs)})

    def download(self, job: Job) -> JobResult:
        """The result of a finished job: its body when its result file answers it; else no body, with the job's
        `reread` saying why, and its status LINK_GONE when its link was gone the first time (create it again)."""
        if job.reread is None and (job.status is not JobStatus.SUCCESS or not job.url):
            suffix = " without a result URL" if job.status is JobStatus.SUCCESS else ""
            job.reread = f"ended {job.status.value}{suffix}"
        if job.reread is not None:
            return JobResult(job)
        # A truncated or garbled file is downloaded again: the URL stays valid until the job expires.
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                body = self._files.fetch(job.url)
            except LinkGone as gone:
                if job.creation == 1:
                    job.status, job.reread = JobStatus.LINK_GONE, str(gone)
                else:
                    job.reread = f"{gone}, also once created again"
                return JobResult(job)
            except Unfetchable as refused:
                job.reread = str(refused)
                return JobResult(job)
            except StillFailing as failing:  # another download of it would fail the same way
                raise _unread(job, f"could not be downloaded: {failing}") from failing
            except (ValueError, OSError, EOFError) as error:
                self._logger.warning(
                    f"The result of X's analytics job {job.job_id} is unreadable ({error}); try {attempt}."
                )
                if attempt < DOWNLOAD_ATTEMPTS:
                    self._sleep(GARBLED_RETRY_SECONDS * attempt)
                continue
            job.reread = mismatch(body, job.account_id, job.params, job.batch)
            return JobResult(job, None if job.reread else body)
        raise _unread(job, f"could not be read after {DOWNLOAD_ATTEMPTS} downloads")


def _unread(job: Job, why: str) -> AirbyteTracedException:
    """The error that ends the sync when a job's result file cannot be had now, though a later sync may have it."""
    return AirbyteTracedException(
        message=f"The result file of X's analytics job {job.job_id} {why}; the sync state was not moved past its "
        "window. Retry the sync later.",
        failure_type=FailureType.transient_error,
    )
