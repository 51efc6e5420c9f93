"""Asynchronous analytics jobs: PROCESSING for ``job_seconds`` (real time), then SUCCESS (or FAILED on request).

The result file is computed lazily from the job's query and the emulator's ``now`` captured when the job was created,
gzip'd with mtime 0 (byte-stable) and cached.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .dataset import TWITTER_EPOCH_MS, Dataset
from .errors import ApiError
from .objects import iso
from .stats import StatsQuery, stats_body

MAX_PROCESSING_PER_ACCOUNT = 100
RESULT_TTL = dt.timedelta(days=1)


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
            job_id = ((int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22) | (self._seq % (1 << 22))
            job = Job(job_id, self._seq, query, now, time.monotonic(), self._fails(self._seq))
            self._jobs[job_id] = job
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def for_account(self, account_id: str, ids: list[int] | None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.query.account_id == account_id]
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
            "url": f"{base_url}/_jobs/{job.id}.json.gz" if status == "SUCCESS" else None,
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

    def payload(self, job: Job) -> bytes:
        if job._payload is None:
            body = stats_body(job.query, self.ds, job.created_at)
            job._payload = gzip.compress(json.dumps(body).encode(), mtime=0)
        return job._payload
