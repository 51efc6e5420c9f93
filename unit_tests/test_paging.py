"""Endless paging: X handing the same page under a new cursor each time (seen: 11,433 pages, 125,735 duplicates in
15 s), or pages without end, stops that account's read with an error naming it; a repeated page is never emitted."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.streams import base
from source_x_organic_analytics.streams.base import EndlessPagingError, PaginationLoopError

from .conftest import BASE, SCHEDULED, account, as_dicts, make_config, tweet

TWEETS = f"{BASE}/12/accounts/abc1/tweets"
CREATED = datetime(2026, 11, 1, tzinfo=timezone.utc)


def catalog(name: str):
    return CatalogBuilder().with_stream(name, SyncMode.full_refresh).build()


def fresh_cursors(pages):
    """Serves `pages(n)` for the n-th request (0-based), each under a cursor never given before."""
    counter = itertools.count()

    def answer(request, context):
        n = next(counter)
        data, extra = pages(n)
        return {"data": data, "next_cursor": f"fresh-{n}", **extra}

    return answer


def the_same_page_forever(n):
    return [tweet(1, CREATED), tweet(2, CREATED)], {}


def test_the_same_page_under_a_fresh_cursor_each_time_is_emitted_once_then_the_account_stops(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(TWEETS, json=fresh_cursors(the_same_page_forever))
    output = read(source, make_config(), catalog("tweets"))
    assert [r["id"] for r in as_dicts(output)] == ["1", "2"]  # the first page once, none of its repeats
    pages = [r for r in fake_x.mocker.request_history if r.path.endswith("/tweets")]
    assert len(pages) == 1 + base.MAX_PAGES_WITHOUT_NEW_IDS
    message = output.errors[0].trace.error.message
    assert "/12/accounts/abc1/tweets" in message and "ads account abc1" in message
    assert "3 pages in a row brought only objects it had already handed" in message


def test_the_error_carries_the_account_so_that_only_that_account_is_skipped(fake_x, source):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(TWEETS, json=fresh_cursors(the_same_page_forever))
    tweets = next(s for s in source.streams(make_config()) if s.name == "tweets")
    with pytest.raises(EndlessPagingError) as raised:
        list(tweets.read_pages({"account_id": "abc1"}))
    assert isinstance(raised.value, PaginationLoopError)
    assert raised.value.account_id == "abc1" and raised.value.endpoint == "/12/accounts/abc1/tweets"


def test_a_page_repeated_once_or_twice_is_skipped_and_paging_goes_on(fake_x, source):
    first, again, last = [tweet(1, CREATED)], [tweet(1, CREATED)], [tweet(2, CREATED)]
    answers = [
        {"data": first, "next_cursor": "c1"},
        {"data": again, "next_cursor": "c2"},  # the listing shifted while paged: nothing new
        {"data": again, "next_cursor": "c3"},
        {"data": last, "next_cursor": None},
    ]
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(TWEETS, [{"json": a} for a in answers])
    output = read(source, make_config(), catalog("tweets"))
    assert not output.errors
    assert [r["id"] for r in as_dicts(output)] == ["1", "2"]


def test_pages_far_beyond_xs_total_count_stop(fake_x, source):
    fake_x.accounts = [account("abc1")]
    one_new_item_each = fresh_cursors(lambda n: ([{"id": f"s{n}"}], {"total_count": 2}))
    fake_x.mocker.get(SCHEDULED, json=one_new_item_each)
    output = read(source, make_config(), catalog("scheduled_tweets"))
    # Twice X's count and a page (200 for scheduled tweets): then the read stops.
    assert len(as_dicts(output)) == 2 * 2 + 200 + 1
    assert "after announcing a total of 2" in output.errors[0].trace.error.message


def test_empty_pages_under_new_cursors_stop_at_the_hard_cap(fake_x, source, monkeypatch):
    monkeypatch.setattr(base, "MAX_PAGES_PER_SLICE", 5)
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.get(SCHEDULED, json=fresh_cursors(lambda n: ([], {})))
    output = read(source, make_config(), catalog("scheduled_tweets"))
    assert len(fake_x.mocker.request_history) == 1 + 5
    assert "it handed 5 pages" in output.errors[0].trace.error.message


def test_an_account_whose_paging_does_not_end_is_skipped_and_the_others_are_read(fake_x, source):
    fake_x.accounts = [account("abc1"), account("def2")]
    fake_x.tweets = {"def2": [tweet(7, CREATED), tweet(8, CREATED)]}
    fake_x.mocker.get(TWEETS, json=fresh_cursors(the_same_page_forever))
    output = read(source, make_config(), catalog("tweets"))
    assert sorted(r["id"] for r in as_dicts(output)) == ["1", "2", "7", "8"]
    error = output.errors[0].trace.error
    assert "ads account abc1" in error.message and "def2" not in error.message
