"""The console script's entry point."""

import gc

from airbyte_cdk.logger import PRINT_BUFFER

from source_x_organic_analytics import run as entry


def test_run_shortens_the_cdk_stdout_buffer_before_launching(monkeypatch):
    # The shorter interval bounds how many records wait in memory for the pipe; it must be set before any output.
    monkeypatch.setattr(PRINT_BUFFER, "flush_interval", PRINT_BUFFER.flush_interval)  # restored after the test
    seen = {}
    monkeypatch.setattr(entry, "launch", lambda source, args: seen.update(interval=PRINT_BUFFER.flush_interval))
    monkeypatch.setattr("sys.argv", ["source-x-organic-analytics", "spec"])
    entry.run()
    assert seen["interval"] == entry.STDOUT_FLUSH_SECONDS < 0.1


def test_run_freezes_what_the_imports_built_before_launching(monkeypatch):
    seen = {}
    monkeypatch.setattr(PRINT_BUFFER, "flush_interval", PRINT_BUFFER.flush_interval)
    monkeypatch.setattr(entry, "launch", lambda source, args: seen.update(frozen=gc.get_freeze_count()))
    monkeypatch.setattr("sys.argv", ["source-x-organic-analytics", "spec"])
    try:
        entry.run()
    finally:
        gc.unfreeze()
    assert seen["frozen"] > 10_000
