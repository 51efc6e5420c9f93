"""End-to-end: the installed console script, in a subprocess, against the X emulator, checked against its ground truth.

The emulator's data clock is the current hour minus one for the first syncs and the current hour for the later
incremental one, so the second sync sees today's numbers grow and "latest record wins" is actually exercised. Neither
clock is ahead of the real one, which the connector uses to decide each account's local today (see
e2e_support.current_hour).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset, truth
from integration_tests.x_emulator import auth as emu_auth

HISTORY_DAYS = 30
LOOKBACK_DAYS = 3
NOW = e2e.current_hour()
EARLIER = NOW - dt.timedelta(hours=1)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=HISTORY_DAYS)


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


@pytest.fixture(scope="module")
def expected_report(ds):
    return truth.organic_report(ds, START, TODAY, now=EARLIER)


def last_day(ds, account_id: str, end: dt.date) -> dt.date:
    """The last local day the connector reads for an account: end_date capped at the account's local today."""
    account = ds.account(account_id)
    return min(end, e2e.local_today(account.timezone))


@pytest.fixture(scope="module")
def oauth1_sync(ds, tmp_path_factory):
    with EmulatorServer(ds, now=EARLIER) as emu:
        # Every account through jobs, in 90-day windows: the request counts below are those of jobs.
        config = emu.oauth1_config(start_date=START, end_date=TODAY, stats_endpoint="jobs")
        run = e2e.run_cli(tmp_path_factory.mktemp("oauth1"), "read", config, e2e.catalog())
        yield emu, run


@pytest.fixture(scope="module")
def oauth2_sync(ds, tmp_path_factory):
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = emu.oauth2_config(start_date=START, end_date=TODAY)
        run = e2e.run_cli(tmp_path_factory.mktemp("oauth2"), "read", config, e2e.catalog())
        yield emu, config, run


def assert_streams_match_truth(ds, run: e2e.CliRun, expected_report, account_ids=None) -> None:
    accounts = run.records("accounts")
    want_accounts = truth.accounts(ds, account_ids)
    assert sorted(a["id"] for a in accounts) == sorted(a["id"] for a in want_accounts)
    assert {a["id"]: a for a in accounts} == {a["id"]: e2e.without_nulls(a) for a in want_accounts}

    tweets = [(t["account_id"], t["id"]) for t in run.records("tweets")]
    assert len(tweets) == len(set(tweets)), "a tweet was emitted twice"
    want_tweets = truth.tweets(ds, account_ids)
    assert set(tweets) == {(t["account_id"], t["id"]) for t in want_tweets}
    # Whole records too: ids beyond 2**53, Japanese/German/emoji text and the created_at conversion must survive.
    got_tweets = {t["id"]: t for t in run.records("tweets")}
    assert got_tweets == {t["id"]: e2e.expected_tweet_record(t) for t in want_tweets}

    scheduled = [s["id"] for s in run.records("scheduled_tweets")]
    assert len(scheduled) == len(set(scheduled))
    want_scheduled = truth.scheduled_tweets(ds, account_ids)
    assert set(scheduled) == {s["id"] for s in want_scheduled}
    got_scheduled = {s["id"]: s for s in run.records("scheduled_tweets")}
    assert got_scheduled == {s["id"]: e2e.expected_scheduled_record(s) for s in want_scheduled}

    report = run.records("organic_report")
    got = e2e.organic_by_key(report)
    assert len(report) == len(got), "an (account, tweet, date) row was emitted twice in one sync"
    assert set(got) == set(expected_report)
    mismatched = {k: (got[k], v) for k, v in expected_report.items() if got[k] != v}
    assert not mismatched, f"{len(mismatched)} rows differ, e.g. {next(iter(mismatched.items()))}"
    assert all(r["placement"] == "ALL_ON_TWITTER" for r in report)


# ----------------------------------------------------------------------------- 1. full sync, OAuth 1.0a


