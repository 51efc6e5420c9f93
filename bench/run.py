"""Performance benchmark: the real connector (console script, in a subprocess) against the local X Ads API emulator.

    python -m bench.run --scale small|medium|year|daily [--latency-ms 100] [--workers 3] [--json out.json]

What it runs, for one scale (accounts x organic tweets per account x days of history, all four streams):

1. a sync with the chosen emulated latency per request: records per stream, HTTP requests per endpoint (next to the
   minimum this workload needs) and wall time (next to the latency bound, defined below);
2. the same sync with zero latency, `--cpu-runs` times (default 3): the connector's CPU seconds, the least of the
   runs, and peak RSS, the largest (user + system time and ru_maxrss of the connector process alone, from os.wait4
   in a small launcher process, see `measure`). These runs go through bench/cpu_split.py, the connector's own entry
   point with its worker pools' CPU timed: the split between the main thread (records) and the pools (requests);
3. the CDK floor (bench/floor_source.py): a trivial CDK source through the same `launch` path, emitting as many
   records per stream, copies of real records of that stream (a uniform sample of the run), no HTTP; as many runs,
   the least CPU;
3b. the HTTP floor (bench/http_floor.py): the CDK floor that also sends, one at a time through the CDK's
   `HttpClient`, the requests of the first zero-latency sync (same methods, paths and query parameters; API requests
   signed by the connector's OAuth 1.0a authenticator, result files without credentials) and parses their answers,
   the very bodies the emulator gave the connector (kept with `EmulatorServer.keep_responses`, served again by
   bench/replay.py from this process, so the serving is not counted); it must emit the connector's records and ask
   for every recorded answer once; as many runs, the least CPU;
4. `spec` of all three, as the start-up cost (interpreter, imports) subtracted to get the per-record cost;
5. the same sync with a tenth of the tweets, zero latency: peak RSS at two scales ten times apart.

The emulator (integration_tests/x_emulator) runs in this process, on its own threads: the connector's CPU is measured
on the child process only, so the emulator's work (OAuth checks, metric sums, gzip) is never counted. The emulator
announces and enforces X's rate limits (its defaults, 15-minute windows), so the connector plans by them and a sync that
overran one would wait for real; the requests of the run are also counted per rate-limit family and bucket, which says
how many 15-minute windows the sync needs. `--rate-window-seconds S` shortens the windows, to watch the connector wait.

Definitions:
- minimum requests: account reads 1 per account (the bench configures `account_ids`, which are read by id, never
  listed); timelines ceil(organic tweets / 1000) per account (at least 1); scheduled tweets
  ceil(visible ones / 200) per account (at least 1); stats: per window the connector must read (90-day job windows
  or 7-day synchronous ones, per account by the connector's rule in stats_budget.py, within X's documented 250
  synchronous requests; a time-zone switch day starts a new window),
  ceil(organic tweets created before the window's end / 20) job creations (or synchronous requests), and as many
  result downloads; job polls: ceil(jobs / 100) per account (X keeps at most 100 jobs processing per account and one
  poll covers up to 200 job ids) -- reported, no target.
- latency bound: minimum requests (polls included) x latency / workers, the wall time of a client that keeps
  `workers` requests in flight all the time. It ignores the time X takes to run a job (`--job-seconds`, emulator
  time); "bound + job floor" adds job_seconds x ceil(jobs / 100) for the busiest account, the processing time that no
  client can avoid when jobs cannot overlap other work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.cpu_split import ENV as CPU_SPLIT_ENV
from bench.replay import Recording, ReplayServer
from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import Dataset, EmulatorServer, build_dataset
from integration_tests.x_emulator.ratelimit import FAMILIES
from integration_tests.x_emulator.server import _route  # the emulator's own routing table: endpoint and family
from source_x_organic_analytics.stats_budget import (
    EndpointCosts,
    choose_endpoints,
)

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
STREAMS = ("accounts", "tweets", "organic_report", "scheduled_tweets")  # the default selection
# organic_report_hourly on request (`--streams organic_report_hourly`): 24 times the report's rows.
KNOWN_STREAMS = (*STREAMS, "organic_report_hourly")
TIMELINE_PAGE = 1000  # the connector's page size for tweets (the endpoint's maximum)
SCHEDULED_PAGE = 200
MAX_PROCESSING_JOBS = 100  # per ads account (X reference)
RATE_WINDOW_MINUTES = 15
# What /work/shared/x-api-reference.md documents per 15 minutes (None: not documented there).
REFERENCE_LIMITS: dict[str, int | None] = {
    "accounts_list": 5,
    "account_reads": 2000,
    "stats_sync": 250,
    "jobs_create": None,  # the reference only says "at most 100 jobs processing per ads account"
    "jobs_status": None,
    "v2_analytics": 300,
}
# Emulator route name -> endpoint family shown in the report.
ENDPOINTS = {
    "accounts": "accounts list",
    "account": "account reads",
    "tweets": "timelines",
    "scheduled_tweets": "scheduled tweets",
    "stats": "stats (sync)",
    "job_create": "job creations",
    "job_list": "job polls",
    "job_file": "job downloads",
    "token": "oauth2 token",
}
NO_TARGET = {"job polls"}  # reported next to their minimum, without a target
MIN_NET_CPU_S = 1.0  # two runs of the same ~19k-record sync differed by 0.6 s of CPU
TARGETS = {"requests": 1.05, "wall_vs_bound": 1.5, "cpu_vs_floor": 2.0, "rss_tenfold": 1.2, "rate_windows": 1}
CPU_VS_HTTP_FLOOR = 1.3  # the connector's net CPU per record against the HTTP floor's (bench/http_floor.py)
# Scales held to a tighter wall target than TARGETS["wall_vs_bound"]: medium's fixed costs (start-up, the first
# requests of each endpoint, the jobs' processing) must overlap the rest.
WALL_TARGETS = {"medium": 1.25}


@dataclass(frozen=True)
class Scale:
    accounts: int
    tweets: int  # organic published tweets per account (build_dataset's tweets_per_account)
    days: int  # history: tweets spread over as many days
    read_days: int | None = None  # days read: start_date = today - read_days + 1 (default: the whole history)

    @property
    def days_read(self) -> int:
        return self.read_days or self.days


SCALES = {
    "small": Scale(accounts=2, tweets=100, days=30),
    "medium": Scale(accounts=3, tweets=200, days=365),
    "year": Scale(accounts=3, tweets=2000, days=365),
    # The sync users run every day on the year's accounts: the last 4 days (a day and a look-back of 3).
    "daily": Scale(accounts=3, tweets=2000, days=365, read_days=4),
}


# ----------------------------------------------------------------------------- measuring one process


@dataclass
class Measured:
    argv: list[str]
    returncode: int
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    maxrss_mb: float
    stdout: Path
    stderr: Path

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


# Started by a tiny launcher, not by this process: Linux carries a process's peak RSS across fork and exec
# (ru_maxrss starts at the parent's size), so a child forked from this process -- which holds the emulator and its
# data -- would report this process's RSS. Forked from the ~10 MB launcher, the child's ru_maxrss is its own.
_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    f.write(f"{wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def measure(argv: list[str], workdir: Path, name: str, timeout: float, env: dict[str, str] | None = None) -> Measured:
    """Run argv with stdout/stderr to files: its wall time, CPU time (user + system) and peak RSS, of that process
    alone (os.wait4 in the launcher)."""
    out, err, usage_file = workdir / f"{name}.stdout", workdir / f"{name}.stderr", workdir / f"{name}.rusage"
    # Cloud mode refuses requests to 127.0.0.1, where the emulator listens.
    env = {k: v for k, v in (env or os.environ).items() if k != "DEPLOYMENT_MODE"}
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(usage_file)]
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            launcher + argv,
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit(f"{name}: still running after {timeout:g} s, killed ({' '.join(argv)})") from None
    wall, user, system, maxrss_kb = usage_file.read_text().split()
    return Measured(argv, returncode, float(wall), float(user), float(system), int(maxrss_kb) / 1024, out, err)


# ----------------------------------------------------------------------------- reading the connector's output

_sampler = random.Random(0)
_RECORD = re.compile(rb'\{"type":"RECORD","record":\{"stream":"([^"]+)"')
_SAMPLES = 500  # records kept per stream (reservoir sample over the whole output) as the floor's templates


@dataclass
class Output:
    records: Counter = field(default_factory=Counter)
    record_bytes: Counter = field(default_factory=Counter)
    samples: dict[str, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    errors: list[dict[str, Any]] = field(default_factory=list)

    def avg_bytes(self, stream: str) -> float:
        return self.record_bytes[stream] / self.records[stream] if self.records[stream] else 0.0

    def templates(self, stream: str) -> list[dict[str, Any]]:
        """Real records of the stream, sampled uniformly over the run: cycled through, they have the stream's mix of
        shapes and sizes (e.g. organic_report records with and without video metrics)."""
        return [json.loads(line)["record"]["data"] for line in self.samples[stream]]


def scan_output(path: Path) -> Output:
    """Records per stream and their serialised size, without parsing every record (a year is ~10^6 lines)."""
    found = Output()
    _sampler.seed(0)
    with open(path, "rb") as f:
        for line in f:
            match = _RECORD.match(line)
            if match is None:
                if not line.startswith(b"{"):
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("type") == "RECORD":  # another field order than expected: still counted
                    stream = message["record"]["stream"].encode()
                else:
                    trace = message.get("trace") or {}
                    if message.get("type") == "TRACE" and trace.get("type") == "ERROR":
                        found.errors.append(trace.get("error") or {})
                    continue
            else:
                stream = match.group(1)
            name = stream.decode()
            found.records[name] += 1
            found.record_bytes[name] += len(line)
            seen, kept = found.records[name], found.samples[name]
            if len(kept) < _SAMPLES:
                kept.append(line)
            elif (slot := _sampler.randrange(seen)) < _SAMPLES:
                kept[slot] = line
    return found


# ----------------------------------------------------------------------------- the workload and its minimum


def selected_accounts(ds: Dataset, n: int) -> list[str]:
    readable = [a.id for a in ds.readable_accounts()]
    if not 1 <= n <= len(readable):
        raise SystemExit(f"--accounts must be 1..{len(readable)} (the emulator's readable accounts)")
    return readable[:n]


def minimum_requests(
    ds: Dataset,
    account_ids: list[str],
    start: dt.date,
    end: dt.date,
    streams: set[str],
    now: dt.datetime,
    workers: int = 3,
    stats_endpoint: str = "auto",
) -> tuple[Counter, dict[str, int]]:
    """(endpoint -> minimum requests, account -> jobs) for this workload, computed from the dataset alone."""
    minimum: Counter = Counter()
    jobs_per_account: dict[str, int] = {}
    for account_id in account_ids:
        minimum["account reads"] += 1
        account = ds.account(account_id)
        assert account is not None
        organic = [t for t in ds.tweets[account_id] if t.is_organic_published]
        if streams & {"tweets", "organic_report", "organic_report_hourly"}:  # the reports reuse the timeline
            minimum["timelines"] += max(1, math.ceil(len(organic) / TIMELINE_PAGE))
        if "scheduled_tweets" in streams:
            visible = [s for s in ds.scheduled[account_id] if s.scheduled_status != "DELETED"]
            minimum["scheduled tweets"] += max(1, math.ceil(len(visible) / SCHEDULED_PAGE))
    # The metrics streams read every account's report in turn, then every account's hourly report; each account's
    # endpoint is the connector's rule (stats_budget.py) applied to its requests either way, within X's documented
    # synchronous budget shared by all of them.
    plans: list[tuple[str, EndpointCosts]] = []
    for stream in ("organic_report", "organic_report_hourly"):
        if stream not in streams:
            continue
        for account_id in account_ids:
            account = ds.account(account_id)
            assert account is not None
            # The connector's last day is end_date capped at the account's local today (real clock).
            last = min(end, now.astimezone(ZoneInfo(account.timezone)).date())
            if start <= last:
                plans.append((account_id, _costs(ds, account_id, start, last, now, stream)))
    if stats_endpoint == "auto":
        choices = choose_endpoints([costs for _, costs in plans], workers)
    else:
        choices = [stats_endpoint == "jobs"] * len(plans)
    for (account_id, costs), jobs in zip(plans, choices, strict=True):
        requests = costs.job_requests if jobs else costs.sync_requests
        _add_stats(minimum, jobs_per_account, account_id, requests, jobs)
    return minimum, jobs_per_account


def _costs(ds: Dataset, account_id: str, first: dt.date, last: dt.date, now: dt.datetime, stream: str) -> EndpointCosts:
    """An account's requests of one metrics stream, window by window, read synchronously and through jobs."""
    if stream == "organic_report":
        sync = e2e.stats_request_budget(ds, account_id, first, last, now, e2e.WINDOW_DAYS)
        jobs = e2e.stats_request_budget(ds, account_id, first, last, now, e2e.JOB_WINDOW_DAYS)
    else:
        sync, _ = e2e.hourly_request_budget(ds, account_id, first, last, now, jobs=False)
        jobs, _ = e2e.hourly_request_budget(ds, account_id, first, last, now, jobs=True)
    return EndpointCosts(tuple(sync.values()), tuple(jobs.values()))


