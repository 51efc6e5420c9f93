"""`followers_history` end to end against the emulator: one snapshot per (account, user, sync day), in both `api`
modes and both auth methods, equal to the emulator's truth (x_emulator/v2_lookup.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import requests
from requests_oauthlib import OAuth1

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset, v2_lookup
from integration_tests.x_emulator.server import _json

NOW = e2e.current_hour() - dt.timedelta(hours=1)  # never ahead of the connector's own clock (see test_end_to_end)
TODAY = NOW.date()
ZONE = "Europe/Berlin"
STREAM = "followers_history"
PROMOTABLE_USERS = "/12/accounts/{}/promotable_users"


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY)


def config(emu: EmulatorServer, api: str, oauth: str) -> dict:
    v2 = {"api": "x_api_v2", "timezone": ZONE} if api == "x_api_v2" else {}
    return e2e.config_for(emu, oauth, **v2)


def truth(emu: EmulatorServer, api: str, omitted=()) -> list[dict]:
    """What the connector must emit, dated with the real clock: the connector's `today` comes from it."""
    now = dt.datetime.now(dt.timezone.utc)
    growth = emu.v2_followers_growth
    if api == "x_api_v2":
        me = emu.ds.account(emu.v2_me_account_id)
        records = v2_lookup.truth_followers_history_v2(me, ZONE, now, growth, omitted)
    else:
        records = v2_lookup.truth_followers_history(emu.ds.readable_accounts(), now, growth, omitted)
    return [e2e.without_nulls(r) for r in records]


def warnings(run: e2e.CliRun, phrase: str) -> list[str]:
    return [
        m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN" and phrase in m["log"]["message"]
    ]


def stream_errors(run: e2e.CliRun) -> list[dict]:
    """The error traces the CDK names this stream in (the sync's closing error names none)."""
    return [t for t in run.error_traces if (t.get("stream_descriptor") or {}).get("name") == STREAM]


@pytest.mark.parametrize("oauth", ["oauth1.0a", "oauth2.0"])
@pytest.mark.parametrize("api", ["ads_api", "x_api_v2"])
def test_a_sync_snapshots_each_accounts_user_equal_to_the_truth(ds, api, oauth, tmp_path):
    with EmulatorServer(ds, now=NOW) as emu:
        run = e2e.run_cli(tmp_path, "read", config(emu, api, oauth), e2e.catalog([STREAM], "incremental"))
        paths = Counter(r.path for r in emu.requests if r.path != "/2/oauth2/token")
        expected = truth(emu, api)
        lookups = [r.query for r in emu.requests if r.path == "/2/users"]
    assert run.returncode == 0, run.describe()
    assert expected and all(r["followers_count"] for r in expected), "a truth without counts proves nothing"
    assert run.records(STREAM) == expected
    assert run.final_stream_state(STREAM) == {r["account_id"]: {"date": r["date"]} for r in expected}
    # Every user in one lookup, with only the fields the stream needs.
    assert lookups == [{"ids": ",".join(r["user_id"] for r in expected), "user.fields": "public_metrics,username,name"}]
    if api == "x_api_v2":
        assert paths == Counter({"/2/users/me": 1, "/2/users": 1})
    else:
        promotable = {PROMOTABLE_USERS.format(a.id): 1 for a in ds.readable_accounts()}
        # The account listing, one promotable_users request per account and one lookup for them all.
        assert paths == Counter({"/12/accounts": 1, **promotable, "/2/users": 1})


def test_a_second_sync_the_same_day_re_emits_that_days_row_with_the_newer_counts(ds, tmp_path):
    catalog = e2e.catalog([STREAM], "incremental")
    with EmulatorServer(ds, now=NOW) as emu:
        cfg = config(emu, "ads_api", "oauth1.0a")
        first = e2e.run_cli(tmp_path / "1", "read", cfg, catalog)
        before = truth(emu, "ads_api")
        emu.v2_followers_growth = 25
        state = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": STREAM}, "stream_state": {}}}]
        state[0]["stream"]["stream_state"] = first.final_stream_state(STREAM)
        second = e2e.run_cli(tmp_path / "2", "read", cfg, catalog, state)
        after = truth(emu, "ads_api")
    assert first.returncode == 0 and second.returncode == 0, first.describe() + second.describe()
    assert first.records(STREAM) == before
    assert second.records(STREAM) == after
    key = ("account_id", "user_id", "date")
    assert [[r[k] for k in key] for r in after] == [[r[k] for k in key] for r in before]
    assert [r["followers_count"] for r in after] == [r["followers_count"] + 25 for r in before]
    assert second.final_stream_state(STREAM) == first.final_stream_state(STREAM)


