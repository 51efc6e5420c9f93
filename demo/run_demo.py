"""The one-command demo: sync the bundled X API emulator with the real connector CLI into SQLite, then summarise.

Run from the repo root: ``bash scripts/demo.sh`` (or ``.venv/bin/python -m demo.run_demo``). Works offline.
``.venv/bin/python -m demo.run_demo --api x_api_v2`` syncs in X API v2 mode instead (no Ads API request).
Outputs go to ``$DEMO_DIR`` (default ``.demo/``): ``config.json``, ``x_organic.sqlite`` and ``state.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_tests.e2e_support import CLI_NAME, cli_path
from integration_tests.x_emulator import EmulatorServer, build_dataset

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "integration_tests" / "configured_catalog.json"
DAYS_BACK = 90
DB_NAME = "x_organic.sqlite"
TOP_N = 5
REPORT_TABLES = {"organic_report", "accounts", "tweets"}
V2_USAGE = "X API v2 usage"  # the connector's end-of-sync line in x_api_v2 mode: what a pay-per-use plan bills


class DemoError(Exception):
    """A failure explained in one line to the person running the demo."""


@dataclass
class SyncResult:
    records: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # the last STATE message per stream
    errors: list[str] = field(default_factory=list)  # messages of the connector's ERROR traces
    returncode: int | None = None


# ----------------------------------------------------------------------------- setup


def output_dir() -> Path:
    # Configurable so the test (and parallel runs) do not overwrite the user's .demo/.
    path = Path(os.environ.get("DEMO_DIR") or ROOT / ".demo").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shown(path: Path) -> str:
    """A path as short as possible for printed commands: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def connector_cli() -> str:
    try:
        return cli_path()  # the script beside this interpreter first, so the demo runs its own venv's connector
    except RuntimeError:
        raise DemoError(
            f"{CLI_NAME} is not installed beside {sys.executable}: run `bash scripts/setup.sh` first"
        ) from None


def write_config(emu: EmulatorServer, out_dir: Path, today: dt.date, api: str) -> Path:
    config = emu.oauth1_config(start_date=today - dt.timedelta(days=DAYS_BACK), end_date=today)
    if api == "x_api_v2":
        # The emulator's "me" is the brand user of its first account; its zone gives the report's days.
        me = emu.ds.account(emu.v2_me_account_id)
        assert me is not None
        config.update(api=api, x_api_base_url=emu.base_url, timezone=me.timezone)
    path = out_dir / "config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def write_catalog(out_dir: Path, api: str) -> Path:
    """The bundled catalog; in x_api_v2 mode without scheduled_tweets, which X API v2 does not have."""
    if api != "x_api_v2":
        return CATALOG
    catalog = json.loads(CATALOG.read_text())
    catalog["streams"] = [s for s in catalog["streams"] if s["stream"]["name"] != "scheduled_tweets"]
    path = out_dir / "catalog_x_api_v2.json"
    path.write_text(json.dumps(catalog, indent=2))
    return path


def print_requests(emu: EmulatorServer) -> None:
    """What the sync asked of X, by endpoint: in x_api_v2 mode, no Ads API path at all."""
    paths = Counter(re.sub(r"^/2/users/\d+/", "/2/users/{id}/", r.path) for r in emu.requests)
    ads = sum(n for path, n in paths.items() if path.startswith("/12/"))
    listed = ", ".join(f"{path} {n}" for path, n in sorted(paths.items()) if not path.startswith("/12/"))
    print(f"Requests: {listed}; Ads API (/12/...) requests: {ads}")


# ----------------------------------------------------------------------------- the sync


def run_connector(command: list[str]) -> SyncResult:
    """Run the connector, reading its Airbyte messages as they arrive (stderr passes through to the terminal)."""
    result = SyncResult()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            handle_line(line, result)
        result.returncode = proc.wait()
    finally:
        # Ctrl-C or any error above: never leave the connector running.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return result