def _add_stats(minimum: Counter, jobs_per_account: dict[str, int], account_id: str, requests: int, jobs: bool) -> None:
    """Adds a report's stats requests of one account: job creations, downloads and polls, or synchronous requests."""
    if not jobs:
        minimum["stats (sync)"] += requests
        return
    jobs_per_account[account_id] = jobs_per_account.get(account_id, 0) + requests
    minimum["job creations"] += requests
    minimum["job downloads"] += requests
    minimum["job polls"] += math.ceil(requests / MAX_PROCESSING_JOBS)


def endpoint_counts(requests: list[Any]) -> tuple[Counter, Counter]:
    """(endpoint -> requests, endpoint -> non-2xx answers) from the emulator's request log."""
    counts, failed = Counter(), Counter()
    for r in requests:
        route = _route(r.method, r.path)
        name = ENDPOINTS.get(route[0], route[0]) if route else f"unrouted {r.method} {r.path}"
        counts[name] += 1
        if not 200 <= r.status < 300:
            failed[name] += 1
    return counts, failed


def rate_windows(requests: list[Any]) -> dict[str, Any]:
    """Requests per rate-limit bucket (user, or user and account) against the emulator's default limits and the
    reference's documented ones: how many 15-minute windows the sync needs at best (perfect pacing)."""
    buckets: Counter = Counter()
    for r in requests:
        route = _route(r.method, r.path)
        if route is None or route[1] is None:
            continue
        family = route[1]
        scope = FAMILIES[family][0]
        buckets[(family, route[2].get("account") if scope == "account" else None)] += 1
    families: dict[str, Any] = {}
    for family, (scope, limit) in FAMILIES.items():
        counts = [n for (f, _), n in buckets.items() if f == family]
        busiest = max(counts, default=0)
        reference = REFERENCE_LIMITS.get(family)
        families[family] = {
            "scope": scope,
            "busiest_bucket": busiest,
            "emulator_limit": limit,
            "windows": max(1, math.ceil(busiest / limit)),
            "reference_limit": reference,
            "reference_windows": 1 if reference is None else max(1, math.ceil(busiest / reference)),
        }
    windows = max(f["windows"] for f in families.values())
    reference_windows = max(f["reference_windows"] for f in families.values())
    return {
        "families": families,
        "windows": windows,
        "wait_minutes": (windows - 1) * RATE_WINDOW_MINUTES,
        "reference_windows": reference_windows,
    }


