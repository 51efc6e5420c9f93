"""Analytics jobs that lie or misbehave: the installed console script against the X emulator, checked against its
truth. Each scenario makes one job of a 10-day backfill (one window, three jobs) hostile through the emulator's
`jobs.hostile` hook; the batch of that job is read another way, with a warning that says why, and the records still
equal the truth.

Clocks as in test_reliability.py: the data clock is the current hour minus one, and the range ends three days ago.
The syncs start together when the module starts (most of their time is spent waiting for jobs), each test then
checks its own.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, RequestRecord, build_dataset, truth

NOW = e2e.current_hour()
EARLIER = NOW - dt.timedelta(hours=1)
TODAY = NOW.date()
END = TODAY - dt.timedelta(days=3)
START = END - dt.timedelta(days=9)  # 10 days: read with jobs (`stats_endpoint: jobs`), in one window
HOSTILE_JOB = 2  # the second job X creates; the first stays honest, so "another job's file" exists
SYNC_TIMEOUT_SECONDS = 90  # a spinning or endlessly waiting sync fails here instead of hanging the run
PARALLEL_SYNCS = 4

SCENARIOS = (
    "other_jobs_file",
    "reused_id",
    "vanished",
    "gzip_bomb",
    "foreign_url",
    "redirect_elsewhere",
    "gone",
    "gone_again",
)


@dataclass
class Outcome:
    run: e2e.CliRun
    requests: list[RequestRecord]
    elsewhere: list[RequestRecord]  # what reached the host the hostile job pointed at

    def synchronous_stats(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.startswith(e2e.STATS_PATH_PREFIX)]

    def job_creations(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.method == "POST" and r.path.startswith(e2e.JOBS_PATH_PREFIX)]

    def warnings(self) -> list[str]:
        logs = [m["log"] for m in self.run.of_type("LOG")]
        return [log["message"] for log in logs if log["level"] == "WARN"]


def hostile_sync(workdir: Path, ds, kind: str) -> Outcome:
    account_id = ds.readable_accounts()[0].id
    # The host a hostile job points at: a second server on loopback, on a port the config does not name.
    with EmulatorServer(ds, now=EARLIER) as elsewhere, EmulatorServer(ds, now=EARLIER) as emu:
        emu.jobs.hostile = {HOSTILE_JOB: kind}
        emu.jobs.foreign_url = f"{elsewhere.base_url}/_jobs/{{id}}.json.gz"
        config = e2e.config_for(
            emu, "oauth1.0a", start_date=START, end_date=END, account_ids=[account_id], stats_endpoint="jobs"
        )
        run = e2e.run_cli(workdir, "read", config, e2e.catalog(["organic_report"]), timeout=SYNC_TIMEOUT_SECONDS)
        return Outcome(run, emu.requests.snapshot(), elsewhere.requests.snapshot())


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


@pytest.fixture(scope="module")
def syncs(request, ds, tmp_path_factory):
    """Starts the syncs of the scenarios the session selected, together; `syncs[kind].result()` waits for one."""
    wanted = {
        item.callspec.params["kind"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
    }
    root = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(max_workers=PARALLEL_SYNCS, thread_name_prefix="hostile-sync") as pool:
        futures: dict[str, Future] = {
            kind: pool.submit(hostile_sync, root / kind, ds, kind) for kind in SCENARIOS if kind in wanted
        }
        yield futures


def assert_equal_to_truth(ds, outcome: Outcome) -> None:
    run = outcome.run
    assert run.returncode == 0 and run.error_traces == [], run.describe()
    account_id = ds.readable_accounts()[0].id
    records = run.records("organic_report")
    got = e2e.organic_by_key(records)
    assert len(records) == len(got), "an (account, tweet, date) row was emitted twice"
    assert got == truth.organic_report(ds, START, END, [account_id], now=EARLIER)
    assert run.final_stream_state("organic_report") == {account_id: {"date": END.isoformat()}}


WHY = {
    "other_jobs_file": "has a result file for another request (its entity_ids differ from the job's)",
    "reused_id": "was given by X the id of another job of this sync",
    "vanished": "is no longer in X's list of the account's jobs",
    "gzip_bomb": "has a result file larger than 64 MB once inflated",
    "foreign_url": "has its result at a URL that is not on X's result host ton.twimg.com nor on a configured API host",
    "redirect_elsewhere": "has its result at a URL that is not on X's result host",
    "gone_again": "had its result file answer HTTP 410, also once created again",
}


@pytest.mark.parametrize("kind", sorted(WHY))
def test_a_job_that_cannot_be_trusted_has_its_batch_read_synchronously_and_nothing_is_lost(ds, syncs, kind):
    outcome = syncs[kind].result()
    assert_equal_to_truth(ds, outcome)
    # One batch of at most 20 tweets, read in 7-day windows: 10 days take two requests.
    stats = outcome.synchronous_stats()
    assert len(stats) == 2 and len({r.query["entity_ids"] for r in stats}) == 1
    assert len(stats[0].query["entity_ids"].split(",")) <= 20
    said = [w for w in outcome.warnings() if WHY[kind] in w]
    assert len(said) == 1 and "reading its" in said[0] and "with synchronous requests instead" in said[0]
    assert outcome.elsewhere == [], "the connector fetched a URL off X's hosts"


@pytest.mark.parametrize("kind", ["gone"])
def test_a_result_link_gone_once_is_read_from_the_job_created_again(ds, syncs, kind):
    outcome = syncs[kind].result()
    assert_equal_to_truth(ds, outcome)
    assert outcome.synchronous_stats() == []
    creations = outcome.job_creations()
    assert len(creations) == 4  # three batches, one of them created twice
    assert len({tuple(sorted(r.query.items())) for r in creations}) == 3
    assert any("answer HTTP 410: the link has expired or was withdrawn" in w for w in outcome.warnings())
