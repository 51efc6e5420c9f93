"""Asynchronous analytics jobs: backfills in 90-day windows, bounded concurrency, polling, failures lose nothing."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import count

import pytest
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics.errors import XApiError, XErrorDetail
from source_x_organic_analytics.streams import stats_jobs
from source_x_organic_analytics.streams.result_files import ResultFiles
from source_x_organic_analytics.streams.stats_jobs import (
    MAX_PROCESSING_JOBS,
    SLOTS_TAKEN,
    VANISHED_AFTER_SECONDS,
    Job,
    JobResult,
    JobStatus,
    JobWindow,
    StatsJobs,
)

from .conftest import BASE, RESULTS, account, as_dicts, days, error_body, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)
LOGGER = logging.getLogger("test")

# Every account is read through jobs here, whatever the budget would choose.
pytestmark = pytest.mark.usefixtures("jobs_endpoint")


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


def test_a_backfill_read_with_jobs_uses_90_day_windows_and_loses_nothing(forty_five, source):
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
    """The job endpoints as a plain function, to watch how many jobs are processing at once and which window's jobs
    were created when. A job's window is its `w` parameter; windows in `refused` are answered with an error.
    `others(now)` is how many of the account's processing slots jobs of someone else hold: X counts them too."""

    def __init__(self, polls_until_done=3, refused=(), others=lambda now: 0, clock=lambda: 0.0):
        self.ids = count(1)
        self.processing: dict[str, int] = {}
        self.max_processing = 0
        self.poll_sizes: list[int] = []
        self.polls_until_done = polls_until_done
        self.created: list[str] = []
        self.refused = set(refused)
        self.others, self.clock = others, clock
        self.slots_taken_answers = 0

    def __call__(self, method, path, params):
        if method == "POST":
            if len(self.processing) + self.others(self.clock()) >= MAX_PROCESSING_JOBS:
                self.slots_taken_answers += 1
                detail = XErrorDetail(400, SLOTS_TAKEN, "A maximum of 100 jobs can be in processing state")
                raise XApiError(detail, f"X rejected the request ({detail}).")
            self.created.append(params.get("w"))
            if params.get("w") in self.refused:
                raise RuntimeError(f"window {params['w']} refused")
            job_id = str(next(self.ids))
            self.processing[job_id] = 0
            self.max_processing = max(self.max_processing, len(self.processing))
            return {"data": {"id_str": job_id, "status": "PROCESSING"}}
        ids = params["job_ids"].split(",")
        self.poll_sizes.append(len(ids))
        answer = []
        for job_id in ids:
            if job_id not in self.processing:  # finished and reported already: X lists it as it ended
                answer.append({"id_str": job_id, "status": "CANCELLED"})
                continue
            self.processing[job_id] += 1
            done = self.processing[job_id] >= self.polls_until_done
            answer.append({"id_str": job_id, "status": "CANCELLED" if done else "PROCESSING"})
            if done:
                del self.processing[job_id]
        return {"data": answer}


