"""Optional: the same sync through PyAirbyte into its default local DuckDB cache, checked against the emulator's truth.

PyAirbyte is NOT a project dependency (~180 packages, ~780 MB): install it in a throwaway venv, then run this from
the repo root. PyAirbyte installs the connector as its users get it, by its distribution name, into a virtualenv of
its own; here from this checkout, with `airbyte-source-x-organic-analytics@file://<repo>` as pip_url (that needs the
package index for the dependencies). The emulator is bundled (its one dependency beyond the standard library is
oauthlib) and AIRBYTE_OFFLINE_MODE=1 stops registry and telemetry calls.

    python3 -m venv /tmp/pyab && /tmp/pyab/bin/pip install airbyte oauthlib
    /tmp/pyab/bin/python -m demo.pyairbyte_demo

The cache lands in $DEMO_DIR/pyairbyte/.cache/default_cache/default_cache.duckdb (DEMO_DIR defaults to .demo/), the
connector's virtualenv in $DEMO_DIR/pyairbyte/.venv-source-x-organic-analytics.
Exit code 0 when every stream's row count in DuckDB equals the emulator's ground truth.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from types import ModuleType

from demo.run_demo import CLI_NAME, DAYS_BACK, ROOT
from integration_tests.x_emulator import Dataset, EmulatorServer, build_dataset, truth, v2_lookup

UTC = dt.timezone.utc
DISTRIBUTION = "airbyte-source-x-organic-analytics"  # what PyAirbyte installs for the connector CLI_NAME


def import_airbyte(project_dir: Path) -> ModuleType:
    # PyAirbyte reads these at import time: offline mode, and its "project dir" (whose .cache/ holds the default
    # DuckDB cache) under the demo's output folder instead of the working directory.
    os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")
    # PyAirbyte installs connectors with `uv`, which comes with it into this interpreter's bin directory: on PATH
    # even when the virtualenv is not activated.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("AIRBYTE_PROJECT_DIR", str(project_dir))
    import airbyte

    return airbyte


def expected_counts(ds: Dataset, start: dt.date, end: dt.date, now: dt.datetime) -> dict[str, int]:
    return {
        "accounts": len(truth.accounts(ds)),
        "tweets": len(truth.tweets(ds)),
        "organic_report": len(truth.organic_report(ds, start, end, now=now)),
        "scheduled_tweets": len(truth.scheduled_tweets(ds)),
        "followers_history": len(v2_lookup.truth_followers_history(ds.readable_accounts(), now)),
    }


def print_check(counts: dict[str, int], expected: dict[str, int]) -> bool:
    print(f"\n  {'stream':<17} {'DuckDB rows':>11} {'truth':>7}")
    for stream, want in expected.items():
        got = counts.get(stream, 0)
        print(f"  {stream:<17} {got:>11} {want:>7}  {'ok' if got == want else 'MISMATCH'}")
    return all(counts.get(stream, 0) == want for stream, want in expected.items())


def main() -> int:
    out_dir = Path(os.environ.get("DEMO_DIR") or ROOT / ".demo").resolve() / "pyairbyte"
    out_dir.mkdir(parents=True, exist_ok=True)
    ab = import_airbyte(out_dir)
    started = time.monotonic()
    # The emulator's clock at the start of this hour: the truth below then cannot drift from what was served,
    # and it is never ahead of the connector's real clock.
    now = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    ds = build_dataset(today=now.date())
    start = now.date() - dt.timedelta(days=DAYS_BACK)
    with EmulatorServer(ds, now=now, host="127.0.0.1", port=0) as emu:  # stopped on exit, errors included
        print(f"X API emulator listening on {emu.base_url}")
        config = emu.oauth1_config(start_date=start, end_date=now.date())
        # PEP 508 without spaces: PyAirbyte splits pip_url on them. pip refuses it if the checkout has another name.
        pip_url = f"{DISTRIBUTION}@{ROOT.as_uri()}"
        source = ab.get_source(CLI_NAME, config=config, pip_url=pip_url, install_root=out_dir)
        source.check()
        source.select_all_streams()
        # force_full_refresh: otherwise a second run passes the cached state back and reads only the look-back.
        result = source.read(force_full_refresh=True)
        counts = {name: len(dataset) for name, dataset in result.streams.items()}
    ok = print_check(counts, expected_counts(ds, start, now.date(), now))
    print(f"\nCache: {result.cache.db_path}")
    print(f"Wall time: {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
