"""Reliability: the installed console script against the X emulator under transport faults, persistent failures,
refusals, rate limits, interruption, expiring OAuth 2.0 tokens and failing credentials.

Clocks follow test_end_to_end.py: the emulator's data clock is the current UTC hour minus one, never ahead of the real
clock the connector uses to decide each account's local today (see e2e_support.current_hour), and fixed for the whole
module so that the emulator and the truth cannot straddle an hour boundary. The date ranges end three days ago, so
every day read is complete in every account's time zone and the truth does not move while a test runs.

Most of this module's wall time is spent sleeping in backoffs, rate-limit waits and job polling. The scenarios that
sleep the longest therefore start together, in threads, when the module starts (`slow_runs`), and each test then
checks the outcome of its own scenario: their waits overlap instead of adding up.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read as read_in_process

from integration_tests import e2e_support as e2e
from integration_tests.e2e_support import RefusingEmulator, x_error
from integration_tests.x_emulator import EmulatorServer, RequestRecord, build_dataset, truth
from source_x_organic_analytics import SourceXOrganicAnalytics
from source_x_organic_analytics.errors import RateLimitGate

NOW = e2e.current_hour()
EARLIER = NOW - dt.timedelta(hours=1)
TODAY = NOW.date()
END = TODAY - dt.timedelta(days=3)
SHORT_START = END - dt.timedelta(days=5)  # 6 days: fits one synchronous stats window (at most 7 days)
# 10 days, read with asynchronous jobs: `stats_endpoint: jobs`, as `auto` would read so short a range synchronously.
LONG_START = END - dt.timedelta(days=9)
LOOKBACK_DAYS = 3
MAX_TRIES = 1 + 5  # the first attempt and the connector's 5 retries
STATS_PREFIX = "/12/stats/"  # synchronous stats and asynchronous jobs alike
JOB_FILE_PREFIX = "/_jobs/"
TRANSIENT_KINDS = ("503", "500", "bad_json", "502_html", "drop")
# Each transient kind once among the first eligible requests, so that every kind is surely injected whatever the
# request order; the 10 % random faults come on top.
EVERY_KIND_ONCE = {n: kind for n, kind in enumerate(TRANSIENT_KINDS, start=2)}
DOWNLOAD_KINDS = ("502_html", "drop", "500", "bad_json")
JOBS_PER_WINDOW = 1  # job creations per account per 2 s rate window, in the rate-limited jobs scenario
SLOTS_HELD_SECONDS = 3  # how long another client's jobs take all 100 job slots, in the job-slots-taken scenario


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


# ----------------------------------------------------------------------------- emulator variants


class TokenRecordingEmulator(EmulatorServer):
    """Remembers every token pair its OAuth 2.0 endpoint hands out, in order."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.minted: list[dict[str, Any]] = []
        self._mint_lock = threading.Lock()

    def _token(self, req):
        response = super()._token(req)
        if response.status == 200:
            with self._mint_lock:
                self.minted.append(json.loads(response.body))
        return response


class SecretsEmulator(RefusingEmulator, TokenRecordingEmulator):
    pass


class JobDownloadFaults(EmulatorServer):
    """Faults (the FaultConfig's schedule) hit only the downloads of job result files."""

    _where = threading.local()

    def dispatch(self, req):
        self._where.path = req.path
        return super().dispatch(req)

    def _fault(self, eligible: bool):
        return super()._fault(eligible and getattr(self._where, "path", "").startswith(JOB_FILE_PREFIX))


# ----------------------------------------------------------------------------- running a sync


@dataclass
class Outcome:
    run: e2e.CliRun
    requests: list[RequestRecord]
    injected: list[tuple[int, str]] = field(default_factory=list)
    early_retries: int = 0
    token_refreshes: int = 0
    minted: list[dict[str, Any]] = field(default_factory=list)

    def stats(self, account_id: str | None = None) -> list[RequestRecord]:
        return [
            r
            for r in self.requests
            if r.path.startswith(STATS_PREFIX) and (account_id is None or r.path.endswith(f"/{account_id}"))
        ]


