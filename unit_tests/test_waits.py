"""Every wait X asks for passes one check: what fits in X's 15-minute rate window is slept, anything longer ends the
stream with a transient error that says when X allows the next request, and absurd values never crash."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from hypothesis import given, settings
from hypothesis import strategies as st

from source_x_organic_analytics.errors import (
    MAX_WAIT_SECONDS,
    RateLimitGate,
    RateLimitGates,
    WaitTooLongError,
    XBackoffStrategy,
    announced_budget,
    retry_wait_seconds,
    wait_asked_by_x,
)

from .conftest import BASE, FROZEN_NOW, SCHEDULED, account, make_config, tweet, x_answer

DAY = 86_400
A_DAY_AHEAD = "2027-01-16 08:00:00 UTC"  # FROZEN_NOW + DAY
STATS = "https://ads-api.test/12/stats/accounts/abc1"


def check(seconds: float | None) -> float | None:
    return wait_asked_by_x(seconds, FROZEN_NOW, "/12/x", "`retry-after: test`")


@pytest.mark.parametrize(
    ("asked", "slept"),
    [(42, 42), (0, 0), (-5, 0), (-math.inf, 0), (MAX_WAIT_SECONDS, MAX_WAIT_SECONDS), (None, None), (math.nan, None)],
)
def test_a_wait_within_xs_rate_window_is_slept_and_a_past_one_is_none(asked, slept):
    assert check(asked) == slept


@pytest.mark.parametrize(
    ("asked", "resume"),
    [
        (MAX_WAIT_SECONDS + 1, "2027-01-15 08:15:06 UTC"),
        (DAY, A_DAY_AHEAD),
        (math.inf, "a time beyond the year 9999"),
        (1e300, "a time beyond the year 9999"),
    ],
)
def test_a_longer_wait_ends_the_stream_naming_when_x_allows_the_next_request(asked, resume):
    with pytest.raises(WaitTooLongError) as raised:
        check(asked)
    error = raised.value
    assert error.failure_type == FailureType.transient_error
    assert f"before {resume}" in error.message and f"run the sync again after {resume}" in error.message
    assert "/12/x" in error.message and "`retry-after: test`" in error.message


@pytest.mark.parametrize(
    ("status", "headers", "slept"),
    [
        (503, {"retry-after": "7"}, 7),
        (500, {"retry-after": "7"}, 7),  # a retry-after is honoured on any status retried
        (503, {}, None),  # no ask: the CDK's exponential backoff
        (429, {"x-rate-limit-reset": str(int((FROZEN_NOW + 42) * 1000))}, 42),  # a reset in milliseconds
        (429, {"x-rate-limit-reset": "nan", "retry-after": "9"}, 9),
        (429, {"x-rate-limit-reset": str(FROZEN_NOW - 60)}, 0),  # already past
        (503, {"retry-after": "-3"}, 0),
        (503, {"retry-after": "nan"}, None),
    ],
)
def test_what_x_asks_on_any_status_is_read_and_checked(status, headers, slept):
    assert retry_wait_seconds(x_answer(status, headers), FROZEN_NOW) == slept


@pytest.mark.parametrize(
    ("status", "headers", "resume"),
    [
        (503, {"retry-after": str(DAY)}, A_DAY_AHEAD),
        (503, {"retry-after": "inf"}, "a time beyond the year 9999"),
        (503, {"retry-after": "1e300"}, "a time beyond the year 9999"),
        (503, {"retry-after": "Fri, 31 Dec 9999 23:59:59 GMT"}, "9999-12-31 23:59:59 UTC"),
        (429, {"x-account-rate-limit-reset": str(int(FROZEN_NOW + DAY))}, A_DAY_AHEAD),
        (429, {"x-rate-limit-reset": str(int((FROZEN_NOW + DAY) * 1000))}, A_DAY_AHEAD),
    ],
)
def test_the_backoff_refuses_a_wait_beyond_xs_rate_window_instead_of_sleeping_or_crashing(
    sleeps, status, headers, resume
):
    with pytest.raises(WaitTooLongError) as raised:
        XBackoffStrategy().backoff_time(x_answer(status, headers), attempt_count=1)
    assert f"before {resume}" in raised.value.message
    assert "/12/accounts/abc1/tweets" in raised.value.message


header_values = st.one_of(
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: format_datetime(d, usegmt=True)),
    st.sampled_from(["inf", "-inf", "nan", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT"]),
)
header_names = st.sampled_from(
    ["retry-after", "x-rate-limit-reset", "x-account-rate-limit-reset", "x-rate-limit-remaining", "x-rate-limit-limit"]
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([429, 503, 500, 502, 408]), st.dictionaries(header_names, header_values, max_size=4))
def test_any_header_x_sends_gives_a_bounded_wait_or_a_transient_error_never_a_crash(status, headers):
    budget = announced_budget(headers)
    assert budget is None or not math.isnan(budget[1])
    try:
        wait = retry_wait_seconds(x_answer(status, headers), FROZEN_NOW, attempt=3)
    except WaitTooLongError as error:
        assert error.failure_type == FailureType.transient_error
        assert " UTC" in error.message or "beyond the year 9999" in error.message
        return
    assert wait is None or 0 <= wait <= MAX_WAIT_SECONDS


def test_a_budget_reset_announced_in_milliseconds_is_read_in_seconds():
    reset = int((FROZEN_NOW + 30) * 1000)
    assert announced_budget({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}) == (
        0,
        FROZEN_NOW + 30,
        None,
    )


def in_thread(action) -> Callable[[float], BaseException | None]:
    """Starts `action` in a daemon thread; the returned function waits up to the given seconds and returns what
    `action` raised, or None if it neither raised nor returned in time (blocked) or returned."""
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def raised(seconds: float) -> BaseException | None:
        thread.join(seconds)
        return outcome[0] if outcome else None

    return raised


def test_a_spent_budget_that_resets_a_day_ahead_ends_at_once_instead_of_blocking_a_day():
    gate = RateLimitGate("/12/stats/accounts/-")
    gate.acquire()
    budget = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time() + DAY))}
    gate.release(x_answer(200, budget))
    error = in_thread(gate.acquire)(5)
    assert isinstance(error, WaitTooLongError), "the gate blocked (or let the request go) instead of refusing"
    assert "budget is spent" in error.message and "/12/stats/accounts/-" in error.message


def test_a_worker_refused_a_long_wait_releases_the_workers_waiting_at_the_gate():
    gates = RateLimitGates()
    gate = gates.for_request("GET", STATS)
    gate.acquire()  # the first request of the endpoint: the others wait for its answer
    second_worker = in_thread(gate.acquire)
    assert second_worker(0.2) is None, "the second worker should be waiting for the first answer"
    # The first request's answer asks for a day: its worker raises from the CDK's backoff, and send_gated releases.
    with pytest.raises(WaitTooLongError):
        XBackoffStrategy(gates).backoff_time(x_answer(503, {"retry-after": str(DAY)}, STATS), attempt_count=1)
    gate.release(None)
    assert isinstance(second_worker(5), WaitTooLongError), "the waiting worker was left blocked"


def scheduled_catalog():
    return CatalogBuilder().with_stream("scheduled_tweets", SyncMode.full_refresh).build()


@pytest.mark.parametrize("retry_after", [str(DAY), "inf", "1e300", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_503_asking_for_a_day_ends_the_sync_at_once_with_a_transient_error(fake_x, source, sleeps, retry_after):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(SCHEDULED, status_code=503, headers={"retry-after": retry_after}, text="<html>busy</html>")
    output = read(source, make_config(), scheduled_catalog())
    assert sleeps() == []
    assert len(fake_x.mocker.request_history) == 2  # the accounts, then one request: no retry inside X's wait
    error = output.errors[0].trace.error
    assert error.failure_type == FailureType.transient_error
    assert "X allows no request to /12/accounts/abc1/scheduled_tweets before" in error.message


def test_a_429_whose_reset_is_a_day_ahead_is_not_slept(fake_x, source, sleeps):
    fake_x.accounts = [account("abc1")]
    reset = {"x-rate-limit-reset": str(int(FROZEN_NOW + DAY))}
    fake_x.mocker.get(SCHEDULED, status_code=429, headers=reset, json={"errors": [{"code": "TOO_MANY_REQUESTS"}]})
    output = read(source, make_config(), scheduled_catalog())
    assert sleeps() == []
    assert f"before {A_DAY_AHEAD}" in output.errors[0].trace.error.message


def test_a_budget_spent_until_a_day_ahead_ends_organic_report_after_the_last_complete_window(
    fake_x, source, sleeps, synchronous_endpoint
):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, datetime(2026, 1, 1, tzinfo=timezone.utc)) for i in range(45)]}

    def stats(request, context):
        body = fake_x._stats(request, context)
        if len(fake_x.stats_calls) == 3:  # the first window's last batch: X says the budget is spent for a day
            context.headers.update({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(FROZEN_NOW + DAY))})
        return body

    fake_x.mocker.get(re.compile(rf"{BASE}/12/stats/accounts/(\w+)"), json=stats)
    config = make_config(start_date="2026-11-10", end_date="2026-11-23")
    catalog = CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()
    outputs = []
    finished = in_thread(lambda: outputs.append(read(source, config, catalog)))
    assert finished(30) is None and outputs, "the sync did not end: it waited for the announced reset"
    output = outputs[0]
    assert len(fake_x.stats_calls) == 3 and sleeps() == []
    message = output.errors[0].trace.error.message
    assert f"before {A_DAY_AHEAD}" in message and "budget is spent" in message
    assert {r.record.data["date"] for r in output.records} <= {f"2026-11-{day}" for day in range(10, 17)}
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states and states[-1] == {"abc1": {"date": "2026-11-16"}}  # the first window, not the refused one