# ----------------------------------------------------------------------------- one sync


@dataclass
class Sync:
    measured: Measured
    output: Output
    requests: list[Any]
    early_retries: int
    cpu_split: dict[str, Any] | None = None  # bench/cpu_split.py's figures, for runs made through it
    recording: Recording | None = None  # the emulator's answers, for runs that kept them (the HTTP floor's replay)


def run_sync(
    ds: Dataset,
    account_ids: list[str],
    start: dt.date,
    end: dt.date,
    streams: list[str],
    workdir: Path,
    name: str,
    args: argparse.Namespace,
    latency_ms: float,
    enforce_window: float | None = None,
    cpu_split: bool = False,
    keep_responses: bool = False,
) -> Sync:
    run_dir = workdir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    # X's budgets, announced as X does: the connector plans by them, and a sync that overran one would wait for real.
    emu = EmulatorServer(
        ds,
        latency_ms=latency_ms,
        rate_window_seconds=enforce_window or RATE_WINDOW_MINUTES * 60,
        job_seconds=args.job_seconds,
    )
    emu.keep_responses = keep_responses
    with emu:
        config = emu.oauth1_config(
            start_date=start,
            end_date=end,
            account_ids=account_ids,
            num_workers=args.workers,
            lookback_window_days=3,
            stats_endpoint=args.stats_endpoint,
        )
        (run_dir / "config.json").write_text(json.dumps(config))
        (run_dir / "catalog.json").write_text(json.dumps(e2e.catalog(streams)))
        read = ["read", "--config", "config.json", "--catalog", "catalog.json"]
        split_file = run_dir / "cpu_split.json"
        if cpu_split:
            env = {**with_root_on_path(os.environ), CPU_SPLIT_ENV: str(split_file)}
            measured = measure(
                [sys.executable, "-m", "bench.cpu_split", *read], run_dir, "connector", args.timeout, env
            )
        else:
            measured = measure([e2e.cli_path(), *read], run_dir, "connector", args.timeout)
        requests = emu.requests.snapshot()
        early = emu.early_retries
    recording = Recording(emu.kept_responses, config["credentials"]) if keep_responses else None
    output = scan_output(measured.stdout)
    if measured.returncode != 0 or output.errors:
        tail = measured.stderr.read_text(errors="replace")[-2000:]
        errors = json.dumps(output.errors, indent=1)[:2000]
        raise SystemExit(f"{name}: the connector failed (rc={measured.returncode})\n{errors}\n{tail}")
    split = json.loads(split_file.read_text()) if cpu_split else None
    return Sync(measured, output, requests, early, split, recording)