def handle_line(line: str, result: SyncResult) -> None:
    try:
        message = json.loads(line)
    except json.JSONDecodeError:
        if line.strip():
            print(f"  connector: {line.rstrip()}")  # not a protocol message, e.g. a stray print
        return
    kind = message.get("type")
    if kind == "RECORD":
        result.records[message["record"]["stream"]].append(message["record"]["data"])
    elif kind == "STATE":
        result.states[state_key(message["state"])] = message["state"]
    elif kind == "TRACE":
        handle_trace(message["trace"], result)
    elif kind == "LOG" and (
        message["log"].get("level") in ("WARN", "ERROR", "FATAL") or V2_USAGE in message["log"].get("message", "")
    ):
        print(f"  connector {message['log']['level']}: {message['log'].get('message', '')}")


def state_key(state: dict[str, Any]) -> str:
    if state.get("type") == "STREAM":
        return state["stream"]["stream_descriptor"]["name"]
    return str(state.get("type", "LEGACY"))  # GLOBAL or legacy state: one message covers every stream


def handle_trace(trace: dict[str, Any], result: SyncResult) -> None:
    if trace.get("type") == "ERROR":
        message = trace["error"].get("message") or trace["error"].get("internal_message") or "unknown error"
        result.errors.append(message)
        print(f"  connector ERROR: {message}")
    elif trace.get("type") == "STREAM_STATUS":
        # Progress while the sync runs: one line per finished stream.
        status = trace["stream_status"]
        if status["status"] in ("COMPLETE", "INCOMPLETE"):
            name = status["stream_descriptor"]["name"]
            print(f"  {name:<17} {status['status'].lower()}, {len(result.records.get(name, []))} records")


def check_sync(result: SyncResult) -> None:
    if result.errors:
        raise DemoError(f"the connector reported {len(result.errors)} error(s); first: {result.errors[0]}")
    if result.returncode:
        raise DemoError(f"the connector exited with code {result.returncode} (see its output above)")
    if not any(result.records.values()):
        raise DemoError("the connector wrote no records")


# ----------------------------------------------------------------------------- outputs


