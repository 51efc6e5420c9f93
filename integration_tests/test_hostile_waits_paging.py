"""The installed console script against the X emulator when X asks for a wait of a day, or pages without end: the
sync ends in bounded time with an error that says what happened, having emitted (and saved the state of) everything
complete, nothing past it, and no record twice.

Clocks as in test_reliability.py: the emulator's data clock is the current UTC hour minus one, and the days read end
three days ago, so the truth does not move while a test runs.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import Any

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset, truth
from integration_tests.x_emulator.server import _json

NOW = e2e.current_hour()
EARLIER = NOW - dt.timedelta(hours=1)
TODAY = NOW.date()
END = TODAY - dt.timedelta(days=3)
SAVED = END - dt.timedelta(days=1)  # each account's input state: with a 3-day look-back, one synchronous window
A_DAY = 86_400
NUM_WORKERS = 3  # the config's default
BOUNDED_SECONDS = 60  # what "ends at once" means here: a CLI start, a few requests; the old code waited a day


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


class HoldingOffEmulator(EmulatorServer):
    """Answers X's 503 with a `retry-after` to the synchronous stats requests of the `held` accounts."""

    def __init__(self, *args: Any, held: set[str], retry_after: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.held = held
        self.retry_after = retry_after

    def dispatch(self, req):
        if req.path.startswith(e2e.STATS_PATH_PREFIX) and req.path.rsplit("/", 1)[-1] in self.held:
            body = {"errors": [{"code": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"}]}
            return _json(503, body, {"retry-after": self.retry_after})
        return super().dispatch(req)


def test_a_503_asking_for_a_day_ends_the_sync_at_once_with_the_completed_accounts_saved(ds, tmp_path):
    first, held, after = (a.id for a in ds.readable_accounts()[:3])
    state = {account_id: {"date": SAVED.isoformat()} for account_id in (first, held, after)}
    with HoldingOffEmulator(ds, now=EARLIER, held={held}, retry_after=str(A_DAY)) as emu:
        config = e2e.config_for(emu, "oauth1.0a", start_date=END - dt.timedelta(days=30), end_date=END)
        config["account_ids"] = [first, held, after]
        started = time.monotonic()
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]), e2e.state_input(state))
        elapsed = time.monotonic() - started
        stats_of_held = [r for r in emu.requests.snapshot() if r.path == f"{e2e.STATS_PATH_PREFIX}{held}"]
    assert elapsed < BOUNDED_SECONDS, f"the sync took {elapsed:.0f} s: it waited for X"
    # The requests already in flight (one per worker) get X's answer; none is sent again before the time X named.
    batches = [r.query["entity_ids"] for r in stats_of_held]
    assert 1 <= len(batches) <= NUM_WORKERS and len(set(batches)) == len(batches), batches

    errors = [e for e in run.error_traces if e["failure_type"] == "transient_error"]
    assert errors, run.describe()
    resume = dt.datetime.fromtimestamp(stats_of_held[0].ts + A_DAY, tz=dt.timezone.utc)
    message = errors[0]["message"]
    assert f"X allows no request to {e2e.STATS_PATH_PREFIX}{held} before {resume:%Y-%m-%d %H:}" in message
    assert "`retry-after: 86400` on a 503" in message

    # The account read in full before X's answer: every record emitted, its state moved to the end.
    lookback_start = SAVED - dt.timedelta(days=3)
    records = e2e.organic_by_key(run.records("organic_report"))
    assert records == truth.organic_report(ds, lookback_start, END, [first], now=EARLIER)
    # The refused account, and the one after it, keep their saved state in every STATE message: nothing past it.
    states = [
        s["stream"]["stream_state"] for s in run.states if s["stream"]["stream_descriptor"]["name"] == "organic_report"
    ]
    assert states and all(s[held] == s[after] == {"date": SAVED.isoformat()} for s in states)
    assert states[-1][first] == {"date": END.isoformat()}


def test_the_same_page_under_a_fresh_cursor_forever_ends_in_bounded_time_without_duplicates(ds, tmp_path):
    accounts = [a.id for a in ds.readable_accounts()]
    with EmulatorServer(ds, now=EARLIER) as emu:
        emu.endless_paging = {"tweets"}
        config = e2e.config_for(emu, "oauth1.0a", start_date=END - dt.timedelta(days=5), end_date=END)
        started = time.monotonic()
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["tweets"]))
        elapsed = time.monotonic() - started
        pages = Counter(r.path for r in emu.requests.snapshot() if r.path.endswith("/tweets"))
    assert elapsed < BOUNDED_SECONDS, f"the sync took {elapsed:.0f} s"
    # Every account is read (one's endless paging costs no other its records): its first page, then the few repeats
    # it takes to tell a loop.
    read = {path.split("/")[3] for path in pages}
    assert read == set(accounts) and all(count <= 4 for count in pages.values()), pages

    tweets = run.records("tweets")
    assert tweets and len(tweets) == len({t["id"] for t in tweets}), "a tweet was emitted twice"
    # Each page served is an account's whole timeline (fewer than 1,000 tweets): what was emitted of it is all of it.
    expected = {t["id"]: e2e.expected_tweet_record(t) for t in truth.tweets(ds, accounts)}
    assert {t["id"]: t for t in tweets} == expected

    messages = [e["message"] for e in run.error_traces]
    assert any(f"X's paging of /12/accounts/{accounts[0]}/tweets does not end" in m for m in messages), run.describe()
    assert any(f"ads account {accounts[0]}" in m for m in messages)