class FakeClock:
    """Time that passes only when the runner sleeps: polls fall exactly on their schedule."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_never_more_than_100_jobs_processing_and_polls_batched_with_a_growing_interval():
    api, clock = FakeJobsApi(), FakeClock()
    runner = StatsJobs(api, ThreadPoolExecutor(2), 2, LOGGER, clock.sleep, clock)
    runner.plan("abc1", [JobWindow("w", {}, [[str(i)] for i in range(250)])])
    outcomes = list(runner.read("abc1", "w"))
    assert len(outcomes) == 250 and all(o.status == "CANCELLED" for o in outcomes)  # a cancelled job is reported
    assert api.max_processing == MAX_PROCESSING_JOBS
    assert max(api.poll_sizes) <= 200
    assert clock.sleeps[:3] == [0.5, 0.75, 1.125]  # first poll within a second, then backing off


def test_a_job_that_never_finishes_fails_loudly():
    api, ticks = FakeJobsApi(polls_until_done=10**9), count(0, 600)
    runner = StatsJobs(api, ThreadPoolExecutor(1), 1, LOGGER, lambda s: None, lambda: next(ticks))
    with pytest.raises(AirbyteTracedException) as raised:
        runner.plan("abc1", [JobWindow("w", {}, [["1"]])])
        list(runner.read("abc1", "w"))
    assert "did not finish within 120 minutes" in raised.value.message


def windows_of(jobs_per_window: dict[str, int]) -> list[JobWindow]:
    return [JobWindow(w, {"w": w}, [[f"{w}{i}"] for i in range(n)]) for w, n in jobs_per_window.items()]


def runner_for(api, clock):
    return StatsJobs(api, ThreadPoolExecutor(2), 2, LOGGER, clock.sleep, clock)


def test_the_next_windows_jobs_are_created_while_this_windows_results_are_read():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 3, "b": 3}))
    first = runner.read("abc1", "a")
    next(first)
    # X runs window b's jobs while window a's results are downloaded and emitted: their waits overlap.
    assert api.created == ["a", "a", "a", "b", "b", "b"]
    assert {o.batch[0] for o in first} | {"a0"} == {"a0", "a1", "a2"}
    assert sorted(o.batch[0] for o in runner.read("abc1", "b")) == ["b0", "b1", "b2"]
    assert runner.planned("abc1") is None  # read to the end: forgotten


def test_another_planned_accounts_jobs_are_created_while_this_account_is_read():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 3}))
    runner.plan("def2", windows_of({"x": 3}))
    assert len(list(runner.read("abc1", "a"))) == 3
    assert api.created.count("x") == 3  # X ran them meanwhile
    polls_before = len(api.poll_sizes)
    assert sorted(o.batch[0] for o in runner.read("def2", "x")) == ["x0", "x1", "x2"]
    assert len(api.poll_sizes) <= polls_before + 1


def test_windows_are_handed_back_in_order_and_the_limit_holds_across_windows():
    api, clock = FakeJobsApi(), FakeClock()
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 60, "b": 60, "c": 60}))
    for key in "abc":
        outcomes = list(runner.read("abc1", key))
        assert len(outcomes) == 60 and {o.window for o in outcomes} == {key}
    assert api.max_processing == MAX_PROCESSING_JOBS
    runner.plan("abc1", windows_of({"a": 1, "b": 1}))
    with pytest.raises(ValueError):
        list(runner.read("abc1", "b"))  # not the next window


def test_dropped_plans_create_and_poll_nothing_more():
    api, clock = FakeJobsApi(polls_until_done=10**9), FakeClock()
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 3}))
    runner.plan("def2", windows_of({"x": 3}))
    with pytest.raises(AirbyteTracedException, match="did not finish"):  # def2's jobs were driven alongside
        list(runner.read("abc1", "a"))
    assert api.created.count("x") == 3
    runner.drop_all()
    created, polled = len(api.created), len(api.poll_sizes)
    runner.plan("ghi3", windows_of({"z": 1}))
    with pytest.raises(AirbyteTracedException, match="did not finish"):
        list(runner.read("ghi3", "z"))
    assert api.created[created:] == ["z"] and set(api.poll_sizes[polled:]) == {1}


def test_a_garbled_answer_about_a_planned_ahead_account_surfaces_at_its_own_turn():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()

    def garbling(method, path, params):
        answer = api(method, path, params)
        return {"data": ["not a job"]} if method == "GET" and path.endswith("def2") else answer

    runner = StatsJobs(garbling, ThreadPoolExecutor(2), 2, LOGGER, clock.sleep, clock)
    runner.plan("abc1", windows_of({"a": 3}))
    runner.plan("def2", windows_of({"x": 3}))
    assert len(list(runner.read("abc1", "a"))) == 3  # def2's answers were read meanwhile: abc1 is not failed by them
    with pytest.raises(AirbyteTracedException, match="job statuses of ads account def2 with data the connector cannot"):
        list(runner.read("def2", "x"))


def test_a_refused_creation_surfaces_at_its_own_window_and_stops_creating():
    api, clock = FakeJobsApi(polls_until_done=1, refused={"b"}), FakeClock()
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 3, "b": 3, "c": 3}))
    assert len(list(runner.read("abc1", "a"))) == 3  # the window before the refusal is read whole
    with pytest.raises(RuntimeError, match="window b refused"):
        list(runner.read("abc1", "b"))
    assert "c" not in api.created


def test_a_later_window_refused_keeps_the_state_at_the_last_window_emitted(forty_five, source):
    create = forty_five._create_job

    def refuse_second_window(request, context):
        if forty_five._params(request)["start_time"] == "2026-09-29T00:00:00Z":
            context.status_code = 400
            return error_body("INVALID_PARAMETER", "refused for this test", "start_time")
        return create(request, context)

    forty_five.mocker.post(f"{BASE}/12/stats/jobs/accounts/abc1", json=refuse_second_window)
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog())
    assert "refused for this test" in output.errors[0].trace.error.message
    assert {r["date"] for r in as_dicts(output)} == {str(d) for d in days("2026-07-01", "2026-09-28")}
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-09-28"}}


def test_a_window_refused_for_its_day_convention_is_read_again_with_the_other(fake_x, no_sleep, source):
    fake_x.accounts = [account("ber1", "Europe/Berlin")]
    fake_x.tweets = {"ber1": [tweet(1, OLD)]}
    create = fake_x._create_job

    def strict(request, context):
        if fake_x._params(request)["start_time"] == "2026-06-30T23:00:00Z":  # CET for a summer day
            context.status_code = 400
            return error_body("INVALID_TIME_WINDOW", "start_time must be midnight in the account's time zone")
        return create(request, context)

    fake_x.mocker.post(f"{BASE}/12/stats/jobs/accounts/ber1", json=strict)
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog())
    assert not output.errors
    assert sorted(j["start_time"] for j in fake_x.jobs.values()) == ["2026-06-30T22:00:00Z", "2026-09-28T22:00:00Z"]
    assert [r["date"] for r in as_dicts(output)] == [str(d) for d in days("2026-07-01", "2026-11-23")]


def test_two_accounts_backfilled_with_jobs_planned_ahead_lose_nothing(forty_five, source):
    forty_five.accounts = [account("abc1"), account("def2")]
    forty_five.tweets["def2"] = [tweet(3000 + i, OLD) for i in range(5)]
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog())
    records = as_dicts(output)
    assert len([r for r in records if r["account_id"] == "abc1"]) == 45 * 146
    assert len([r for r in records if r["account_id"] == "def2"]) == 5 * 146
    assert len(forty_five.jobs) == 2 * 3 + 2 * 1  # planned ahead, never twice
    sent = [(r.method, r.url) for r in forty_five.mocker.request_history]
    abc1_files = {f"{RESULTS}/{i}.json.gz" for i, job in forty_five.jobs.items() if job["entity_ids"].startswith("10")}
    last_abc1_download = max(n for n, (method, url) in enumerate(sent) if url in abc1_files)
    first_def2_job = min(n for n, (method, url) in enumerate(sent) if method == "POST" and "/def2" in url)
    assert first_def2_job < last_abc1_download  # X ran def2's jobs while abc1's results were read
    assert output.most_recent_state.stream_state.__dict__ == {
        "abc1": {"date": "2026-11-23"},
        "def2": {"date": "2026-11-23"},
    }


def test_an_account_refused_while_planned_ahead_is_reported_at_its_own_turn(forty_five, source):
    forty_five.accounts = [account("abc1"), account("def2")]
    forty_five.mocker.get(
        f"{BASE}/12/accounts/def2/tweets", status_code=403, json=error_body("ACCOUNT_NOT_FOUND", "Account not found")
    )
    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog())
    assert {r["account_id"] for r in as_dicts(output)} == {"abc1"}
    assert len(as_dicts(output)) == 45 * 146
    assert output.most_recent_state.stream_state.__dict__ == {"abc1": {"date": "2026-11-23"}}
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error" and "def2" in error.message


def test_slots_held_by_jobs_this_sync_did_not_create_are_waited_for_not_taken_for_a_refusal():
    # A previous attempt's 100 jobs are still processing when this sync starts; they finish at t = 20 s.
    clock = FakeClock()
    api = FakeJobsApi(polls_until_done=1, others=lambda now: 100 if now < 20 else 0, clock=clock)
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 3, "b": 2}))
    assert sorted(o.batch[0] for o in runner.read("abc1", "a")) == ["a0", "a1", "a2"]
    assert sorted(o.batch[0] for o in runner.read("abc1", "b")) == ["b0", "b1"]
    assert api.created == ["a", "a", "a", "b", "b"]  # each job created once, once X had room
    assert 1 <= api.slots_taken_answers <= 10  # growing waits, not a request per loop
    assert clock.now >= 20 and clock.sleeps[:3] == [0.5, 0.75, 1.125]


def test_slots_shared_with_other_jobs_bound_this_syncs_jobs_and_free_up_as_its_own_finish():
    # Someone else holds 70 slots for the whole sync: this one has 30, refilled as its polls find jobs done.
    clock = FakeClock()
    api = FakeJobsApi(polls_until_done=2, others=lambda now: 70, clock=clock)
    runner = runner_for(api, clock)
    runner.plan("abc1", windows_of({"a": 50, "b": 40}))
    assert len(list(runner.read("abc1", "a"))) == 50 and len(list(runner.read("abc1", "b"))) == 40
    assert api.max_processing == 30 and len(api.created) == 90


def test_slots_that_stay_taken_end_the_sync_loudly_naming_the_account():
    api, ticks = FakeJobsApi(others=lambda now: 100), count(0, 600)
    runner = StatsJobs(api, ThreadPoolExecutor(1), 1, LOGGER, lambda s: None, lambda: next(ticks))
    runner.plan("abc1", [JobWindow("w", {}, [["1"]])])
    with pytest.raises(AirbyteTracedException) as raised:
        list(runner.read("abc1", "w"))
    assert "processing-job slots of ads account abc1 taken for 120 minutes" in raised.value.message
    assert api.created == []


def finishes_within(seconds, read_all):
    """What `read_all()` returns (or raises), failing the test if it is still running after `seconds`: an engine
    that spins or hangs would otherwise hold the test run for ever."""
    outcome = {}

    def run():
        try:
            outcome["value"] = read_all()
        except BaseException as error:  # handed to the test below
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the engine was still running after {seconds} s: it spins or hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_a_job_id_given_twice_reads_the_second_batch_another_way_instead_of_spinning():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()

    def reusing(method, path, params):
        answer = api(method, path, params)
        if method == "POST" and params["entity_ids"] == "w1":
            return {"data": {"id_str": "1", "status": "PROCESSING"}}  # the id X gave w0's job a moment ago
        return answer

    runner = StatsJobs(reusing, ThreadPoolExecutor(1), 1, LOGGER, clock.sleep, clock)  # one at a time: w0 first
    runner.plan("abc1", windows_of({"w": 2}))
    outcomes = {o.batch[0]: o for o in finishes_within(10, lambda: list(runner.read("abc1", "w")))}
    assert sorted(outcomes) == ["w0", "w1"]
    assert outcomes["w1"].reread == "was given by X the id of another job of this sync"
    assert outcomes["w0"].reread == "ended CANCELLED"  # the first job keeps its id and its own outcome


@pytest.mark.parametrize("polls_left_out, vanishes", [(2, False), (10**9, True)])
def test_a_job_x_leaves_out_of_its_answers_is_read_another_way_once_it_stays_out(polls_left_out, vanishes):
    api, clock = FakeJobsApi(polls_until_done=4), FakeClock()
    left_out = count(1)

    def forgetting(method, path, params):
        answer = api(method, path, params)
        if method == "GET" and "2" in params["job_ids"].split(",") and next(left_out) <= polls_left_out:
            answer = {"data": [job for job in answer["data"] if job["id_str"] != "2"]}
        return answer

    runner = runner_for(forgetting, clock)
    runner.plan("abc1", windows_of({"w": 3}))
    outcomes = {o.job_id: o for o in finishes_within(10, lambda: list(runner.read("abc1", "w")))}
    assert sorted(outcomes) == ["1", "2", "3"]
    if vanishes:
        assert outcomes["2"].reread.startswith("is no longer in X's list of the account's jobs")
        assert clock.now >= VANISHED_AFTER_SECONDS  # not at the first answer that left it out
    else:
        assert outcomes["2"].reread == "ended CANCELLED"  # listed again: waited for


def test_a_later_windows_refusal_does_not_strand_a_job_of_the_window_being_read():
    # X answers a2's creation "slots taken" after it refused b0's: a2 must still be created, not wait for ever.
    api, clock = FakeJobsApi(polls_until_done=1, refused={"b"}), FakeClock()
    b_answered, slots_taken = threading.Event(), []

    def racing(method, path, params):
        if method == "POST" and params["entity_ids"] == "a2" and not slots_taken:
            b_answered.wait(5)
            slots_taken.append(True)
            detail = XErrorDetail(400, SLOTS_TAKEN, "A maximum of 100 jobs can be in processing state")
            raise XApiError(detail, f"X rejected the request ({detail}).")
        try:
            return api(method, path, params)
        finally:
            b_answered.set() if params.get("w") == "b" else None

    runner = runner_for(racing, clock)
    runner.plan("abc1", windows_of({"a": 3, "b": 1, "c": 1}))
    outcomes = finishes_within(10, lambda: list(runner.read("abc1", "a")))
    assert slots_taken and sorted(o.batch[0] for o in outcomes) == ["a0", "a1", "a2"]
    with pytest.raises(RuntimeError, match="window b refused"):
        list(runner.read("abc1", "b"))
    assert "c" not in api.created


def test_a_job_the_engine_cannot_account_for_ends_in_an_error_not_a_spin():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()
    runner = runner_for(api, clock)
    plan = runner.plan("abc1", windows_of({"w": 2}))
    plan._to_create.pop()  # a fault in the engine's books: one of the window's jobs is nowhere
    with pytest.raises(AirbyteTracedException, match="lost track of 1 analytics job"):
        finishes_within(10, lambda: list(runner.read("abc1", "w")))


def test_a_window_whose_download_hangs_ends_at_the_stall_deadline(monkeypatch):
    monkeypatch.setattr(stats_jobs, "STALL_TIMEOUT_SECONDS", 0.5, raising=False)
    release = threading.Event()
    monkeypatch.setattr(requests.Session, "send", lambda *args, **kwargs: release.wait(30))

    def succeeding(method, path, params):
        if method == "POST":
            return {"data": {"id_str": "1", "status": "PROCESSING"}}
        return {"data": [{"id_str": "1", "status": "SUCCESS", "url": f"{RESULTS}/1.json.gz"}]}

    runner = StatsJobs(succeeding, ThreadPoolExecutor(1), 1, LOGGER)
    runner.plan("abc1", windows_of({"w": 1}))
    try:
        with pytest.raises(AirbyteTracedException, match="brought no result for"):
            finishes_within(10, lambda: list(runner.read("abc1", "w")))
    finally:
        release.set()


def test_a_garbled_result_file_is_fetched_again_after_a_growing_pause(monkeypatch):
    body = {"data": [], "request": {"params": {"entity_ids": ["1"]}}}
    answers = iter([ValueError("not JSON"), EOFError("cut short"), body])

    def fetch(self, url):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(ResultFiles, "fetch", fetch)
    clock = FakeClock()
    runner = StatsJobs(lambda *args: {}, ThreadPoolExecutor(1), 1, LOGGER, clock.sleep, clock)
    job = Job("w", {}, ["1"], "abc1", job_id="1", status=JobStatus.SUCCESS, url=f"{RESULTS}/1.json.gz")
    outcome = runner.api.download(job)
    assert clock.sleeps == [1.0, 2.0]  # not straight back into the same fault
    assert outcome == JobResult(job, body)


def test_the_next_windows_results_are_downloaded_while_this_window_is_read():
    api, clock = FakeJobsApi(polls_until_done=1), FakeClock()
    runner = runner_for(api, clock)
    downloaded, download = [], runner.api.download
    runner.api.download = lambda job: downloaded.append(job.window) or download(job)
    runner.plan("abc1", windows_of({"a": 1, "b": 2}))
    first = runner.read("abc1", "a")
    assert next(first).window == "a"
    assert "b" in downloaded  # the workers do not wait for window a to end
    assert list(first) == []
    assert sorted(o.batch[0] for o in runner.read("abc1", "b")) == ["b0", "b1"]  # handed back at b's turn only


def test_while_jobs_remain_to_create_one_download_at_a_time_goes_beside_the_creations():
    api = FakeJobsApi(polls_until_done=1)
    runner = StatsJobs(api, ThreadPoolExecutor(2), 2, LOGGER)  # real time: the first poll comes amid the creations
    lock, in_flight, seen = threading.Lock(), [0], []
    create, download = runner.api.create, runner.api.download

    def slow(request, job, counted=False):
        with lock:
            in_flight[0] += counted
            if counted:
                seen.append((in_flight[0], len(api.created)))
        threading.Event().wait(0.04)
        with lock:
            in_flight[0] -= counted
        return request(job)

    runner.api.create = lambda job: slow(create, job)
    runner.api.download = lambda job: slow(download, job, counted=True)
    sizes = {"a": 2, "b": 14, "c": 14}
    runner.plan("abc1", windows_of(sizes))
    for key, size in sizes.items():
        assert len(list(runner.read("abc1", key))) == size
    # X runs every job sooner when the creations have the workers: a download goes beside them one at a time.
    assert any(created < 30 for _, created in seen)
    assert all(downloads == 1 for downloads, created in seen if created < 30)
    assert max(downloads for downloads, _ in seen) == 2  # then both workers download


class SlowJobsApi(FakeJobsApi):
    """FakeJobsApi whose answers take real time, with the order requests were sent in and the most creations in
    flight at once, before and after X accepted the first job."""

    def __init__(self, seconds: float, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds
        self.sent: list[str] = []
        self._lock = threading.Lock()
        self._creating = 0
        self.most_creating = {False: 0, True: 0}  # by "X had accepted a job when this one was sent"

    def __call__(self, method, path, params):
        with self._lock:
            self.sent.append("create" if method == "POST" else "poll")
            if method == "POST":
                self._creating += 1
                accepted = bool(self.created)
                self.most_creating[accepted] = max(self.most_creating[accepted], self._creating)
        threading.Event().wait(self.seconds)
        try:
            return super().__call__(method, path, params)
        finally:
            with self._lock:
                self._creating -= method == "POST"


def test_until_x_accepts_a_job_its_creations_go_one_at_a_time():
    api = SlowJobsApi(0.02, polls_until_done=1)
    runner = StatsJobs(api, ThreadPoolExecutor(3), 3, LOGGER)
    runner.plan("abc1", [JobWindow("w", {"w": "w"}, [[str(i)] for i in range(6)])])
    assert len(list(runner.read("abc1", "w"))) == 6
    # A refusal of the parameters costs one job; once X took one, the creations fill the workers.
    assert api.most_creating == {False: 1, True: 3}


def test_no_poll_takes_a_worker_while_creations_keep_every_worker_busy():
    # 90 creations of 20 ms on 2 workers: nearly a second of creating, past the first poll's due time (0.5 s).
    api = SlowJobsApi(0.02, polls_until_done=1)
    runner = StatsJobs(api, ThreadPoolExecutor(2), 2, LOGGER)
    runner.plan("abc1", [JobWindow("w", {"w": "w"}, [[str(i)] for i in range(90)])])
    assert len(list(runner.read("abc1", "w"))) == 90
    first_poll = api.sent.index("poll")
    # Polls start once the last creations are in flight and a worker would otherwise wait: the jobs they find are
    # downloaded at once.
    assert api.sent[:first_poll].count("create") >= 90 - 3
    assert api.sent.count("poll") <= 3