def run_floor(
    counts: Counter,
    templates: dict[str, list[dict[str, Any]]],
    workdir: Path,
    name: str,
    timeout: float,
    module: str = "bench.floor_source",
    extra_config: Mapping[str, Any] | None = None,
) -> Measured:
    """One run of a floor source (`module`: the CDK floor, or the HTTP floor with its `extra_config`)."""
    run_dir = workdir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {"streams": {s: {"templates": templates[s], "count": counts[s]} for s in counts}, **(extra_config or {})}
    catalog = {
        "streams": [
            {
                "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for s in counts
        ]
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "catalog.json").write_text(json.dumps(catalog))
    env = with_root_on_path(os.environ)
    argv = [sys.executable, "-m", module, "read", "--config", "config.json", "--catalog", "catalog.json"]
    measured = measure(argv, run_dir, name, timeout, env)
    if measured.returncode != 0:
        raise SystemExit(f"{module} failed: {measured.stderr.read_text(errors='replace')[-2000:]}")
    return measured


def least_cpu_output(runs: list[Measured], records: Mapping[str, int], what: str) -> Output:
    """The output of the run of least CPU, once every run is checked to emit `records`, the connector's: not only the
    one whose CPU counts."""
    outputs = [scan_output(measured.stdout) for measured in runs]
    for emitted in outputs:
        if dict(emitted.records) != records:
            raise SystemExit(f"{what} emitted {dict(emitted.records)}, expected {records}")
    return min(zip(runs, outputs, strict=True), key=lambda pair: pair[0].cpu_s)[1]


def floor_figures(
    prefix: str, runs: list[Measured], startup: Measured, cpu: Mapping[str, Any]
) -> tuple[dict[str, Any], float | None, float | None]:
    """A floor's figures (keys `<prefix>_...`) from its run of least CPU, and the connector's ratios to it per record,
    net of start-up and gross. The net ratio is None below MIN_NET_CPU_S of work past start-up, where it would be the
    difference of two ~1 s start-ups: noise."""
    floor = min(runs, key=lambda measured: measured.cpu_s)
    records = cpu["records"]
    net_s = floor.cpu_s - startup.cpu_s
    figures = {
        f"{prefix}_s": floor.cpu_s,
        f"{prefix}_runs_s": [measured.cpu_s for measured in runs],
        f"{prefix}_startup_s": startup.cpu_s,
        f"{prefix}_per_10k_s": per_10k(floor.cpu_s, records),
        f"{prefix}_net_per_10k_s": per_10k(net_s, records),
        f"{prefix}_peak_rss_mb": max(measured.maxrss_mb for measured in runs),
    }
    net = cpu["connector_net_per_10k_s"] / figures[f"{prefix}_net_per_10k_s"] if net_s >= MIN_NET_CPU_S else None
    gross_floor = figures[f"{prefix}_per_10k_s"]
    return figures, net, cpu["connector_per_10k_s"] / gross_floor if gross_floor else None


def http_floor(
    recording: Recording | None,
    counts: Counter,
    templates: dict[str, list[dict[str, Any]]],
    workdir: Path,
    args: argparse.Namespace,
    cpu: Mapping[str, Any],
) -> dict[str, Any]:
    """The HTTP floor (bench/http_floor.py) replaying `recording`, a zero-latency sync's answers, `--cpu-runs`
    times: its figures (`http_floor_...`), its ratios, and how many requests it sent (every run must ask for each
    recorded answer exactly once, and emit the connector's records)."""
    if recording is None:
        raise SystemExit("the HTTP floor needs a zero-latency sync whose answers were kept")
    failures = recording.failures()
    if failures:
        raise SystemExit(f"the sync to replay had answers that were not 2xx: {failures[:5]}")
    env = with_root_on_path(os.environ)
    startup = run_spec([sys.executable, "-m", "bench.http_floor", "spec"], workdir, "http_floor_spec", env)
    runs = []
    for run in range(1, args.cpu_runs + 1):
        with ReplayServer(recording) as server:
            extra = {"credentials": recording.credentials, "requests": server.requests()}
            runs.append(
                run_floor(counts, templates, workdir, f"http_floor{run}", args.timeout, "bench.http_floor", extra)
            )
            missed = server.missed()
        if missed:
            raise SystemExit(missed)
    least_cpu_output(runs, dict(counts), "HTTP floor")
    figures, ratio, ratio_gross = floor_figures("http_floor", runs, startup, cpu)
    return {
        **figures,
        "http_floor_requests": len(recording.responses),
        "http_floor_ratio": ratio,
        "http_floor_ratio_gross": ratio_gross,
    }


def with_root_on_path(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment with the project's root first on PYTHONPATH, for `python -m bench.<module>`."""
    return {**environ, "PYTHONPATH": os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def run_spec(argv: list[str], workdir: Path, name: str, env: dict[str, str] | None = None, runs: int = 3) -> Measured:
    """Start-up cost: `spec` (interpreter, imports, launch), the least CPU of a few runs (it is noisy)."""
    run_dir = workdir / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return min((measure(argv, run_dir, name, 120, env) for _ in range(runs)), key=lambda m: m.cpu_s)


# ----------------------------------------------------------------------------- the benchmark


def cpu_split_figures(split: dict[str, Any] | None, floor_net_s: float) -> dict[str, Any] | None:
    """The least-CPU run's split: main thread (start-up included) and worker pools, and the pools' share against
    the floor's net CPU -- the pools' work is HTTP (requests, the CDK's client, OAuth) that the floor never does, so
    once it passes the floor's net CPU the connector cannot be within 2x of it, however cheap its records."""
    if split is None:
        return None
    pool_s = sum(work["cpu_s"] for work in split["pool"].values())
    return {
        **split,
        "pool_s": pool_s,
        "pool_vs_floor_net": pool_s / floor_net_s if floor_net_s >= MIN_NET_CPU_S else None,
    }


def per_10k(cpu_s: float, records: int) -> float | None:
    return cpu_s / records * 10_000 if records else None


def target(value: float | None, limit: float, unit: str = "x") -> dict[str, Any]:
    met = value is not None and value <= limit
    return {"value": value, "target": f"<= {limit}{unit}", "met": met}


def bench(args: argparse.Namespace) -> dict[str, Any]:
    base = SCALES[args.scale]
    scale = Scale(
        accounts=args.accounts or base.accounts,
        tweets=args.tweets or base.tweets,
        days=args.days or base.days,
        read_days=args.read_days or base.read_days,
    )
    streams = [s.strip() for s in args.streams.split(",") if s.strip()]
    unknown = set(streams) - set(KNOWN_STREAMS)
    if unknown:
        raise SystemExit(f"unknown streams {sorted(unknown)}; known: {', '.join(KNOWN_STREAMS)}")
    today = dt.datetime.now(UTC).date()
    start, end = today - dt.timedelta(days=scale.days_read - 1), today
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="x-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say = (lambda *_: None) if args.quiet else (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))

    try:
        started = time.perf_counter()
        ds = build_dataset(today, tweets_per_account=scale.tweets, days=scale.days)
        say(f"dataset built in {time.perf_counter() - started:.1f} s; workdir {workdir}")
        account_ids = selected_accounts(ds, scale.accounts)
        now = dt.datetime.now(UTC)
        minimum, jobs_per_account = minimum_requests(
            ds, account_ids, start, end, set(streams), now, args.workers, args.stats_endpoint
        )

        timed: Sync | None = None
        if args.latency_ms > 0 or args.rate_window_seconds:
            say(f"sync with {args.latency_ms:g} ms latency ...")
            timed = run_sync(
                ds, account_ids, start, end, streams, workdir, "timed", args, args.latency_ms, args.rate_window_seconds
            )
            say(f"  {timed.measured.wall_s:.1f} s")
        # CPU time of the same sync varies by ~10% run to run on a shared machine (noise only adds): the least of
        # a few runs is the figure, for the connector as for the floor; peak RSS is the largest seen.
        zeros = []
        for run in range(1, args.cpu_runs + 1):
            say(f"sync with zero latency (CPU, RSS), run {run}/{args.cpu_runs} ...")
            # The first run's answers are kept: the HTTP floor replays them.
            keep = run == 1 and not args.no_floor
            zeros.append(
                run_sync(
                    ds,
                    account_ids,
                    start,
                    end,
                    streams,
                    workdir,
                    f"zero{run}",
                    args,
                    0,
                    cpu_split=True,
                    keep_responses=keep,
                )
            )
            say(f"  {zeros[-1].measured.wall_s:.1f} s, CPU {zeros[-1].measured.cpu_s:.2f} s")
        if any(z.output.records != zeros[0].output.records for z in zeros):
            raise SystemExit(f"zero-latency runs emitted different records: {[dict(z.output.records) for z in zeros]}")
        zero = min(zeros, key=lambda z: z.measured.cpu_s)
        timed = timed or zero

        counts, failed = endpoint_counts(timed.requests)
        zero_counts, _ = endpoint_counts(zero.requests)
        records = dict(zero.output.records)
        total_records = sum(records.values())
        endpoints = sorted(
            set(counts) | set(minimum),
            key=lambda n: list(ENDPOINTS.values()).index(n) if n in ENDPOINTS.values() else 99,
        )
        request_rows = {
            name: {"actual": counts.get(name, 0), "minimum": minimum.get(name, 0), "failed": failed.get(name, 0)}
            for name in endpoints
        }
        with_target = [n for n in endpoints if n not in NO_TARGET]
        actual_total = sum(counts.get(n, 0) for n in with_target)
        minimum_total = sum(minimum.get(n, 0) for n in with_target)
        requests_ratio = actual_total / minimum_total if minimum_total else None
        worst_endpoint = max(
            (counts.get(n, 0) / minimum[n] for n in with_target if minimum.get(n)), default=requests_ratio
        )

        latency_s = args.latency_ms / 1000
        min_all = sum(minimum.values())
        bound = min_all * latency_s / args.workers
        busiest_jobs = max(jobs_per_account.values(), default=0)
        job_floor = args.job_seconds * math.ceil(busiest_jobs / MAX_PROCESSING_JOBS)

        cli_spec = run_spec([e2e.cli_path(), "spec"], workdir, "connector_spec")
        floor_spec = run_spec(
            [sys.executable, "-m", "bench.floor_source", "spec"], workdir, "floor_spec", with_root_on_path(os.environ)
        )
        cpu: dict[str, Any] = {
            "records": total_records,
            "runs": args.cpu_runs,
            "connector_s": zero.measured.cpu_s,
            "connector_runs_s": [z.measured.cpu_s for z in zeros],
        }
        cpu["connector_startup_s"] = cli_spec.cpu_s
        cpu["connector_per_10k_s"] = per_10k(zero.measured.cpu_s, total_records)
        cpu["connector_net_per_10k_s"] = per_10k(zero.measured.cpu_s - cli_spec.cpu_s, total_records)
        if not args.no_floor:
            say("CDK floor ...")
            templates = {s: zero.output.templates(s) for s in zero.output.records}
            floors = [
                run_floor(zero.output.records, templates, workdir, f"floor{run}", args.timeout)
                for run in range(1, args.cpu_runs + 1)
            ]
            floor_out = least_cpu_output(floors, records, "floor")
            figures, cpu["ratio"], cpu["ratio_gross"] = floor_figures("floor", floors, floor_spec, cpu)
            cpu.update(figures, floor_record_bytes={s: round(floor_out.avg_bytes(s)) for s in floor_out.records})
            if cpu["ratio"] is None:
                cpu["note"] = f"the floor's CPU past start-up is under {MIN_NET_CPU_S} s: too few records to compare"
            say("HTTP floor ...")
            cpu.update(http_floor(zeros[0].recording, zero.output.records, templates, workdir, args, cpu))
        cpu["split"] = cpu_split_figures(zero.cpu_split, cpu.get("floor_s", 0) - cpu.get("floor_startup_s", 0))

        peak_rss = max(z.measured.maxrss_mb for z in zeros)
        rss: dict[str, Any] = {"tweets": scale.tweets, "peak_rss_mb": peak_rss}
        if not args.no_rss_pair:
            tenth = max(2, scale.tweets // 10)
            say(f"sync with {tenth} tweets per account (RSS at a tenth of the tweets) ...")
            small_ds = build_dataset(today, tweets_per_account=tenth, days=scale.days)
            small = run_sync(small_ds, account_ids, start, end, streams, workdir, "tenth", args, 0)
            rss.update(
                tenth_tweets=tenth,
                tenth_peak_rss_mb=small.measured.maxrss_mb,
                tenth_records=sum(small.output.records.values()),
                ratio=peak_rss / small.measured.maxrss_mb,
            )

        windows = rate_windows(zero.requests)
        result: dict[str, Any] = {
            "scale": {"name": args.scale, **asdict(scale)},
            "dates": {"start": start.isoformat(), "end": end.isoformat()},
            "streams": streams,
            "latency_ms": args.latency_ms,
            "workers": args.workers,
            "job_seconds": args.job_seconds,
            "rate_window_seconds": args.rate_window_seconds,
            "records": records,
            "record_bytes": {s: round(zero.output.avg_bytes(s)) for s in records},
            "requests": request_rows,
            "requests_total": actual_total,
            "requests_minimum_total": minimum_total,
            "requests_ratio": requests_ratio,
            "requests_same_at_zero_latency": all(zero_counts[n] == counts[n] for n in with_target),
            "jobs_per_account": jobs_per_account,
            "early_retries": timed.early_retries,
            "wall": {
                "wall_s": timed.measured.wall_s,
                "zero_latency_wall_s": zero.measured.wall_s,
                "minimum_requests_all": min_all,
                "latency_bound_s": bound,
                "job_floor_s": job_floor,
                "ratio": timed.measured.wall_s / bound if bound else None,
                "ratio_with_job_floor": timed.measured.wall_s / (bound + job_floor) if bound else None,
            },
            "cpu": cpu,
            "rss": rss,
            "rate_windows": windows,
        }
        result["targets"] = {
            "requests_within_5pct": target(requests_ratio, TARGETS["requests"]),
            "worst_endpoint_within_5pct": target(worst_endpoint, TARGETS["requests"]),
            "wall_within_bound": target(
                result["wall"]["ratio"], WALL_TARGETS.get(args.scale, TARGETS["wall_vs_bound"])
            ),
            "cpu_within_2x_floor": target(cpu.get("ratio"), TARGETS["cpu_vs_floor"]),
            "cpu_within_1.3x_http_floor": target(cpu.get("http_floor_ratio"), CPU_VS_HTTP_FLOOR),
            "rss_within_20pct_tenfold": target(rss.get("ratio"), TARGETS["rss_tenfold"]),
            "one_rate_window": target(windows["windows"], TARGETS["rate_windows"], " window"),
        }
        if args.latency_ms <= 0:
            result["targets"]["wall_within_bound"]["note"] = "no latency: no bound to compare with"
        return result
    finally:
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------- printing


def _n(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds) + " s"


def _verdict(t: dict[str, Any]) -> str:
    if t["value"] is None:
        return "n/a"
    return "MET" if t["met"] else "NOT MET"


def report(r: dict[str, Any]) -> str:
    s, w, cpu, rss, rw, t = r["scale"], r["wall"], r["cpu"], r["rss"], r["rate_windows"], r["targets"]
    lines = [
        f"scale {s['name']}: {s['accounts']} accounts x {s['tweets']:,} tweets x {s['days']} days "
        f"({r['dates']['start']}..{r['dates']['end']}), workers {r['workers']}, latency {r['latency_ms']:g} ms, "
        f"job_seconds {r['job_seconds']:g}",
        "records      " + "  ".join(f"{k} {v:,} ({r['record_bytes'][k]} B)" for k, v in r["records"].items()),
        f"requests     {'endpoint':<18}{'actual':>9}{'minimum':>9}{'ratio':>8}",
    ]
    for name, row in r["requests"].items():
        ratio = row["actual"] / row["minimum"] if row["minimum"] else None
        note = " (no target)" if name in NO_TARGET else ""
        note += f" {row['failed']} non-2xx" if row["failed"] else ""
        lines.append(f"             {name:<18}{row['actual']:>9,}{row['minimum']:>9,}{_n(ratio, 3):>8}{note}")
    lines.append(
        f"             {'total (no polls)':<18}{r['requests_total']:>9,}{r['requests_minimum_total']:>9,}"
        f"{_n(r['requests_ratio'], 3):>8}  target <= 1.05: {_verdict(t['requests_within_5pct'])}"
        + ("" if r["requests_same_at_zero_latency"] else "  (zero-latency run differs)")
    )
    lines.append(
        f"wall         {w['wall_s']:.1f} s at {r['latency_ms']:g} ms; bound {w['latency_bound_s']:.1f} s "
        f"({w['minimum_requests_all']:,} requests x {r['latency_ms'] / 1000:g} s / {r['workers']}); "
        f"ratio {_n(w['ratio'])}  target {t['wall_within_bound']['target'][:-1]}: {_verdict(t['wall_within_bound'])}"
    )
    lines.append(
        f"             bound + job floor ({w['job_floor_s']:.1f} s) -> ratio {_n(w['ratio_with_job_floor'])}; "
        f"zero-latency wall {w['zero_latency_wall_s']:.1f} s"
    )
    lines.append(
        f"cpu          connector {cpu['connector_s']:.2f} s (startup {cpu['connector_startup_s']:.2f}) for "
        f"{cpu['records']:,} records: {_n(cpu['connector_net_per_10k_s'], 3)} s/10k net, "
        f"{_n(cpu['connector_per_10k_s'], 3)} s/10k gross; least of {_runs(cpu['connector_runs_s'])}"
    )
    if "floor_s" in cpu:
        lines.append(
            f"             CDK floor {cpu['floor_s']:.2f} s (startup {cpu['floor_startup_s']:.2f}): "
            f"{_n(cpu['floor_net_per_10k_s'], 3)} s/10k net, {_n(cpu['floor_per_10k_s'], 3)} s/10k gross; "
            f"ratio {_n(cpu['ratio'])} net ({_n(cpu['ratio_gross'])} gross)  target <= 2: "
            f"{_verdict(t['cpu_within_2x_floor'])}"
        )
        lines.append(f"             floor: least of {_runs(cpu['floor_runs_s'])}")
        lines.append(
            f"             HTTP floor {cpu['http_floor_s']:.2f} s (startup {cpu['http_floor_startup_s']:.2f}): "
            f"{_n(cpu['http_floor_net_per_10k_s'], 3)} s/10k net, {_n(cpu['http_floor_per_10k_s'], 3)} s/10k gross; "
            f"ratio {_n(cpu['http_floor_ratio'])} net ({_n(cpu['http_floor_ratio_gross'])} gross)  "
            f"target <= {CPU_VS_HTTP_FLOOR:g}: {_verdict(t['cpu_within_1.3x_http_floor'])}"
        )
        lines.append(
            f"             HTTP floor: {cpu['http_floor_requests']:,} requests replayed; "
            f"least of {_runs(cpu['http_floor_runs_s'])}"
        )
        if cpu.get("note"):
            lines.append(f"             ({cpu['note']}; use --scale year)")
    split = cpu.get("split")
    if split:
        lines.append(
            f"cpu split    main thread {split['main_thread_s']:.2f} s (start-up included), worker pools "
            f"{split['pool_s']:.2f} s = {_n(split['pool_vs_floor_net'])}x the floor's net CPU"
        )
        for name, work in split["pool"].items():
            per_call = work["cpu_s"] / work["calls"] * 1000 if work["calls"] else 0
            lines.append(f"             {name}: {work['cpu_s']:.2f} s over {work['calls']:,} ({per_call:.2f} ms each)")
    if "tenth_peak_rss_mb" in rss:
        lines.append(
            f"peak RSS     {rss['tweets']:,} tweets/account: {rss['peak_rss_mb']:.0f} MB; {rss['tenth_tweets']:,}: "
            f"{rss['tenth_peak_rss_mb']:.0f} MB; ratio {_n(rss['ratio'])}  target <= 1.2: "
            f"{_verdict(t['rss_within_20pct_tenfold'])}  (floor {_n(cpu.get('floor_peak_rss_mb'), 0)} MB)"
        )
    else:
        lines.append(f"peak RSS     {rss['tweets']:,} tweets/account: {rss['peak_rss_mb']:.0f} MB")
    busy = [
        f"{name} {f['busiest_bucket']:,}/{f['emulator_limit']:,}"
        + (f" (ref {f['reference_limit']:,})" if f["reference_limit"] else " (ref: none)")
        for name, f in rw["families"].items()
        if f["busiest_bucket"]
    ]
    lines.append(
        f"rate windows {rw['windows']} x 15 min at the emulator's limits (waits {rw['wait_minutes']} min), "
        f"{rw['reference_windows']} at the reference's documented ones  target 1: {_verdict(t['one_rate_window'])}"
    )
    lines.append("             busiest bucket per family / limit: " + "; ".join(busy))
    if r["early_retries"]:
        lines.append(f"             early retries after a 429: {r['early_retries']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), required=True)
    parser.add_argument("--latency-ms", type=float, default=100, help="emulated latency per request (default 100)")
    parser.add_argument("--workers", type=int, default=3, help="the connector's num_workers (default 3)")
    parser.add_argument("--accounts", type=int, help="first N readable emulator accounts (default: the scale's)")
    parser.add_argument("--tweets", type=int, help="organic tweets per account (default: the scale's)")
    parser.add_argument("--days", type=int, help="days of history (default: the scale's)")
    parser.add_argument("--read-days", type=int, help="days read, the last of the history (default: the scale's)")
    parser.add_argument(
        "--streams",
        default=",".join(STREAMS),
        help="comma list (default: all four; organic_report_hourly too on request)",
    )
    parser.add_argument(
        "--stats-endpoint",
        choices=("auto", "jobs", "synchronous"),
        default="auto",
        help="the connector's stats_endpoint (default auto: chosen per account)",
    )
    parser.add_argument("--job-seconds", type=float, default=1.0, help="emulated job processing time (default 1)")
    parser.add_argument(
        "--rate-window-seconds",
        type=float,
        default=None,
        help="keep the emulator's default rate limits with windows this long for the timed sync (default: lifted)",
    )
    parser.add_argument(
        "--cpu-runs", type=int, default=3, help="zero-latency syncs and floor runs; the least CPU counts (default 3)"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the CDK floor and HTTP floor runs")
    parser.add_argument("--no-rss-pair", action="store_true", help="skip the sync at a tenth of the tweets")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--workdir", help="keep configs and outputs here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per process (default 3600)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 10:
        parser.error("--workers must be 1..10 (the connector's num_workers)")
    if args.cpu_runs < 1:
        parser.error("--cpu-runs must be at least 1")

    result = bench(args)
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