def test_full_sync_oauth1_equals_truth(ds, oauth1_sync, expected_report):
    emu, run = oauth1_sync
    assert run.returncode == 0, run.describe()
    assert run.error_traces == []
    assert expected_report, "the truth is empty: the comparison would prove nothing"
    assert_streams_match_truth(ds, run, expected_report)

    hidden = {ds.deleted_account_id, ds.unreadable_account_id}
    for stream in ("accounts", "tweets", "organic_report", "scheduled_tweets"):
        key = "id" if stream == "accounts" else "account_id"
        assert not hidden & {r[key] for r in run.records(stream)}, stream
    assert not [r for r in emu.requests if any(h in r.path for h in hidden)]

    state = run.final_stream_state("organic_report")
    assert state == {a.id: {"date": last_day(ds, a.id, TODAY).isoformat()} for a in ds.readable_accounts()}


# ----------------------------------------------------------------------------- 2. full sync, OAuth 2.0


def test_full_sync_oauth2_equals_truth_and_rotates_refresh_token_once(ds, oauth2_sync, expected_report, tmp_path):
    emu, config, run = oauth2_sync
    assert run.returncode == 0, run.describe()
    assert run.error_traces == []
    assert_streams_match_truth(ds, run, expected_report)

    # One authenticator is shared by all streams, so one refresh serves the whole sync.
    assert emu.token_refreshes == 1
    old_token = config["credentials"]["refresh_token"]
    assert len(run.controls) == 1
    new_config = run.controls[0]["connectorConfig"]["config"]
    new_token = new_config["credentials"]["refresh_token"]
    assert new_token and new_token != old_token
    carrying = [c for c in run.controls if c["connectorConfig"]["config"]["credentials"]["refresh_token"] == new_token]
    assert len(carrying) == 1
    assert new_token not in run.stderr

    # The saved config is what the platform will run next: the rotated token must work and the old one must not.
    # Its access token is still valid; expiring it makes the next sync spend the rotated refresh token.
    assert new_config["credentials"]["access_token"]
    new_config["credentials"]["token_expiry_date"] = "2000-01-01T00:00:00+00:00"
    accounts_only = e2e.catalog(["accounts"])
    following = e2e.run_cli(tmp_path / "next", "read", new_config, accounts_only)
    assert following.returncode == 0, following.describe()
    assert len(following.records("accounts")) == len(truth.accounts(ds))
    assert emu.token_refreshes == 2

    stale = e2e.run_cli(tmp_path / "stale", "read", config, accounts_only)
    assert stale.returncode != 0
    assert stale.records("accounts") == []
    assert any("Refresh token was rejected" in t["message"] for t in stale.error_traces), stale.describe()
    assert emu.token_refreshes == 2


def test_access_token_expiring_mid_sync_rotates_and_saves_every_refresh_token(ds, tmp_path):
    start = TODAY - dt.timedelta(days=2)
    # A one-second access token and a slow API force several refreshes (and 401s answered by a refresh) in one sync.
    with EmulatorServer(ds, now=EARLIER, access_token_ttl_seconds=1, latency_ms=200) as emu:
        config = emu.oauth2_config(start_date=start, end_date=TODAY)
        run = e2e.run_cli(tmp_path / "sync", "read", config, e2e.catalog())
        assert run.returncode == 0, run.describe()
        assert emu.token_refreshes >= 2
        assert len(run.controls) == emu.token_refreshes
        tokens = [c["connectorConfig"]["config"]["credentials"]["refresh_token"] for c in run.controls]
        assert len(set(tokens)) == len(tokens)

        latest = run.controls[-1]["connectorConfig"]["config"]
        latest["credentials"]["token_expiry_date"] = "2000-01-01T00:00:00+00:00"
        following = e2e.run_cli(tmp_path / "next", "read", latest, e2e.catalog(["accounts"]))
        assert following.returncode == 0, following.describe()

    assert_streams_match_truth(ds, run, truth.organic_report(ds, start, TODAY, now=EARLIER))


