"""Asynchronous analytics jobs: PROCESSING for ``job_seconds`` (real time), then SUCCESS (or FAILED on request).

The result file is computed lazily from the job's query and the emulator's ``now`` captured when the job was created,
gzip'd with mtime 0 (byte-stable) and cached.

``JobStore.hostile`` makes chosen jobs (by 1-based creation number) lie or misbehave the way a careful adversary or an
unlucky day would (see HOSTILE_KINDS); the truth is unaffected, so a client that reads those batches another way
still matches it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .dataset import TWITTER_EPOCH_MS, Dataset
from .errors import ApiError
from .objects import iso
from .stats import StatsQuery, stats_body

MAX_PROCESSING_PER_ACCOUNT = 100
RESULT_TTL = dt.timedelta(days=1)
HOSTILE_KINDS = (
    "foreign_url",  # the job's url is JobStore.foreign_url, a host that is not the API's
    "redirect_elsewhere",  # the job's file answers 302 to JobStore.foreign_url
    "other_jobs_file",  # the job's file is the one of the job created just before it (another request)
    "reused_id",  # the creation answers with the job created just before it: the same id again, no new job
    "vanished",  # the job is left out of every job list
    "gzip_bomb",  # the job's file is ~100 KB of gzip that inflates to BOMB_BYTES
    "gone",  # the job's file answers 410, as an expired link does
    "gone_again",  # as "gone", and so does the file of any later job with the same query (its re-creation)
)
BOMB_MEMBER_BYTES = 16 * 1024 * 1024
BOMB_BYTES = 6 * BOMB_MEMBER_BYTES  # 96 MB inflated: past the connector's 64 MB cap


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """Gzip members of zeros one after the other (a gzip file may hold several): built in a moment."""
    return gzip.compress(bytes(BOMB_MEMBER_BYTES), mtime=0) * (BOMB_BYTES // BOMB_MEMBER_BYTES)


@dataclass
class Job:
    id: int
    seq: int  # 1-based creation order across the emulator (what ``job_failures`` refers to)
    query: StatsQuery
    created_at: dt.datetime  # emulator clock
    created_mono: float
    fails: bool
    _payload: bytes | None = field(default=None, repr=False)


class JobStore:
    def __init__(self, ds: Dataset, job_seconds: float, job_failures: set[int] | float | None) -> None:
        self.ds = ds
        self.job_seconds = job_seconds
        self.job_failures = job_failures
        self._jobs: dict[int, Job] = {}
        # account id -> [slots, seconds, monotonic start or None until the account's first job creation] of hold_slots
        self._held: dict[str, list[list[Any]]] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._by_seq: dict[int, Job] = {}
        self.hostile: dict[int, str] = {}  # creation number -> one of HOSTILE_KINDS
        self.foreign_url = "https://results.example.net/{id}.json.gz"  # "{id}" becomes the job id
        self._gone_queries: set[StatsQuery] = set()

    def hold_slots(self, account_id: str, count: int, seconds: float) -> None:
        """Jobs of another client (another sync, another tool) take `count` of the account's processing slots for
        `seconds` from the account's first job creation on: X counts every processing job of the account against its
        100, not only the caller's. Counted from that creation, not from now, the hold meets the sync however long
        the connector takes to start."""
        with self._lock:
            self._held.setdefault(account_id, []).append([count, seconds, None])

    def _fails(self, seq: int) -> bool:
        if isinstance(self.job_failures, float):  # a rate, deterministic per sequence number
            return random.Random(seq * 7919).random() < self.job_failures
        return seq in (self.job_failures or set())

    def status(self, job: Job) -> str:
        if time.monotonic() - job.created_mono < self.job_seconds:
            return "PROCESSING"
        return "FAILED" if job.fails else "SUCCESS"

    def processing(self, account_id: str) -> int:
        now = time.monotonic()
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.query.account_id == account_id]
            holds = self._held.get(account_id, ())
            for hold in holds:
                hold[2] = now if hold[2] is None else hold[2]
            held = sum(count for count, seconds, start in holds if now < start + seconds)
        return held + sum(1 for j in jobs if self.status(j) == "PROCESSING")

    def create(self, query: StatsQuery, now: dt.datetime) -> Job:
        if self.processing(query.account_id) >= MAX_PROCESSING_PER_ACCOUNT:
            raise ApiError(
                400,
                "TOO_MANY_JOBS",
                f"Too many jobs in progress for this account (max {MAX_PROCESSING_PER_ACCOUNT} PROCESSING)",
            )
        with self._lock:
            self._seq += 1
            kind = self.hostile.get(self._seq)
            if kind == "reused_id" and self._seq - 1 in self._by_seq:
                return self._by_seq[self._seq - 1]
            if kind == "gone_again":
                self._gone_queries.add(query)
            job_id = ((int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22) | (self._seq % (1 << 22))
            job = Job(job_id, self._seq, query, now, time.monotonic(), self._fails(self._seq))
            self._jobs[job_id] = self._by_seq[self._seq] = job
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def for_account(self, account_id: str, ids: list[int] | None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.query.account_id == account_id]
        jobs = [j for j in jobs if self.hostile.get(j.seq) != "vanished"]
        if ids is not None:
            wanted = set(ids)
            jobs = [j for j in jobs if j.id in wanted]
        return sorted(jobs, key=lambda j: j.id, reverse=True)

    def obj(self, job: Job, base_url: str) -> dict[str, Any]:
        status = self.status(job)
        done = job.created_at + dt.timedelta(seconds=self.job_seconds)
        q = job.query
        return {
            "id": job.id,
            "id_str": str(job.id),
            "status": status,
            "url": self._url(job, base_url) if status == "SUCCESS" else None,
            "expires_at": iso(done + RESULT_TTL) if status == "SUCCESS" else None,
            "account_id": q.account_id,
            "start_time": iso(q.start),
            "end_time": iso(q.end),
            "entity": q.entity,
            "entity_ids": list(q.entity_ids),
            "granularity": q.granularity,
            "metric_groups": list(q.metric_groups),
            "placement": q.placement,
            "segmentation_type": None,
            "country": None,
            "platform": None,
            "created_at": iso(job.created_at),
            "updated_at": iso(done if status != "PROCESSING" else job.created_at),
        }

    def _url(self, job: Job, base_url: str) -> str:
        if self.hostile.get(job.seq) == "foreign_url":
            return self.foreign_url.format(id=job.id)
        return f"{base_url}/_jobs/{job.id}.json.gz"

    def hostile_file(self, job: Job) -> tuple[int, bytes, dict[str, str]] | None:
        """(status, body, headers) of a job file that misbehaves, None for an honest one."""
        kind = self.hostile.get(job.seq)
        if kind == "redirect_elsewhere":
            return 302, b"", {"Location": self.foreign_url.format(id=job.id)}
        if kind == "gzip_bomb":
            return 200, gzip_bomb(), {}
        if kind in ("gone", "gone_again") or job.query in self._gone_queries:
            return 410, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", {}
        if kind == "other_jobs_file" and job.seq - 1 in self._by_seq:
            return 200, self.payload(self._by_seq[job.seq - 1]), {}
        return None

    def payload(self, job: Job) -> bytes:
        if job._payload is None:
            body = stats_body(job.query, self.ds, job.created_at)
            job._payload = gzip.compress(json.dumps(body).encode(), mtime=0)
        return job._payload
