"""`check`: one cheap authenticated call, each configured account verified, and failures that say what to do."""

import re

import pytest

from .conftest import BASE, OAUTH1, account, error_body, make_config, run_check


@pytest.fixture
def accounts(fake_x):
    fake_x.accounts = [account("abc1"), account("def2"), account("gone", deleted=True)]
    return fake_x


def test_configured_accounts_are_each_read_by_id_without_listing_all_accounts(accounts, source, tmp_path):
    status, _ = run_check(source, make_config(account_ids=["abc1", "def2"]), tmp_path)
    assert status["status"] == "SUCCEEDED"
    # X allows a user 5 account listings per 15 minutes; a read by id draws on the account's own budget.
    assert accounts.listings() == []
    assert sorted(r.path for r in accounts.mocker.request_history) == ["/12/accounts/abc1", "/12/accounts/def2"]


def test_without_configured_accounts_one_listing_proves_the_credentials(accounts, source, tmp_path):
    status, _ = run_check(source, make_config(), tmp_path)
    assert status["status"] == "SUCCEEDED"
    assert [r.path for r in accounts.mocker.request_history] == ["/12/accounts"]


def test_wrong_credentials_cost_one_request_however_many_accounts_are_configured(fake_x, source, tmp_path):
    fake_x.mocker.get(
        re.compile(rf"{BASE}/12/accounts/\w+$"),
        status_code=401,
        json=error_body("UNAUTHORIZED_ACCESS", "This request is not properly authenticated"),
    )
    status, _ = run_check(source, make_config(account_ids=[f"acc{i}" for i in range(20)]), tmp_path)
    assert status["status"] == "FAILED" and "invalid or have been revoked" in status["message"]
    assert len(fake_x.mocker.request_history) == 1


def test_names_the_unknown_account_and_the_readable_ones(accounts, source, tmp_path):
    status, _ = run_check(source, make_config(account_ids=["abc1", "zzz9", "gone"]), tmp_path)
    assert status["status"] == "FAILED"
    assert "zzz9, gone" in status["message"]
    assert "Accounts they can read: abc1, def2." in status["message"]
    assert len(accounts.listings()) == 1  # only to name the readable accounts in this message


def test_a_message_about_many_unreadable_accounts_stays_short(fake_x, source, tmp_path):
    fake_x.accounts = [account(f"ok{i}") for i in range(300)]
    status, _ = run_check(source, make_config(account_ids=[f"no{i}" for i in range(200)]), tmp_path)
    assert status["status"] == "FAILED"
    assert "no0, no1, no2, no3, no4 and 195 more in `account_ids`" in status["message"]
    assert "Accounts they can read: ok0, ok1, ok2, ok3, ok4 and 295 more." in status["message"]
    assert len(status["message"]) < 600


def test_401_says_the_credentials_are_invalid_or_revoked(fake_x, source, tmp_path):
    fake_x.mocker.get(
        f"{BASE}/12/accounts",
        status_code=401,
        json=error_body("UNAUTHORIZED_ACCESS", "This request is not properly authenticated"),
    )
    status, output = run_check(source, make_config(), tmp_path)
    assert status["status"] == "FAILED"
    assert "401 UNAUTHORIZED_ACCESS: This request is not properly authenticated" in status["message"]
    assert "invalid or have been revoked" in status["message"]
    assert len(fake_x.mocker.request_history) == 1  # a 401 is not retried
    for secret in OAUTH1.values():
        if "SECRET" in secret:
            assert secret not in output


def test_403_unapproved_app_says_to_apply_for_ads_api_access(fake_x, source, tmp_path):
    fake_x.mocker.get(
        f"{BASE}/12/accounts",
        status_code=403,
        json=error_body(
            "UNAUTHORIZED_CLIENT_APPLICATION", "The client application making this request does not have access"
        ),
    )
    status, _ = run_check(source, make_config(), tmp_path)
    assert status["status"] == "FAILED"
    assert "not approved for the Ads API" in status["message"]
    assert "UNAUTHORIZED_CLIENT_APPLICATION" in status["message"]


def test_credentials_that_read_no_account(fake_x, source, tmp_path):
    status, _ = run_check(source, make_config(), tmp_path)
    assert status["status"] == "FAILED" and "can read no ads account" in status["message"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"start_date": "2026-11-20", "end_date": "2026-11-01"}, "`end_date`"),
        ({"start_date": "2099-01-01", "end_date": None}, "`start_date`"),
        ({"account_ids": ["Not An Id"]}, "`account_ids`"),
        ({"start_date": "0001-01-01"}, "`start_date`"),  # once a crash in an east-of-UTC account's time zone math
        ({"api_base_url": "http://ads-api.x.com"}, "`api_base_url` must use https"),
        ({"stats_endpoint": "async"}, "'async' is not one of ['auto', 'jobs', 'synchronous']"),  # the CDK's spec check
    ],
)
def test_bad_config_fails_naming_the_field_without_calling_x(fake_x, source, tmp_path, overrides, field):
    status, _ = run_check(source, make_config(**overrides), tmp_path)
    assert status["status"] == "FAILED" and field in status["message"]
    assert fake_x.mocker.request_history == []


def test_an_unreadable_account_is_still_named_when_listing_the_readable_ones_fails(accounts, source, tmp_path):
    accounts.mocker.get(f"{BASE}/12/accounts", status_code=400, json=error_body("INVALID_PARAMETER", "nope"))
    status, _ = run_check(source, make_config(account_ids=["abc1", "zzz9"]), tmp_path)
    assert status["status"] == "FAILED"
    assert "cannot read the ads account(s) zzz9 in `account_ids`" in status["message"]
    assert "Listing the accounts they can read failed too" in status["message"]