# ----------------------------------------------------------------------------- 3. incremental, twice


def test_second_incremental_sync_rereads_lookback_and_loses_nothing(ds, oauth1_sync, tmp_path):
    _, first = oauth1_sync
    first_state = first.final_stream_state("organic_report")
    assert first_state
    # An entry of an account this sync does not read (here: deleted) must survive, to resume if it comes back.
    kept = {ds.deleted_account_id: {"date": (TODAY - dt.timedelta(days=50)).isoformat()}}

    with EmulatorServer(ds, now=NOW) as emu:
        config = emu.oauth1_config(start_date=START, end_date=TODAY, lookback_window_days=LOOKBACK_DAYS)
        # organic_report alone: the report must then page each timeline itself, still once per account.
        second = e2e.run_cli(
            tmp_path, "read", config, e2e.catalog(["organic_report"]), e2e.state_input({**first_state, **kept})
        )
        assert second.returncode == 0, second.describe()
        assert second.error_traces == []

        expected_second: dict = {}
        for account in ds.readable_accounts():
            saved = dt.date.fromisoformat(first_state[account.id]["date"])
            first_day = saved - dt.timedelta(days=LOOKBACK_DAYS)
            last = last_day(ds, account.id, TODAY)
            windows = e2e.group_stats_by_window(r for r in e2e.stats_requests(emu) if r.path.endswith(f"/{account.id}"))
            requested = {(s, e): len(reqs) for (_, s, e), reqs in windows.items()}
            assert requested == e2e.stats_request_budget(ds, account.id, first_day, last, NOW), account.timezone
            earliest = min(e2e.parse_x_time(s) for s, _ in requested)
            assert earliest == e2e.day_start_utc(first_day, account.timezone, NOW), account.timezone
            expected_second.update(truth.organic_report(ds, first_day, TODAY, [account.id], now=NOW))

        timeline_reads = Counter(r.path for r in emu.requests if r.path.endswith("/tweets"))
        assert timeline_reads == Counter({f"/12/accounts/{a.id}/tweets": 1 for a in ds.readable_accounts()})

    records = second.records("organic_report")
    got_second = e2e.organic_by_key(records)
    assert len(records) == len(got_second)
    assert got_second == expected_second

    union = e2e.organic_by_key(first.records("organic_report"))
    union.update(got_second)
    assert union == truth.organic_report(ds, START, TODAY, now=NOW)

    assert second.final_stream_state("organic_report") == {**first_state, **kept}


