"""Run the emulator in the foreground: ``python -m integration_tests.x_emulator --port 8765``.

The first stdout line is ``listening on http://127.0.0.1:PORT`` (flushed), so a parent process can wait for it.
SIGINT / SIGTERM stop the server cleanly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
from pathlib import Path

from .dataset import build_dataset
from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_tests.x_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD (default: UTC today)")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tweets-per-account", type=int, default=60)
    parser.add_argument("--write-config", type=Path, default=None, help="write both configs here")
    args = parser.parse_args(argv)

    today = args.today or dt.datetime.now(dt.timezone.utc).date()
    ds = build_dataset(today=today, seed=args.seed, tweets_per_account=args.tweets_per_account)
    emu = EmulatorServer(ds, port=args.port, latency_ms=args.latency_ms).start()
    if args.write_config is not None:
        args.write_config.mkdir(parents=True, exist_ok=True)
        (args.write_config / "oauth1_config.json").write_text(json.dumps(emu.oauth1_config(), indent=2))
        (args.write_config / "oauth2_config.json").write_text(json.dumps(emu.oauth2_config(), indent=2))
    print(f"listening on {emu.base_url}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
    print("stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
