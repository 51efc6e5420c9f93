"""organic_report from the X API v2 post analytics endpoint: forced, or as the `auto` fallback when the Ads API
refuses ORGANIC_TWEET, against the emulator. Both sources must give the same tweets and days."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import V2_TO_ADS, EmulatorServer, build_dataset, truth

NOW = e2e.current_hour() - dt.timedelta(hours=1)  # never ahead of the connector's own clock (see test_end_to_end)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=12)
V2_COLUMNS = {"bookmarks", "quote_tweets", "user_profile_clicks", "detail_expands", "media_views"}


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


@pytest.fixture(scope="module")
def v2_truth(ds):
    """The v2 truth in the report's columns (v2's own columns, media_views included, keep their names)."""
    mapping = {**V2_TO_ADS, **{c: c for c in V2_COLUMNS}}
    return {
        key: {mapping[f]: v for f, v in fields.items() if f in mapping}
        for key, fields in truth.organic_report_v2(ds, START, TODAY, now=NOW).items()
    }


def report(run: e2e.CliRun) -> dict:
    # Every column as emitted (e2e.organic_by_key keeps only the Ads API's metrics).
    return {(r["account_id"], r["tweet_id"], r["date"]): r for r in run.records("organic_report")}


def same_shared_columns(records: dict, expected: dict) -> None:
    assert records.keys() == expected.keys()
    # media_views counts images and GIFs too: it never stands in for the Ads API's video-only column.
    assert all(r.get("video_total_views") is None for r in records.values())
    assert any(r.get("media_views") for r in records.values())
    for key, values in expected.items():
        for column, value in values.items():
            assert (records[key].get(column) or 0) == value, (key, column)


def test_forced_x_api_v2_gives_the_v2_truth_in_the_report_columns(ds, v2_truth, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        config = emu.oauth2_config(
            start_date=START, end_date=TODAY, metrics_source="x_api_v2", x_api_base_url=emu.base_url
        )
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
        ads_stats = [r for r in emu.requests if r.path.startswith("/12/stats")]
        v2_calls = [r for r in emu.requests if r.path == "/2/tweets/analytics"]
    assert run.returncode == 0, run.describe()
    assert ads_stats == []
    assert all(len(r.query["ids"].split(",")) <= 100 and r.query["granularity"] == "hourly" for r in v2_calls)
    same_shared_columns(report(run), v2_truth)


def test_auto_switches_when_the_ads_api_refuses_organic_tweet_and_logs_it_once(ds, v2_truth, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        emu.refuse_organic_tweet, emu.refuse_organic_tweet_code = True, "FEATURE_NOT_AVAILABLE"
        config = emu.oauth1_config(start_date=START, end_date=TODAY, x_api_base_url=emu.base_url)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
    assert run.returncode == 0, run.describe()
    assert run.stdout.count("Ads API refused organic tweet analytics") == 1
    same_shared_columns(report(run), v2_truth)


class RefusingMidway(EmulatorServer):
    """Starts refusing ORGANIC_TWEET after `allowed` Ads stats requests, as X might one day without notice."""

    def __init__(self, *args, allowed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._allowed, self._seen, self._lock = allowed, 0, threading.Lock()

    def dispatch(self, req):
        if e2e.is_stats_request(req):
            with self._lock:
                self._seen += 1
                self.refuse_organic_tweet = self._seen > self._allowed
        return super().dispatch(req)


def test_an_auto_sync_that_switches_midway_loses_nothing(ds, tmp_path):
    accounts = [a.id for a in ds.readable_accounts()[:3]]
    ads = truth.organic_report(ds, START, TODAY, accounts, now=NOW)
    with RefusingMidway(ds, now=NOW, allowed=4) as emu:
        config = emu.oauth1_config(start_date=TODAY - dt.timedelta(days=6), end_date=TODAY, account_ids=accounts)
        config["x_api_base_url"] = emu.base_url
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
        v2_calls = [r for r in emu.requests if r.path == "/2/tweets/analytics"]
    assert run.returncode == 0, run.describe()
    assert v2_calls, "the switch never happened: the test proves nothing"
    records = report(run)
    expected = {k: v for k, v in ads.items() if k[2] >= (TODAY - dt.timedelta(days=6)).isoformat()}
    # Same tweets and days whichever source served them, and the same impressions, likes and engagements.
    assert records.keys() == expected.keys()
    for key, values in expected.items():
        for column in ("impressions", "likes", "engagements", "retweets", "replies"):
            assert (records[key].get(column) or 0) == (values[column] or 0), (key, column)


def test_an_app_not_enrolled_for_v2_gets_a_message_naming_the_access_needed(ds, tmp_path):
    with EmulatorServer(ds, now=NOW, v2_enrolled=False) as emu:
        config = emu.oauth1_config(
            start_date=START, end_date=TODAY, metrics_source="x_api_v2", x_api_base_url=emu.base_url
        )
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
    assert run.returncode != 0
    message = run.error_traces[0]["message"]
    assert "client-not-enrolled" in message and "Project" in message and "access tier" in message


def test_a_start_date_beyond_v2s_retention_is_a_config_error_naming_start_date(ds, tmp_path):
    with EmulatorServer(ds, now=NOW, v2_retention_days=5) as emu:
        config = emu.oauth1_config(
            start_date=START, end_date=TODAY, metrics_source="x_api_v2", x_api_base_url=emu.base_url
        )
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
    assert run.returncode != 0
    error = run.error_traces[0]
    assert error["failure_type"] == "config_error", run.describe()
    assert "`start_date`" in error["message"] and str(START) in error["message"]