class InterruptingEmulator(EmulatorServer):
    """Answers every stats request for days from `cut` on like X once it stops accepting ORGANIC_TWEET (400 on
    `entity`): a failure no retry can fix, which cuts the report short after the windows before `cut`. Decided per
    request, not by a count, because the connector creates the next window's jobs while it reads the current one."""

    def __init__(self, *args, cut: dt.datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self._cut = cut

    def refuses_organic_tweet(self, req) -> bool:
        return e2e.parse_x_time(req.params["start_time"]) >= self._cut


def test_interrupted_sync_resumes_from_last_complete_window_without_loss(ds, tmp_path):
    first_account = ds.readable_accounts()[0]
    # A backfill: two job windows (90 days, then the rest); X refuses the second.
    start = TODAY - dt.timedelta(days=100)
    budget = e2e.stats_request_budget(ds, first_account.id, start, last_day(ds, first_account.id, TODAY), EARLIER)
    assert len(budget) >= 2, "the dataset no longer has two job windows in this range"
    second_window_first = start + dt.timedelta(days=e2e.JOB_WINDOW_DAYS)
    cut = e2e.day_start_utc(second_window_first, first_account.timezone, EARLIER)

    with InterruptingEmulator(ds, now=EARLIER, cut=cut) as emu:
        # Pinned to the Ads API: under `auto` the refusal would switch to X API v2 instead of cutting the sync.
        config = emu.oauth1_config(
            start_date=start, end_date=TODAY, metrics_source="ads_api", account_ids=[first_account.id]
        )
        broken = e2e.run_cli(tmp_path / "broken", "read", config, e2e.catalog(["organic_report"]))
    assert broken.returncode != 0
    assert any("entity" in t["message"] for t in broken.error_traces), broken.describe()
    cut_state = broken.final_stream_state("organic_report")
    second_window_last = start + dt.timedelta(days=e2e.JOB_WINDOW_DAYS - 1)  # the last day of the complete window
    assert cut_state == {first_account.id: {"date": second_window_last.isoformat()}}
    partial = e2e.organic_by_key(broken.records("organic_report"))

    with EmulatorServer(ds, now=EARLIER) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY)
        resumed = e2e.run_cli(
            tmp_path / "resumed", "read", config, e2e.catalog(["organic_report"]), e2e.state_input(cut_state)
        )
        restart = min(
            e2e.parse_x_time(s)
            for (a, s, _) in e2e.group_stats_by_window(e2e.stats_requests(emu))
            if a == first_account.id
        )
    assert resumed.returncode == 0, resumed.describe()
    resume_day = second_window_last - dt.timedelta(days=LOOKBACK_DAYS)
    assert restart == e2e.day_start_utc(resume_day, first_account.timezone, EARLIER)
    union = {**partial, **e2e.organic_by_key(resumed.records("organic_report"))}
    assert union == truth.organic_report(ds, start, TODAY, now=EARLIER)


# ----------------------------------------------------------------------------- 4. an unreadable configured account


def test_unreadable_configured_account_fails_after_syncing_the_others(ds, tmp_path):
    readable = [a.id for a in ds.readable_accounts()[:2]]
    start = TODAY - dt.timedelta(days=6)
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY, account_ids=[*readable, ds.unreadable_account_id])
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog())
        touched = [r.path for r in emu.requests if ds.unreadable_account_id in r.path]

    assert run.returncode != 0
    expected = truth.organic_report(ds, start, TODAY, readable, now=EARLIER)
    assert_streams_match_truth(ds, run, expected, readable)
    assert touched == [f"/12/accounts/{ds.unreadable_account_id}"]  # read once by id, refused, then left alone

    traces = run.error_traces
    naming = [t for t in traces if ds.unreadable_account_id in t["message"]]
    assert naming and all(t["failure_type"] == "config_error" for t in naming), run.describe()
    assert traces[-1]["failure_type"] == "config_error"
    assert ds.unreadable_account_id in traces[-1]["message"]


# ----------------------------------------------------------------------------- 5. request counts


def test_stats_requests_are_exactly_the_windows_times_batches_of_20(ds, oauth1_sync):
    emu, run = oauth1_sync
    assert run.returncode == 0, run.describe()
    windows = e2e.group_stats_by_window(e2e.stats_requests(emu))
    total = 0
    for account in ds.readable_accounts():
        budget = e2e.stats_request_budget(ds, account.id, START, last_day(ds, account.id, TODAY), EARLIER)
        requested = {(s, e): reqs for (a, s, e), reqs in windows.items() if a == account.id}
        assert {k: len(v) for k, v in requested.items()} == budget, account.timezone
        for (_, end), reqs in requested.items():
            batches = [r.query["entity_ids"].split(",") for r in reqs]
            assert all(len(b) <= e2e.MAX_IDS_PER_REQUEST for b in batches)
            ids = [i for b in batches for i in b]
            assert len(ids) == len(set(ids)), "a tweet was asked for twice in one window"
            assert set(ids) == e2e.eligible_tweet_ids(ds, account.id, e2e.parse_x_time(end))
        total += sum(budget.values())
    assert len(e2e.stats_requests(emu)) == total
    assert all(r.status == 200 for r in emu.requests)


