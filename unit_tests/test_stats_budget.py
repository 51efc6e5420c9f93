"""Which endpoint reads an account's metrics: the cost model alone, then whole syncs against the requests-mock fake
that announce X's synchronous budget."""

import re
from collections import Counter
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.stats_budget import EndpointCosts, SyncStatsBudget, choose_endpoints

from .conftest import BASE, account, as_dicts, error_body, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)
# A daily sync of an account of 2,000 tweets: 100 requests for its last 4 days either way.
BIG_DAILY = EndpointCosts(sync_windows=(100,), job_windows=(100,))


@pytest.fixture(autouse=True)
def no_job_sleep(monkeypatch):
    monkeypatch.setattr("source_x_organic_analytics.streams.stats_jobs.time.sleep", lambda seconds: None)


def test_a_short_range_goes_synchronous_within_the_budget_and_to_jobs_beyond_it():
    assert not BIG_DAILY.jobs_finish_first(left=250, limit=250, workers=3)
    # One request short of the budget is a whole rate window's wait: jobs finish first.
    assert BIG_DAILY.jobs_finish_first(left=99, limit=250, workers=3)


def test_a_year_of_a_big_account_goes_to_jobs_even_with_a_whole_budget():
    year = EndpointCosts(sync_windows=(100,) * 53, job_windows=(100,) * 5)
    assert year.jobs_finish_first(left=250, limit=250, workers=3)


def test_a_month_of_a_small_account_stays_synchronous_and_a_quarter_goes_to_jobs():
    month = EndpointCosts(sync_windows=(3,) * 5, job_windows=(3,))
    assert not month.jobs_finish_first(left=250, limit=250, workers=3)
    quarter = EndpointCosts(sync_windows=(3,) * 13, job_windows=(3,))
    assert quarter.jobs_finish_first(left=250, limit=250, workers=3)


def test_the_budget_is_shared_by_the_accounts_in_the_order_they_are_read():
    assert choose_endpoints([BIG_DAILY] * 3, workers=3) == [False, False, True]


def test_promises_count_until_their_requests_are_sent_and_a_new_window_starts_over():
    announced = [(249, 1000.0, 250)]  # (remaining, reset, limit) as X last announced them
    budget = SyncStatsBudget(SimpleNamespace(user_budget=lambda method, url: announced[0]), "", 3, lambda: 500.0)

    def prefers_jobs() -> bool:
        return budget.prefers_jobs(BIG_DAILY, probe=lambda: pytest.fail("the budget is known: no probe"))

    assert [prefers_jobs(), prefers_jobs(), prefers_jobs()] == [False, False, True]  # 249 - 10 in reserve: two fit
    announced[0] = (49, 1000.0, 250)  # the two plans' 200 requests were sent
    assert prefers_jobs()
    announced[0] = (250, 1900.0, 250)  # the next rate window
    assert not prefers_jobs()
    announced[0] = (100, 1900.0, 250)  # 50 of this sync's, 100 of another client's
    assert prefers_jobs()


def catalog():
    return CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()


def accounts_of(fake_x, tweets_each: int, ids=("a1", "a2", "a3")):
    fake_x.accounts = [account(account_id) for account_id in ids]
    fake_x.tweets = {
        account_id: [tweet(n * 10_000 + i, OLD) for i in range(tweets_each)] for n, account_id in enumerate(ids, 1)
    }


def stats_accounts(fake_x) -> Counter:
    return Counter(call["_account"] for call in fake_x.stats_calls)


@pytest.fixture
def tracked_stats(fake_x):
    """Records which account each synchronous stats request was for."""
    original = fake_x._stats

    def stats(request, context):
        body = original(request, context)
        fake_x.stats_calls[-1]["_account"] = fake_x._account_of(request)
        return body

    fake_x.mocker.get(re.compile(rf"{BASE}/12/stats/accounts/(\w+)"), json=stats)
    return fake_x


def test_a_short_incremental_range_of_a_small_account_keeps_the_synchronous_endpoint(fake_x, source):
    accounts_of(fake_x, 45, ids=("a1",))
    read(source, make_config(start_date="2026-11-17", end_date="2026-11-23"), catalog())
    assert fake_x.jobs == {} and len(fake_x.stats_calls) == 3


def test_accounts_beyond_the_announced_budget_go_to_jobs_and_the_sync_never_waits(tracked_stats, source):
    fake_x = tracked_stats
    accounts_of(fake_x, 200)  # 10 requests an account for a 4-day range, either way
    fake_x.sync_budget = 25  # another client spent the rest of the user's window
    output = read(source, make_config(start_date="2026-11-20", end_date="2026-11-23"), catalog())
    assert output.errors == []
    # 24 left after the first request, 10 of them kept in reserve: room for one account's 10, not two.
    assert stats_accounts(fake_x) == {"a1": 10}
    assert {job["entity_ids"].split(",")[0][:1] for job in fake_x.jobs.values()} == {"2", "3"}
    assert len(fake_x.jobs) == 20 and fake_x.sync_budget == 15
    assert len(as_dicts(output)) == 3 * 200 * 4


def test_with_the_whole_budget_every_account_of_a_short_range_stays_synchronous(tracked_stats, source):
    fake_x = tracked_stats
    accounts_of(fake_x, 200)
    fake_x.sync_budget = 250
    output = read(source, make_config(start_date="2026-11-20", end_date="2026-11-23"), catalog())
    # The request that learnt the budget is the first account's first: its answer is used, not asked again.
    assert stats_accounts(fake_x) == {"a1": 10, "a2": 10, "a3": 10} and fake_x.jobs == {}
    assert fake_x.sync_budget == 220
    assert len(as_dicts(output)) == 3 * 200 * 4


def test_without_announced_budget_the_documented_one_is_shared(tracked_stats, source):
    fake_x = tracked_stats
    accounts_of(fake_x, 2400)  # 120 requests an account: two fit in X's documented 250, less the reserve, not three
    output = read(source, make_config(start_date="2026-11-20", end_date="2026-11-23"), catalog())
    assert stats_accounts(fake_x) == {"a1": 120, "a2": 120} and len(fake_x.jobs) == 120
    assert len(as_dicts(output)) == 3 * 2400 * 4


def test_a_refusal_of_the_request_that_learns_the_budget_costs_only_its_account(tracked_stats, source):
    fake_x = tracked_stats
    accounts_of(fake_x, 45, ids=("a1", "a2"))
    refused = error_body("UNAUTHORIZED_ACCESS", "This user is not authorized to access this account")
    fake_x.mocker.get(f"{BASE}/12/stats/accounts/a1", status_code=403, json=refused)
    output = read(source, make_config(start_date="2026-11-20", end_date="2026-11-23"), catalog())
    assert {r["account_id"] for r in as_dicts(output)} == {"a2"} and len(as_dicts(output)) == 45 * 4
    assert "a1" in output.errors[0].trace.error.message
