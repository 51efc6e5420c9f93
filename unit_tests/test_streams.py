"""accounts, tweets and scheduled_tweets against a requests-mock fake of X: paging, parameters, record shape."""

import json
from datetime import datetime, timedelta, timezone

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.auth import build_authenticator
from source_x_organic_analytics.config import parse_config
from source_x_organic_analytics.context import Connection
from source_x_organic_analytics.errors import response_json
from source_x_organic_analytics.streams.tweets import TimelinePages

from .conftest import BASE, account, as_dicts, make_config, tweet

BIG_ID = 1_829_438_233_443_401_729  # > 2^53: a float would lose its last digits


def catalog(*names):
    builder = CatalogBuilder()
    for name in names:
        builder.with_stream(name, SyncMode.full_refresh)
    return builder.build()


def test_accounts_pages_through_every_account_at_the_largest_page_size(fake_x, source):
    fake_x.accounts = [account(f"acc{i}") for i in range(1500)] + [account("gone", deleted=True)]
    output = read(source, make_config(), catalog("accounts"))
    assert [r["id"] for r in as_dicts(output)] == [f"acc{i}" for i in range(1500)] + ["gone"]
    counts = [req.qs["count"] for req in fake_x.mocker.request_history]
    assert counts == [["1000"], ["1000"]]


def test_accounts_reads_each_configured_account_by_id_and_lists_none(fake_x, source):
    fake_x.accounts = [account("abc1"), account("def2"), account("ghi3")]
    output = read(source, make_config(account_ids=["abc1", "ghi3"]), catalog("accounts"))
    assert [r["id"] for r in as_dicts(output)] == ["abc1", "ghi3"]
    assert fake_x.listings() == []
    assert sorted(r.path for r in fake_x.mocker.request_history) == ["/12/accounts/abc1", "/12/accounts/ghi3"]


def test_a_configured_account_that_cannot_be_read_is_named_after_the_others_are_emitted(fake_x, source):
    fake_x.accounts = [account("abc1"), account("def2")]
    output = read(source, make_config(account_ids=["abc1", "zzz9"]), catalog("accounts"))
    assert [r["id"] for r in as_dicts(output)] == ["abc1"]
    message = output.errors[-1].trace.error.message
    assert "zzz9" in message and "abc1, def2" in message


def test_tweets_reads_the_organic_published_timeline_with_replies_and_string_ids(fake_x, source):
    created = datetime(2019, 8, 27, 22, 22, 12, tzinfo=timezone.utc)
    fake_x.accounts = [account("abc1"), account("def2")]
    fake_x.tweets = {
        "abc1": [tweet(BIG_ID - i, created - timedelta(days=i), in_reply_to_status_id=BIG_ID) for i in range(1001)],
        "def2": [tweet(7, created)],
    }
    records = as_dicts(read(source, make_config(), catalog("tweets")))
    assert len(records) == 1002
    first = records[0]
    assert first["id"] == str(BIG_ID) and first["tweet_id"] == str(BIG_ID)
    assert first["account_id"] == "abc1"
    assert first["created_at"] == "2019-08-27T22:22:12Z"
    assert first["user"]["id"] == "42"
    assert "in_reply_to_status_id" not in first
    assert records[-1]["account_id"] == "def2"
    tweet_requests = [r for r in fake_x.mocker.request_history if r.path.endswith("/tweets")]
    for request in tweet_requests:
        assert request.qs["tweet_type"] == ["published"]  # requests-mock lower-cases query values
        assert request.qs["timeline_type"] == ["organic"]
        assert request.qs["include_mentions_and_replies"] == ["true"]
        assert request.qs["count"] == ["1000"]
    assert len(tweet_requests) == 3  # two pages for abc1, one for def2


def test_scheduled_tweets_pages_by_200_and_carries_the_account(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.scheduled = {
        "abc1": [{"id": f"s{i}", "text": "soon", "scheduled_status": "SCHEDULED", "tweet_id": None} for i in range(250)]
        + [{"id": "done", "scheduled_status": "SUCCESS", "tweet_id": BIG_ID}]
    }
    records = as_dicts(read(source, make_config(), catalog("scheduled_tweets")))
    assert len(records) == 251
    assert records[-1] == {"id": "done", "scheduled_status": "SUCCESS", "tweet_id": str(BIG_ID), "account_id": "abc1"}
    assert [r.qs["count"] for r in fake_x.mocker.request_history[1:]] == [["200"], ["200"]]


def test_deleted_accounts_are_not_read_by_the_per_account_streams(fake_x, source):
    fake_x.accounts = [account("abc1"), account("gone", deleted=True)]
    fake_x.scheduled = {"abc1": [{"id": "s1"}], "gone": [{"id": "s2"}]}
    records = as_dicts(read(source, make_config(), catalog("scheduled_tweets")))
    assert [r["id"] for r in records] == ["s1"]


def test_a_repeated_cursor_stops_paging_with_an_error(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(
        "https://ads-api.test/12/accounts/abc1/scheduled_tweets",
        json={"data": [{"id": "s1"}], "next_cursor": "same"},
    )
    output = read(source, make_config(), catalog("scheduled_tweets"))
    assert len(fake_x.mocker.request_history) == 3  # accounts, first page, the page that repeats the cursor
    assert "same page cursor twice" in output.errors[0].trace.error.message


def test_a_parsed_page_leaves_only_its_cursor_on_the_response():
    # The CDK holds a page's response until the next page is parsed: the objects of the page must not stay with it.
    config = make_config()
    # What pages the `tweets` stream's timelines.
    tweets = TimelinePages(Connection(parse_config(config, today=datetime.now().date()), build_authenticator(config)))
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(
        {"data": [tweet(7, datetime(2026, 11, 1, tzinfo=timezone.utc))], "next_cursor": "c2"}
    ).encode()
    response.request = requests.Request("GET", f"{BASE}/12/accounts/abc1/tweets").prepare()
    records = list(tweets.parse_response(response, stream_slice={"account_id": "abc1"}))
    assert [r["id"] for r in records] == ["7"]
    assert "data" not in response_json(response)
    assert tweets.next_page_token(response) == {"cursor": "c2"}
