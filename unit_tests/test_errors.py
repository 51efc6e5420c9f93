"""Retries and waits: as long as X says on 429 and 503, bounded on 5xx, never on a refusal."""

import json
import threading
import time

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.errors import (
    ORJSON_MAX_BYTES,
    RateLimitGate,
    RateLimitGates,
    parse_json,
    retry_after_seconds,
    retry_wait_seconds,
)

from .conftest import BASE, FROZEN_NOW, SCHEDULED, account, as_dicts, error_body, make_config, x_answer


def scheduled_catalog():
    return CatalogBuilder().with_stream("scheduled_tweets", SyncMode.full_refresh).build()


def ok_page():
    return {"json": {"data": [{"id": "s1"}], "next_cursor": None}}


def test_429_waits_until_the_account_level_reset_then_succeeds(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    limited = {
        "status_code": 429,
        "json": error_body("TOO_MANY_REQUESTS", "Rate limit exceeded"),
        "headers": {
            "x-account-rate-limit-reset": str(int(FROZEN_NOW + 120)),
            "x-rate-limit-reset": str(int(FROZEN_NOW + 900)),
        },
    }
    fake_x.mocker.get(SCHEDULED, [limited, ok_page()])
    records = as_dicts(read(source, make_config(), scheduled_catalog()))
    assert [r["id"] for r in records] == ["s1"]
    assert sleeps() == [121]  # the account-level reset (120 s) plus the CDK's one second, not a fixed sleep


def test_429_without_account_header_uses_the_user_level_reset():
    answer = x_answer(429, {"x-rate-limit-reset": str(int(FROZEN_NOW + 42))})
    assert retry_wait_seconds(answer, FROZEN_NOW) == 42


def test_429_without_any_reset_header_waits_a_sane_default_that_grows():
    assert retry_wait_seconds(x_answer(429, {}), FROZEN_NOW, attempt=1) == 60
    assert retry_wait_seconds(x_answer(429, {}), FROZEN_NOW, attempt=3) == 180
    assert retry_wait_seconds(x_answer(429, {}), FROZEN_NOW, attempt=99) == 905


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7", FROZEN_NOW) == 7
    assert retry_after_seconds("Fri, 15 Jan 2027 08:00:10 GMT", FROZEN_NOW) == 10  # FROZEN_NOW is 08:00:00 GMT
    assert retry_after_seconds("soon", FROZEN_NOW) is None


def test_503_honours_retry_after(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(
        SCHEDULED, [{"status_code": 503, "headers": {"retry-after": "7"}, "text": "<html>busy</html>"}, ok_page()]
    )
    assert len(read(source, make_config(), scheduled_catalog()).records) == 1
    assert sleeps() == [8]


def test_500_and_non_json_bodies_are_retried(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(
        SCHEDULED, [{"status_code": 500, "json": error_body("INTERNAL_ERROR", "x")}, {"text": "<html>"}, ok_page()]
    )
    assert len(read(source, make_config(), scheduled_catalog()).records) == 1
    assert len(fake_x.mocker.request_history) == 4


def test_a_persistent_5xx_ends_the_stream_after_bounded_retries(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(SCHEDULED, status_code=502, text="bad gateway")
    output = read(source, make_config(), scheduled_catalog())
    assert len(fake_x.mocker.request_history) == 1 + 6  # accounts, then 1 try + 5 retries
    assert output.errors and output.records == []


def test_a_400_is_not_retried_and_carries_xs_code(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(SCHEDULED, status_code=400, json=error_body("INVALID_PARAMETER", "count is bad", "count"))
    output = read(source, make_config(), scheduled_catalog())
    assert len(fake_x.mocker.request_history) == 2
    assert "400 INVALID_PARAMETER: count is bad (parameter `count`)" in output.errors[0].trace.error.message
    assert sleeps() == []


def test_an_account_refused_mid_sync_does_not_stop_the_others(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1"), account("def2"), account("ghi3")]
    fake_x.scheduled = {"abc1": [{"id": "a"}], "ghi3": [{"id": "c"}]}
    fake_x.mocker.get(
        f"{BASE}/12/accounts/def2/scheduled_tweets",
        status_code=403,
        json=error_body("ACCOUNT_NOT_FOUND", "Account def2 not found"),
    )
    output = read(source, make_config(), scheduled_catalog())
    assert [r["id"] for r in as_dicts(output)] == ["a", "c"]
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error"
    assert "def2" in error.message and "Analyst role" in error.message


@pytest.mark.parametrize(
    "status, body",
    [
        (403, error_body("UNAUTHORIZED_ACCESS", "User is not authorized to access this resource of account def2")),
        (403, error_body("ACCOUNT_LOCKED_OUT", "Account def2 is locked")),
        (404, error_body("NOT_FOUND", "The requested resource could not be found")),
        (403, "<html>Forbidden</html>"),
    ],
    ids=["UNAUTHORIZED_ACCESS", "locked out", "404 NOT_FOUND", "403 without a JSON body"],
)
def test_any_account_level_refusal_skips_only_that_account_and_names_the_endpoint(fake_x, source, sleeps, status, body):
    fake_x.accounts = [account("abc1"), account("def2"), account("ghi3")]
    fake_x.scheduled = {"abc1": [{"id": "a"}], "ghi3": [{"id": "c"}]}
    answer = {"json": body} if isinstance(body, dict) else {"text": body}
    fake_x.mocker.get(f"{BASE}/12/accounts/def2/scheduled_tweets", status_code=status, **answer)
    output = read(source, make_config(), scheduled_catalog())
    assert [r["id"] for r in as_dicts(output)] == ["a", "c"]
    [error] = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert error.failure_type.value == "config_error"
    assert "GET /12/accounts/def2/scheduled_tweets" in error.message and "Analyst role" in error.message


def test_a_refusal_of_the_app_itself_is_not_taken_for_one_accounts(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1"), account("def2")]
    fake_x.mocker.get(
        f"{BASE}/12/accounts/abc1/scheduled_tweets",
        status_code=403,
        json=error_body("UNAUTHORIZED_CLIENT_APPLICATION", "The client application is not permitted"),
    )
    output = read(source, make_config(), scheduled_catalog())
    assert "not approved for the Ads API" in output.errors[0].trace.error.message
    assert not any("/def2/" in r.url for r in fake_x.mocker.request_history)  # a sync-wide refusal stops the stream


@pytest.mark.parametrize("tweets", [10, 2_000], ids=["small body: orjson", "large body: json"])
def test_bodies_of_any_size_parse_alike_with_ids_beyond_64_bits(tweets):
    body = json.dumps({"data": [{"id": str(i), "text": "🚀" * 40} for i in range(tweets)], "big": 2**70}).encode()
    assert (len(body) > ORJSON_MAX_BYTES) == (tweets == 2_000)
    parsed = parse_json(body)
    assert parsed == json.loads(body) and parsed["big"] == 2**70


def answered(gate: RateLimitGate, headers: dict[str, str]) -> None:
    gate.acquire()
    response = requests.Response()
    response.headers.update(headers)
    gate.release(response)


def budget_headers(remaining: int, reset: float, limit: int | None = None) -> dict[str, str]:
    headers = {"x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(reset)}
    return headers if limit is None else {**headers, "x-rate-limit-limit": str(limit)}


def test_the_rate_limit_gate_lets_one_request_learn_the_budget_then_spends_it():
    gate, now = RateLimitGate(), 1_000_000.0
    assert gate._allowed(now) == (1, None)  # nothing known: one request asks
    answered(gate, budget_headers(remaining=4, reset=now + 10, limit=5))
    assert gate._allowed(now) == (4, now + 11)  # this window: what X says is left, until its reset
    answered(gate, budget_headers(remaining=7, reset=now + 10, limit=5))  # an older answer, arrived late
    assert gate._allowed(now) == (4, now + 11)
    assert gate._allowed(now + 11) == (5, None)  # the next window: its full limit
    answered(gate, budget_headers(remaining=3, reset=now + 20))
    assert gate._allowed(now + 21) == (1, None)  # no limit announced: one request learns the new budget


def test_the_rate_limit_gate_does_not_bound_an_endpoint_that_announces_no_budget():
    gate = RateLimitGate()
    answered(gate, {})
    assert gate._allowed(time.time()) == (None, None)


def gate_passes(gates, timeout: float = 0.5) -> bool:
    """Whether a request through `gates` gets its slots within `timeout` seconds (it is released at once if so)."""
    passed = threading.Event()

    def take() -> None:
        gates.acquire()
        passed.set()
        gates.release(None)

    threading.Thread(target=take, daemon=True).start()
    return passed.wait(timeout)


def test_one_accounts_spent_budget_holds_back_that_account_only_and_the_users_holds_back_all():
    gates, later = RateLimitGates(), time.time() + 600
    first, second = (gates.for_request("GET", f"{BASE}/12/accounts/{a}/tweets?count=1000") for a in ("aaa1", "bbb2"))
    first.acquire()
    spent = {"x-account-rate-limit-remaining": "0", "x-account-rate-limit-reset": str(later)}
    first.release(x_answer(200, {**spent, **budget_headers(remaining=50, reset=later, limit=900)}))
    assert gate_passes(second)  # another account's budget on the same endpoint is its own
    assert not gate_passes(gates.for_request("GET", f"{BASE}/12/accounts/aaa1/tweets"))  # that account waits
    second.acquire()
    second.release(x_answer(200, budget_headers(remaining=0, reset=later, limit=900)))
    third = gates.for_request("GET", f"{BASE}/12/accounts/ccc3/tweets")
    assert not gate_passes(third)  # the user's budget on the endpoint is spent for every account