def sync(
    workdir: Path,
    ds,
    *,
    server: type[EmulatorServer] = EmulatorServer,
    emulator: dict[str, Any] | None = None,
    oauth: str = "oauth1.0a",
    streams: Iterable[str] | None = None,
    state: dict[str, Any] | None = None,
    configure: Callable[[EmulatorServer, dict[str, Any]], None] | None = None,
    **config_kw: Any,
) -> Outcome:
    config_kw.setdefault("start_date", SHORT_START)
    config_kw.setdefault("end_date", END)
    with server(ds, now=EARLIER, **(emulator or {})) as emu:
        config = e2e.config_for(emu, oauth, **config_kw)
        if configure is not None:
            configure(emu, config)
        run = e2e.run_cli(
            workdir, "read", config, e2e.catalog(streams), None if state is None else e2e.state_input(state)
        )
        return Outcome(
            run=run,
            requests=emu.requests.snapshot(),
            injected=list(emu.faults.injected) if emu.faults else [],
            early_retries=emu.early_retries,
            token_refreshes=emu.token_refreshes,
            minted=list(getattr(emu, "minted", [])),
        )


def report_by_key(run: e2e.CliRun) -> dict[tuple[str, str, str], dict[str, Any]]:
    records = run.records("organic_report")
    got = e2e.organic_by_key(records)
    assert len(records) == len(got), "an (account, tweet, date) row was emitted twice in one sync"
    return got


def assert_all_streams_equal_truth(ds, run: e2e.CliRun, start: dt.date, account_ids=None) -> None:
    assert {a["id"]: a for a in run.records("accounts")} == {
        a["id"]: e2e.without_nulls(a) for a in truth.accounts(ds, account_ids)
    }
    tweets = run.records("tweets")
    assert len(tweets) == len({t["id"] for t in tweets}), "a tweet was emitted twice"
    assert {t["id"]: t for t in tweets} == {
        t["id"]: e2e.expected_tweet_record(t) for t in truth.tweets(ds, account_ids)
    }
    scheduled = run.records("scheduled_tweets")
    assert len(scheduled) == len({s["id"] for s in scheduled}), "a scheduled tweet was emitted twice"
    assert {s["id"]: s for s in scheduled} == {
        s["id"]: e2e.expected_scheduled_record(s) for s in truth.scheduled_tweets(ds, account_ids)
    }
    expected = truth.organic_report(ds, start, END, account_ids, now=EARLIER)
    assert expected, "the truth is empty: the comparison would prove nothing"
    got = report_by_key(run)
    mismatched = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not mismatched and set(got) == set(expected), f"{len(mismatched)} rows differ, e.g. {mismatched}"


def assert_state_never_ahead_of_records(run: e2e.CliRun, ds, start: dt.date) -> None:
    """Whenever an organic_report STATE says account A is done up to day D, every truth row of A up to D was already
    emitted: a state that covers a window whose records were not emitted would lose them for good."""
    emitted: set[tuple[str, str, str]] = set()
    for message in run.messages:
        if message.get("type") == "RECORD" and message["record"]["stream"] == "organic_report":
            data = message["record"]["data"]
            emitted.add((data["account_id"], data["tweet_id"], data["date"]))
        elif message.get("type") == "STATE":
            stream = message["state"].get("stream", {})
            if stream.get("stream_descriptor", {}).get("name") != "organic_report":
                continue
            for account_id, entry in (stream.get("stream_state") or {}).items():
                day = dt.date.fromisoformat(entry["date"])
                if day < start or ds.account(account_id) is None:
                    continue
                owed = set(truth.organic_report(ds, start, min(day, END), [account_id], now=EARLIER))
                assert owed <= emitted, f"STATE {entry} of {account_id} came before {len(owed - emitted)} of its rows"


def attempts_per_request(requests: Iterable[RequestRecord]) -> Counter:
    """How often each distinct request (method, path, parameters) was sent."""
    return Counter((r.method, r.path, tuple(sorted(r.query.items()))) for r in requests)


# ----------------------------------------------------------------------------- slow scenarios, started together


def _transient_sync_path(tmp: Path, ds) -> Outcome:
    faults = {"rate": 0.1, "seed": 2026, "kinds": list(TRANSIENT_KINDS), "schedule": EVERY_KIND_ONCE}
    return sync(tmp, ds, emulator={"faults": faults})


def _transient_jobs_path(tmp: Path, ds) -> Outcome:
    # Job result downloads are left out here: test_faults_on_job_result_downloads covers them one kind at a time.
    faults = {
        "rate": 0.1,
        "seed": 7,
        "kinds": list(TRANSIENT_KINDS),
        "schedule": EVERY_KIND_ONCE,
        "include_job_downloads": False,
    }
    return sync(tmp, ds, emulator={"faults": faults}, start_date=LONG_START, stats_endpoint="jobs")


