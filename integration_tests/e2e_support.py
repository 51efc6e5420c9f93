"""Helpers for test_end_to_end.py: run the connector's console script against the X emulator, parse its output."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from integration_tests.x_emulator import Dataset, EmulatorServer
from integration_tests.x_emulator.metrics import ALL_METRICS
from integration_tests.x_emulator.server import Response, _json

UTC = dt.timezone.utc
ROOT = Path(__file__).resolve().parents[1]
CATALOG_PATH = ROOT / "integration_tests" / "configured_catalog.json"
# Every stream, organic_report_hourly too (not selected in the default catalog: 24 times organic_report's rows).
FULL_CATALOG_PATH = ROOT / "integration_tests" / "full_catalog.json"
CLI_NAME = "source-x-organic-analytics"
MAX_IDS_PER_REQUEST = 20
WINDOW_DAYS = 7  # synchronous stats requests
JOB_WINDOW_DAYS = 90  # asynchronous jobs, used when the range to read is longer than WINDOW_DAYS
HOURLY_JOB_WINDOW_DAYS = 45  # organic_report_hourly's jobs
STATS_PATH_PREFIX = "/12/stats/accounts/"
JOBS_PATH_PREFIX = "/12/stats/jobs/accounts/"


def is_stats_request(r: Any) -> bool:
    """A request for metrics: a synchronous stats GET, or the POST that creates an asynchronous job (not its polls)."""
    return r.path.startswith(STATS_PATH_PREFIX) or (r.method == "POST" and r.path.startswith(JOBS_PATH_PREFIX))


def cli_path() -> str:
    # The venv's own script first: PATH may hold another install of the connector.
    beside = Path(sys.executable).parent / CLI_NAME
    found = str(beside) if beside.exists() else shutil.which(CLI_NAME)
    if not found:
        raise RuntimeError(f"{CLI_NAME} is not installed in {sys.executable}'s environment")
    return found


def current_hour() -> dt.datetime:
    """The emulator's data clock for a test module.

    The connector decides each account's local "today" with the real clock, so the emulator's clock must not be
    ahead of it: otherwise hours of a local day the connector does not consider started yet would carry metrics.
    """
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def local_today(tz: str) -> dt.date:
    return dt.datetime.now(UTC).astimezone(ZoneInfo(tz)).date()


def day_start_utc(day: dt.date, tz: str, now: dt.datetime) -> dt.datetime:
    """X's DAY boundary: local midnight written with the UTC offset in force at `now`, not on `day`."""
    offset = now.astimezone(ZoneInfo(tz)).utcoffset() or dt.timedelta(0)
    return dt.datetime.combine(day, dt.time(0), tzinfo=UTC) - offset


def x_time(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_x_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# ----------------------------------------------------------------------------- emulator variants


class RefusingEmulator(EmulatorServer):
    """Answers `answer(req)` instead of the real endpoint when that returns a response."""

    def __init__(self, *args: Any, answer: Callable[[Any], Response | None], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._answer = answer

    def dispatch(self, req):
        # No signature check here: an OAuth 1.0a nonce may be verified only once, by the real pipeline.
        override = self._answer(req) if req.path.startswith("/12/") else None
        return override if override is not None else super().dispatch(req)


def x_error(status: int, code: str, message: str, parameter: str | None = None) -> Response:
    error = {"code": code, "message": message, **({"parameter": parameter} if parameter else {})}
    return _json(status, {"errors": [error], "request": {"params": {}}})


# ----------------------------------------------------------------------------- inputs


def catalog(streams: Iterable[str] | None = None, sync_mode: str | None = None) -> dict[str, Any]:
    """The default catalog, or the streams named (any of every stream's catalog)."""
    data = json.loads((CATALOG_PATH if streams is None else FULL_CATALOG_PATH).read_text())
    if streams is not None:
        wanted = set(streams)
        data["streams"] = [s for s in data["streams"] if s["stream"]["name"] in wanted]
    if sync_mode is not None:
        for s in data["streams"]:
            s["sync_mode"] = sync_mode
    return data


def state_input(organic_state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "organic_report"}, "stream_state": organic_state},
        }
    ]