def test_each_timeline_is_paged_once_when_tweets_and_report_are_selected(ds, oauth1_sync):
    emu, run = oauth1_sync
    assert run.returncode == 0, run.describe()
    reads = [r for r in emu.requests if r.path.endswith("/tweets")]
    assert Counter(r.path for r in reads) == Counter({f"/12/accounts/{a.id}/tweets": 1 for a in ds.readable_accounts()})
    for r in reads:
        assert (r.query["tweet_type"], r.query["timeline_type"]) == ("PUBLISHED", "ORGANIC")
        assert r.query["include_mentions_and_replies"] == "true"
    assert len([r for r in emu.requests if r.path == "/12/accounts"]) == 1


def test_windows_split_at_timezone_switch_day(ds, tmp_path):
    switched = next(a for a in ds.readable_accounts() if a.timezone == "America/New_York")
    start, end = TODAY - dt.timedelta(days=104), TODAY - dt.timedelta(days=94)
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = emu.oauth1_config(start_date=start, end_date=end, account_ids=[switched.id])
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
        requested = {(s, e): len(v) for (_, s, e), v in e2e.group_stats_by_window(e2e.stats_requests(emu)).items()}
    assert run.returncode == 0, run.describe()
    switch_day = switched.timezone_switch_at.astimezone(ZoneInfo(switched.timezone)).date()
    assert start < switch_day <= end, "the range must straddle the switch for this test to mean anything"
    # A window starting on the switch day proves no request mixes the days before and after the switch.
    assert e2e.x_time(e2e.day_start_utc(switch_day, switched.timezone, EARLIER)) in {s for s, _ in requested}
    assert requested == e2e.stats_request_budget(ds, switched.id, start, end, EARLIER)
    assert e2e.organic_by_key(run.records("organic_report")) == truth.organic_report(
        ds, start, end, [switched.id], now=EARLIER
    )


def test_timeline_over_1000_tweets_is_paged_once_and_fully_reported(tmp_path):
    big = build_dataset(today=TODAY, tweets_per_account=1200)
    account = next(a for a in big.readable_accounts() if a.timezone == "UTC")
    timeline = truth.tweets(big, [account.id])
    assert len(timeline) > 1000, "the timeline must need a second page"
    start = TODAY - dt.timedelta(days=1)
    with EmulatorServer(big, now=EARLIER) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY, account_ids=[account.id])
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog())
        pages = [r for r in emu.requests if r.path.endswith("/tweets")]
        requested = {(s, e): len(v) for (_, s, e), v in e2e.group_stats_by_window(e2e.stats_requests(emu)).items()}
    assert run.returncode == 0, run.describe()
    assert len(pages) == -(-len(timeline) // 1000)
    assert [p.query.get("cursor") is None for p in pages] == [True] + [False] * (len(pages) - 1)
    assert {t["id"] for t in run.records("tweets")} == {t["id"] for t in timeline}
    assert requested == e2e.stats_request_budget(big, account.id, start, TODAY, EARLIER)
    got = e2e.organic_by_key(run.records("organic_report"))
    assert got == truth.organic_report(big, start, TODAY, [account.id], now=EARLIER)


def test_rate_limited_stats_wait_for_reset_and_lose_nothing(ds, tmp_path):
    start = TODAY - dt.timedelta(days=2)
    with EmulatorServer(ds, now=EARLIER, rate_limits={"stats_sync": 8}, rate_window_seconds=1) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
        refused = [r for r in emu.requests if r.status == 429]
        sent = e2e.stats_requests(emu)
        early = emu.early_retries
    assert run.returncode == 0, run.describe()
    assert len(sent) > 8, "the sync fitted in one rate window: the test proves nothing"
    # The connector spends the budget X announces and waits for its reset, so X never has to refuse.
    assert refused == [] and early == 0
    assert e2e.organic_by_key(run.records("organic_report")) == truth.organic_report(ds, start, TODAY, now=EARLIER)


def test_configured_accounts_are_read_by_id_and_never_listed(ds, tmp_path):
    """X allows a user 5 account listings per 15 minutes: check, discover and a read started together would spend
    them. A read by id draws on the account's own budget."""
    ids = [a.id for a in ds.readable_accounts()[:2]]
    start = TODAY - dt.timedelta(days=2)
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = emu.oauth1_config(start_date=start, end_date=TODAY, account_ids=ids)
        check = e2e.run_cli(tmp_path / "check", "check", config)
        run = e2e.run_cli(tmp_path / "read", "read", config, e2e.catalog())
        account_reads = [r.path for r in emu.requests if re.fullmatch(r"/12/accounts(/[^/]+)?", r.path)]
    assert check.connection_status["status"] == "SUCCEEDED", check.describe()
    assert run.returncode == 0, run.describe()
    assert_streams_match_truth(ds, run, truth.organic_report(ds, start, TODAY, ids, now=EARLIER), ids)
    assert "/12/accounts" not in account_reads
    assert Counter(account_reads) == {f"/12/accounts/{i}": 2 for i in ids}  # once by check, once by the read


def test_a_failed_account_listing_is_not_repeated_by_every_stream(ds, tmp_path):
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = _wrong_consumer_secret(emu)
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog())
        listings = [r for r in emu.requests if r.path == "/12/accounts"]
    assert run.returncode != 0
    assert len(listings) == 1