def _persistent_500(tmp: Path, ds) -> Outcome:
    healthy, failing = (a.id for a in ds.readable_accounts()[:2])

    def answer(req):
        if req.path.startswith(STATS_PREFIX) and req.path.endswith(f"/{failing}"):
            return x_error(500, "INTERNAL_ERROR", "Internal error")
        return None

    return sync(
        tmp,
        ds,
        server=RefusingEmulator,
        emulator={"answer": answer},
        streams=["organic_report"],
        account_ids=[healthy, failing],
    )


def _rate_limited(num_workers: int | None) -> Callable[[Path, Any], Outcome]:
    def scenario(tmp: Path, ds) -> Outcome:
        extra = {} if num_workers is None else {"num_workers": num_workers}
        return sync(
            tmp,
            ds,
            emulator={"rate_limits": {"stats_sync": 5}, "rate_window_seconds": 2},
            streams=["organic_report"],
            **extra,
        )

    return scenario


def _rate_limited_jobs(tmp: Path, ds) -> Outcome:
    # Every readable account backfilled with jobs: the next account's jobs are created and polled while one is read,
    # each under its own tight per-account budget.
    return sync(
        tmp,
        ds,
        emulator={"rate_limits": {"jobs_create": JOBS_PER_WINDOW, "jobs_status": 2}, "rate_window_seconds": 2},
        streams=["organic_report"],
        start_date=LONG_START,
        stats_endpoint="jobs",
    )


def _download_faults(kind: str):
    def scenario(tmp: Path, ds) -> Outcome:
        account_id = ds.readable_accounts()[0].id
        # Every job result download of the sync gets the fault once: the schedule covers more downloads than the
        # sync makes, and a retried download is a new eligible request.
        faults = {"schedule": {n: kind for n in range(1, 4)}}
        return sync(
            tmp,
            ds,
            server=JobDownloadFaults,
            emulator={"faults": faults},
            streams=["organic_report"],
            start_date=LONG_START,
            stats_endpoint="jobs",
            account_ids=[account_id],
        )

    return scenario


def _token_lifetime(tmp: Path, ds) -> Outcome:
    # Two-second access tokens and a slow API: the sync outlives several tokens.
    return sync(
        tmp,
        ds,
        server=TokenRecordingEmulator,
        emulator={"access_token_ttl_seconds": 2, "latency_ms": 200},
        oauth="oauth2.0",
    )


def _job_slots_taken(tmp: Path, ds) -> Outcome:
    # Another client's 100 jobs (say, an earlier attempt of this sync) keep the account's slots taken for a while.
    account_id = ds.readable_accounts()[0].id
    return sync(
        tmp,
        ds,
        configure=lambda emu, config: emu.jobs.hold_slots(account_id, 100, SLOTS_HELD_SECONDS),
        streams=["organic_report"],
        start_date=LONG_START,
        stats_endpoint="jobs",
        account_ids=[account_id],
    )


SLOW_SCENARIOS: dict[str, Callable[[Path, Any], Outcome]] = {  # longest first
    "persistent-500": _persistent_500,
    "transient-sync-path": _transient_sync_path,
    "rate-limited-default-workers": _rate_limited(None),
    "rate-limited-one-worker": _rate_limited(1),
    "rate-limited-jobs": _rate_limited_jobs,
    "transient-jobs-path": _transient_jobs_path,
    "job-slots-taken": _job_slots_taken,
    "token-lifetime": _token_lifetime,
    **{f"download-{kind}": _download_faults(kind) for kind in DOWNLOAD_KINDS},
}
PARALLEL_SCENARIOS = 4  # mostly asleep, but each CLI start costs a second of CPU on a 2-core machine


def uses(*names: str):
    """Declares which slow scenarios a test reads, so that the module starts only those the session selected."""

    def mark(test):
        test.slow_scenarios = names
        return test

    return mark


class SlowRuns:
    def __init__(self, ds, tmp_root: Path, names: Iterable[str]):
        self._ds, self._tmp = ds, tmp_root
        self._pool = ThreadPoolExecutor(max_workers=PARALLEL_SCENARIOS, thread_name_prefix="slow-scenario")
        self._futures: dict[str, Future] = {}
        for name in names:
            self._start(name)

    def _start(self, name: str) -> Future:
        if name not in self._futures:
            self._futures[name] = self._pool.submit(SLOW_SCENARIOS[name], self._tmp / name, self._ds)
        return self._futures[name]

    def get(self, name: str) -> Outcome:
        return self._start(name).result(timeout=300)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="module", autouse=True)
