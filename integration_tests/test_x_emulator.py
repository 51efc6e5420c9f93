"""Tests of the X Ads API emulator itself, through real HTTP (requests + requests_oauthlib), against its own truth."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from oauthlib.oauth1 import Client as OAuthClient
from requests_oauthlib import OAuth1

from integration_tests.x_emulator import EmulatorServer, build_dataset, truth
from integration_tests.x_emulator import auth as emulator_auth
from integration_tests.x_emulator.metrics import ENGAGEMENT_METRICS, VIDEO_METRICS, bucket_sums

UTC = dt.timezone.utc
TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # PST (-8) today in Los Angeles, so July is "the other" offset
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


@pytest.fixture(scope="module")
def emu(ds):
    with EmulatorServer(ds, now=NOW, job_seconds=0.3) as server:
        yield server


def oauth1(emu: EmulatorServer, **kw) -> OAuth1:
    c = emu.oauth1_config()["credentials"]
    return OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"], **kw)


def get(emu: EmulatorServer, path: str, **params) -> requests.Response:
    return requests.get(emu.base_url + path, params=params, auth=oauth1(emu), timeout=10)


def account(ds, tz: str):
    return next(a for a in ds.readable_accounts() if a.timezone == tz)


def organic_ids(ds, account_id: str) -> list[str]:
    return [t.id_str for t in ds.tweets[account_id] if t.is_organic_published]


STATS = {"entity": "ORGANIC_TWEET", "granularity": "DAY", "placement": "ALL_ON_TWITTER"}


def stats_params(ids, start, end, groups="ENGAGEMENT,VIDEO", **kw) -> dict:
    return {**STATS, "entity_ids": ",".join(ids), "start_time": start, "end_time": end, "metric_groups": groups, **kw}


def error_code(resp: requests.Response) -> tuple[int, str, str | None]:
    err = resp.json()["errors"][0]
    return resp.status_code, err["code"], err.get("parameter")


# ----------------------------------------------------------------------------- dataset


def test_dataset_is_deterministic_and_shaped(ds):
    again = build_dataset(today=TODAY)
    assert [a.id for a in again.accounts] == [a.id for a in ds.accounts]
    assert [t.id for t in again.tweets[ds.accounts[0].id]] == [t.id for t in ds.tweets[ds.accounts[0].id]]
    readable = ds.readable_accounts()
    assert len(readable) >= 5
    assert {"America/Los_Angeles", "Asia/Tokyo", "Europe/Berlin", "UTC", "America/New_York"} <= {
        a.timezone for a in readable
    }
    assert all(len(a.id) == 11 and a.id.isalnum() and a.id.islower() for a in ds.accounts)
    assert ds.deleted_account_id not in {a.id for a in readable}
    assert ds.unreadable_account_id not in {a.id for a in ds.readable_accounts(with_deleted=True)}
    for a in readable:
        tweets = ds.tweets[a.id]
        assert all(t.id > 2**60 for t in tweets)
        assert [t.id for t in tweets] == sorted((t.id for t in tweets), reverse=True)
        assert [t.created_at for t in tweets] == sorted((t.created_at for t in tweets), reverse=True)
        assert sum(t.is_organic_published or (t.deleted and not t.nullcast) for t in tweets) == 60
        assert any(t.created_at.date() == TODAY for t in tweets)
        assert any(t.is_reply for t in tweets) and any(t.nullcast for t in tweets)
        assert any(t.tweet_type == "DRAFT" for t in tweets) and any(t.deleted for t in tweets)
        assert {s.scheduled_status for s in ds.scheduled[a.id]} == {"SCHEDULED", "SUCCESS", "FAILED", "DELETED"}
    ny = account(ds, "America/New_York")
    switch_local = ny.timezone_switch_at.astimezone(ny.tz)
    assert (switch_local.hour, switch_local.minute) == (0, 0) and (TODAY - switch_local.date()).days == 100


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10_000), st.integers(-48, 2000), st.integers(0, 400), st.integers(0, 400))
def test_bucket_sums_are_additive_and_bounded(ds, pick, offset, len1, len2):
    tweets = [t for a in ds.readable_accounts() for t in ds.tweets[a.id] if t.profile is not None]
    tweet = tweets[pick % len(tweets)]
    h0 = tweet.created_hour - offset
    h1, h2 = h0 + len1, h0 + len1 + len2
    limit = int(NOW.timestamp()) // 3600
    whole, left, right = (bucket_sums(tweet, a, b, limit) for a, b in ((h0, h2), (h0, h1), (h1, h2)))
    assert whole == [x + y for x, y in zip(left, right, strict=True)]
    assert all(0 <= v <= whole[0] for v in whole)
    if len(whole) > len(ENGAGEMENT_METRICS):  # video funnel
        video = dict(zip(VIDEO_METRICS, whole[len(ENGAGEMENT_METRICS) :], strict=True))
        assert video["video_content_starts"] >= video["video_total_views"] >= video["video_views_25"]
        assert video["video_views_25"] >= video["video_views_50"] >= video["video_views_75"] >= video["video_views_100"]
    named = dict(zip(ENGAGEMENT_METRICS, whole, strict=False))
    parts = ("likes", "retweets", "replies", "follows", "clicks", "card_engagements")
    assert named["engagements"] >= sum(named[p] for p in parts)
    assert named["clicks"] >= named["url_clicks"] + named["app_clicks"]


# ----------------------------------------------------------------------------- auth


def test_oauth1_is_accepted_and_headers_present(emu, ds):
    resp = get(emu, "/12/accounts")
    assert resp.status_code == 200
    assert resp.headers["x-current-api-version"] == "12"
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(resp.headers)
    body = resp.json()
    assert body["data_type"] == "account" and body["next_cursor"] is None
    assert body["data"] == truth.accounts(ds)


def test_oauth1_bad_signature_stale_timestamp_replayed_nonce_and_missing_auth(emu):
    c = emu.oauth1_config()["credentials"]
    url = emu.base_url + "/12/accounts"
    expected = {
        "errors": [{"code": "UNAUTHORIZED_ACCESS", "message": "This request is not properly authenticated"}],
        "request": {"params": {}},
    }
    bad = OAuth1(c["consumer_key"], "wrong-secret", c["access_token"], c["access_token_secret"])
    resp = requests.get(url, auth=bad, timeout=10)
    assert resp.status_code == 401 and resp.json() == expected

    stale = oauth1(emu, timestamp=str(int(time.time()) - 400))
    assert requests.get(url, auth=stale, timeout=10).status_code == 401

    fixed = oauth1(emu, nonce="fixed-nonce-123", timestamp=str(int(time.time())))
    assert requests.get(url, auth=fixed, timeout=10).status_code == 200
    assert requests.get(url, auth=fixed, timeout=10).status_code == 401  # replay

    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401

    # the query string is part of the signature: tampering with it after signing fails
    prepared = requests.Request("GET", url, params={"count": "5"}, auth=oauth1(emu)).prepare()
    prepared.url = prepared.url.replace("count=5", "count=6")
    assert requests.Session().send(prepared, timeout=10).status_code == 401


def test_oauth1_nonces_are_forgotten_once_expired_and_replays_within_their_memory_still_fail(monkeypatch):
    # Every request remembers its nonce: the memory must shed expired ones as it goes, not grow (or be walked whole)
    # for the life of a long-running emulator.
    clock = [1_900_000_000.0]
    monkeypatch.setattr(emulator_auth.time, "time", lambda: clock[0])
    verifier = emulator_auth.OAuth1Verifier()
    url = "http://127.0.0.1/12/accounts"

    def verify(nonce: str) -> bool:
        client = OAuthClient(
            emulator_auth.CONSUMER_KEY,
            emulator_auth.CONSUMER_SECRET,
            emulator_auth.ACCESS_TOKEN,
            emulator_auth.ACCESS_TOKEN_SECRET,
            nonce=nonce,
            timestamp=str(int(clock[0])),
        )
        _, headers, _ = client.sign(url, "GET")
        return verifier.verify("GET", url, "", None, headers["Authorization"])

    assert [verify(f"n{i}") for i in range(3)] == [True, True, True]
    assert not verify("n1")  # replay
    clock[0] += emulator_auth._NONCE_MEMORY_SECONDS + 1
    assert verify("n3")
    assert list(verifier._nonces) == [(emulator_auth.CONSUMER_KEY, emulator_auth.ACCESS_TOKEN, "n3")]
    assert not verify("n3")


def test_oauth2_refresh_rotates_single_use_and_access_expires(ds):
    with EmulatorServer(ds, now=NOW, access_token_ttl_seconds=1) as emu:
        c = emu.oauth2_config()["credentials"]
        endpoint, basic = c["token_refresh_endpoint"], (c["client_id"], c["client_secret"])
        first = requests.post(
            endpoint, data={"grant_type": "refresh_token", "refresh_token": c["refresh_token"]}, auth=basic, timeout=10
        )
        assert first.status_code == 200
        token = first.json()
        assert token["token_type"] == "bearer" and token["refresh_token"] != c["refresh_token"]
        assert token["scope"] == "tweet.read users.read ads.read offline.access"

        reused = requests.post(
            endpoint, data={"grant_type": "refresh_token", "refresh_token": c["refresh_token"]}, auth=basic, timeout=10
        )
        assert reused.status_code == 400
        assert reused.json() == {
            "error": "invalid_request",
            "error_description": "Value passed for the token was invalid.",
        }
        wrong_client = requests.post(
            endpoint,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(c["client_id"], "nope"),
            timeout=10,
        )
        assert wrong_client.status_code == 401

        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert requests.get(emu.base_url + "/12/accounts", headers=bearer, timeout=10).status_code == 200
        second = requests.post(
            endpoint,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=basic,
            timeout=10,
        )
        assert second.status_code == 200 and emu.token_refreshes == 2
        public = requests.post(  # a public client: client_id in the body, no Basic header
            endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": second.json()["refresh_token"],
                "client_id": c["client_id"],
            },
            timeout=10,
        )
        assert public.status_code == 200 and emu.token_refreshes == 3
        time.sleep(1.1)
        expired = requests.get(emu.base_url + "/12/accounts", headers=bearer, timeout=10)
        assert expired.status_code == 401 and expired.json()["errors"][0]["code"] == "UNAUTHORIZED_ACCESS"


# ----------------------------------------------------------------------------- accounts and access


def test_account_access_rules(emu, ds):
    assert ds.deleted_account_id not in [a["id"] for a in get(emu, "/12/accounts").json()["data"]]
    with_deleted = get(emu, "/12/accounts", with_deleted="true").json()["data"]
    assert ds.deleted_account_id in [a["id"] for a in with_deleted]
    for bad in (ds.unreadable_account_id, "doesnotexist", ds.deleted_account_id):
        for path in (f"/12/accounts/{bad}", f"/12/accounts/{bad}/tweets", f"/12/stats/accounts/{bad}"):
            resp = get(emu, path, tweet_type="PUBLISHED")
            assert resp.status_code == 403 and resp.json()["errors"][0]["code"] == "ACCOUNT_NOT_FOUND", path
    la = account(ds, "America/Los_Angeles")
    single = get(emu, f"/12/accounts/{la.id}").json()["data"]
    assert single["timezone"] == "America/Los_Angeles" and "salt" in single
    access = get(emu, f"/12/accounts/{la.id}/authenticated_user_access").json()["data"]
    assert access["permissions"] == ["ANALYST"]
    users = get(emu, f"/12/accounts/{la.id}/promotable_users").json()["data"]
    assert {u["promotable_user_type"] for u in users} == {"FULL", "RETWEETS_ONLY"}
    assert error_code(get(emu, "/12/accounts", with_total_count="true", cursor="c-1abcdef")) == (
        400,
        "EXCLUSIVE_PARAMETERS",
        "with_total_count",
    )
    paged = get(emu, "/12/accounts", count=2)
    assert len(paged.json()["data"]) == 2 and paged.json()["next_cursor"]


# ----------------------------------------------------------------------------- tweets and pagination


def test_tweets_pagination_filters_and_shape(emu, ds):
    la = account(ds, "America/Los_Angeles")
    path = f"/12/accounts/{la.id}/tweets"
    collected, cursor, pages = [], None, 0
    while True:
        params = {"tweet_type": "PUBLISHED", "timeline_type": "ORGANIC", "include_mentions_and_replies": "true"}
        params.update(count=7, **({"cursor": cursor} if cursor else {}))
        body = get(emu, path, **params).json()
        assert len(body["data"]) <= 7
        collected += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages > 1
    expected = [t for t in truth.tweets(ds, [la.id])]
    assert [t["id_str"] for t in collected] == [t["id"] for t in expected]
    assert [{**t, "id": t["id_str"], "account_id": la.id} for t in collected] == expected
    first = collected[0]
    assert isinstance(first["id"], int) and first["id"] > 2**53 and str(first["id"]) == first["id_str"]
    assert first["tweet_id"] == first["id_str"]
    time.strptime(first["created_at"], "%a %b %d %H:%M:%S +0000 %Y")
    assert any("extended_entities" in t for t in collected) and any("reply_count" not in t for t in collected)

    default = get(emu, path, tweet_type="PUBLISHED").json()["data"]
    assert default and all(t["nullcast"] for t in default)  # timeline_type defaults to NULLCAST
    organic = get(emu, path, tweet_type="PUBLISHED", timeline_type="ORGANIC", count=1000).json()["data"]
    assert all(not t["nullcast"] and t["in_reply_to_status_id_str"] is None for t in organic)  # replies hidden
    assert len(organic) < len(collected)
    deleted = get(emu, path, tweet_type="PUBLISHED", timeline_type="ORGANIC", count=1000, with_deleted="true")
    assert len(deleted.json()["data"]) > len(organic)
    trimmed = get(emu, path, tweet_type="PUBLISHED", timeline_type="ALL", trim_user="true", count=3).json()["data"]
    assert set(trimmed[0]["user"]) == {"id", "id_str"}
    drafts = get(emu, path, tweet_type="DRAFT", timeline_type="ALL").json()["data"]
    assert drafts and all(t["tweet_type"] == "DRAFT" for t in drafts)

    assert error_code(get(emu, path)) == (400, "MISSING_PARAMETER", "tweet_type")
    for count in (0, 1001, "x"):
        assert error_code(get(emu, path, tweet_type="PUBLISHED", count=count)) == (400, "INVALID_PARAMETER", "count")
    assert error_code(get(emu, path, tweet_type="PUBLISHED", cursor="bogus")) == (400, "INVALID_PARAMETER", "cursor")


def test_scheduled_tweets(emu, ds):
    la = account(ds, "America/Los_Angeles")
    path = f"/12/accounts/{la.id}/scheduled_tweets"
    body = get(emu, path).json()
    assert [{**s, "id": s["id_str"], "account_id": la.id} for s in body["data"]] == truth.scheduled_tweets(ds, [la.id])
    assert {s["scheduled_status"] for s in body["data"]} == {"SCHEDULED", "SUCCESS", "FAILED"}
    with_deleted = get(emu, path, with_deleted="true").json()["data"]
    assert "DELETED" in {s["scheduled_status"] for s in with_deleted}
    assert error_code(get(emu, path, count=201)) == (400, "INVALID_PARAMETER", "count")
    assert len(get(emu, path, count=200).json()["data"]) == len(body["data"])
    success = [s for s in body["data"] if s["scheduled_status"] == "SUCCESS"]
    assert all(s["tweet_id"] in organic_ids(ds, la.id) and s["completed_at"] for s in success)


# ----------------------------------------------------------------------------- stats


def test_stats_validations(emu, ds):
    la = account(ds, "America/Los_Angeles")
    path = f"/12/stats/accounts/{la.id}"
    ids = organic_ids(ds, la.id)
    ok_start, ok_end = "2026-11-19T08:00:00Z", "2026-11-26T08:00:00Z"  # PST midnights
    assert get(emu, path, **stats_params(ids[:20], ok_start, ok_end)).status_code == 200
    assert error_code(get(emu, path, **stats_params(ids[:21], ok_start, ok_end))) == (
        400,
        "INVALID_PARAMETER",
        "entity_ids",
    )
    other = organic_ids(ds, account(ds, "Asia/Tokyo").id)[0]
    assert error_code(get(emu, path, **stats_params([other], ok_start, ok_end)))[:2] == (400, "INVALID_PARAMETER")
    eight_days = stats_params(ids[:1], "2026-11-18T08:00:00Z", ok_end)
    assert error_code(get(emu, path, **eight_days))[:2] == (400, "INVALID_TIME_WINDOW")
    half_hour = stats_params(ids[:1], "2026-11-25T08:30:00Z", "2026-11-25T12:00:00Z", granularity="HOUR")
    assert error_code(get(emu, path, **half_hour))[:2] == (400, "INVALID_TIME_WINDOW")
    backwards = stats_params(ids[:1], ok_end, ok_start)
    assert error_code(get(emu, path, **backwards))[:2] == (400, "INVALID_TIME_WINDOW")
    # July is PDT (-7) but today is PST (-8): X wants midnight with TODAY's offset
    pdt = stats_params(ids[:1], "2026-07-01T00:00:00-07:00", "2026-07-08T00:00:00-07:00")
    assert error_code(get(emu, path, **pdt))[:2] == (400, "INVALID_TIME_WINDOW")
    pst = stats_params(ids[:1], "2026-07-01T00:00:00-08:00", "2026-07-08T00:00:00-08:00")
    assert get(emu, path, **pst).status_code == 200
    date_only = get(emu, path, **stats_params(ids[:1], "2026-07-01", "2026-07-08")).json()
    assert date_only["request"]["params"]["start_time"] == "2026-07-01T08:00:00Z"
    utc_midnight = stats_params(ids[:1], "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z", granularity="TOTAL")
    assert error_code(get(emu, path, **utc_midnight))[:2] == (400, "INVALID_TIME_WINDOW")
    assert get(emu, path, **{**utc_midnight, "granularity": "HOUR", "end_time": "2026-11-20T00:00:00Z"}).ok

    billing = get(emu, path, **stats_params(ids[:1], ok_start, ok_end, groups="ENGAGEMENT,BILLING"))
    assert error_code(billing) == (400, "INVALID_PARAMETER", "metric_groups")
    assert billing.json()["errors"][0]["message"] == "Valid metric groups for entity OrganicTweet are Engagement,Video"
    missing = get(emu, path, entity="ORGANIC_TWEET")
    assert error_code(missing)[:2] == (400, "MISSING_PARAMETER")
    assert {e["parameter"] for e in missing.json()["errors"]} >= {"entity_ids", "start_time", "placement"}
    assert error_code(get(emu, path, **stats_params(ids[:1], ok_start, ok_end, entity="PROMOTED_TWEET")))[2] == "entity"
    emu.refuse_organic_tweet = True
    try:
        assert error_code(get(emu, path, **stats_params(ids[:1], ok_start, ok_end))) == (
            400,
            "INVALID_PARAMETER",
            "entity",
        )
    finally:
        emu.refuse_organic_tweet = False


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Tokyo", "Europe/Berlin"])
def test_stats_sums_equal_truth(emu, ds, tz):
    acc = account(ds, tz)
    path = f"/12/stats/accounts/{acc.id}"
    ids = organic_ids(ds, acc.id)
    chosen = ids[:10] + ids[-10:]  # newest and oldest: old tweets keep earning
    first_day, last_day = TODAY - dt.timedelta(days=6), TODAY
    expected = truth.organic_report(ds, first_day, last_day, account_ids=[acc.id], now=NOW)
    body = get(emu, path, **stats_params(chosen, first_day.isoformat(), (last_day + dt.timedelta(days=1)).isoformat()))
    assert body.status_code == 200
    body = body.json()
    assert body["time_series_length"] == 7 and [d["id"] for d in body["data"]] == chosen
    seen_nonzero = 0
    for entry in body["data"]:
        metrics = entry["id_data"][0]["metrics"]
        assert entry["id_data"][0]["segment"] is None
        assert set(metrics) == set(ENGAGEMENT_METRICS) | set(VIDEO_METRICS)
        for i in range(7):
            day = (first_day + dt.timedelta(days=i)).isoformat()
            got = {k: (v if v is None else v[i]) for k, v in metrics.items()}
            want = expected.get((acc.id, entry["id"], day))
            if want is None:
                assert not any(got.values()), (entry["id"], day)
            else:
                seen_nonzero += 1
                assert got == want, (entry["id"], day)
                assert all(v is None or v <= got["impressions"] for v in got.values())
    assert seen_nonzero > 0
    # HOUR buckets add up to the DAY bucket, TOTAL to the whole window
    index = next(i for i, tid in enumerate(chosen) if ds.tweet_index[int(tid)].profile is not None)
    tweet = chosen[index]
    start = dt.datetime.fromisoformat(body["request"]["params"]["start_time"].replace("Z", "+00:00"))
    hourly = get(
        emu,
        path,
        **stats_params([tweet], start.isoformat(), (start + dt.timedelta(days=7)).isoformat(), granularity="HOUR"),
    ).json()
    total = get(emu, path, **stats_params([tweet], first_day.isoformat(), "2026-11-27", granularity="TOTAL")).json()
    daily = body["data"][index]["id_data"][0]["metrics"]["impressions"]
    hours = hourly["data"][0]["id_data"][0]["metrics"]["impressions"]
    assert hourly["time_series_length"] == 168
    assert [sum(hours[24 * i : 24 * i + 24]) for i in range(7)] == daily
    assert total["data"][0]["id_data"][0]["metrics"]["impressions"] == [sum(daily)]


def test_stats_nulls_and_future_hours(emu, ds):
    la = account(ds, "America/Los_Angeles")
    tweets = [t for t in ds.tweets[la.id] if t.is_organic_published]
    dead = next(t for t in tweets if t.profile is None)
    no_video = next(t for t in tweets if t.profile is not None and not t.profile.has_video)
    newest = tweets[0]
    body = get(
        emu,
        f"/12/stats/accounts/{la.id}",
        **stats_params(
            [dead.id_str, no_video.id_str, newest.id_str],
            "2026-11-26T00:00:00Z",
            "2026-11-27T00:00:00Z",
            granularity="HOUR",
        ),  # fmt: skip
    ).json()
    by_id = {d["id"]: d["id_data"][0]["metrics"] for d in body["data"]}
    assert all(v is None for v in by_id[dead.id_str].values())
    assert all(by_id[no_video.id_str][m] is None for m in VIDEO_METRICS)
    assert all(isinstance(by_id[no_video.id_str][m], list) for m in ENGAGEMENT_METRICS)
    impressions = by_id[newest.id_str]["impressions"]
    assert impressions is None or all(v == 0 for v in impressions[NOW.hour :])  # current and future hours are 0


def test_publisher_network_is_zero(emu, ds):
    la = account(ds, "America/Los_Angeles")
    ids = organic_ids(ds, la.id)[:5]
    params = stats_params(ids, "2026-11-19", "2026-11-26", placement="PUBLISHER_NETWORK")
    body = get(emu, f"/12/stats/accounts/{la.id}", **params).json()
    for entry in body["data"]:
        assert all(v is None or set(v) <= {0} for v in entry["id_data"][0]["metrics"].values())


# ----------------------------------------------------------------------------- rate limits


def test_rate_limit_429_with_reset_headers_and_early_retries(ds):
    with EmulatorServer(ds, now=NOW, rate_limits={"stats_sync": 3}, rate_window_seconds=1.5) as emu:
        la = account(ds, "America/Los_Angeles")
        params = stats_params(organic_ids(ds, la.id)[:1], "2026-11-19", "2026-11-26")
        statuses = [get(emu, f"/12/stats/accounts/{la.id}", **params) for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        limited = statuses[-1]
        assert limited.json() == {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}]}
        assert limited.headers["x-rate-limit-remaining"] == "0" and limited.headers["x-rate-limit-limit"] == "3"
        assert "x-account-rate-limit-reset" in limited.headers
        reset = int(limited.headers["x-rate-limit-reset"])
        assert time.time() < reset <= time.time() + 3
        assert statuses[1].headers["x-rate-limit-remaining"] == "1"
        assert get(emu, f"/12/stats/accounts/{la.id}", **params).status_code == 429
        assert emu.early_retries == 1
        time.sleep(max(0.0, reset - time.time()) + 0.05)
        assert get(emu, f"/12/stats/accounts/{la.id}", **params).status_code == 200
        assert emu.early_retries == 1
        assert [r.status for r in emu.requests] == [200, 200, 200, 429, 429, 200]
        # other families are independent
        assert get(emu, f"/12/accounts/{la.id}").headers["x-account-rate-limit-limit"] == "2000"


# ----------------------------------------------------------------------------- async jobs


def test_job_processing_then_success_matches_sync(emu, ds):
    berlin = account(ds, "Europe/Berlin")
    ids = organic_ids(ds, berlin.id)[:20]
    params = stats_params(ids, "2026-11-19", "2026-11-26", groups="ENGAGEMENT,VIDEO")
    created = requests.post(  # form body: signed by requests-oauthlib, verified by the emulator
        f"{emu.base_url}/12/stats/jobs/accounts/{berlin.id}", data=params, auth=oauth1(emu), timeout=10
    )
    assert created.status_code == 200
    job = created.json()["data"]
    assert job["status"] == "PROCESSING" and job["url"] is None and job["expires_at"] is None
    assert created.headers["x-concurrent-job-limit"] == "100"
    listing = get(emu, f"/12/stats/jobs/accounts/{berlin.id}", job_ids=job["id_str"]).json()["data"]
    assert [j["status"] for j in listing] == ["PROCESSING"]
    time.sleep(0.35)
    done = get(emu, f"/12/stats/jobs/accounts/{berlin.id}", job_ids=job["id_str"]).json()["data"][0]
    assert done["status"] == "SUCCESS" and done["url"].startswith(emu.base_url + "/_jobs/")
    payload = json.loads(gzip.decompress(requests.get(done["url"], timeout=10).content))  # no auth needed
    sync = get(emu, f"/12/stats/accounts/{berlin.id}", **params).json()
    assert payload["data"] == sync["data"] and payload["time_series_length"] == 7
    assert payload["request"] == sync["request"]


def test_job_range_failures_and_limits(ds):
    with EmulatorServer(ds, now=NOW, job_seconds=60, job_failures={2}, rate_limits={"jobs_create": 500}) as emu:
        tokyo = account(ds, "Asia/Tokyo")
        url = f"{emu.base_url}/12/stats/jobs/accounts/{tokyo.id}"
        ids = organic_ids(ds, tokyo.id)[:3]
        too_long = stats_params(ids, "2026-08-01", "2026-11-26")  # 117 days
        resp = requests.post(url, params=too_long, auth=oauth1(emu), timeout=10)
        assert error_code(resp)[:2] == (400, "INVALID_TIME_WINDOW")
        ninety = stats_params(ids, "2026-08-28", "2026-11-26")
        session = requests.Session()
        session.auth = oauth1(emu)
        statuses = [session.post(url, params=ninety, timeout=10).status_code for _ in range(101)]
        assert statuses[:100] == [200] * 100 and statuses[100] == 400
        assert error_code(session.post(url, params=ninety, timeout=10))[1] == "TOO_MANY_JOBS"
        emu.jobs.job_seconds = 0  # let them finish
        jobs = session.get(url, params={"count": 1000}, timeout=10).json()["data"]
        assert len(jobs) == 100
        by_seq = {j["status"] for j in jobs}
        assert by_seq == {"SUCCESS", "FAILED"} and sum(j["status"] == "FAILED" for j in jobs) == 1
        assert error_code(session.get(url, params={"job_ids": ",".join(["1"] * 201)}, timeout=10))[2] == "job_ids"


# ----------------------------------------------------------------------------- faults, lifecycle, CLI


def test_faults(ds):
    schedule = {1: "503", 2: "500", 3: "bad_json", 4: "502_html", 5: "drop", 6: "slow"}
    with EmulatorServer(ds, now=NOW, faults={"schedule": schedule, "slow_seconds": 1.0}) as emu:
        path = "/12/accounts"
        r = get(emu, path)
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert error_code(get(emu, path)) == (500, "INTERNAL_ERROR", None)
        r = get(emu, path)
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        r = get(emu, path)
        assert r.status_code == 502 and r.text.startswith("<html>")
        with pytest.raises(requests.ConnectionError):
            get(emu, path)
        with pytest.raises(requests.ReadTimeout):
            requests.get(emu.base_url + path, auth=oauth1(emu), timeout=0.3)
        assert get(emu, path).status_code == 200
        c = emu.oauth2_config()["credentials"]  # the token endpoint is never faulted unless asked
        token = requests.post(
            c["token_refresh_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": c["refresh_token"]},
            auth=(c["client_id"], c["client_secret"]),
            timeout=10,
        )
        assert token.status_code == 200
        assert [r.status for r in emu.requests][:5] == [503, 500, 200, 502, 0]


def test_latency_and_stop_frees_port(ds):
    emu = EmulatorServer(ds, now=NOW, latency_ms=150).start()
    port = emu.port
    session = requests.Session()
    session.auth = oauth1(emu)
    t0 = time.monotonic()
    assert session.get(emu.base_url + "/12/accounts", timeout=10).status_code == 200  # keep-alive connection stays
    assert time.monotonic() - t0 >= 0.15
    emu.stop()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    with pytest.raises(requests.ConnectionError):
        session.get(emu.base_url + "/12/accounts", timeout=2)


def test_the_latency_counts_the_emulators_own_work_instead_of_adding_to_it(ds, monkeypatch):
    dispatch = EmulatorServer.dispatch

    def slow_dispatch(self, req):
        time.sleep(0.1)  # a result file's metrics and gzip take real time in Python
        return dispatch(self, req)

    monkeypatch.setattr(EmulatorServer, "dispatch", slow_dispatch)
    with EmulatorServer(ds, now=NOW, latency_ms=300) as emu:
        session = requests.Session()
        session.auth = oauth1(emu)
        t0 = time.monotonic()
        assert session.get(emu.base_url + "/12/accounts", timeout=10).status_code == 200
        took = time.monotonic() - t0
    # X's latency is the whole answer's time: 0.3 s, not 0.1 s of work and 0.3 s more.
    assert 0.3 <= took < 0.38


def test_config_helpers(emu, ds):
    c1 = emu.oauth1_config()
    assert c1["credentials"]["auth_type"] == "oauth1.0a" and c1["api_base_url"] == emu.base_url
    assert c1["start_date"] == "2026-10-27" and c1["end_date"] == "2026-11-26" and c1["lookback_window_days"] == 3
    ids = [ds.accounts[0].id]
    c2 = emu.oauth2_config(start_date=dt.date(2026, 1, 1), end_date="2026-02-01", account_ids=ids)
    assert c2["credentials"]["auth_type"] == "oauth2.0" and c2["account_ids"] == ids
    assert c2["credentials"]["token_refresh_endpoint"] == emu.base_url + "/2/oauth2/token"
    assert c2["start_date"] == "2026-01-01" and c2["end_date"] == "2026-02-01"
    assert emu.oauth2_config()["credentials"]["refresh_token"] != c2["credentials"]["refresh_token"]


def test_cli_runs_writes_configs_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "integration_tests.x_emulator", "--port", "0", "--today", "2026-11-26"]
        + ["--write-config", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.removeprefix("listening on ")
        config = json.loads((tmp_path / "oauth1_config.json").read_text())
        assert config["api_base_url"] == base
        assert json.loads((tmp_path / "oauth2_config.json").read_text())["credentials"]["auth_type"] == "oauth2.0"
        c = config["credentials"]
        auth = OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"])
        assert requests.get(base + "/12/accounts", auth=auth, timeout=10).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_fault_draws_are_seeded():
    from integration_tests.x_emulator import FaultConfig

    a, b = FaultConfig(rate=0.3, seed=5), FaultConfig(rate=0.3, seed=5)
    draws = [a.draw() for _ in range(1000)]
    assert draws == [b.draw() for _ in range(1000)]
    assert 200 < sum(d is not None for d in draws) < 400
    assert {d for d in draws if d} == {"503", "500", "bad_json", "502_html", "slow", "drop"}