# ----------------------------------------------------------------------------- output


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream]

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.of_type("STATE")]

    def final_stream_state(self, stream: str) -> dict[str, Any] | None:
        found = None
        for state in self.states:
            descriptor = state.get("stream", {}).get("stream_descriptor", {})
            if descriptor.get("name") == stream:
                found = state["stream"].get("stream_state")
        return found

    @property
    def error_traces(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]

    @property
    def controls(self) -> list[dict[str, Any]]:
        return [m["control"] for m in self.of_type("CONTROL")]

    @property
    def connection_status(self) -> dict[str, Any] | None:
        found = self.of_type("CONNECTION_STATUS")
        return found[-1]["connectionStatus"] if found else None

    def describe(self) -> str:
        """Enough of the run to debug a failed assertion without rerunning it."""
        traces = json.dumps(self.error_traces, indent=1)[:3000]
        return f"rc={self.returncode}\nerror traces: {traces}\nstderr tail: {self.stderr[-2000:]}"


def run_cli(
    workdir: Path,
    command: str,
    config: dict[str, Any] | None,
    catalog_data: dict[str, Any] | None = None,
    state: list[dict[str, Any]] | None = None,
    timeout: float = 120,
) -> CliRun:
    """``config`` None: a command without one (spec)."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = [cli_path(), command]
    if config is not None:
        config_file = workdir / "config.json"
        config_file.write_text(json.dumps(config))
        args += ["--config", str(config_file)]
    if catalog_data is not None:
        catalog_file = workdir / "catalog.json"
        catalog_file.write_text(json.dumps(catalog_data))
        args += ["--catalog", str(catalog_file)]
    if state is not None:
        state_file = workdir / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    # Cloud mode refuses requests to 127.0.0.1, where the emulator listens.
    env = {k: v for k, v in os.environ.items() if k != "DEPLOYMENT_MODE"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=workdir)
    return CliRun(args, done.returncode, done.stdout, done.stderr, parse_messages(done.stdout))


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    """The Airbyte messages in a connector's output (one JSON object a line; anything else is skipped)."""
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                messages.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return messages