def slow_runs(request, ds, tmp_path_factory):
    selected = {
        name
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        for name in getattr(getattr(item, "function", None), "slow_scenarios", ())
    }
    runs = SlowRuns(ds, tmp_path_factory.mktemp("slow"), [name for name in SLOW_SCENARIOS if name in selected])
    yield runs
    runs.close()


# ----------------------------------------------------------------------------- 1. transient faults


@uses("transient-sync-path", "transient-jobs-path")
@pytest.mark.parametrize(
    "scenario, start",
    [("transient-sync-path", SHORT_START), ("transient-jobs-path", LONG_START)],
    ids=["6-days-synchronous-stats", "10-days-asynchronous-jobs"],
)
def test_transient_faults_leave_every_record_exactly_as_without_faults(ds, slow_runs, scenario, start):
    outcome = slow_runs.get(scenario)
    run = outcome.run
    kinds = Counter(kind for _, kind in outcome.injected)
    assert set(kinds) == set(TRANSIENT_KINDS), f"not every fault kind was injected: {kinds}"
    eligible = len([r for r in outcome.requests if not r.path.startswith(("/2/", JOB_FILE_PREFIX))])
    assert len(outcome.injected) > len(TRANSIENT_KINDS), "only the scheduled faults fired: 10 % never struck"
    assert len(outcome.injected) < eligible / 2, "implausibly many faults: the test set-up is off"
    statuses = Counter(r.status for r in outcome.requests)
    assert statuses[0] >= kinds["drop"] and statuses[502] >= kinds["502_html"] and statuses[503] >= kinds["503"]

    assert run.returncode == 0, run.describe()
    assert run.error_traces == []
    assert_all_streams_equal_truth(ds, run, start)
    assert run.final_stream_state("organic_report") == {a.id: {"date": END.isoformat()} for a in ds.readable_accounts()}
    assert_state_never_ahead_of_records(run, ds, start)


@uses(*(f"download-{kind}" for kind in DOWNLOAD_KINDS))
@pytest.mark.parametrize(
    "kind",
    [
        "502_html",
        "drop",
        "500",
        pytest.param(
            "bad_json",
        ),
    ],
)
def test_faults_on_job_result_downloads_are_retried_and_lose_nothing(ds, slow_runs, kind):
    outcome = slow_runs.get(f"download-{kind}")
    run = outcome.run
    assert {k for _, k in outcome.injected} == {kind}, "the fault never hit a job result download"
    assert run.returncode == 0, run.describe()
    account_id = ds.readable_accounts()[0].id
    assert report_by_key(run) == truth.organic_report(ds, LONG_START, END, [account_id], now=EARLIER)


# ----------------------------------------------------------------------------- 2. a fault that persists


@uses("persistent-500")
def test_persistent_500_fails_after_bounded_retries_and_state_covers_only_emitted_records(ds, slow_runs):
    outcome = slow_runs.get("persistent-500")
    run = outcome.run
    healthy, failing = (a.id for a in ds.readable_accounts()[:2])

    assert run.returncode != 0
    traces = run.error_traces
    assert traces, run.describe()
    assert traces[0]["failure_type"] in ("transient_error", "system_error"), run.describe()
    assert "500" in traces[0]["message"], f"the message does not say what X answered: {traces[0]['message']!r}"

    failed = outcome.stats(failing)
    assert failed and all(r.status == 500 for r in failed)
    tries = attempts_per_request(failed)
    assert max(tries.values()) == MAX_TRIES, f"expected 1 try + 5 retries of a failing request, got {tries}"
    assert all(n <= MAX_TRIES for n in tries.values())

    # The healthy account was read in full; the failing one never reached the state.
    assert report_by_key(run) == truth.organic_report(ds, SHORT_START, END, [healthy], now=EARLIER)
    assert run.final_stream_state("organic_report") == {healthy: {"date": END.isoformat()}}
    assert_state_never_ahead_of_records(run, ds, SHORT_START)


# ----------------------------------------------------------------------------- 3. a refusal is not retried


