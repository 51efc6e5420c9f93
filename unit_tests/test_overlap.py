"""One bounded pool for the whole sync: the next accounts' pages are in flight while one account's records are
emitted, never more than `num_workers` requests at once, and a failure read ahead costs only its account."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.context import RequestPool
from source_x_organic_analytics.streams import ScheduledTweets
from source_x_organic_analytics.streams.base import READ_AHEAD_OBJECTS

from .conftest import BASE, RESULTS, account, as_dicts, error_body, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)


class InFlight:
    """Every request's (path, start, end) and the most in flight at once; each takes `seconds` more than X's fake
    answer, so that requests sent together overlap."""

    def __init__(self, seconds: float = 0.03):
        self.seconds = seconds
        self.spans: list[tuple[str, float, float]] = []
        self.most = 0
        self._now = 0
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> InFlight:
        send = requests.Session.send

        def timed_send(session, request, **kwargs):
            with self._lock:
                self._now += 1
                self.most = max(self.most, self._now)
            started = time.monotonic()
            try:
                threading.Event().wait(self.seconds)  # time.sleep may be patched by a fixture
                return send(session, request, **kwargs)
            finally:
                with self._lock:
                    self._now -= 1
                    self.spans.append((request.path_url, started, time.monotonic()))

        monkeypatch.setattr(requests.Session, "send", timed_send)
        return self

    def of(self, fragment: str) -> list[tuple[float, float]]:
        return [(start, end) for path, start, end in self.spans if fragment in path]

    def overlap(self, first: str, second: str) -> bool:
        """Whether a request whose path has `first` was in flight together with one whose path has `second`."""
        return any(a < d and c < b for a, b in self.of(first) for c, d in self.of(second))


def catalog(*names: str, sync_mode: SyncMode = SyncMode.full_refresh):
    builder = CatalogBuilder()
    for name in names:
        builder.with_stream(name, sync_mode)
    return builder.build()


def three_accounts(fake_x, tweets_each: int = 3) -> None:
    fake_x.accounts = [account("abc1"), account("def2"), account("ghi3")]
    fake_x.tweets = {
        a["id"]: [tweet(n * 100 + i, OLD) for i in range(tweets_each)] for n, a in enumerate(fake_x.accounts)
    }
    fake_x.scheduled = {a["id"]: [{"id": f"{a['id']}-s{i}"} for i in range(2)] for a in fake_x.accounts}


def test_the_next_accounts_timelines_are_in_flight_together(fake_x, source, monkeypatch):
    three_accounts(fake_x)
    requests_ = InFlight().install(monkeypatch)
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("tweets"))
    assert not output.errors
    # The first account's page alone (a refusal of the app would cost one request), then the others together.
    assert requests_.overlap("/def2/tweets", "/ghi3/tweets")
    assert not requests_.overlap("/abc1/tweets", "/def2/tweets")
    assert not requests_.of("/scheduled_tweets")  # a stream the catalog does not select is not read ahead
    # Records in the accounts' order, each account's tweets in the timeline's order.
    assert [r["id"] for r in as_dicts(output)] == [
        str(t["id"]) for a in fake_x.accounts for t in fake_x.tweets[a["id"]]
    ]


def test_the_first_pages_of_the_streams_to_come_are_requested_while_an_earlier_stream_is_read(
    fake_x, source, monkeypatch
):
    three_accounts(fake_x)
    requests_ = InFlight().install(monkeypatch)
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("tweets", "scheduled_tweets"))
    assert not output.errors
    # Scheduled tweets' first pages fill the workers the timelines leave idle, each requested once, and are
    # emitted at their stream's turn, after every tweet.
    assert requests_.overlap("/tweets", "/scheduled_tweets")
    assert sorted(path for path, *_ in requests_.spans if "/scheduled_tweets" in path) == [
        f"/12/accounts/{a}/scheduled_tweets?count=200" for a in ("abc1", "def2", "ghi3")
    ]
    streams = [m.record.stream for m in output.records]
    assert streams == ["tweets"] * 9 + ["scheduled_tweets"] * 6


def test_the_first_accounts_pages_are_requested_while_the_other_accounts_are_read(fake_x, source, monkeypatch):
    three_accounts(fake_x)
    requests_ = InFlight().install(monkeypatch)
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("accounts", "tweets"))
    assert not output.errors
    account_reads = [
        (start, end) for path, start, end in requests_.spans if path in ("/12/accounts/def2", "/12/accounts/ghi3")
    ]
    first_timeline = requests_.of("/abc1/tweets")
    # The first account read alone proves the credentials; its timeline then goes with the other accounts' reads.
    assert any(a < d and c < b for a, b in account_reads for c, d in first_timeline)
    first_read = [(start, end) for path, start, end in requests_.spans if path == "/12/accounts/abc1"]
    assert first_read and all(end <= start for _, end in first_read for start, _ in first_timeline)


def test_large_pages_are_not_read_ahead_so_memory_does_not_grow_with_the_accounts_size(fake_x, source, monkeypatch):
    three_accounts(fake_x, tweets_each=READ_AHEAD_OBJECTS + 50)  # one page each, larger than what may be held ahead
    requests_ = InFlight().install(monkeypatch)
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("tweets"))
    assert len(as_dicts(output)) == 3 * (READ_AHEAD_OBJECTS + 50)
    assert not requests_.overlap("/def2/tweets", "/ghi3/tweets")


def test_the_pages_of_one_account_follow_one_another_in_order(fake_x, source, monkeypatch):
    three_accounts(fake_x, tweets_each=5)
    fake_x.scheduled = {"abc1": [{"id": f"s{i}"} for i in range(450)], "def2": [{"id": "d0"}], "ghi3": []}
    requests_ = InFlight().install(monkeypatch)
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("scheduled_tweets"))
    pages = sorted(requests_.of("/abc1/scheduled_tweets"))
    assert len(pages) == 3 and all(
        end <= next_start for (_, end), (next_start, _) in zip(pages, pages[1:], strict=False)
    )
    assert [r["id"] for r in as_dicts(output)] == [f"s{i}" for i in range(450)] + ["d0"]
    assert requests_.overlap("/abc1/scheduled_tweets", "/def2/scheduled_tweets")  # read ahead meanwhile


def test_a_failure_read_ahead_costs_only_its_account_and_surfaces_at_its_turn(fake_x, source, monkeypatch):
    three_accounts(fake_x)
    fake_x.mocker.get(
        f"{BASE}/12/accounts/def2/scheduled_tweets",
        status_code=403,
        json=error_body("ACCOUNT_NOT_FOUND", "Account not found"),
    )
    requests_ = InFlight().install(monkeypatch)
    turns = []
    read_account, skip = ScheduledTweets.read_account, ScheduledTweets._skip
    monkeypatch.setattr(
        ScheduledTweets, "read_account", lambda s, *a: turns.append(a[0]["account_id"]) or read_account(s, *a)
    )
    monkeypatch.setattr(
        ScheduledTweets, "_skip", lambda s, problem: turns.append(f"skip {problem.account_id}") or skip(s, problem)
    )
    output = read(source, make_config(account_ids=["abc1", "def2", "ghi3"]), catalog("scheduled_tweets"))
    assert requests_.overlap("/def2/scheduled_tweets", "/ghi3/scheduled_tweets")  # def2's failure was read ahead
    assert turns == ["abc1", "def2", "skip def2", "ghi3"]  # and it surfaced when def2 was read
    assert [r["id"] for r in as_dicts(output)] == ["abc1-s0", "abc1-s1", "ghi3-s0", "ghi3-s1"]
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error" and "def2" in error.message


def test_never_more_requests_in_flight_than_num_workers_whatever_the_streams(fake_x, source, monkeypatch):
    three_accounts(fake_x, tweets_each=45)
    fake_x.metric = lambda tweet_id, start: {"impressions": 1}
    requests_ = InFlight(seconds=0.02).install(monkeypatch)
    config = make_config(account_ids=["abc1", "def2", "ghi3"], start_date="2026-07-01", num_workers=2)
    streams = ("accounts", "tweets", "organic_report", "scheduled_tweets")
    output = read(source, config, catalog(*streams))
    assert not output.errors and len(fake_x.jobs) == 3 * 2 * 3  # 3 accounts, 2 windows of 3 jobs
    assert requests_.most == 2  # both workers used, never a third request


def test_jobs_of_the_accounts_after_the_next_are_created_while_the_first_is_read(fake_x, source, monkeypatch):
    # The plans ahead hold few jobs: the third account's are created too, so X runs them while the first is read.
    three_accounts(fake_x, tweets_each=45)
    monkeypatch.setattr("source_x_organic_analytics.streams.stats_jobs.time.sleep", lambda seconds: None)
    output = read(
        source, make_config(start_date="2026-07-01"), catalog("organic_report", sync_mode=SyncMode.incremental)
    )
    assert not output.errors
    sent = [(r.method, r.url) for r in fake_x.mocker.request_history]
    abc1_files = {
        f"{RESULTS}/{i}.json.gz" for i, job in fake_x.jobs.items() if int(job["entity_ids"].split(",")[0]) < 100
    }
    last_abc1_download = max(n for n, (_, url) in enumerate(sent) if url in abc1_files)
    first_ghi3_job = min(n for n, (method, url) in enumerate(sent) if method == "POST" and "/ghi3" in url)
    assert first_ghi3_job < last_abc1_download


def test_a_request_of_the_main_thread_waits_for_a_worker_and_a_tasks_own_runs_on_its_worker():
    pool = RequestPool(1)
    release, ran_on = threading.Event(), []
    pool.submit(release.wait, 5)
    waiting = threading.Thread(target=lambda: ran_on.append(pool.run(lambda: threading.current_thread().name)))
    waiting.start()
    waiting.join(0.1)
    assert ran_on == []  # the one worker is busy: the request waits for it, no second request in flight
    release.set()
    waiting.join(5)
    assert ran_on and ran_on[0].startswith("x-requests")
    # A task's own request runs on its worker: with one worker, waiting for another task would never end.
    assert pool.submit(pool.run, lambda: "sent").result(timeout=5) == "sent"
    pool.shutdown()


@pytest.mark.parametrize("workers", [1, 3])
def test_the_accounts_are_read_by_id_on_the_sync_pool(fake_x, source, monkeypatch, workers):
    fake_x.accounts = [account(f"acc{i}") for i in range(5)]
    requests_ = InFlight().install(monkeypatch)
    output = read(
        source, make_config(account_ids=[a["id"] for a in fake_x.accounts], num_workers=workers), catalog("accounts")
    )
    assert [r["id"] for r in as_dicts(output)] == [f"acc{i}" for i in range(5)]
    assert requests_.most == workers