def test_without_x_api_v2_access_the_other_streams_sync_and_this_one_names_the_tier(ds, tmp_path):
    with EmulatorServer(ds, now=NOW, v2_enrolled=False) as emu:
        run = e2e.run_cli(tmp_path, "read", config(emu, "ads_api", "oauth1.0a"), e2e.catalog())
        expected_accounts = len(ds.readable_accounts())
    assert run.returncode != 0
    assert len(run.records("accounts")) == expected_accounts
    assert run.records("tweets") and run.records("organic_report") and run.records("scheduled_tweets")
    assert run.records(STREAM) == []
    named = {(t.get("stream_descriptor") or {}).get("name") for t in run.error_traces} - {None}
    assert named == {STREAM}, run.describe()
    errors = stream_errors(run)
    assert len(errors) == 1 and "followers_history needs X API v2 access" in errors[0]["message"], run.describe()
    assert errors[0]["failure_type"] == "config_error"
    assert "user lookup (GET /2/users" in errors[0]["message"] and "Basic tier" in errors[0]["message"]
    assert run.final_stream_state(STREAM) in (None, {})


@pytest.mark.parametrize("api", ["ads_api", "x_api_v2"])
def test_counts_x_leaves_out_are_null_with_one_warning(ds, api, tmp_path):
    omitted = {"followers_count", "following_count"}
    with EmulatorServer(ds, now=NOW) as emu:
        emu.v2_public_metrics_omitted = omitted
        run = e2e.run_cli(tmp_path, "read", config(emu, api, "oauth2.0"), e2e.catalog([STREAM]))
        expected = truth(emu, api, omitted)
    assert run.returncode == 0, run.describe()
    assert run.records(STREAM) == expected
    assert all("followers_count" not in r and r["tweet_count"] for r in expected)
    assert len(warnings(run, "out of the users' public_metrics")) == 1
    assert "followers_count, following_count out of" in warnings(run, "public_metrics")[0]


def sync_with_promotable_users(ds, tmp_path, account_id: str, answer, oauth: str) -> tuple[e2e.CliRun, list[dict]]:
    """A sync where X answers `answer` to the promotable users of `account_id`; and the rows of the other accounts."""

    def dispatch(req):
        return answer if req.path == PROMOTABLE_USERS.format(account_id) else None

    with e2e.RefusingEmulator(ds, now=NOW, answer=dispatch) as emu:
        run = e2e.run_cli(tmp_path, "read", config(emu, "ads_api", oauth), e2e.catalog([STREAM]))
        others = [r for r in truth(emu, "ads_api") if r["account_id"] != account_id]
    assert run.returncode != 0
    assert run.records(STREAM) == others and others
    assert run.final_stream_state(STREAM) == {r["account_id"]: {"date": r["date"]} for r in others}
    return run, others


def test_an_account_refused_on_promotable_users_is_skipped_and_named(ds, tmp_path):
    refused = ds.readable_accounts()[1].id
    refusal = e2e.x_error(403, "UNAUTHORIZED_ACCESS", "The user is not authorized to access this account")
    run, _ = sync_with_promotable_users(ds, tmp_path, refused, refusal, "oauth1.0a")
    (error,) = stream_errors(run)
    assert refused in error["message"] and error["failure_type"] == "config_error"


def test_a_user_x_cannot_look_up_costs_no_other_account_its_row(ds, tmp_path):
    gone = ds.readable_accounts()[0].id
    user = {"id": "p1", "user_id": "42", "promotable_user_type": "FULL", "deleted": False}
    listing = _json(200, {"data": [user], "next_cursor": None, "request": {"params": {}}})
    run, _ = sync_with_promotable_users(ds, tmp_path, gone, listing, "oauth2.0")
    (error,) = stream_errors(run)
    assert gone in error["message"] and "Could not find user with ids: [42]" in error["message"], error


def get(emu: EmulatorServer, path: str, **params) -> dict:
    c = emu.oauth1_config()["credentials"]
    auth = OAuth1(c["consumer_key"], c["consumer_secret"], c["access_token"], c["access_token_secret"])
    response = requests.get(emu.base_url + path, params=params, auth=auth, timeout=10)
    return {"status": response.status_code, **response.json()}


def test_the_emulators_lookup_answers_ids_fields_unknown_users_and_its_hooks(ds):
    brand = ds.readable_accounts()[0].full_user
    with EmulatorServer(ds, now=NOW) as emu:
        found = get(emu, "/2/users", ids=f"{brand.id},42", **{"user.fields": "public_metrics"})
        too_many = get(emu, "/2/users", ids=",".join(str(n) for n in range(1, 102)))
        me = get(emu, "/2/users/me", **{"user.fields": "public_metrics"})
        emu.v2_followers_growth, emu.v2_public_metrics_omitted = 5, {"followers_count"}
        later = get(emu, "/2/users", ids=str(brand.id), **{"user.fields": "public_metrics"})
        emu.v2_enrolled = False
        not_enrolled = get(emu, "/2/users", ids=str(brand.id))
    counts = v2_lookup.public_metrics(brand.id)
    assert found["status"] == 200
    assert found["data"] == [
        {"id": str(brand.id), "name": brand.name, "username": brand.screen_name, "public_metrics": counts}
    ]
    assert [e["value"] for e in found["errors"]] == ["42"]
    assert too_many["status"] == 400
    assert me["data"]["public_metrics"] == counts
    assert later["data"][0]["public_metrics"] == {
        k: v for k, v in v2_lookup.public_metrics(brand.id, 5).items() if k != "followers_count"
    }
    assert not_enrolled["status"] == 403 and not_enrolled["reason"] == "client-not-enrolled"