def test_a_400_refusal_is_sent_once_and_reported_with_xs_code_and_message(ds, tmp_path):
    account_id = ds.readable_accounts()[0].id
    message = "Valid metric groups for entity OrganicTweet are Engagement,Video"

    def answer(req):
        if req.path.startswith(STATS_PREFIX):
            return x_error(400, "INVALID_PARAMETER", message, "metric_groups")
        return None

    outcome = sync(
        tmp_path,
        ds,
        server=RefusingEmulator,
        emulator={"answer": answer},
        streams=["organic_report"],
        account_ids=[account_id],
    )
    run = outcome.run
    assert run.returncode != 0
    stats = outcome.stats()
    assert stats and all(r.status == 400 for r in stats)
    assert max(attempts_per_request(stats).values()) == 1, "a 400 was retried"
    # Requests already in flight in other workers may be refused too, but not one window more is asked for.
    assert len({(r.query.get("start_time"), r.query.get("end_time")) for r in stats}) == 1
    assert len(stats) <= -(-len(truth.tweets(ds, [account_id])) // e2e.MAX_IDS_PER_REQUEST)
    messages = " ".join(t["message"] for t in run.error_traces)
    assert f"400 INVALID_PARAMETER: {message} (parameter `metric_groups`)" in messages, run.describe()
    assert run.records("organic_report") == []
    assert run.final_stream_state("organic_report") in (None, {})


# ----------------------------------------------------------------------------- 4. rate limits


def _assert_rate_limited_sync_is_complete(ds, outcome: Outcome) -> None:
    run = outcome.run
    assert run.returncode == 0, run.describe()
    sent = [r for r in outcome.stats() if r.status != 429]
    assert len(sent) > 2 * 5, "the sync did not need several rate windows: the test proves nothing"
    assert report_by_key(run) == truth.organic_report(ds, SHORT_START, END, now=EARLIER)
    # The connector spends X's announced budget (x-rate-limit-remaining) and waits for the reset before it runs out,
    # so X should not even have to refuse a request.
    assert [r for r in outcome.stats() if r.status == 429] == []


@uses("rate-limited-one-worker")
def test_rate_limited_sync_with_one_worker_waits_for_each_reset(ds, slow_runs):
    outcome = slow_runs.get("rate-limited-one-worker")
    _assert_rate_limited_sync_is_complete(ds, outcome)
    assert outcome.early_retries == 0, "the connector came back before the reset X announced"


@uses("rate-limited-default-workers")
def test_rate_limited_sync_with_default_workers_never_comes_back_early(ds, slow_runs):
    outcome = slow_runs.get("rate-limited-default-workers")
    _assert_rate_limited_sync_is_complete(ds, outcome)
    assert outcome.early_retries == 0, "a request reached X after a 429 and before the reset X announced"


@uses("rate-limited-jobs")
def test_rate_limited_jobs_of_interleaved_accounts_never_come_back_early(ds, slow_runs):
    outcome = slow_runs.get("rate-limited-jobs")
    run = outcome.run
    assert run.returncode == 0, run.describe()
    created = Counter(r.path for r in outcome.stats() if r.method == "POST" and r.status != 429)
    assert max(created.values()) > 2 * JOBS_PER_WINDOW, "no account needed several rate windows: proves nothing"
    assert len(created) == len(ds.readable_accounts())
    assert report_by_key(run) == truth.organic_report(ds, LONG_START, END, now=EARLIER)
    assert [r for r in outcome.requests if r.status == 429] == []
    assert outcome.early_retries == 0, "a request reached X after a 429 and before the reset X announced"


@uses("job-slots-taken")
def test_job_slots_taken_by_another_clients_jobs_delay_the_backfill_without_failing_it(ds, slow_runs):
    outcome = slow_runs.get("job-slots-taken")
    run = outcome.run
    account_id = ds.readable_accounts()[0].id
    assert run.returncode == 0, run.describe()
    assert report_by_key(run) == truth.organic_report(ds, LONG_START, END, [account_id], now=EARLIER)
    creations = [r for r in outcome.requests if r.method == "POST" and r.path.startswith("/12/stats/jobs/")]
    refused = [r for r in creations if r.status == 400]
    assert refused, "X never said its slots were taken: proves nothing"
    # One creation at a time probes for a free slot, with growing waits: a handful of refusals, not one per loop.
    assert len(refused) <= 6 and all(r.status in (200, 400) for r in creations)
    assert refused[-1].ts < creations[-1].ts
    assert run.final_stream_state("organic_report") == {account_id: {"date": END.isoformat()}}


def test_429_without_reset_headers_waits_the_default_60_s_times_the_attempt(ds):
    """60 s of real waiting is too long for a subprocess: the source runs in-process, against the emulator, with the
    CDK's sleep, and the closing of the endpoint's gate for the other workers, recorded instead of waited."""
    account_id = ds.readable_accounts()[0].id
    limited: list[str] = []  # the entity_ids of the one request that gets two 429s
    lock = threading.Lock()

    def answer(req):
        if not req.path.startswith("/12/stats/accounts/"):
            return None
        with lock:
            if limited and (req.params["entity_ids"] != limited[0] or len(limited) == 2):
                return None
            limited.append(req.params["entity_ids"])
        return x_error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded")  # and no x-*rate-limit-* header at all

    catalog = CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()
    with RefusingEmulator(ds, now=EARLIER, answer=answer) as emu:
        config = e2e.config_for(emu, "oauth1.0a", start_date=SHORT_START, end_date=END, account_ids=[account_id])
        closed: list[float] = []  # seconds from then until the gate reopens
        with (
            mock.patch("airbyte_cdk.sources.streams.http.rate_limiting.time.sleep") as sleep,
            mock.patch.object(RateLimitGate, "close_until", lambda gate, epoch: closed.append(epoch - time.time())),
        ):
            output = read_in_process(SourceXOrganicAnalytics(), config, catalog)
        refused = [r for r in emu.requests if r.status == 429]
    assert len(refused) == 2
    assert not output.errors, [e.trace.error.message for e in output.errors]
    waits = sorted(round(c.args[0]) for c in sleep.call_args_list if c.args and c.args[0] >= 1)
    # The CDK adds one second to the strategy's wait: 60 s on the first 429 of a request, 120 s on its second.
    assert 61 in waits and 121 in waits, waits
    assert max(waits) <= 121, waits
    # And every worker on that endpoint waits as long: both gates the request passed (its account's, the user's) close.
    assert [round(seconds) for seconds in closed] == [61, 61, 121, 121]
    got = {tuple(r.record.data[k] for k in ("account_id", "tweet_id", "date")) for r in output.records}
    assert got == set(truth.organic_report(ds, SHORT_START, END, [account_id], now=EARLIER))


# ----------------------------------------------------------------------------- 5. interruption


def run_until_records(workdir: Path, config: dict, stream: str, stop_after: int) -> e2e.CliRun:
    """Runs a sync and stops reading its stdout after `stop_after` records of `stream`, then kills it: what the
    platform saw is exactly the messages read until then."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "catalog.json").write_text(json.dumps(e2e.catalog([stream])))
    args = [
        e2e.cli_path(),
        "read",
        "--config",
        str(workdir / "config.json"),
        "--catalog",
        str(workdir / "catalog.json"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "DEPLOYMENT_MODE"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=workdir)
    messages, lines, seen = [], [], 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not line.startswith("{"):
                continue
            message = json.loads(line)
            messages.append(message)
            if message.get("type") == "RECORD" and message["record"]["stream"] == stream:
                seen += 1
                if seen >= stop_after:
                    break
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    return e2e.CliRun(args, proc.returncode, "".join(lines), "", messages)


def test_interrupted_sync_restarted_from_its_last_state_loses_nothing_and_rereads_little(ds, tmp_path):
    accounts = [a.id for a in ds.readable_accounts()]
    expected = truth.organic_report(ds, SHORT_START, END, now=EARLIER)
    # Cut inside the third account: the first two are complete, the third is in flight, the rest not started.
    done_before_cut = [k for k in expected if k[0] in accounts[:2]]
    stop_after = len(done_before_cut) + 5

    with EmulatorServer(ds, now=EARLIER, latency_ms=40) as emu:
        config = e2e.config_for(emu, "oauth1.0a", start_date=SHORT_START, end_date=END)
        cut = run_until_records(tmp_path / "cut", config, "organic_report", stop_after)
    assert cut.returncode != 0, "the sync ended before it could be interrupted"
    partial = report_by_key(cut)
    assert len(partial) == stop_after
    cut_state = cut.final_stream_state("organic_report")
    assert cut_state == {a: {"date": END.isoformat()} for a in accounts[:2]}, cut_state
    assert_state_never_ahead_of_records(cut, ds, SHORT_START)

    restart = sync(tmp_path / "restart", ds, streams=["organic_report"], state=cut_state)
    assert restart.run.returncode == 0, restart.run.describe()
    union = {**partial, **report_by_key(restart.run)}
    assert union == expected

    for account in ds.readable_accounts():
        starts = {e2e.parse_x_time(r.query["start_time"]) for r in restart.stats(account.id)}
        assert starts, account.id
        if account.id in cut_state:
            # A finished account re-reads only the look-back before its saved day (and that day).
            resume = dt.date.fromisoformat(cut_state[account.id]["date"]) - dt.timedelta(days=LOOKBACK_DAYS)
            assert min(starts) == e2e.day_start_utc(resume, account.timezone, EARLIER), account.id
        else:
            assert min(starts) == e2e.day_start_utc(SHORT_START, account.timezone, EARLIER), account.id
    reread = {k for k in report_by_key(restart.run) if k in partial}
    allowed_days = {(END - dt.timedelta(days=d)).isoformat() for d in range(LOOKBACK_DAYS + 1)}
    assert all(k[0] not in cut_state or k[2] in allowed_days for k in reread)


# ----------------------------------------------------------------------------- 6. OAuth 2.0 token lifetime


@uses("token-lifetime")
def test_every_rotated_refresh_token_is_saved_in_exactly_one_control_message(ds, slow_runs):
    """test_end_to_end checks that CONTROL messages are as many as refreshes and distinct; this checks each one
    against what X actually issued, in order, and that the last one saved is the one that still works."""
    outcome = slow_runs.get("token-lifetime")
    run = outcome.run
    assert run.returncode == 0, run.describe()
    assert len(outcome.minted) >= 2, "the sync never outlived an access token: the test proves nothing"
    saved = [c["connectorConfig"]["config"]["credentials"] for c in run.controls]
    for issued in outcome.minted:
        carrying = [s for s in saved if s["refresh_token"] == issued["refresh_token"]]
        assert len(carrying) == 1, "a rotated refresh token was saved zero or several times"
        assert carrying[0]["access_token"] == issued["access_token"]
    assert [s["refresh_token"] for s in saved] == [m["refresh_token"] for m in outcome.minted]
    assert_all_streams_equal_truth(ds, run, SHORT_START)


@pytest.mark.parametrize(
    "kind",
    [
        "503",
        "500",
        "drop",
        "bad_json",
    ],
)
def test_a_transient_fault_on_the_token_endpoint_is_retried(ds, tmp_path, kind):
    # The first request of an OAuth 2.0 sync without an access token is the refresh.
    faults = {"schedule": {1: kind}, "include_token_endpoint": True}
    outcome = sync(
        tmp_path,
        ds,
        server=TokenRecordingEmulator,
        emulator={"faults": faults},
        oauth="oauth2.0",
        streams=["organic_report"],
        account_ids=[ds.readable_accounts()[0].id],
    )
    assert outcome.injected == [(1, kind)] and outcome.requests[0].path == "/2/oauth2/token"
    run = outcome.run
    assert run.returncode == 0, run.describe()
    assert [c["connectorConfig"]["config"]["credentials"]["refresh_token"] for c in run.controls] == [
        m["refresh_token"] for m in outcome.minted
    ]


def test_a_malformed_expires_in_still_saves_the_rotated_refresh_token_for_the_next_sync(ds, tmp_path):
    """X's answer is parsed after its new refresh token is saved: the old one is spent the moment X answers."""
    with TokenRecordingEmulator(ds, now=EARLIER) as emu:
        emu.oauth2.malformed_expires_in_once = "soon"
        config = e2e.config_for(emu, "oauth2.0", account_ids=[ds.readable_accounts()[0].id])
        first = e2e.run_cli(tmp_path / "first", "read", config, e2e.catalog(["accounts"]))
        saved = [c["connectorConfig"]["config"] for c in first.controls]
        assert saved, first.describe()
        # Only the saved refresh token left: the next sync must refresh with it.
        next_config = {**saved[-1], "credentials": dict(saved[-1]["credentials"])}
        for field in ("access_token", "token_expiry_date"):
            next_config["credentials"].pop(field)
        second = e2e.run_cli(tmp_path / "second", "read", next_config, e2e.catalog(["accounts"]))
        minted = list(emu.minted)

    assert [s["credentials"]["refresh_token"] for s in saved] == [minted[0]["refresh_token"]]
    assert first.returncode == 0 and first.records("accounts"), first.describe()
    assert second.returncode == 0 and second.records("accounts"), second.describe()
    assert [c["connectorConfig"]["config"]["credentials"]["refresh_token"] for c in second.controls] == [
        minted[1]["refresh_token"]
    ]


# ----------------------------------------------------------------------------- 7. failing runs leak no secret


def _wrong_access_token_secret(emu: EmulatorServer, config: dict) -> None:
    config["credentials"]["access_token_secret"] = "wrongAccessTokenSecretCCCCCCCCCCCCCCCCCCCCCCC"


def _used_refresh_token(emu: EmulatorServer, config: dict) -> None:
    creds = config["credentials"]
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    emu.oauth2.refresh({"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}, f"Basic {basic}")


def _wrong_client_secret(emu: EmulatorServer, config: dict) -> None:
    config["credentials"]["client_secret"] = "wrong-client-secret-DDDDDDDDDDDDDDDDDDDDDDDDDDDD"


def _refused_account(ds):
    refused = ds.readable_accounts()[1].id

    def answer(req):
        if f"/{refused}" in req.path:
            return x_error(403, "ACCOUNT_NOT_FOUND", f"User is not authorized to access account {refused}")
        return None

    return refused, answer


def _secrets_of(config: dict, minted: list[dict[str, Any]]) -> set[str]:
    creds = config["credentials"]
    secret_fields = (
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
        "client_id",
        "client_secret",
        "refresh_token",
    )
    found = {str(creds[k]) for k in secret_fields if creds.get(k)}
    found |= {m[k] for m in minted for k in ("access_token", "refresh_token")}
    if creds.get("client_secret"):  # the token request's Basic header carries it base64-encoded
        found.add(base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode())
    return found


def _outside_control_messages(stdout: str) -> str:
    """stdout without CONTROL messages: a CONTROL message carries the whole config on purpose (the platform saves the
    rotated refresh token from it), so it necessarily holds the secrets."""

    def is_control(line: str) -> bool:
        try:
            return json.loads(line).get("type") == "CONTROL"
        except (ValueError, AttributeError):
            return False

    return "\n".join(line for line in stdout.splitlines() if not is_control(line))


@pytest.mark.parametrize("log_level", ["info", "debug"])
@pytest.mark.parametrize(
    "case",
    [
        "oauth1-wrong-access-token-secret",
        "oauth2-used-refresh-token",
        "oauth2-wrong-client-secret",
        "oauth1-403",
        "oauth2-403",
    ],
)
def test_failing_runs_leak_no_secret(ds, tmp_path, monkeypatch, case, log_level):
    # LOG_LEVEL=debug is how the platform turns on the CDK's debug logs (request headers and bodies included).
    monkeypatch.setenv("LOG_LEVEL", log_level)
    oauth = "oauth1.0a" if case.startswith("oauth1") else "oauth2.0"
    configure = {
        "oauth1-wrong-access-token-secret": _wrong_access_token_secret,
        "oauth2-used-refresh-token": _used_refresh_token,
        "oauth2-wrong-client-secret": _wrong_client_secret,
    }.get(case)
    refused, answer = _refused_account(ds)
    captured: dict[str, Any] = {}

    def remember(emu, config):
        if configure is not None:
            configure(emu, config)
        captured["config"] = json.loads(json.dumps(config))

    outcome = sync(
        tmp_path,
        ds,
        server=SecretsEmulator,
        emulator={"answer": answer if case.endswith("403") else (lambda req: None)},
        oauth=oauth,
        streams=["accounts", "tweets", "organic_report"],
        account_ids=[a.id for a in ds.readable_accounts()[:2]],
        configure=remember,
    )
    run = outcome.run
    assert run.returncode != 0, run.describe()
    if case.endswith("403"):
        assert any(refused in t["message"] and "Analyst" in t["message"] for t in run.error_traces), run.describe()
    else:
        assert run.records("organic_report") == [] and run.error_traces

    stdout = _outside_control_messages(run.stdout)
    for secret in _secrets_of(captured["config"], outcome.minted):
        assert secret not in stdout, f"stdout leaks {secret[:6]}…"
        assert secret not in run.stderr, f"stderr leaks {secret[:6]}…"
