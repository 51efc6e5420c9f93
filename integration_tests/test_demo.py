"""The one-command demo (demo/run_demo.py) end to end: emulator + real connector CLI → SQLite, then a clean shutdown."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from demo.run_demo import DemoError, SyncResult, check_sync, run_connector

ROOT = Path(__file__).resolve().parents[1]
STREAMS = {"accounts", "tweets", "organic_report", "scheduled_tweets", "followers_history"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out_dir = tmp_path_factory.mktemp("demo")  # DEMO_DIR keeps the user's .demo/ untouched
    env = {**os.environ, "DEMO_DIR": str(out_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "demo.run_demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    return proc, out_dir


def printed_counts(stdout: str) -> dict[str, int]:
    block = stdout.split("Records per stream:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s+(\w+)\s+(\d+) records$", block, re.MULTILINE)}


def test_demo_exits_zero(demo_run):
    proc, _ = demo_run
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_printed_counts_match_the_sqlite_tables(demo_run):
    proc, out_dir = demo_run
    counts = printed_counts(proc.stdout)
    assert set(counts) == STREAMS
    assert all(n > 0 for n in counts.values()), counts
    with sqlite3.connect(out_dir / "x_organic.sqlite") as db:
        for stream, n in counts.items():
            assert db.execute(f'SELECT count(*) FROM "{stream}"').fetchone()[0] == n, stream
    db.close()


def test_state_and_report_are_written(demo_run):
    proc, out_dir = demo_run
    states = json.loads((out_dir / "state.json").read_text())
    assert {s["stream"]["stream_descriptor"]["name"] for s in states} == STREAMS
    assert re.search(r"^organic_report: \d{4}-\d\d-\d\d \.\. \d{4}-\d\d-\d\d, [1-9]\d* accounts$", proc.stdout, re.M)
    assert "top 5 tweets by impressions" in proc.stdout


def test_emulator_port_is_free_after_exit(demo_run):
    proc, _ = demo_run
    port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", proc.stdout)[1])
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_an_error_trace_fails_the_demo():
    # A stand-in connector that reports an error the way the CDK does, then exits 1.
    trace = {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {"message": "401 Unauthorized"}}}
    script = f"print({json.dumps(json.dumps(trace))}); raise SystemExit(1)"
    result = run_connector([sys.executable, "-c", script])
    with pytest.raises(DemoError, match="401 Unauthorized"):
        check_sync(result)


def test_no_records_fails_the_demo():
    with pytest.raises(DemoError, match="no records"):
        check_sync(SyncResult(returncode=0))
