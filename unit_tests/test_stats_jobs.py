"""Asynchronous analytics jobs: backfills in 90-day windows, bounded concurrency, polling, failures lose nothing."""

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import count

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics.streams.stats_jobs import MAX_PROCESSING_JOBS, StatsJobs

from .conftest import account, as_dicts, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)
LOGGER = logging.getLogger("test")


def catalog():
    return CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr("source_x_organic_analytics.streams.stats_jobs.time.sleep", lambda seconds: None)


@pytest.fixture
def forty_five(fake_x, no_sleep):
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, OLD) for i in range(45)]}
    fake_x.metric = lambda tweet_id, start: {"impressions": int(tweet_id) + start.day}
    return fake_x


def test_a_backfill_longer_than_seven_days_uses_90_day_jobs_and_loses_nothing(forty_five, source):
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog())
    windows = sorted({(j["start_time"], j["end_time"]) for j in forty_five.jobs.values()})
    assert windows == [
        ("2026-07-01T00:00:00Z", "2026-09-29T00:00:00Z"),
        ("2026-09-29T00:00:00Z", "2026-11-24T00:00:00Z"),
    ]
    assert len(forty_five.jobs) == 2 * 3  # ceil(45 / 20) jobs a window
    assert forty_five.stats_calls == []  # no synchronous request at all
    records = as_dicts(output)
    assert len(records) == 45 * 146  # every tweet, every day from 1 Jul to 23 Nov
    sample = next(r for r in records if r["tweet_id"] == "1030" and r["date"] == "2026-10-05")
    assert sample["impressions"] == 1030 + 5
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-11-23"}}
    estimates = [m.trace.estimate for m in output._messages if m.type.value == "TRACE" and m.trace.estimate]
    assert [e.row_estimate for e in estimates] == [45 * 146]


def test_a_short_incremental_range_keeps_the_synchronous_endpoint(forty_five, source):
    read(source, make_config(start_date="2026-11-17", end_date="2026-11-23"), catalog())
    assert forty_five.jobs == {} and len(forty_five.stats_calls) == 3


def test_a_failed_job_is_read_again_synchronously(forty_five, source):
    forty_five.failing_jobs = {"2"}
    output = read(source, make_config(start_date="2026-11-01", end_date="2026-11-20"), catalog())
    failed_ids = forty_five.jobs["2"]["entity_ids"]
    assert [(c["entity_ids"], c["start_time"]) for c in forty_five.stats_calls] == [
        (failed_ids, "2026-11-01T00:00:00Z"),
        (failed_ids, "2026-11-08T00:00:00Z"),
        (failed_ids, "2026-11-15T00:00:00Z"),
    ]
    assert len(as_dicts(output)) == 45 * 20
    failed_count = len(failed_ids.split(","))
    assert output.is_in_logs(f"ended FAILED; reading its {failed_count} tweets with synchronous requests instead")


class FakeJobsApi:
    """The job endpoints as a plain function, to watch how many jobs are processing at once."""

    def __init__(self, polls_until_done=3):
        self.ids = count(1)
        self.processing: dict[str, int] = {}
        self.max_processing = 0
        self.poll_sizes: list[int] = []
        self.polls_until_done = polls_until_done

    def __call__(self, method, path, params):
        if method == "POST":
            job_id = str(next(self.ids))
            self.processing[job_id] = 0
            self.max_processing = max(self.max_processing, len(self.processing))
            return {"data": {"id_str": job_id, "status": "PROCESSING"}}
        ids = params["job_ids"].split(",")
        self.poll_sizes.append(len(ids))
        answer = []
        for job_id in ids:
            self.processing[job_id] += 1
            done = self.processing[job_id] >= self.polls_until_done
            answer.append({"id_str": job_id, "status": "CANCELLED" if done else "PROCESSING"})
            if done:
                del self.processing[job_id]
        return {"data": answer}


def test_never_more_than_100_jobs_processing_and_polls_batched_with_a_growing_interval():
    api, sleeps = FakeJobsApi(), []
    runner = StatsJobs(api, ThreadPoolExecutor(2), 2, LOGGER, sleeps.append)
    outcomes = list(runner.run("abc1", {}, [[str(i)] for i in range(250)]))
    assert len(outcomes) == 250 and all(o.status == "CANCELLED" for o in outcomes)  # a cancelled job is reported
    assert api.max_processing == MAX_PROCESSING_JOBS
    assert max(api.poll_sizes) <= 200
    assert sleeps[:3] == [0.5, 0.75, 1.125]  # first poll within a second, then backing off


def test_a_job_that_never_finishes_fails_loudly():
    api, ticks = FakeJobsApi(polls_until_done=10**9), count(0, 600)
    runner = StatsJobs(api, ThreadPoolExecutor(1), 1, LOGGER, lambda s: None, lambda: next(ticks))
    with pytest.raises(AirbyteTracedException) as raised:
        list(runner.run("abc1", {}, [["1"]]))
    assert "did not finish within 120 minutes" in raised.value.message
