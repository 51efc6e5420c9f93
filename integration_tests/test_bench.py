"""bench/run.py at the small scale with zero latency: every figure is printed and written to the JSON, and the
connector sends exactly the minimum number of requests for the workload (a correctness property -- no duplicate,
wasted or retried request -- not a timing; job polls depend on timing and only have a lower bound)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import requests_mock

from bench.http_floor import Replay
from bench.replay import Recording, ReplayServer
from integration_tests.x_emulator.server import KeptResponse

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = {
    "auth_type": "oauth1.0a",
    "consumer_key": "ck",
    "consumer_secret": "cs",
    "access_token": "at",
    "access_token_secret": "ats",
}


def run_bench(tmp_path: Path, *extra: str) -> tuple[str, dict]:
    out = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "bench.run", "--scale", "small", "--latency-ms", "0", "--quiet", "--cpu-runs", "1"]
    argv += ["--json", str(out)]
    done = subprocess.run(argv + list(extra), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def assert_minimum_requests(result: dict) -> None:
    for name, row in result["requests"].items():
        assert row["failed"] == 0, (name, row)
        if name == "job polls":
            assert row["actual"] >= row["minimum"] >= 1, row
        else:
            assert row["actual"] == row["minimum"], (name, row)
    assert result["requests_total"] == result["requests_minimum_total"] > 0
    assert result["requests_same_at_zero_latency"]


def test_small_scale_prints_every_figure_and_sends_the_minimum_requests(tmp_path):
    # Through jobs, so that every figure (job requests, the split of their CPU) is printed.
    stdout, result = run_bench(tmp_path, "--stats-endpoint", "jobs")

    labels = (
        "records",
        "requests",
        "job creations",
        "wall",
        "cpu",
        "CDK floor",
        "HTTP floor",
        "cpu split",
        "peak RSS",
        "rate windows",
    )
    for label in labels:
        assert label in stdout, stdout
    assert set(result["records"]) == {"accounts", "tweets", "organic_report", "scheduled_tweets"}
    assert result["records"]["accounts"] == 2 and result["records"]["organic_report"] > 1000
    # Every job downloaded once.
    assert result["requests"]["job creations"]["minimum"] > 0
    assert "stats (sync)" not in result["requests"]
    assert_minimum_requests(result)

    cpu, rss, windows = result["cpu"], result["rss"], result["rate_windows"]
    assert cpu["connector_s"] > 0 and cpu["floor_s"] > 0 and cpu["ratio_gross"] > 0
    assert cpu["floor_record_bytes"]["organic_report"] > 0 and "ratio" in cpu  # None when start-up noise dominates
    assert cpu["records"] == sum(result["records"].values())
    # The HTTP floor replayed the connector's own requests (this one zero-latency sync's, polls included), each once.
    assert cpu["http_floor_requests"] == sum(row["actual"] for row in result["requests"].values())
    # Each a separate run: at this scale the floor's whole CPU and its start-up's are within each other's noise.
    assert cpu["http_floor_s"] > 0 and cpu["http_floor_startup_s"] > 0 and cpu["http_floor_ratio_gross"] > 0
    assert "http_floor_ratio" in cpu  # None when start-up noise dominates, as the CDK floor's
    # The split comes from the run whose CPU counts: one timed work item per job creation and per download.
    split, requests = cpu["split"], result["requests"]
    assert split["pool"]["JobApi.create"]["calls"] == requests["job creations"]["actual"]
    assert split["pool"]["JobApi.download"]["calls"] == requests["job downloads"]["actual"]
    assert 0 < split["pool_s"] < cpu["connector_s"] and 0 < split["main_thread_s"] < cpu["connector_s"]
    assert rss["peak_rss_mb"] > 0 and rss["tenth_peak_rss_mb"] > 0 and rss["tenth_tweets"] == 10
    assert windows["windows"] == 1 and windows["families"]["jobs_create"]["busiest_bucket"] > 0
    assert result["wall"]["wall_s"] > 0 and result["wall"]["latency_bound_s"] == 0
    assert set(result["targets"]) >= {
        "requests_within_5pct",
        "cpu_within_2x_floor",
        "cpu_within_1.3x_http_floor",
        "rss_within_20pct_tenfold",
    }
    assert result["targets"]["requests_within_5pct"]["met"]


@pytest.mark.parametrize("days", [7])
def test_a_short_range_uses_the_synchronous_endpoint_with_the_minimum_requests(tmp_path, days):
    stdout, result = run_bench(tmp_path, "--days", str(days), "--no-floor", "--no-rss-pair")

    assert "stats (sync)" in stdout
    assert "CDK floor" not in stdout and "HTTP floor" not in stdout
    assert "floor_s" not in result["cpu"] and "http_floor_s" not in result["cpu"]
    assert result["requests"]["stats (sync)"]["minimum"] > 0
    assert "job creations" not in result["requests"]
    assert_minimum_requests(result)


def test_the_hourly_stream_alone_sends_the_minimum_requests(tmp_path):
    args = ("--streams", "organic_report_hourly", "--stats-endpoint", "jobs", "--no-floor", "--no-rss-pair")
    stdout, result = run_bench(tmp_path, *args)

    assert set(result["records"]) == {"organic_report_hourly"}
    assert result["records"]["organic_report_hourly"] > 1000
    # 45-day job windows, each job downloaded once.
    assert result["requests"]["job creations"]["minimum"] > 0
    assert_minimum_requests(result)


def test_the_http_floor_signs_api_requests_and_fetches_result_files_without_credentials():
    api, result_file = "http://127.0.0.1:1/replay/0/12/accounts/a1", "http://127.0.0.1:1/replay/1/_jobs/7.json.gz"
    replay = Replay(
        [
            {"method": "GET", "url": api, "params": {"count": "1000"}, "result_file": False},
            {"method": "GET", "url": result_file, "params": {}, "result_file": True},
        ],
        CREDENTIALS,
        records=2,
    )
    with requests_mock.Mocker() as mock:
        mock.get(api, json={"data": {"id": "a1"}})
        mock.get(result_file, content=gzip.compress(b'{"data": []}'))
        # One request before each of the two records.
        assert replay.records_until_next_request(2) == 1 and mock.call_count == 1
        assert replay.records_until_next_request(1) == 1 and mock.call_count == 2

    signed, unsigned = mock.request_history
    assert signed.qs == {"count": ["1000"]}
    authorization = signed.headers["Authorization"]  # requests-oauthlib sets it as bytes
    assert authorization.startswith(b"OAuth ") and b'oauth_signature_method="HMAC-SHA1"' in authorization
    assert "Authorization" not in unsigned.headers


def test_the_replay_serves_the_recorded_answers_and_says_what_the_floor_did_not_ask_once():
    job, result_file = b'{"data": {"id_str": "7"}}', gzip.compress(b"{}")
    recording = Recording(
        [
            KeptResponse("POST", "/12/stats/jobs/accounts/a1", "entity=ORGANIC_TWEET", 200, "application/json", job),
            KeptResponse("GET", "/_jobs/7.json.gz", "", 200, "application/gzip", result_file),
        ],
        CREDENTIALS,
    )
    with ReplayServer(recording) as server:
        create, download = server.requests()
        assert create["params"] == {"entity": "ORGANIC_TWEET"} and not create["result_file"] and download["result_file"]
        answer = requests.post(create["url"], params=create["params"], timeout=5)
        assert (answer.status_code, answer.content, answer.headers["Content-Type"]) == (200, job, "application/json")
        assert server.missed() == (
            "the HTTP floor asked for 1 of the 2 recorded answers (0 more than once, 0 requests for none of them)"
        )
        assert requests.get(download["url"], timeout=5).content == result_file
        assert server.missed() is None
        assert requests.get(create["url"], timeout=5).status_code == 404  # not the recorded method
        requests.get(download["url"], timeout=5)
        assert server.missed() == (
            "the HTTP floor asked for 2 of the 2 recorded answers (1 more than once, 1 requests for none of them)"
        )


def test_a_daily_sync_of_big_accounts_takes_the_synchronous_budget_and_jobs_for_the_rest_without_a_wait(tmp_path):
    big_daily = ("--accounts", "3", "--tweets", "2000", "--read-days", "4", "--no-floor", "--no-rss-pair")
    stdout, result = run_bench(tmp_path, *big_daily)

    requests = result["requests"]
    # ~100 requests an account either way: two fit in the 250 X allows a user per 15 minutes, the third does not.
    assert 150 < requests["stats (sync)"]["actual"] <= 250 and requests["job creations"]["actual"] > 50
    assert result["rate_windows"]["windows"] == 1 and result["early_retries"] == 0
    assert_minimum_requests(result)
