"""`api: x_api_v2`: accounts, tweets and organic_report from X API v2 only, against the emulator and its truth.

"Me" is the brand user of the emulator's first account (see x_emulator/v2_users.py).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import requests
from requests_oauthlib import OAuth1

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset, v2_users
from integration_tests.x_emulator.server import _json
from integration_tests.x_emulator.timerules import hour_index, now_hour
from integration_tests.x_emulator.v2 import client_not_enrolled_body, v2_bucket_sums

NOW = e2e.current_hour() - dt.timedelta(hours=1)  # never ahead of the connector's own clock (see test_end_to_end)
TODAY = NOW.date()
ZONE = "Europe/Berlin"
V2_STREAMS = ["accounts", "tweets", "organic_report"]
ADS_API_PREFIX = "/12/"


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


def v2_config(emu: EmulatorServer, oauth: str, **kw) -> dict:
    return e2e.config_for(emu, oauth, api="x_api_v2", x_api_base_url=emu.base_url, timezone=ZONE, **kw)


def me(emu: EmulatorServer):
    return emu.ds.account(emu.v2_me_account_id)


def report(run: e2e.CliRun) -> dict:
    return {(r["account_id"], r["tweet_id"], r["date"]): r for r in run.records("organic_report")}


def assert_report_equals(records: dict, expected: dict) -> None:
    assert records.keys() == expected.keys()
    assert expected, "an empty truth proves nothing"
    for key, values in expected.items():
        for column, value in values.items():
            assert (records[key].get(column) or 0) == value, (key, column)
        assert records[key].get("video_total_views") is None  # v2's media_views never stands in for it


def request_paths(emu: EmulatorServer) -> Counter:
    return Counter(r.path for r in emu.requests)


@pytest.mark.parametrize("oauth", ["oauth1.0a", "oauth2.0"])
def test_a_v2_sync_of_every_offered_stream_equals_the_truth_without_one_ads_api_request(ds, oauth, tmp_path):
    start = TODAY - dt.timedelta(days=20)
    with EmulatorServer(ds, now=NOW) as emu:
        run = e2e.run_cli(tmp_path, "read", v2_config(emu, oauth, start_date=start), e2e.catalog(V2_STREAMS))
        paths = request_paths(emu)
        statuses = {r.status for r in emu.requests if r.path != "/2/oauth2/token"}
        user = me(emu)
    assert run.returncode == 0, run.describe()
    assert [p for p in paths if p.startswith(ADS_API_PREFIX)] == []
    posts = v2_users.timeline(ds, user)
    # One users/me, each post read once (100 a page), and nothing else but the analytics and the token.
    assert paths[f"/2/users/{user.full_user.id}/tweets"] == math.ceil(len(posts) / 100)
    assert paths["/2/users/me"] == 1
    assert statuses == {200}  # no window refused and split: each request counts

    assert run.records("accounts") == e2e.without_nulls(v2_users.truth_accounts(user, ZONE))
    assert run.records("tweets") == [e2e.without_nulls(t) for t in v2_users.truth_tweets(ds, user)]
    local_today = e2e.local_today(ZONE)
    expected = v2_users.truth_organic_report(ds, user, start, local_today, ZONE, NOW)
    assert_report_equals(report(run), expected)
    assert run.final_stream_state("organic_report") == {str(user.full_user.id): {"date": local_today.isoformat()}}
    usage = [m["log"]["message"] for m in run.of_type("LOG") if "X API v2 usage" in m["log"]["message"]]
    assert usage == [
        f"X API v2 usage of this sync: {len(posts)} posts read from the user timeline, "
        f"{paths['/2/tweets/analytics']} post analytics requests (GET /2/tweets/analytics)."
    ]


def test_two_incremental_syncs_reread_the_lookback_in_calendar_days(ds, tmp_path):
    start = TODAY - dt.timedelta(days=10)
    catalog = e2e.catalog(["organic_report"], sync_mode="incremental")
    local_today = e2e.local_today(ZONE)
    with EmulatorServer(ds, now=NOW) as emu:
        config = v2_config(emu, "oauth1.0a", start_date=start)
        first = e2e.run_cli(tmp_path / "1", "read", config, catalog)
        seen = len(emu.requests)
        second = e2e.run_cli(
            tmp_path / "2", "read", config, catalog, e2e.state_input(first.final_stream_state("organic_report"))
        )
        analytics = [r for r in emu.requests.snapshot()[seen:] if r.path == "/2/tweets/analytics"]
        user = me(emu)
    assert first.returncode == 0 and second.returncode == 0, first.describe() + second.describe()
    state = {str(user.full_user.id): {"date": local_today.isoformat()}}
    assert first.final_stream_state("organic_report") == state
    assert second.final_stream_state("organic_report") == state
    resumed = local_today - dt.timedelta(days=3)  # the default look-back
    midnight = dt.datetime.combine(resumed, dt.time(0), tzinfo=ZoneInfo(ZONE))
    assert {r.query["start_time"] for r in analytics} == {e2e.x_time(midnight)}
    assert_report_equals(report(second), v2_users.truth_organic_report(ds, user, resumed, local_today, ZONE, NOW))


def last_dst_change(zone: str, before: dt.date) -> tuple[dt.date, int]:
    """The latest day before `before` whose length in `zone` is not 24 hours, and its length in hours."""
    tz = ZoneInfo(zone)
    day = before
    while True:
        day -= dt.timedelta(days=1)
        begins = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        ends = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        # Aware datetimes of one zone subtract by wall clock: the timestamps give the real length.
        hours = int(ends.timestamp() - begins.timestamp()) // 3600
        if hours != 24:
            return day, hours


def test_a_dst_day_row_sums_that_calendar_days_23_or_25_hourly_buckets(ds, tmp_path):
    day, hours = last_dst_change(ZONE, TODAY - dt.timedelta(days=2))
    with EmulatorServer(ds, now=NOW) as emu:
        config = v2_config(emu, "oauth2.0", start_date=day - dt.timedelta(days=1), end_date=day + dt.timedelta(days=1))
        run = e2e.run_cli(tmp_path, "read", config, e2e.catalog(["organic_report"]))
        user = me(emu)
    assert run.returncode == 0, run.describe()
    tz = ZoneInfo(ZONE)
    h0 = hour_index(dt.datetime.combine(day, dt.time(0), tzinfo=tz))
    rows = {k: r for k, r in report(run).items() if k[2] == day.isoformat()}
    assert rows, "no activity on the DST day: the test proves nothing"
    for (_, tweet_id, _), row in rows.items():
        tweet = ds.tweet_index[int(tweet_id)]
        hourly = [v2_bucket_sums(tweet, h, h + 1, now_hour(NOW)) for h in range(h0, h0 + hours)]
        assert row.get("impressions", 0) == sum(h["impressions"] for h in hourly), (tweet_id, hours)
    expected = v2_users.truth_organic_report(
        ds, user, day - dt.timedelta(days=1), day + dt.timedelta(days=1), ZONE, NOW
    )
    assert_report_equals(report(run), expected)


def test_discover_offers_no_scheduled_tweets_in_v2_mode_only(ds, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        v2 = e2e.run_cli(tmp_path / "v2", "discover", v2_config(emu, "oauth1.0a"))
        ads = e2e.run_cli(tmp_path / "ads", "discover", e2e.config_for(emu, "oauth1.0a"))
    names = {
        run_name: sorted(s["name"] for s in run.of_type("CATALOG")[0]["catalog"]["streams"])
        for run_name, run in (("v2", v2), ("ads", ads))
    }
    both = [*V2_STREAMS, "organic_report_hourly", "followers_history"]
    assert names == {"v2": sorted(both), "ads": sorted([*both, "scheduled_tweets"])}


def test_check_in_v2_mode_is_one_users_me_request(ds, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        run = e2e.run_cli(tmp_path, "check", v2_config(emu, "oauth1.0a"))
        paths = request_paths(emu)
    assert run.connection_status == {"status": "SUCCEEDED"}, run.describe()
    assert paths == Counter({"/2/users/me": 1})


@pytest.mark.parametrize(
    ("oauth", "refusal", "phrases"),
    [
        ("oauth1.0a", "not_enrolled", ["client-not-enrolled", "Project", "X Developer Portal"]),
        ("oauth2.0", "not_enrolled", ["client-not-enrolled", "Project", "X Developer Portal"]),
        ("oauth2.0", "scope", ["`tweet.read users.read offline.access`", "refresh token"]),
        ("oauth1.0a", "scope", ["Read permission", "access token and secret"]),
    ],
)
def test_check_names_what_to_change_in_the_developer_portal(ds, oauth, refusal, phrases, tmp_path):
    with EmulatorServer(ds, now=NOW, v2_enrolled=refusal != "not_enrolled") as emu:
        emu.v2_users_forbidden = refusal == "scope"
        run = e2e.run_cli(tmp_path, "check", v2_config(emu, oauth))
        ads_calls = [r for r in emu.requests if r.path.startswith(ADS_API_PREFIX)]
    status = run.connection_status
    assert status is not None and status["status"] == "FAILED", run.describe()
    for phrase in phrases:
        assert phrase in status["message"]
    assert ads_calls == []


def test_a_timeline_at_the_cap_syncs_the_reachable_posts(ds, tmp_path):
    """X serves only the most recent posts (3,200; lowered here): tweets and the report stop at the same ones."""
    cap = 7
    start = TODAY - dt.timedelta(days=30)
    with EmulatorServer(ds, now=NOW) as emu:
        emu.v2_timeline_cap = cap
        run = e2e.run_cli(tmp_path, "read", v2_config(emu, "oauth1.0a", start_date=start), e2e.catalog(V2_STREAMS))
        user = me(emu)
    assert run.returncode == 0, run.describe()
    assert run.records("tweets") == [e2e.without_nulls(t) for t in v2_users.truth_tweets(ds, user, cap)]
    expected = v2_users.truth_organic_report(ds, user, start, e2e.local_today(ZONE), ZONE, NOW, cap)
    assert_report_equals(report(run), expected)


# ----------------------------------------------------------------------------- the emulator's v2 users endpoints


def signed_get(emu: EmulatorServer, path: str, **params) -> dict:
    c = emu.oauth1_config()["credentials"]
    auth = OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"])
    answer = requests.get(emu.base_url + path, params=params, auth=auth, timeout=10)
    return {"status": answer.status_code, "body": answer.json(), "limit": answer.headers.get("x-rate-limit-limit")}


def test_the_emulator_serves_me_with_the_fields_asked_and_users_me_limits(ds):
    with EmulatorServer(ds, now=NOW) as emu:
        plain = signed_get(emu, "/2/users/me")
        rich = signed_get(emu, "/2/users/me", **{"user.fields": "created_at,location"})
        user = me(emu).full_user
    assert plain == {
        "status": 200,
        "body": {"data": {"id": str(user.id), "name": user.name, "username": user.screen_name}},
        "limit": "75",
    }
    assert set(rich["body"]["data"]) == {"id", "name", "username", "created_at", "location"}


def test_the_emulator_pages_the_timeline_to_its_cap_with_the_fields_asked(ds):
    with EmulatorServer(ds, now=NOW) as emu:
        emu.v2_timeline_cap = 12
        path = f"/2/users/{me(emu).full_user.id}/tweets"
        pages, token = [], None
        while True:
            params = {"max_results": 5, **({"pagination_token": token} if token else {})}
            page = signed_get(emu, path, **params)
            pages.append(page)
            token = page["body"]["meta"].get("next_token")
            if not token:
                break
        too_big = signed_get(emu, path, max_results=101)
        unknown = signed_get(emu, path, count=5)
        expected = [t.id_str for t in v2_users.timeline(ds, me(emu))[:12]]
    assert [len(p["body"]["data"]) for p in pages] == [5, 5, 2]
    assert [post["id"] for p in pages for post in p["body"]["data"]] == expected
    assert all(set(post) == {"id", "text", "edit_history_tweet_ids"} for p in pages for post in p["body"]["data"])
    assert pages[0]["limit"] == "900"
    assert (too_big["status"], unknown["status"]) == (400, 400)


def test_the_emulator_gives_private_metrics_for_posts_of_the_last_30_days_only(ds):
    with EmulatorServer(ds, now=NOW) as emu:
        path = f"/2/users/{me(emu).full_user.id}/tweets"
        fields = {"tweet.fields": "created_at,organic_metrics,non_public_metrics", "max_results": 100}
        posts = signed_get(emu, path, **fields)["body"]["data"]
    recent = [p for p in posts if NOW - e2e.parse_x_time(p["created_at"][:19] + "Z") <= dt.timedelta(days=30)]
    assert recent and len(recent) < len(posts), "the test needs posts on both sides of the 30 days"
    assert all({"organic_metrics", "non_public_metrics"} <= set(p) for p in recent)
    assert all("organic_metrics" not in p and "non_public_metrics" not in p for p in posts if p not in recent)


def test_the_demo_in_v2_mode_syncs_its_streams_without_an_ads_api_request(tmp_path):
    env = {**os.environ, "DEMO_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "demo.run_demo", "--api", "x_api_v2"],
        cwd=e2e.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Ads API (/12/...) requests: 0" in proc.stdout
    assert "X API v2 usage of this sync:" in proc.stdout
    with sqlite3.connect(tmp_path / "x_organic.sqlite") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rows = db.execute("SELECT count(*) FROM organic_report").fetchone()[0]
    db.close()
    assert tables == {*V2_STREAMS, "followers_history"} and rows > 0


class AnalyticsNotInTier(EmulatorServer):
    """Serves the user and their posts, but refuses the post analytics: an access tier without that endpoint."""

    def dispatch(self, req):
        if req.path == "/2/tweets/analytics":
            return _json(403, client_not_enrolled_body())
        return super().dispatch(req)


def test_v2_mode_messages_point_to_the_api_field_not_to_metrics_source(ds, tmp_path):
    with AnalyticsNotInTier(ds, now=NOW) as emu:
        run = e2e.run_cli(tmp_path, "read", v2_config(emu, "oauth1.0a"), e2e.catalog(["organic_report"]))
    message = run.error_traces[0]["message"]
    assert "GET /2/tweets/analytics; or set `api` to `ads_api`" in message, run.describe()
    assert "metrics_source" not in message


def test_a_start_date_beyond_v2s_retention_names_start_date_and_the_api_field(ds, tmp_path):
    start = TODAY - dt.timedelta(days=12)
    with EmulatorServer(ds, now=NOW, v2_retention_days=5) as emu:
        run = e2e.run_cli(
            tmp_path, "read", v2_config(emu, "oauth1.0a", start_date=start), e2e.catalog(["organic_report"])
        )
    error = run.error_traces[0]
    assert error["failure_type"] == "config_error", run.describe()
    assert "`start_date`" in error["message"] and "set `api` to `ads_api`" in error["message"]


def test_a_90_day_backfill_makes_the_fewest_requests_the_v2_limits_allow(ds, tmp_path):
    """One users/me, the timeline at 100 posts a page, and per 100 posts one analytics request per 7 x 24 hours."""
    start = TODAY - dt.timedelta(days=90)
    with EmulatorServer(ds, now=NOW) as emu:
        run = e2e.run_cli(tmp_path, "read", v2_config(emu, "oauth1.0a", start_date=start), e2e.catalog(V2_STREAMS))
        paths = request_paths(emu)
        user = me(emu)
    assert run.returncode == 0, run.describe()
    posts = len(v2_users.timeline(ds, user))
    assert posts <= 100, "the minimum below assumes one batch of ids"
    tz = ZoneInfo(ZONE)
    first = dt.datetime.combine(start, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(e2e.local_today(ZONE) + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    hours = int(end.timestamp() - first.timestamp()) // 3600
    assert dict(paths) == {
        "/2/users/me": 1,
        f"/2/users/{user.full_user.id}/tweets": math.ceil(posts / 100),
        "/2/tweets/analytics": math.ceil(hours / (7 * 24)),
    }


def test_timeline_pages_wait_for_the_announced_reset_instead_of_drawing_a_429(tmp_path):
    """X can revoke access from apps that ignore its limits: a spent budget is waited out, never asked again."""
    busy = build_dataset(today=TODAY, tweets_per_account=450)
    with EmulatorServer(busy, now=NOW, rate_limits={"v2_user_tweets": 2}, rate_window_seconds=2) as emu:
        run = e2e.run_cli(tmp_path, "read", v2_config(emu, "oauth1.0a", start_date=TODAY), e2e.catalog(["tweets"]))
        timeline = [r for r in emu.requests if r.path.endswith("/tweets")]
    assert run.returncode == 0, run.describe()
    assert len(timeline) >= 4, "the test needs more pages than the budget of one window"
    assert [r.status for r in timeline] == [200] * len(timeline)
