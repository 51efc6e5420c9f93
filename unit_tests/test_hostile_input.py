"""Hostile input: arbitrary configs and malformed X answers must end in correct records or in an error that says
what happened, never in a bare Python exception.

Hypothesis generates the inputs (derandomized, so a run is repeatable); each known
connector bug also has a test with hypothesis's minimal example, so that its fix shows up on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import requests_mock as rm
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from integration_tests.e2e_support import without_nulls
from source_x_organic_analytics import SourceXOrganicAnalytics
from source_x_organic_analytics.config import parse_config
from source_x_organic_analytics.errors import ShapeError, required_id

from .conftest import BASE, NOW, OAUTH1, TOKEN_URL, FakeX, account, make_config, oauth2_credentials, tweet

TODAY = NOW.date()
FIRST_DAY, LAST_DAY = "2026-11-20", "2026-11-23"  # 4 days: one synchronous stats window
WINDOW_DAYS = 4
OLD = NOW - timedelta(days=400)
HUGE_ID = 2**64 + 12345  # beyond uint64, let alone 2^53
GENERIC_MESSAGE = "Something went wrong in the connector"
# A bare exception as the user would see it: "KeyError('id')", "TypeError: ...", "'list' object has no attribute".
BARE_EXCEPTION = re.compile(
    r"\b[A-Z]\w*(Error|Exception)\(|\b[A-Z]\w*Error: |object has no attribute|not subscriptable"
)

FAST = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# While a property still fails on a known bug, shrinking it again on every run only costs time: the minimal examples
# hypothesis found are kept as their own tests below.
NO_SHRINK = settings(FAST, phases=[Phase.explicit, Phase.reuse, Phase.generate])

# ----------------------------------------------------------------------------- generators

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=8)
json_values = st.recursive(
    scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
weird_strings = st.sampled_from(
    ["", " ", "null", "2026-13-45", "0000-00-00", "9999-12-31", "2026-11-20T00:00:00Z", "\x00", "é", "𝕏" * 3, "1e309"]
) | st.text(max_size=12)
field_values = json_values | weird_strings | st.integers(min_value=-(10**30), max_value=10**30)

CONFIG_FIELDS = (
    "credentials",
    "account_ids",
    "start_date",
    "end_date",
    "lookback_window_days",
    "api_base_url",
    "num_workers",
    "metrics_source",
    "x_api_base_url",
)


@st.composite
def hostile_configs(draw) -> dict[str, Any]:
    """A valid config, then some fields removed, nulled, replaced by junk, and extra fields added."""
    config: dict[str, Any] = make_config(
        credentials=dict(draw(st.sampled_from([OAUTH1, oauth2_credentials()]))), account_ids=["abc1"]
    )
    for name in draw(st.lists(st.sampled_from(CONFIG_FIELDS), unique=True, max_size=4)):
        how = draw(st.sampled_from(["drop", "null", "junk"]))
        if how == "drop":
            config.pop(name, None)
        elif how == "null":
            config[name] = None
        else:
            config[name] = draw(field_values)
    if "credentials" in config and isinstance(config["credentials"], dict) and draw(st.booleans()):
        creds = config["credentials"]
        key = draw(st.sampled_from(sorted(creds)))
        creds[key] = draw(field_values)
    config.update(draw(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=2)))
    return config


# ----------------------------------------------------------------------------- config


def _assert_config_error_names_a_field(error: AirbyteTracedException) -> None:
    assert error.failure_type == FailureType.config_error
    assert re.search(r"`[a-z_.]+`", error.message or ""), f"the message names no field: {error.message!r}"


@settings(FAST, max_examples=300)
@given(hostile_configs())
@example({"credentials": {"auth_type": "oauth1.0a"}, "lookback_window_days": 10**30})
@example({"credentials": {"auth_type": "oauth2.0"}, "start_date": "99999-01-01"})
@example({"credentials": {"auth_type": "oauth1.0a"}, "account_ids": [None, {"a": 1}, 2**70]})
@example({"credentials": {"auth_type": "oauth1.0a"}, "metrics_source": ["auto"]})
@example({"credentials": {"auth_type": "oauth1.0a"}, "api_base_url": 0, "x_api_base_url": []})
def test_parse_config_returns_or_raises_a_config_error_naming_a_field(config):
    try:
        parse_config(config, today=TODAY)
    except AirbyteTracedException as error:
        _assert_config_error_names_a_field(error)


@pytest.mark.parametrize(
    "config",
    [
        {"credentials": None},
        {"credentials": {"auth_type": "oauth1.0a"}, "start_date": "2026-11-20", "end_date": "2026-11-19"},
        {"credentials": {"auth_type": "oauth1.0a"}, "start_date": "20.11.2026"},
        {"credentials": {"auth_type": "oauth1.0a"}, "num_workers": 3.0},
        {"credentials": {"auth_type": "oauth1.0a"}, "lookback_window_days": True},
        {"credentials": {"auth_type": "oauth1.0a"}, "account_ids": "abc1"},
        {"credentials": {"auth_type": "oauth1.0a"}, "api_base_url": "ftp://x"},
    ],
)
def test_parse_config_refusals_name_the_field(config):
    with pytest.raises(AirbyteTracedException) as caught:
        parse_config(config, today=TODAY)
    _assert_config_error_names_a_field(caught.value)


# ----------------------------------------------------------------------------- reading against a hostile X


def catalog(*streams: str):
    builder = CatalogBuilder()
    for name in streams:
        builder.with_stream(name, SyncMode.incremental if name == "organic_report" else SyncMode.full_refresh)
    return builder.build()


def read_from(setup: Callable[[FakeX], None], *streams: str, **config: Any) -> EntrypointOutput:
    with rm.Mocker() as mocker:
        fake = FakeX(mocker).install()
        fake.accounts = [account("abc1")]
        fake.tweets = {"abc1": [tweet(1001, OLD)]}
        setup(fake)
        return read(
            SourceXOrganicAnalytics(clock=lambda: NOW),
            make_config(**{"start_date": FIRST_DAY, "end_date": LAST_DAY, "account_ids": ["abc1"], **config}),
            catalog(*streams),
        )


def stream_errors(output: EntrypointOutput) -> list[str]:
    """The error messages a user reads for the failing streams (not the CDK's closing summary)."""
    return [
        m.trace.error.message
        for m in output.errors
        if not (m.trace.error.message or "").startswith("During the sync, the following streams")
    ]


def assert_clear_errors(output: EntrypointOutput) -> None:
    messages = stream_errors(output)
    assert messages, "the read failed without an error trace"
    for message in messages:
        assert GENERIC_MESSAGE not in message, f"a bare exception reached the user: {_internal(output)}"
        assert not BARE_EXCEPTION.search(message), f"a bare exception reached the user: {message!r}"


def _internal(output: EntrypointOutput) -> str:
    return " | ".join(str(m.trace.error.internal_message) for m in output.errors)


def records_of(output: EntrypointOutput) -> list[dict[str, Any]]:
    return [dict(m.record.data) for m in output.records]


def page(data: Any, next_cursor: Any = None, **extra: Any) -> dict[str, Any]:
    return {"request": {"params": {}}, "data": data, "next_cursor": next_cursor, **extra}


# -- list endpoints


def _is_object(x: Any) -> bool:
    return isinstance(x, dict)


def usable_id(item: dict[str, Any]) -> bool:
    value = item.get("id_str") or item.get("id")
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != ""


@st.composite
def hostile_items(draw, make: Callable[[int], dict[str, Any]]) -> Any:
    """A well-formed item with fields removed, nulled or retyped and extra fields, or not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(scalars | st.lists(scalars, max_size=2))
    item = make(draw(st.sampled_from([1, 2**53 + 1, HUGE_ID])))
    for name in draw(st.lists(st.sampled_from(sorted(item)), unique=True, max_size=3)):
        how = draw(st.sampled_from(["drop", "null", "junk"]))
        if how == "drop":
            item.pop(name)
        else:
            item[name] = None if how == "null" else draw(field_values)
    item.update(draw(st.dictionaries(st.sampled_from(["extra", "𝕏", "data", "next_cursor"]), json_values, max_size=2)))
    return item


@st.composite
def hostile_pages(draw, make: Callable[[int], dict[str, Any]]) -> list[Any]:
    """1-3 pages: data a list (possibly empty, with a cursor), an object, a scalar; the last page's cursor null."""
    pages = []
    n = draw(st.integers(1, 3))
    for i in range(n):
        shape = draw(st.sampled_from(["list", "list", "list", "empty", "object", "junk"]))
        if shape == "list":
            data = draw(st.lists(hostile_items(make), min_size=1, max_size=3))
        elif shape == "empty":
            data = []
        elif shape == "object":
            data = draw(hostile_items(make))
        else:
            data = draw(scalars)
        cursor = None if i == n - 1 else f"c{i + 1}"
        pages.append(page(data, cursor))
    return pages


def serve_pages(fake: FakeX, url: Any, pages: list[Any]) -> None:
    """Page i answers the request whose cursor is "c<i>" (the first has none)."""

    def answer(request, context):
        cursor = request.qs.get("cursor", ["c0"])[0]
        return pages[int(cursor[1:])]

    fake.mocker.get(url, json=answer)


def items_of(pages: list[Any], id_keys: tuple[str, ...]) -> list[Any]:
    """The items X handed, in order, less those of a page that brings no id an earlier page had not: the connector
    emits nothing of such a page (X handing the same page again)."""
    out: list[Any] = []
    seen: set[str | None] = set()
    for p in pages:
        data = p["data"]
        items = data if isinstance(data, list) else [data] if isinstance(data, dict) else [] if not data else [data]
        ids = {id_of(item, id_keys) for item in items}
        if items and ids <= seen:
            continue
        seen |= ids
        out.extend(items)
    return out


def id_of(item: Any, keys: tuple[str, ...]) -> str | None:
    """The item's id as the connector reads it (its primary key), None when it has none."""
    try:
        return required_id(item, *keys) if isinstance(item, dict) else None
    except ShapeError:
        return None


def scheduled_item(n: int) -> dict[str, Any]:
    return {"id": n, "id_str": str(n), "text": "hello", "scheduled_status": "SCHEDULED", "tweet_id": None}


@NO_SHRINK
@given(hostile_pages(scheduled_item))
@example([page({"id": "s1"}, "c1"), page([])])  # a single object as `data`, then an empty last page
def test_scheduled_tweets_hostile_pages_give_correct_records_or_a_clear_error(pages):
    output = read_from(
        lambda fake: serve_pages(fake, f"{BASE}/12/accounts/abc1/scheduled_tweets", pages), "scheduled_tweets"
    )
    items = items_of(pages, ("id_str", "id"))
    if all(_is_object(i) and usable_id(i) for i in items) and not output.errors:
        got = records_of(output)
        assert [r["id"] for r in got] == [str(i.get("id_str") or i["id"]) for i in items]
        assert all(r["account_id"] == "abc1" for r in got)
    elif output.errors:
        assert_clear_errors(output)
    else:
        # No error although some items were malformed: only well-formed items may have become records.
        good = [i for i in items if _is_object(i) and usable_id(i)]
        assert [r["id"] for r in records_of(output)] == [str(i.get("id_str") or i["id"]) for i in good]


def account_item(n: int) -> dict[str, Any]:
    return account(f"acc{n % 1000}", timezone="UTC", name="A", approval_status="ACCEPTED")


@NO_SHRINK
@given(hostile_pages(account_item))
def test_accounts_hostile_pages_give_correct_records_or_a_clear_error(pages):
    output = read_from(lambda fake: serve_pages(fake, f"{BASE}/12/accounts", pages), "accounts", account_ids=None)
    items = items_of(pages, ("id",))
    if output.errors:
        assert_clear_errors(output)
    else:
        # An integer id is read as its string, like every id of X's.
        good = [{**i, "id": id_of(i, ("id",))} for i in items if _is_object(i) and id_of(i, ("id",)) is not None]
        # Null handling in nested values is the CDK's serializer's business: compare modulo nulls.
        assert [without_nulls(r) for r in records_of(output)] == [without_nulls(i) for i in good]


def timeline_item(n: int) -> dict[str, Any]:
    return tweet(n, OLD, full_text="hi")


@NO_SHRINK
@given(hostile_pages(timeline_item))
def test_tweets_hostile_pages_give_correct_records_or_a_clear_error(pages):
    output = read_from(lambda fake: serve_pages(fake, f"{BASE}/12/accounts/abc1/tweets", pages), "tweets")
    items = items_of(pages, ("id_str", "tweet_id", "id"))
    if output.errors:
        assert_clear_errors(output)
    else:
        good = [i for i in items if _is_object(i) and usable_id(i)]
        assert [r["id"] for r in records_of(output)] == [
            str(i.get("id_str") or i.get("tweet_id") or i["id"]) for i in good
        ]


def test_empty_pages_with_cursors_are_followed_to_the_end():
    pages = [page([], "c1"), page([], "c2"), page([scheduled_item(7)], "c3"), page([], None)]
    output = read_from(
        lambda fake: serve_pages(fake, f"{BASE}/12/accounts/abc1/scheduled_tweets", pages), "scheduled_tweets"
    )
    assert not output.errors
    assert [r["id"] for r in records_of(output)] == ["7"]


def test_a_repeated_cursor_stops_paging_with_a_clear_error():
    calls = []

    def setup(fake: FakeX) -> None:
        def answer(request, context):
            calls.append(request.url)
            return page([scheduled_item(len(calls))], "same-cursor")

        fake.mocker.get(f"{BASE}/12/accounts/abc1/scheduled_tweets", json=answer)

    output = read_from(setup, "scheduled_tweets")
    assert len(calls) == 2, "paging did not stop at the repeated cursor"
    assert_clear_errors(output)
    assert any("same page cursor twice" in m for m in stream_errors(output))


# -- the stats endpoint


@st.composite
def hostile_stats_bodies(draw) -> Any:
    """A stats answer for tweet 1001 over the 4-day window, damaged in one or more ways."""
    length = WINDOW_DAYS
    if draw(st.booleans()):
        length = draw(st.sampled_from([0, 1, WINDOW_DAYS - 1, WINDOW_DAYS + 1]))
    value = st.integers(0, 10**6) | st.none()
    if draw(st.integers(0, 3)) == 0:
        value = value | st.text(max_size=4) | st.floats(allow_nan=False) | st.booleans() | st.just([1])
    metrics: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(["impressions", "likes", "video_total_views", "bogus"]), max_size=3)):
        metrics[name] = draw(st.none() | st.lists(value, min_size=length, max_size=length) | scalars)
    item: dict[str, Any] = {
        "id": draw(st.sampled_from(["1001", 1001, HUGE_ID, None])),
        "id_data": [{"metrics": metrics}],
    }
    if draw(st.integers(0, 4)) == 0:
        item = draw(
            st.sampled_from(
                [
                    {"id": "1001"},
                    {"id": "1001", "id_data": []},
                    {"id": "1001", "id_data": None},
                    {"id": "1001", "id_data": {"metrics": metrics}},
                    {"id": "1001", "id_data": [None]},
                    {"id": "1001", "id_data": [{"metrics": [1, 2]}]},
                    {"id_data": [{"metrics": metrics}]},
                ]
            )
        )
    data: Any = [item]
    shape = draw(st.integers(0, 5))
    if shape == 0:
        data = item  # an object instead of a list
    elif shape == 1:
        data = draw(scalars)
    body: Any = {"data_type": "stats", "time_series_length": draw(st.integers(-1, 10)), "data": data}
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.lists(scalars, max_size=2) | scalars)
    return body