def load_sqlite(db_path: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    """One table per stream, a column per top-level key, and the record's JSON in _raw. Rebuilt on every run."""
    db_path.unlink(missing_ok=True)
    with sqlite3.connect(db_path) as db:
        for stream, rows in records.items():
            columns = list(dict.fromkeys(key for row in rows for key in row))  # union of keys, first-seen order
            names = ", ".join(f'"{c}"' for c in [*columns, "_raw"])
            marks = ", ".join("?" for _ in range(len(columns) + 1))
            db.execute(f'CREATE TABLE "{stream}" ({names})')
            db.executemany(
                f'INSERT INTO "{stream}" ({names}) VALUES ({marks})',
                ([*(sql_value(row.get(c)) for c in columns), json.dumps(row, ensure_ascii=False)] for row in rows),
            )
    db.close()


def sql_value(value: Any) -> Any:
    # SQLite takes scalars only: nested objects (entities, user, ...) stay queryable as JSON (json_extract).
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def save_state(path: Path, states: dict[str, dict[str, Any]]) -> None:
    # A list of state messages: the shape `read --state` accepts, for a next incremental sync.
    path.write_text(json.dumps(list(states.values()), indent=2))


# ----------------------------------------------------------------------------- the summary


def print_counts(records: dict[str, list[dict[str, Any]]]) -> None:
    print("\nRecords per stream:")
    for stream, rows in records.items():
        print(f"  {stream:<17} {len(rows):>6} records")


def print_report(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        first, last, n_accounts = db.execute(
            "SELECT min(date), max(date), count(DISTINCT account_id) FROM organic_report"
        ).fetchone()
        print(f"\norganic_report: {first} .. {last}, {n_accounts} accounts")
        accounts = db.execute(
            "SELECT DISTINCT r.account_id, a.name, a.timezone FROM organic_report r "
            "LEFT JOIN accounts a ON a.id = r.account_id ORDER BY a.name"
        ).fetchall()
        for account_id, name, timezone in accounts:
            print(f"\n{name} ({account_id}, {timezone}): top {TOP_N} tweets by impressions, {first} .. {last}")
            print(f"  {'tweet id':<20} {'text':<40} {'impressions':>11} {'engagements':>11}")
            for tweet_id, text, impressions, engagements in top_tweets(db, account_id):
                print(f"  {tweet_id:<20} {fit(text or '', 40)} {impressions:>11,} {engagements:>11,}")
    db.close()


def fit(text: str, width: int) -> str:
    """The text on one line, cut and padded to `width` terminal columns (CJK and emoji take two columns each)."""
    out, used = "", 0
    for char in " ".join(text.split()):
        cols = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + cols > width:
            break
        out, used = out + char, used + cols
    return out + " " * (width - used)


def top_tweets(db: sqlite3.Connection, account_id: str) -> list[tuple[str, str | None, int, int]]:
    # Sum first, then look the text up: a join before the sum would multiply a tweet listed twice.
    return db.execute(
        """
        WITH totals AS (
            SELECT tweet_id, sum(impressions) AS impressions, sum(coalesce(engagements, 0)) AS engagements
            FROM organic_report WHERE account_id = ? GROUP BY tweet_id
        )
        SELECT tweet_id, (SELECT full_text FROM tweets WHERE tweets.id = totals.tweet_id LIMIT 1),
               impressions, engagements
        FROM totals ORDER BY impressions DESC, tweet_id LIMIT ?
        """,
        (account_id, TOP_N),
    ).fetchall()


def print_footer(db_path: Path, state_path: Path, started: float, sync_seconds: float) -> None:
    print(f"\nWall time: {time.monotonic() - started:.1f} s (connector read {sync_seconds:.1f} s)")
    print(f"Database: {shown(db_path)} (one table per stream; each record's JSON also in column _raw)")
    print(f"State:    {shown(state_path)} (pass it to `read --state` for an incremental sync)")
    print("Try:")
    query = (
        "select date, sum(impressions), sum(engagements) from organic_report group by date order by date desc limit 7"
    )
    print(f'  sqlite3 {shown(db_path)} "{query}"')


# ----------------------------------------------------------------------------- main


def sync(out_dir: Path, api: str) -> tuple[SyncResult, float]:
    """Start the emulator, run the connector against it, and always stop the emulator again."""
    today = dt.datetime.now(dt.timezone.utc).date()
    emu = EmulatorServer(build_dataset(today=today), host="127.0.0.1", port=0).start()
    try:
        print(f"X API emulator (bundled, offline) listening on {emu.base_url}")
        config_path, catalog_path = write_config(emu, out_dir, today, api), write_catalog(out_dir, api)
        command = [connector_cli(), "read", "--config", str(config_path), "--catalog", str(catalog_path)]
        print(f"Running: {CLI_NAME} read --config {shown(config_path)} --catalog {shown(catalog_path)}")
        started = time.monotonic()
        result = run_connector(command)
        elapsed = time.monotonic() - started
        if api == "x_api_v2":
            print_requests(emu)
        return result, elapsed
    finally:
        emu.stop()
        print("X API emulator stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sync the bundled X API emulator into SQLite with the connector.")
    parser.add_argument(
        "--api", choices=("ads_api", "x_api_v2"), default="ads_api", help="the connector's `api` mode (default ads_api)"
    )
    api = parser.parse_args(argv).api
    started = time.monotonic()
    out_dir = output_dir()
    result, sync_seconds = sync(out_dir, api)
    check_sync(result)
    db_path, state_path = out_dir / DB_NAME, out_dir / "state.json"
    load_sqlite(db_path, result.records)
    save_state(state_path, result.states)
    print_counts(result.records)
    if REPORT_TABLES <= result.records.keys():
        print_report(db_path)
    else:
        print(f"\n(no report: it needs rows in {', '.join(sorted(REPORT_TABLES))})")
    print_footer(db_path, state_path, started, sync_seconds)
    return 0


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks, so the emulator and the connector stop too


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        sys.exit(main())
    except DemoError as exc:
        print(f"\nDemo failed: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nInterrupted: the emulator and the connector were stopped", file=sys.stderr)
        sys.exit(130)
