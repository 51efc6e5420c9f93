"""The console script's entry point."""

import subprocess
import sys

import pytest
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


def _fresh_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout


def test_the_package_itself_imports_nothing_so_the_entry_point_runs_the_first_imports():
    code = "import sys, source_x_organic_analytics as p; print('airbyte_cdk' in sys.modules, p.SourceXOrganicAnalytics)"
    assert _fresh_python(code).split(" ", 1) == [
        "False",
        "<class 'source_x_organic_analytics.source.SourceXOrganicAnalytics'>\n",
    ]


@pytest.mark.parametrize("collecting", [True, False])
def test_the_entry_points_imports_are_built_without_collections_then_frozen(collecting):
    # Everything the imports built is frozen (no collection walks it), and the collector is left as it was found.
    code = (
        f"import gc; {'' if collecting else 'gc.disable(); '}import source_x_organic_analytics.run; "
        "print(gc.get_freeze_count(), gc.isenabled())"
    )
    frozen, enabled = _fresh_python(code).split()
    assert int(frozen) > 10_000 and enabled == str(collecting)