# ----------------------------------------------------------------------------- 6. failing runs leak no secret


def _secrets(config: dict) -> set[str]:
    creds = config["credentials"]
    found = {emu_auth.CONSUMER_SECRET, emu_auth.ACCESS_TOKEN_SECRET, emu_auth.CLIENT_SECRET}
    found |= {
        creds[k] for k in ("consumer_secret", "access_token_secret", "client_secret", "refresh_token") if k in creds
    }
    if "client_secret" in creds:  # the Basic header carries the secret base64-encoded
        found.add(base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode())
    return found


def _wrong_consumer_secret(emu: EmulatorServer) -> dict:
    config = e2e.config_for(emu, "oauth1.0a")
    config["credentials"]["consumer_secret"] = "wrongConsumerSecretAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    return config


def _used_refresh_token(emu: EmulatorServer) -> dict:
    config = e2e.config_for(emu, "oauth2.0")
    e2e.refresh_once(config)  # the refresh token is now spent
    return config


def _wrong_client_secret(emu: EmulatorServer) -> dict:
    config = e2e.config_for(emu, "oauth2.0")
    config["credentials"]["client_secret"] = "wrong-client-secret-BBBBBBBBBBBBBBBBBBBBBBBBBBBB"
    return config


@pytest.mark.parametrize(
    "make_config, expected_check",
    [
        (_wrong_consumer_secret, ("401", "invalid or have been revoked")),
        (_used_refresh_token, ("Refresh token was rejected",)),
        (_wrong_client_secret, ("Refresh token was rejected",)),
    ],
    ids=["oauth1-wrong-consumer-secret", "oauth2-used-refresh-token", "oauth2-wrong-client-secret"],
)
def test_failing_runs_report_the_cause_and_leak_no_secret(ds, tmp_path, make_config, expected_check):
    with EmulatorServer(ds, now=EARLIER) as emu:
        config = make_config(emu)
        check = e2e.run_cli(tmp_path / "check", "check", config)
        read = e2e.run_cli(tmp_path / "read", "read", config, e2e.catalog())

    status = check.connection_status
    assert status is not None and status["status"] == "FAILED", check.describe()
    for phrase in expected_check:
        assert phrase in status["message"]

    assert read.returncode != 0
    assert read.of_type("RECORD") == []
    assert read.error_traces and all(t["failure_type"] == "config_error" for t in read.error_traces)

    for secret in _secrets(config):
        for name, run in (("check", check), ("read", read)):
            assert secret not in run.stdout, f"{name} stdout leaks {secret[:6]}…"
            assert secret not in run.stderr, f"{name} stderr leaks {secret[:6]}…"