def expected_stats_records(body: Any) -> list[dict[str, Any]] | None:
    """The records a correct connector emits for `body`, or None when the body is malformed."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if data in (None, [], "", 0, False):
        return []
    if not isinstance(data, list):
        return None
    out = []
    for item in data:
        if not isinstance(item, dict):
            return None
        id_data = item.get("id_data")
        if not isinstance(id_data, list) or not id_data or not isinstance(id_data[0], dict):
            return None
        metrics = id_data[0].get("metrics")
        if not isinstance(metrics, dict):
            return None
        known = {k: v for k, v in metrics.items() if k != "bogus"}
        for values in known.values():
            if values is None:
                continue
            if not isinstance(values, list) or len(values) != WINDOW_DAYS:
                return None
            if any(not (v is None or (isinstance(v, int) and not isinstance(v, bool))) for v in values):
                return None
        for day in range(WINDOW_DAYS):
            row = {k: v[day] for k, v in known.items() if v is not None and v[day] is not None}
            if any(row.values()):
                if item.get("id") in (None, ""):
                    return None
                first = date.fromisoformat(FIRST_DAY)
                out.append({"tweet_id": str(item["id"]), "date": (first + timedelta(days=day)).isoformat(), **row})
    return out


def serve_stats(body: Any) -> Callable[[FakeX], None]:
    def setup(fake: FakeX) -> None:
        # As text: requests-mock would send `json=None` as an empty (non-JSON, hence retried) body.
        fake.mocker.get(f"{BASE}/12/stats/accounts/abc1", text=json.dumps(body))

    return setup


def check_stats_read(body: Any) -> None:
    output = read_from(serve_stats(body), "organic_report")
    expected = expected_stats_records(body)
    if output.errors:
        assert_clear_errors(output)
        assert expected is None or expected == [], "a well-formed answer failed the read"
        return
    assert expected is not None, f"a malformed answer gave records silently: {records_of(output)}"
    got = [{k: v for k, v in r.items() if k in ("tweet_id", "date") or v} for r in records_of(output)]
    want = [{k: v for k, v in r.items() if v or k in ("tweet_id", "date")} for r in expected]
    assert sorted(got, key=str) == sorted([{**r} for r in want], key=str)


@NO_SHRINK
@given(hostile_stats_bodies())
def test_stats_hostile_answers_give_correct_records_or_a_clear_error(body):
    check_stats_read(body)


# ----------------------------------------------------------------------------- minimal examples of known bugs


@pytest.mark.parametrize(
    "stream, url, body",
    [
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            [],
            id="list-body",
        ),
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            page([], {"c": 1}),
            id="unhashable-cursor",
        ),
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            page(1),
            id="data-a-number",
        ),
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            page([{"text": "no id"}]),
            id="scheduled-without-id",
        ),
        pytest.param(
            "tweets",
            "/12/accounts/abc1/tweets",
            page([{"full_text": "no id", "created_at": "Tue Aug 27 22:22:12 +0000 2019"}]),
            id="tweet-without-id",
        ),
        pytest.param(
            "tweets",
            "/12/accounts/abc1/tweets",
            page([{"id": 5, "id_str": "5", "created_at": None}]),
            id="tweet-without-created-at",
        ),
        pytest.param(
            "tweets",
            "/12/accounts/abc1/tweets",
            page([{"id": 5, "id_str": "5", "created_at": "yesterday"}]),
            id="tweet-bad-created-at",
        ),
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            page([None]),
            id="scheduled-null-item",
        ),
        pytest.param(
            "tweets",
            "/12/accounts/abc1/tweets",
            page([None]),
            id="tweet-null-item",
        ),
        pytest.param(
            "accounts",
            "/12/accounts",
            page([None]),
            id="account-null-item",
        ),
        pytest.param(
            "accounts",
            "/12/accounts",
            page(["abc1"]),
            id="account-not-an-object",
        ),
        pytest.param(
            "accounts",
            "/12/accounts",
            page([{"name": "no id"}]),
            id="account-without-id",
        ),
    ],
)
def test_minimal_malformed_list_answers_fail_clearly(stream, url, body):
    config = {"account_ids": None} if stream == "accounts" else {}
    output = read_from(lambda fake: fake.mocker.get(f"{BASE}{url}", json=body), stream, **config)
    assert output.errors, f"no error, records: {records_of(output)}"
    assert_clear_errors(output)


@pytest.mark.parametrize(
    "stream, url, item",
    [
        pytest.param(
            "scheduled_tweets",
            "/12/accounts/abc1/scheduled_tweets",
            {"id": None, "text": "hello"},
            id="scheduled-null-id",
        ),
        pytest.param(
            "tweets",
            "/12/accounts/abc1/tweets",
            {"id": None, "created_at": "Tue Aug 27 22:22:12 +0000 2019"},
            id="tweet-null-id",
        ),
    ],
)
def test_an_item_with_a_null_id_is_not_emitted_as_the_string_none(stream, url, item):
    output = read_from(lambda fake: fake.mocker.get(f"{BASE}{url}", json=page([item])), stream)
    assert "None" not in {r.get("id") for r in records_of(output)}
    if output.errors:
        assert_clear_errors(output)


def _series(*values: Any) -> dict[str, Any]:
    return {"data": [{"id": "1001", "id_data": [{"metrics": {"impressions": list(values)}}]}]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_series(1, 2, 3), id="wrong-length"),  # handled: the documented "malformed series" error
        pytest.param(
            _series("a", 0, 0, 0),
            id="non-numeric-value",
        ),
        pytest.param(
            _series([1], 0, 0, 0),
            id="list-value",
        ),
        pytest.param(
            {"data": [{"id_data": [{"metrics": {"impressions": [1, 0, 0, 0]}}]}]},
            id="item-without-id",
        ),
        pytest.param(
            {"data": {"id": "1001", "id_data": [{"metrics": {"impressions": [1, 0, 0, 0]}}]}},
            id="data-an-object",
        ),
        pytest.param(
            {"data": [{"id": "1001", "id_data": {"metrics": {}}}]},
            id="id-data-an-object",
        ),
        pytest.param(
            {"data": [{"id": "1001", "id_data": [{"metrics": [1]}]}]},
            id="metrics-a-list",
        ),
        pytest.param(
            [],
            id="list-body",
        ),
    ],
)
def test_minimal_malformed_stats_answers_fail_clearly(body):
    output = read_from(serve_stats(body), "organic_report")
    assert output.errors, f"no error, records: {records_of(output)}"
    assert_clear_errors(output)


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(1.9, None, id="1.9"),
        pytest.param(True, None, id="true"),
        pytest.param("12", None, id="string-12"),
    ],
)
def test_non_integer_metric_values_are_not_coerced_silently(value, expected):
    output = read_from(serve_stats(_series(value, 0, 0, 0)), "organic_report")
    assert output.errors or not output.records, f"coerced into {records_of(output)}"


def test_a_time_series_length_that_disagrees_is_harmless_when_the_arrays_are_right():
    body = {**_series(5, 0, 0, 7), "time_series_length": 99}
    records = records_of(read_from(serve_stats(body), "organic_report"))
    assert [(r["date"], r["impressions"]) for r in records] == [("2026-11-20", 5), ("2026-11-23", 7)]


def test_tweet_ids_beyond_2_to_the_64_survive_as_strings():
    big = tweet(HUGE_ID, OLD)

    def setup(fake: FakeX) -> None:
        fake.tweets = {"abc1": [big]}

    output = read_from(setup, "tweets", "organic_report")
    assert not output.errors
    assert {r["tweet_id"] for r in records_of(output)} == {str(HUGE_ID)}


# ----------------------------------------------------------------------------- a server that stalls


def test_every_api_request_carries_a_finite_timeout():
    """A stalled connection must not hang the sync: every request to X has a (connect, read) timeout."""
    with rm.Mocker() as mocker:
        fake = FakeX(mocker).install()
        fake.accounts = [account("abc1")]
        fake.tweets = {"abc1": [tweet(1001, OLD)]}
        read(
            SourceXOrganicAnalytics(clock=lambda: NOW),
            make_config(start_date=FIRST_DAY, end_date=LAST_DAY),
            catalog("accounts", "tweets", "organic_report", "scheduled_tweets"),
        )
        history = list(mocker.request_history)
    assert len(history) >= 4
    assert [r.url for r in history if r.timeout is None] == []


def test_the_token_refresh_request_carries_a_finite_timeout():
    with rm.Mocker() as mocker:
        fake = FakeX(mocker).install()
        fake.accounts = [account("abc1")]
        mocker.post(TOKEN_URL, json={"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 7200})
        read(
            SourceXOrganicAnalytics(clock=lambda: NOW),
            make_config(credentials=oauth2_credentials(), start_date=FIRST_DAY, end_date=LAST_DAY),
            catalog("accounts"),
        )
        token_calls = [r for r in mocker.request_history if r.url.startswith(TOKEN_URL)]
    assert token_calls and all(r.timeout is not None for r in token_calls)
