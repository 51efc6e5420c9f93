"""The connector with its CPU split by thread: `python -m bench.cpu_split read --config ... --catalog ...`.

Runs the connector's own entry point (`source_x_organic_analytics.run.run`, what the console script calls) with each
work item of its worker pools timed in thread CPU, grouped by the function it ran (job creations, result downloads,
polls, ...), and writes, when the process exits, to the file named by $BENCH_CPU_SPLIT:

    {"main_thread_s": ..., "pool": {"JobApi.create": {"cpu_s": ..., "calls": ...}, ...}}

The main thread reads and emits records; the pools send requests and parse their answers. The bench runs its
zero-latency syncs through this launcher, so the split belongs to the very runs whose CPU it reports; the timing
itself costs two clock reads per work item.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections import Counter
from concurrent.futures import thread
from pathlib import Path
from typing import Any

ENV = "BENCH_CPU_SPLIT"


def time_pool_work(spent: Counter, calls: Counter) -> None:
    """Every work item of every ThreadPoolExecutor adds its thread CPU to `spent[name of its function]`."""
    run = thread._WorkItem.run

    def timed(item: Any) -> None:
        started = time.thread_time()
        try:
            run(item)
        finally:
            name = getattr(item.fn, "__qualname__", None) or type(item.fn).__name__
            spent[name] += time.thread_time() - started
            calls[name] += 1

    thread._WorkItem.run = timed


def main() -> None:
    target = Path(os.environ[ENV])
    spent: Counter = Counter()
    calls: Counter = Counter()
    time_pool_work(spent, calls)

    def write() -> None:
        pool = {name: {"cpu_s": spent[name], "calls": calls[name]} for name, _ in spent.most_common()}
        target.write_text(json.dumps({"main_thread_s": time.thread_time(), "pool": pool}))

    atexit.register(write)
    from source_x_organic_analytics.run import run

    run()


if __name__ == "__main__":
    main()
