"""Tests of the emulator's X API v2 post analytics (GET /2/tweets/analytics), through real HTTP, against its truth and
against the Ads stats endpoint of the same server."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from requests_oauthlib import OAuth1

from integration_tests.x_emulator import V2_TO_ADS, EmulatorServer, build_dataset, truth
from integration_tests.x_emulator.v2 import V2_FIELDS, V2_ONLY_FIELDS, v2_bucket_sums

UTC = dt.timezone.utc
TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
PATH = "/2/tweets/analytics"
ALL_FIELDS = ",".join(V2_FIELDS)
INVALID_REQUEST = "https://api.x.com/2/problems/invalid-request"


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


@pytest.fixture(scope="module")
def emu(ds):
    with EmulatorServer(ds, now=NOW, job_seconds=0.2) as server:
        yield server


def oauth1(emu: EmulatorServer) -> OAuth1:
    c = emu.oauth1_config()["credentials"]
    return OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"])


def get(emu: EmulatorServer, path: str, **params) -> requests.Response:
    return requests.get(emu.base_url + path, params=params, auth=oauth1(emu), timeout=10)


def v2(emu: EmulatorServer, ids, start: str, end: str, granularity: str = "daily", fields: str = ALL_FIELDS, **kw):
    params = {"ids": ",".join(ids), "start_time": start, "end_time": end, "granularity": granularity}
    return get(emu, PATH, **params, **{"analytics.fields": fields}, **kw)


def account(ds, tz: str):
    return next(a for a in ds.readable_accounts() if a.timezone == tz)


def organic_ids(ds, account_id: str) -> list[str]:
    return [t.id_str for t in ds.tweets[account_id] if t.is_organic_published]


def hour(ts: str) -> int:
    return int(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()) // 3600


def assert_invalid_request(resp: requests.Response, fragment: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["title"] == "Invalid Request" and body["type"] == INVALID_REQUEST
    assert fragment in body["detail"], body["detail"]


def test_auth_oauth1_oauth2_and_401_problem(emu, ds):
    la = account(ds, "America/Los_Angeles")
    ids = organic_ids(ds, la.id)[:3]
    resp = v2(emu, ids, "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z")
    assert resp.status_code == 200
    assert resp.headers["x-rate-limit-limit"] == "300" and "x-rate-limit-reset" in resp.headers
    assert [d["id"] for d in resp.json()["data"]] == ids

    c = emu.oauth2_config()["credentials"]
    token = requests.post(
        c["token_refresh_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": c["refresh_token"]},
        auth=(c["client_id"], c["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    params = {
        "ids": ",".join(ids),
        "start_time": "2026-11-19T00:00:00Z",
        "end_time": "2026-11-26T00:00:00Z",
        "granularity": "total",
        "analytics.fields": "impressions,likes",
    }
    bearer = requests.get(emu.base_url + PATH, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert bearer.status_code == 200
    assert set(bearer.json()["data"][0]["timestamped_metrics"][0]["metrics"]) == {"impressions", "likes"}

    problem = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    for headers in ({}, {"Authorization": "Bearer nope"}):
        denied = requests.get(emu.base_url + PATH, params=params, headers=headers, timeout=10)
        assert denied.status_code == 401 and denied.json() == problem
        assert "x-rate-limit-limit" not in denied.headers
    c1 = emu.oauth1_config()["credentials"]
    bad = OAuth1(c1["consumer_key"], "wrong-secret", c1["access_token"], c1["access_token_secret"])
    assert requests.get(emu.base_url + PATH, params=params, auth=bad, timeout=10).json() == problem


def test_validation_problems(emu, ds):
    la = account(ds, "America/Los_Angeles")
    ids = organic_ids(ds, la.id)
    many = [str(10**18 + i) for i in range(101)]
    assert_invalid_request(v2(emu, many, "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z"), "between 1 and 100")
    assert v2(emu, many[:100], "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z").status_code == 200

    too_long = v2(emu, ids[:1], "2026-11-18T00:00:00Z", "2026-11-26T01:00:00Z")
    assert_invalid_request(too_long, "must be within 7 days of `end_time`")
    assert too_long.json()["detail"] == (
        "The `start_time` query parameter value [2026-11-18T00:00:00Z] must be within 7 days of `end_time`"
    )
    assert set(too_long.json()) == {"errors", "title", "detail", "type"}
    retention = v2(emu, ids[:1], "2025-10-01T00:00:00Z", "2025-10-02T00:00:00Z")  # > 400 days before NOW
    assert_invalid_request(retention, "must be within 400 days of the current time")
    assert v2(emu, ids[:1], "2025-10-23T00:00:00Z", "2025-10-24T00:00:00Z").status_code == 200  # < 400 days

    start, end = "2026-11-19T00:00:00Z", "2026-11-20T00:00:00Z"
    assert_invalid_request(v2(emu, ids[:1], end, start), "must be a time after `start_time`")
    assert_invalid_request(v2(emu, ids[:1], "2026-11-19", end), "not a valid time")
    assert_invalid_request(v2(emu, ids[:1], "2026-11-19T00:30:00Z", end), "whole hour")
    assert_invalid_request(v2(emu, ids[:1], start, end, granularity="DAY"), "granularity")
    assert_invalid_request(v2(emu, ids[:1], start, end, fields="impressions,video_views_25"), "[video_views_25]")
    assert_invalid_request(v2(emu, ids[:1], start, end, fields=""), "analytics.fields")
    assert_invalid_request(v2(emu, ["abc"], start, end), "[abc]")
    assert_invalid_request(v2(emu, ids[:1], start, end, entity="ORGANIC_TWEET"), "[entity]")
    assert v2(emu, ids[:1], start, "2026-11-20T00:00:00.000Z", fields="timestamped_metrics,likes").status_code == 200


def test_daily_buckets_from_non_midnight_start_and_partial_last(emu, ds):
    tokyo = account(ds, "Asia/Tokyo")
    ids = organic_ids(ds, tokyo.id)[:15]
    start, end = "2026-11-20T05:00:00Z", "2026-11-22T17:00:00Z"
    body = v2(emu, ids, start, end, granularity="daily").json()
    hourly = v2(emu, ids, start, end, granularity="hourly").json()
    assert "errors" not in body and len(body["data"]) == len(ids)
    limit = int(NOW.timestamp()) // 3600
    nonzero = 0
    for entry, hourly_entry in zip(body["data"], hourly["data"], strict=True):
        series = entry["timestamped_metrics"]
        assert [p["timestamp"] for p in series] == [
            "2026-11-20T05:00:00.000Z",
            "2026-11-21T05:00:00.000Z",
            "2026-11-22T05:00:00.000Z",
        ]
        hours = hourly_entry["timestamped_metrics"]
        assert len(hours) == 60 and hours[0]["timestamp"] == "2026-11-20T05:00:00.000Z"
        tweet = ds.tweet_index[int(entry["id"])]
        for i, (lo, hi) in enumerate(((0, 24), (24, 48), (48, 60))):  # the last bucket is 12 h
            h0 = hour(start) + lo
            assert series[i]["metrics"] == v2_bucket_sums(tweet, h0, hour(start) + hi, limit)
            assert series[i]["metrics"] == {f: sum(h["metrics"][f] for h in hours[lo:hi]) for f in V2_FIELDS}
            metrics = series[i]["metrics"]
            assert all(0 <= metrics[f] <= metrics["impressions"] for f in V2_FIELDS)
            nonzero += any(metrics[f] for f in V2_ONLY_FIELDS)
    assert nonzero > 0
    weekly = v2(emu, ids[:2], "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z", granularity="weekly").json()
    total = v2(emu, ids[:2], "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z", granularity="total").json()
    for w, t in zip(weekly["data"], total["data"], strict=True):
        assert len(w["timestamped_metrics"]) == 1 and w["timestamped_metrics"] == t["timestamped_metrics"]
        assert w["timestamped_metrics"][0]["timestamp"] == "2026-11-19T00:00:00.000Z"


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Europe/Berlin"])
def test_v2_hourly_sums_equal_ads_day_stats_and_truth(emu, ds, tz):
    acc = account(ds, tz)
    ids = organic_ids(ds, acc.id)
    chosen = ids[:10] + ids[-10:]  # newest and oldest
    first_day = TODAY - dt.timedelta(days=6)
    ads = get(
        emu,
        f"/12/stats/accounts/{acc.id}",
        entity="ORGANIC_TWEET",
        entity_ids=",".join(chosen),
        start_time=first_day.isoformat(),
        end_time=(TODAY + dt.timedelta(days=1)).isoformat(),
        granularity="DAY",
        metric_groups="ENGAGEMENT,VIDEO",
        placement="ALL_ON_TWITTER",
    ).json()
    start, end = ads["request"]["params"]["start_time"], ads["request"]["params"]["end_time"]
    assert start[11:] != "00:00:00Z"  # local midnight, not UTC midnight
    hourly = v2(emu, chosen, start, end, granularity="hourly")
    daily = v2(emu, chosen, start, end, granularity="daily")
    assert hourly.status_code == daily.status_code == 200
    expected = truth.organic_report_v2(ds, first_day, TODAY, account_ids=[acc.id], now=NOW)
    ads_truth = truth.organic_report(ds, first_day, TODAY, account_ids=[acc.id], now=NOW)
    compared = 0
    for ads_entry, h_entry, d_entry in zip(ads["data"], hourly.json()["data"], daily.json()["data"], strict=True):
        assert ads_entry["id"] == h_entry["id"] == d_entry["id"]
        metrics = ads_entry["id_data"][0]["metrics"]
        hours = h_entry["timestamped_metrics"]
        assert len(hours) == 168
        for i in range(7):
            day_sum = {f: sum(h["metrics"][f] for h in hours[24 * i : 24 * i + 24]) for f in V2_FIELDS}
            assert d_entry["timestamped_metrics"][i]["metrics"] == day_sum
            for field, ads_name in V2_TO_ADS.items():
                ads_value = metrics[ads_name][i] if metrics[ads_name] is not None else 0  # null means 0
                assert day_sum[field] == ads_value, (ads_entry["id"], i, field)
            key = (acc.id, ads_entry["id"], (first_day + dt.timedelta(days=i)).isoformat())
            assert expected.get(key, dict.fromkeys(V2_FIELDS, 0)) == day_sum
            if key in ads_truth:
                compared += 1
                assert {f: ads_truth[key][a] or 0 for f, a in V2_TO_ADS.items()} == {f: day_sum[f] for f in V2_TO_ADS}
    assert compared > 0
    # the truth covers every live tweet of the account and agrees with organic_report on the shared fields
    assert set(expected) == set(ads_truth)
    for key, values in expected.items():
        if key in ads_truth:
            assert all(values[f] == (ads_truth[key][a] or 0) for f, a in V2_TO_ADS.items())


def test_not_found_ids_go_to_errors_and_future_hours_are_zero(emu, ds):
    la = account(ds, "America/Los_Angeles")
    tweets = ds.tweets[la.id]
    deleted = next(t for t in tweets if t.deleted)
    draft = next(t for t in tweets if t.tweet_type == "DRAFT")
    promoted = next(t for t in tweets if t.nullcast and t.tweet_type == "PUBLISHED" and not t.deleted)
    newest = organic_ids(ds, la.id)[0]
    unknown = "1234567890123456789"
    ids = [newest, unknown, deleted.id_str, promoted.id_str, draft.id_str, newest]
    body = v2(emu, ids, "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z", granularity="hourly").json()
    assert [d["id"] for d in body["data"]] == [newest, promoted.id_str]
    assert [e["resource_id"] for e in body["errors"]] == [unknown, deleted.id_str, draft.id_str]
    assert body["errors"][0]["title"] == "Not Found Error"
    assert body["errors"][0]["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert body["errors"][0]["detail"] == f"Could not find tweet with ids: [{unknown}]."
    series = body["data"][0]["timestamped_metrics"]
    assert len(series) == 24 and all(not any(p["metrics"].values()) for p in series[NOW.hour :])
    assert all(not any(p["metrics"].values()) for p in body["data"][1]["timestamped_metrics"])  # promoted-only: 0
    only_missing = v2(emu, [unknown], "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z")
    assert only_missing.status_code == 200 and set(only_missing.json()) == {"errors"}


def test_not_enrolled_403(ds):
    with EmulatorServer(ds, now=NOW, v2_enrolled=False) as emu:
        resp = v2(emu, ["1"], "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z")
        assert resp.status_code == 403
        assert resp.json() == {
            "title": "Client Forbidden",
            "type": "https://api.x.com/2/problems/client-forbidden",
            "reason": "client-not-enrolled",
            "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
            "from a Twitter developer App that is attached to a Project. You can create a project via the developer "
            "portal.",
            "registration_url": "https://developer.x.com/en/docs/projects/overview",
            "required_enrollment": "Appropriate Level of API Access",
        }
        assert get(emu, "/12/accounts").status_code == 200  # the Ads API is unaffected
        emu.v2_enrolled = True  # a plain attribute, read per request
        assert v2(emu, ["1"], "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z").status_code == 200


def test_rate_limit_429_problem(ds):
    with EmulatorServer(ds, now=NOW, rate_limits={"v2_analytics": 2}) as emu:
        la = account(ds, "America/Los_Angeles")
        ids = organic_ids(ds, la.id)[:1]
        responses = [v2(emu, ids, "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z") for _ in range(3)]
        assert [r.status_code for r in responses] == [200, 200, 429]
        limited = responses[-1]
        assert limited.json() == {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        assert limited.headers["x-rate-limit-limit"] == "2" and limited.headers["x-rate-limit-remaining"] == "0"
        assert int(limited.headers["x-rate-limit-reset"]) > 0
        stats = get(emu, f"/12/accounts/{la.id}")  # other families are independent
        assert stats.status_code == 200


@pytest.mark.parametrize("code", ["INVALID_PARAMETER", "FEATURE_NOT_AVAILABLE"])
def test_refuse_organic_tweet_both_codes_switchable_mid_run(emu, ds, code):
    berlin = account(ds, "Europe/Berlin")
    params = {
        "entity": "ORGANIC_TWEET",
        "entity_ids": organic_ids(ds, berlin.id)[0],
        "start_time": "2026-11-19",
        "end_time": "2026-11-26",
        "granularity": "DAY",
        "metric_groups": "ENGAGEMENT",
        "placement": "ALL_ON_TWITTER",
    }
    path = f"/12/stats/accounts/{berlin.id}"
    assert get(emu, path, **params).status_code == 200
    emu.refuse_organic_tweet_code = code
    emu.refuse_organic_tweet = True
    try:
        for resp in (
            get(emu, path, **params),
            requests.post(
                emu.base_url + f"/12/stats/jobs/accounts/{berlin.id}", data=params, auth=oauth1(emu), timeout=10
            ),
        ):
            assert resp.status_code == 400
            error = resp.json()["errors"][0]
            assert (error["code"], error["parameter"]) == (code, "entity")
        v2_resp = v2(emu, [params["entity_ids"]], "2026-11-19T00:00:00Z", "2026-11-26T00:00:00Z")
        assert v2_resp.status_code == 200  # the v2 fallback keeps working
    finally:
        emu.refuse_organic_tweet = False
        emu.refuse_organic_tweet_code = "INVALID_PARAMETER"
    assert get(emu, path, **params).status_code == 200
    with pytest.raises(ValueError):
        emu.refuse_organic_tweet_code = "NOPE"
