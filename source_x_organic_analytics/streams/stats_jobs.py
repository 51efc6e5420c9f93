"""X's asynchronous analytics jobs: up to 90 days a request instead of 7, for backfills.

A job is created per batch of tweet ids, polled in batches, and its gzip'd result (same shape as the synchronous
answer) downloaded from a URL that needs no OAuth. Nothing is dropped silently: a FAILED or CANCELLED job is read
again through the synchronous endpoint, and a job that does not finish in time ends the sync with an error.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import HttpStatusErrorHandler
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..errors import parse_json

MAX_PROCESSING_JOBS = 100  # X's limit per ads account
MAX_JOB_IDS_PER_POLL = 200
FIRST_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 15.0
POLL_GROWTH = 1.5
JOB_TIMEOUT_SECONDS = 2 * 3600
DOWNLOAD_ATTEMPTS = 3


@dataclass
class Job:
    batch: Sequence[str]
    job_id: str | None = None
    status: str = "PENDING"
    url: str | None = None


class StatsJobs:
    """Runs the jobs of one account window. `call(method, path, params)` is the stream's authenticated request."""

    def __init__(
        self,
        call: Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]],
        executor: Executor,
        parallel: int,
        logger: logging.Logger,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._call = call
        self._executor = executor
        self._parallel = parallel
        self._logger = logger
        self._sleep = sleep
        self._clock = clock
        # The result files are plain HTTPS downloads: no OAuth header, the CDK's default status handling.
        self._downloads = HttpClient(
            name="organic_report_job_results",
            logger=logger,
            error_handler=HttpStatusErrorHandler(logger, max_retries=5),
        )

    def run(
        self, account_id: str, params: Mapping[str, str], batches: Sequence[Sequence[str]]
    ) -> Iterator[Job | tuple[Job, Mapping[str, Any]]]:
        """Yields `(job, body)` for each job that succeeded, and the `Job` itself for one that failed."""
        path = f"stats/jobs/accounts/{account_id}"
        pending = [Job(batch) for batch in batches]
        processing: dict[str, Job] = {}
        deadline = self._clock() + JOB_TIMEOUT_SECONDS
        interval = FIRST_POLL_SECONDS
        while pending or processing:
            starting = pending[: MAX_PROCESSING_JOBS - len(processing)]
            del pending[: len(starting)]
            for job in self._executor.map(lambda job: self._create(path, params, job), starting):
                processing[job.job_id] = job
            self._sleep(interval)
            interval = min(interval * POLL_GROWTH, MAX_POLL_SECONDS)
            finished = self._poll(path, processing)
            for job in finished:
                del processing[job.job_id]
            # A few downloads at a time: a poll round can finish 100 jobs, and holding all their results costs memory.
            for offset in range(0, len(finished), self._parallel):
                yield from self._executor.map(self._collect, finished[offset : offset + self._parallel])
            if finished:
                interval = FIRST_POLL_SECONDS  # freed slots: the next jobs are worth checking soon
            if processing and self._clock() > deadline:
                raise AirbyteTracedException(
                    message=f"X's analytics jobs for ads account {account_id} did not finish within "
                    f"{JOB_TIMEOUT_SECONDS // 60} minutes ({len(processing)} still processing); the sync state was "
                    "not moved past them. Retry the sync later.",
                    failure_type=FailureType.transient_error,
                )

    def _create(self, path: str, params: Mapping[str, str], job: Job) -> Job:
        created = self._call("POST", path, {**params, "entity_ids": ",".join(job.batch)})["data"]
        job.job_id, job.status = str(created.get("id_str") or created["id"]), str(created.get("status"))
        return job

    def _poll(self, path: str, processing: Mapping[str, Job]) -> list[Job]:
        finished: list[Job] = []
        ids = list(processing)
        for offset in range(0, len(ids), MAX_JOB_IDS_PER_POLL):
            chunk = ids[offset : offset + MAX_JOB_IDS_PER_POLL]
            for state in self._call("GET", path, {"job_ids": ",".join(chunk)}).get("data") or []:
                job = processing.get(str(state.get("id_str") or state.get("id")))
                if job is None:
                    continue
                job.status, job.url = str(state.get("status")), state.get("url")
                if job.status in ("SUCCESS", "FAILED", "CANCELLED"):
                    finished.append(job)
        return finished

    def _collect(self, job: Job) -> Job | tuple[Job, Mapping[str, Any]]:
        if job.status != "SUCCESS" or not job.url:
            return job
        # A truncated or garbled file is downloaded again: the URL stays valid until the job expires.
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            _, response = self._downloads.send_request("GET", job.url, request_kwargs={"timeout": (10, 300)})
            try:
                return job, _parse_result(response)
            except (ValueError, OSError, EOFError) as error:
                self._logger.warning(
                    f"The result of X's analytics job {job.job_id} is unreadable ({error}); try {attempt}."
                )
        raise AirbyteTracedException(
            message=f"The result file of X's analytics job {job.job_id} could not be read after {DOWNLOAD_ATTEMPTS} "
            "downloads; the sync state was not moved past its window. Retry the sync later.",
            failure_type=FailureType.transient_error,
        )


def _parse_result(response: requests.Response) -> Mapping[str, Any]:
    content = response.content
    # The file is gzip'd; a server that also sets Content-Encoding has had requests decompress it already.
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    return parse_json(content)