def organic_by_key(
    records: Iterable[dict[str, Any]], cursor: str = "date"
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Records keyed like the truth (by `date`, or `hour` for the hourly report); the CDK drops null fields, so a
    missing metric is None. Later records win."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        out[(r["account_id"], r["tweet_id"], r[cursor])] = {m: r.get(m) for m in ALL_METRICS}
    return out


def without_nulls(value: Any) -> Any:
    """The CDK drops null-valued fields when it serialises a record, at every depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


NUMERIC_TWIN_FIELDS = ("in_reply_to_status_id", "in_reply_to_user_id", "quoted_status_id")


def expected_tweet_record(truth_obj: dict[str, Any]) -> dict[str, Any]:
    """A truth tweet after the connector's documented transforms: numeric id twins dropped, ISO created_at, and
    user.id as its string."""
    record = {k: v for k, v in truth_obj.items() if k not in NUMERIC_TWIN_FIELDS}
    created = dt.datetime.strptime(truth_obj["created_at"], "%a %b %d %H:%M:%S %z %Y")
    record["created_at"] = x_time(created)
    record["user"] = {**truth_obj["user"], "id": truth_obj["user"]["id_str"]}
    return without_nulls(record)


def expected_scheduled_record(truth_obj: dict[str, Any]) -> dict[str, Any]:
    tweet_id = truth_obj.get("tweet_id")
    return without_nulls({**truth_obj, "tweet_id": None if tweet_id is None else str(tweet_id)})


def stats_requests(emu: EmulatorServer, since: int = 0) -> list[Any]:
    return [r for r in emu.requests.snapshot()[since:] if is_stats_request(r)]


def config_for(emu: EmulatorServer, oauth: str, **kw: Any) -> dict[str, Any]:
    maker = emu.oauth2_config if oauth == "oauth2.0" else emu.oauth1_config
    return copy.deepcopy(maker(**kw))


# ----------------------------------------------------------------------------- expected windows


def window_days(first: dt.date, last: dt.date) -> int:
    return JOB_WINDOW_DAYS if (last - first).days + 1 > WINDOW_DAYS else WINDOW_DAYS


def expected_windows(
    first: dt.date, last: dt.date, breaks: Iterable[dt.date] = (), size: int | None = None
) -> list[tuple[dt.date, dt.date]]:
    """Consecutive runs of at most `size` days (by default 7, or 90 for a range read with jobs by the tests that pin
    `stats_endpoint: jobs`); a time-zone switch day always starts a new run."""
    cuts = sorted(b for b in breaks if first < b <= last)
    size = size or window_days(first, last)
    out, start = [], first
    while start <= last:
        end = min(last, start + dt.timedelta(days=size - 1))
        end = min([end] + [c - dt.timedelta(days=1) for c in cuts if start < c <= end])
        out.append((start, end))
        start = end + dt.timedelta(days=1)
    return out


def eligible_tweet_ids(ds: Dataset, account_id: str, window_end: dt.datetime) -> set[str]:
    return {t.id_str for t in ds.tweets[account_id] if t.is_organic_published and t.created_at < window_end}


def stats_request_budget(
    ds: Dataset, account_id: str, first: dt.date, last: dt.date, now: dt.datetime, size: int | None = None
) -> dict[tuple[str, str], int]:
    """(start_time, end_time) of each window the connector must request → its number of stats requests."""
    account = ds.account(account_id)
    assert account is not None
    switch_day = account.timezone_switch_at.astimezone(ZoneInfo(account.timezone)).date()
    budget = {}
    for w_first, w_last in expected_windows(first, last, [switch_day], size):
        start = day_start_utc(w_first, account.timezone, now)
        end = day_start_utc(w_last + dt.timedelta(days=1), account.timezone, now)
        n = len(eligible_tweet_ids(ds, account_id, end))
        budget[(x_time(start), x_time(end))] = math.ceil(n / MAX_IDS_PER_REQUEST)
    return budget


def hourly_request_budget(
    ds: Dataset, account_id: str, first: dt.date, last: dt.date, now: dt.datetime, jobs: bool | None = None
) -> tuple[dict[tuple[str, str], int], bool]:
    """organic_report_hourly's windows (from X's local midnight of `first` to the end of `last` or the last complete
    hour at `now`) → their stats requests (or job creations), and whether they are jobs: 45-day job windows (by
    default for a range longer than 7 days), else synchronous windows of 7 days."""
    account = ds.account(account_id)
    assert account is not None
    start = day_start_utc(first, account.timezone, now)
    end = min(day_start_utc(last + dt.timedelta(days=1), account.timezone, now), now.replace(minute=0, second=0))
    jobs = end - start > dt.timedelta(days=WINDOW_DAYS) if jobs is None else jobs
    size = dt.timedelta(days=HOURLY_JOB_WINDOW_DAYS if jobs else WINDOW_DAYS)
    budget = {}
    while start < end:
        stop = min(end, start + size)
        n = len(eligible_tweet_ids(ds, account_id, stop))
        budget[(x_time(start), x_time(stop))] = math.ceil(n / MAX_IDS_PER_REQUEST)
        start = stop
    return budget, jobs


def group_stats_by_window(requests: Iterable[Any]) -> dict[tuple[str, str, str], list[Any]]:
    """(account_id, start_time, end_time) → the stats requests of that window."""
    out: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for r in requests:
        account_id = r.path.rsplit("/", 1)[-1]
        out[(account_id, r.query.get("start_time", ""), r.query.get("end_time", ""))].append(r)
    return out


def refresh_once(config: dict[str, Any]) -> dict[str, Any]:
    """Uses the config's OAuth 2.0 refresh token once, as the connector would; returns the token endpoint's answer."""
    creds = config["credentials"]
    answer = requests.post(
        creds["token_refresh_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": creds["refresh_token"]},
        auth=(creds["client_id"], creds["client_secret"]),
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()
