"""One account's problem costs no other account's records, and never lets that account's state pass unread days.

The installed console script against the X emulator, checked against its truth. Clocks as in test_reliability.py:
the data clock is the current hour minus one, and ranges end three days ago, so every day read is complete.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.e2e_support import RefusingEmulator, x_error
from integration_tests.x_emulator import EmulatorServer, build_dataset, truth

NOW = e2e.current_hour()
EARLIER = NOW - dt.timedelta(hours=1)
TODAY = NOW.date()
END = TODAY - dt.timedelta(days=3)
SHORT_START = END - dt.timedelta(days=5)  # one synchronous window
LONG_START = END - dt.timedelta(days=199)  # three job windows: 90 + 90 + 20 days
NOT_AUTHORIZED = "User is not authorized to access this resource of account"


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


def refusal(account_id: str) -> Any:
    return x_error(403, "UNAUTHORIZED_ACCESS", f"{NOT_AUTHORIZED} {account_id}")


def report_of(run: e2e.CliRun) -> dict[tuple[str, str, str], dict[str, Any]]:
    records = run.records("organic_report")
    got = e2e.organic_by_key(records)
    assert len(records) == len(got), "an (account, tweet, date) row was emitted twice in one sync"
    return got


def ids_of(records: list[dict[str, Any]]) -> set[str]:
    return {r["account_id"] for r in records}


def final_error_of(run: e2e.CliRun, stream: str) -> dict[str, Any]:
    """The error trace a stream ended with: the CDK names the stream in it."""
    errors = [t for t in run.error_traces if (t.get("stream_descriptor") or {}).get("name") == stream]
    assert errors, f"{stream} ended without an error\n{run.describe()}"
    return errors[-1]


def test_an_account_refused_on_one_endpoint_costs_no_other_account_its_records(ds, tmp_path):
    readable = [a.id for a in ds.readable_accounts()]
    first, second = readable[0], readable[1]  # refused early: every account listed after them must still be read

    def answer(req):
        if req.path == f"/12/accounts/{first}/tweets":
            return refusal(first)
        if req.path in (f"/12/accounts/{second}/scheduled_tweets", f"/12/stats/accounts/{second}"):
            return refusal(second)
        return None

    with RefusingEmulator(ds, now=EARLIER, answer=answer) as emu:
        config = emu.oauth1_config(start_date=SHORT_START, end_date=END)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog())

    assert run.returncode != 0
    others = [a for a in readable if a not in (first, second)]
    assert ids_of(run.records("tweets")) == set(readable) - {first}
    assert ids_of(run.records("scheduled_tweets")) == set(readable) - {second}
    want_tweets = truth.tweets(ds, [a for a in readable if a != first])
    assert {t["id"] for t in run.records("tweets")} == {t["id"] for t in want_tweets}
    want_report = truth.organic_report(ds, SHORT_START, END, others, now=EARLIER)
    assert want_report and report_of(run) == want_report

    tweets_error = final_error_of(run, "tweets")
    assert tweets_error["failure_type"] == "config_error"
    assert first in tweets_error["message"] and "tweets" in tweets_error["message"]
    assert "Analyst" in tweets_error["message"]
    report_error = final_error_of(run, "organic_report")
    assert report_error["failure_type"] == "config_error"
    assert first in report_error["message"] and second in report_error["message"]
    assert "stats" in report_error["message"]
    scheduled_error = final_error_of(run, "scheduled_tweets")
    assert second in scheduled_error["message"] and "scheduled_tweets" in scheduled_error["message"]


class OneOffWindowRefusal(EmulatorServer):
    """Refuses, once, the first job creation of one account's window; every later request of it is served."""

    def __init__(self, *args: Any, account_id: str, start_time: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.target = (f"/12/stats/jobs/accounts/{account_id}", start_time)
        self.refused = 0
        self._lock = threading.Lock()

    def dispatch(self, req):
        if req.method == "POST" and (req.path, req.params.get("start_time")) == self.target:
            with self._lock:
                self.refused += 1
                if self.refused == 1:
                    return x_error(404, "NOT_FOUND", "The requested resource could not be found")
        return super().dispatch(req)


def test_a_refused_window_holds_its_accounts_state_and_the_next_sync_reads_it(ds, tmp_path):
    account = ds.readable_accounts()[0]
    switch_day = account.timezone_switch_at.astimezone(account.tz).date()
    windows = e2e.expected_windows(LONG_START, END, [switch_day])
    assert len(windows) >= 3
    refused_first = windows[1][0]
    start_time = e2e.x_time(e2e.day_start_utc(refused_first, account.timezone, EARLIER))
    emulator = {"account_id": account.id, "start_time": start_time, "job_seconds": 0.2}
    with OneOffWindowRefusal(ds, now=EARLIER, **emulator) as emu:
        config = emu.oauth1_config(start_date=LONG_START, end_date=END)
        run = e2e.run_cli(tmp_path / "first", "read", config, e2e.catalog(["organic_report"]), timeout=300)
        assert emu.refused >= 1, run.describe()

        assert run.returncode != 0
        state = run.final_stream_state("organic_report")
        assert state[account.id]["date"] == windows[0][1].isoformat(), "the state passed the refused window"
        everyone = truth.organic_report(ds, LONG_START, END, now=EARLIER)
        got = report_of(run)
        others = {k: v for k, v in everyone.items() if k[0] != account.id}
        assert {k: v for k, v in got.items() if k[0] != account.id} == others
        assert all(dt.date.fromisoformat(k[2]) <= windows[0][1] for k in got if k[0] == account.id)
        error = final_error_of(run, "organic_report")
        assert account.id in error["message"]

        state_input = [
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "organic_report"}, "stream_state": state}}
        ]
        catalog = e2e.catalog(["organic_report"], sync_mode="incremental")
        resumed = e2e.run_cli(tmp_path / "second", "read", config, catalog, state_input, timeout=300)
    assert resumed.returncode == 0, resumed.describe()
    union = {**got, **report_of(resumed)}
    assert union == everyone


class BadAccountFields(EmulatorServer):
    """Serves `overrides` ({account id: {field: value}}) in the account listing."""

    def __init__(self, *args: Any, overrides: dict[str, dict[str, Any]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.overrides = overrides

    def _ep_accounts(self, req, account_id):
        response = super()._ep_accounts(req, account_id)
        body = json.loads(response.body)
        for item in body["data"]:
            item.update(self.overrides.get(item["id"], {}))
        response.body = json.dumps(body).encode()
        return response


def test_an_account_with_an_unknown_time_zone_or_switch_day_costs_no_other_account_its_report(ds, tmp_path):
    readable = [a.id for a in ds.readable_accounts()]
    unknown_zone, garbled_switch = readable[0], readable[2]
    overrides = {unknown_zone: {"timezone": "Mars/Olympus_Mons"}, garbled_switch: {"timezone_switch_at": "soon"}}
    with BadAccountFields(ds, now=EARLIER, overrides=overrides) as emu:
        config = emu.oauth1_config(start_date=SHORT_START, end_date=END)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))

    assert run.returncode != 0
    others = [a for a in readable if a not in overrides]
    want = truth.organic_report(ds, SHORT_START, END, others, now=EARLIER)
    assert want and report_of(run) == want
    error = final_error_of(run, "organic_report")
    assert unknown_zone in error["message"] and "Mars/Olympus_Mons" in error["message"]
    assert garbled_switch in error["message"] and "timezone_switch_at" in error["message"]
