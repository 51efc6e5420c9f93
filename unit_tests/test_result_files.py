"""Result files of analytics jobs that cannot be trusted or fetched: the batch is read through the synchronous
endpoint instead, with a warning that says why, and nothing is lost or attributed to the wrong tweet."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import zlib
from datetime import date, timedelta
from email.utils import formatdate
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import sleep as real_sleep  # the clock fixture replaces result_files' own

import certifi
import pytest
import requests
import requests_mock
import urllib3
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics.streams import result_files, stats_jobs
from source_x_organic_analytics.streams.result_files import (
    MAX_INFLATED_BYTES,
    ResultFiles,
    StillFailing,
    Unfetchable,
    mismatch,
    read_body,
    refusal,
    result_file_origins,
)

from .conftest import BASE, RESULTS, account, as_dicts, make_config, result_files_relayed, tweet
from .test_stats_jobs import OLD

FIRST, LAST = "2026-11-01", "2026-11-20"  # 20 days: one window of jobs, 3 jobs of 20, 20 and 5 tweets
JOBS_PATH = re.compile(rf"{BASE}/12/stats/jobs/accounts/(\w+)")
ELSEWHERE = "https://results.example.net/2.json.gz"

# Every account is read through jobs here, whatever the budget would choose.
pytestmark = pytest.mark.usefixtures("jobs_endpoint")


def catalog():
    return CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()


@pytest.fixture
def x(fake_x, source, monkeypatch):
    """The fake X with one account of 45 tweets, and the source to sync it with (`x.source`)."""
    monkeypatch.setattr(stats_jobs.time, "sleep", lambda seconds: None)
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, OLD) for i in range(45)]}
    fake_x.metric = lambda tweet_id, start: {"impressions": int(tweet_id) + start.day}
    fake_x.source = source
    return fake_x


def sync(x):
    return read(x.source, make_config(start_date=FIRST, end_date=LAST), catalog())


def file_of(x, job_id: str) -> bytes:
    """The result file X would serve for job `job_id`."""
    params = {k: v for k, v in x.jobs[job_id].items() if not k.startswith("_")}
    return gzip_of(json.dumps(x._stats_body(params)).encode())


def every_row(x) -> dict[tuple[str, str], int]:
    """(tweet, day) -> impressions for every tweet and day of the range: what a sync that loses nothing emits."""
    first = date.fromisoformat(FIRST)
    days = [first + timedelta(days=i) for i in range((date.fromisoformat(LAST) - first).days + 1)]
    return {(t["id_str"], d.isoformat()): int(t["id_str"]) + d.day for t in x.tweets["abc1"] for d in days}


def rows(output) -> dict[tuple[str, str], int]:
    records = as_dicts(output)
    got = {(r["tweet_id"], r["date"]): r["impressions"] for r in records}
    assert len(got) == len(records), "a (tweet, day) was emitted twice"
    return got


def assert_read_synchronously(x, output, job_id: str, why: str) -> None:
    """The job's batch, and only it, was read through the synchronous endpoint, and the warning said why."""
    batch = x.jobs[job_id]["entity_ids"]
    assert {c["entity_ids"] for c in x.stats_calls} == {batch} and len(x.stats_calls) == 3
    assert output.errors == [] and rows(output) == every_row(x)
    assert output.is_in_logs(re.escape(f"X's analytics job {job_id} for account abc1 ({FIRST}..{LAST}) {why}"))
    assert output.is_in_logs(f"reading its {len(batch.split(','))} tweets with synchronous requests instead")


def with_job_url(x, job_id: str, url: str) -> None:
    """X's job list gives `url` as the result of job `job_id`."""
    statuses = x._job_status

    def answer(request, context):
        body = statuses(request, context)
        for job in body["data"]:
            if job["id_str"] == job_id and job["url"]:
                job["url"] = url
        return body

    x.mocker.get(JOBS_PATH, json=answer)


def gzip_of(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~520 KB of gzip that inflates to 512 MB of zeros, like the file that took the process to 1.6 GB: 32 gzip
    members of 16 MB each (a gzip file may hold several), so it is built in a moment."""
    return gzip_of(bytes(16 << 20)) * 32


# -- 4. a result file must answer its own job ---------------------------------------------------------------------


def test_a_result_file_of_another_job_is_not_attributed_but_its_batch_read_synchronously(x):
    x.mocker.get(f"{RESULTS}/2.json.gz", content=lambda request, context: file_of(x, "1"))
    output = sync(x)
    assert_read_synchronously(x, output, "2", "has a result file for another request (its entity_ids differ")


JOB = {"start_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-21T00:00:00Z", "granularity": "DAY"}
ECHO = {**JOB, "entity_ids": ["1", "2"], "entity": "ORGANIC_TWEET"}


@pytest.mark.parametrize(
    "echo, data_ids, why",
    [
        (ECHO, ["1", "2"], None),
        ({**ECHO, "entity_ids": "2,1", "start_time": "2026-11-01T00:00:00+00:00"}, ["1"], None),  # X's other forms
        ({**ECHO, "account_id": "abc1"}, ["1"], None),
        ({**ECHO, "account_id": "def2"}, ["1"], "its account_id differ"),
        ({**ECHO, "entity_ids": ["1", "3"]}, ["1"], "its entity_ids differ"),
        ({**ECHO, "end_time": "2026-11-14T00:00:00Z"}, ["1"], "its end_time differ"),
        ({**ECHO, "start_time": "garbled"}, ["1"], "its start_time differ"),
        ({**ECHO, "granularity": "HOUR"}, ["1"], "its granularity differ"),
        ({k: v for k, v in ECHO.items() if k != "granularity"}, ["1"], "its granularity differ"),
        (ECHO, ["1", "3"], "metrics of 1 tweet(s) the job did not ask for"),
        (None, ["1"], "without `request.params`"),
    ],
)
def test_a_result_file_must_echo_its_jobs_account_tweets_window_and_granularity(echo, data_ids, why):
    body = {"data": [{"id": i} for i in data_ids], **({"request": {"params": echo}} if echo is not None else {})}
    found = mismatch(body, "abc1", JOB, ["1", "2"])
    assert found is None if why is None else why in found


# -- 8. result files are bounded ----------------------------------------------------------------------------------


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def streamed(body: bytes) -> tuple[urllib3.HTTPResponse, CountingStream]:
    stream = CountingStream(body)
    return urllib3.HTTPResponse(body=stream, status=200, preload_content=False), stream


def test_a_gzip_bomb_is_refused_after_reading_a_sliver_of_it():
    bomb = gzip_bomb()
    response, stream = streamed(bomb)
    with pytest.raises(Unfetchable, match="larger than 64 MB once inflated"):
        read_body(response)
    # Inflating stopped at the cap: 64 MB of zeros come from ~64 KB of this file, never from all of it.
    assert stream.bytes_read < len(bomb) // 2


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_a_result_file_is_read_plain_gzipped_or_gzipped_twice(layers):
    content = b'{"data": [], "request": {"params": {}}}' * 5000
    body = content
    for _ in range(layers):
        body = gzip_of(body)
    assert read_body(streamed(body)[0]) == content


def test_a_truncated_gzip_is_garbled_not_refused():
    with pytest.raises(EOFError):
        read_body(streamed(gzip_of(b'{"data": []}' * 1000)[:-20])[0])


def test_a_corrupt_gzip_is_garbled_not_a_crash():
    with pytest.raises(ValueError, match="corrupt"):  # what the engine downloads again
        read_body(streamed(b"\x1f\x8b\x08\x00" + bytes(range(200)))[0])


def test_an_oversized_result_file_is_read_synchronously(x):
    x.mocker.get(f"{RESULTS}/2.json.gz", content=gzip_bomb())
    output = sync(x)
    assert_read_synchronously(x, output, "2", f"has a result file larger than {MAX_INFLATED_BYTES >> 20} MB")


# -- 9. only X's hosts, never credentials -------------------------------------------------------------------------

ORIGINS = result_file_origins("https://ads-api.x.com", "http://127.0.0.1:8765")


@pytest.mark.parametrize(
    "url, why",
    [
        ("https://ton.twimg.com/advertiser-api-async-analytics/a.json.gz", None),
        ("https://TON.twimg.com:443/a.json.gz", None),
        ("https://ads-api.x.com/results/a.json.gz", None),
        ("http://127.0.0.1:8765/_jobs/1.json.gz", None),  # a loopback emulator the config points at
        ("http://ton.twimg.com/a.json.gz", "is not on X's result host"),  # plain HTTP: another origin
        ("https://ton.twimg.com.evil.example/a.json.gz", "is not on X's result host"),
        ("https://results.example.net/a.json.gz", "is not on X's result host"),
        ("http://127.0.0.1:9999/_jobs/1.json.gz", "is not on X's result host"),  # loopback, not the configured port
        ("https://someone:secret@ton.twimg.com/a.json.gz", "carries credentials"),
        ("ftp://ton.twimg.com/a.json.gz", "is not on X's result host"),
        ("not a url", "is not on X's result host"),
    ],
)
def test_only_xs_result_host_and_the_configured_hosts_are_fetched(url, why):
    found = refusal(url, ORIGINS)
    assert found is None if why is None else why in found


def test_plain_http_is_refused_even_on_a_configured_host_unless_it_is_loopback():
    origins = result_file_origins("http://ads-api.example.org")
    assert "is not HTTPS" in refusal("http://ads-api.example.org/a.json.gz", origins)
    assert refusal("http://localhost:8765/a", result_file_origins("http://localhost:8765")) is None


@pytest.mark.parametrize(
    "url", [ELSEWHERE, "http://ton.twimg.com/advertiser-api-async-analytics/2.json.gz", "http://127.0.0.1/2.json.gz"]
)
def test_a_result_url_off_xs_hosts_is_not_fetched_and_its_batch_is_read_synchronously(x, url):
    elsewhere = x.mocker.get(url, content=gzip_of(b'{"data": []}'))
    with_job_url(x, "2", url)
    output = sync(x)
    assert not elsewhere.called
    assert_read_synchronously(x, output, "2", "has its result at a URL that is not on X's result host")


def netrc_for(tmp_path, monkeypatch, *hosts: str) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("".join(f"machine {host} login someone password not-for-x\n" for host in hosts))
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))


def test_a_redirect_to_another_allowed_host_is_followed_without_credentials(x, tmp_path, monkeypatch):
    netrc_for(tmp_path, monkeypatch, "ton.twimg.com", "ads-api.test")
    moved = f"{BASE}/results/2.json.gz"
    x.mocker.get(f"{RESULTS}/2.json.gz", status_code=302, headers={"Location": moved})
    x.mocker.get(moved, content=lambda request, context: file_of(x, "2"))
    output = sync(x)
    assert output.errors == [] and x.stats_calls == [] and rows(output) == every_row(x)
    hops = [r for r in x.mocker.request_history if r.url in (f"{RESULTS}/2.json.gz", moved)]
    assert [r.url for r in hops] == [f"{RESULTS}/2.json.gz", moved]
    assert [r.headers.get("Authorization") for r in hops] == [None, None]


def test_a_redirect_off_xs_hosts_is_not_followed(x):
    x.mocker.get(f"{RESULTS}/2.json.gz", status_code=302, headers={"Location": ELSEWHERE})
    elsewhere = x.mocker.get(ELSEWHERE, content=gzip_of(b'{"data": []}'))
    output = sync(x)
    assert not elsewhere.called
    assert_read_synchronously(x, output, "2", "has its result at a URL that is not on X's result host")


def test_endless_redirects_are_cut_short(x):
    x.mocker.get(f"{RESULTS}/2.json.gz", status_code=302, headers={"Location": f"{RESULTS}/2.json.gz"})
    output = sync(x)
    assert_read_synchronously(x, output, "2", "had its result file redirected more than 3 times")


# -- 10. expired result links -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_result_link_gone_once_is_read_from_the_job_created_again(x, status):
    x.mocker.get(f"{RESULTS}/2.json.gz", status_code=status, content=b"<Error>AccessDenied</Error>")
    output = sync(x)
    assert output.errors == [] and x.stats_calls == [] and rows(output) == every_row(x)
    params = {k: v for k, v in x.jobs["2"].items() if k != "_polls"}
    assert len(x.jobs) == 4 and {k: v for k, v in x.jobs["4"].items() if k != "_polls"} == params
    assert output.is_in_logs(f"had its result file answer HTTP {status}: the link has expired or was withdrawn")


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_result_link_gone_twice_is_read_synchronously(x, status):
    x.mocker.get(re.compile(rf"{RESULTS}/[24].json.gz"), status_code=status, content=b"gone")
    output = sync(x)
    assert len(x.jobs) == 4  # created again once, not more
    assert_read_synchronously(x, output, "4", f"had its result file answer HTTP {status}, also once created again")


# -- 11. a host that fails for a passing reason -------------------------------------------------------------------

FILE = f"{RESULTS}/7.json.gz"
FILE_ON_X = FILE  # a URL on X's host, for the pools' settings
FILE_BODY = {"data": [], "request": {"params": {"entity_ids": ["1"]}}}


class FakeTime:
    """result_files' clock: time passes only when it sleeps, and every sleep is recorded."""

    EPOCH = 1_795_000_000.0

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.EPOCH + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(result_files, "time", fake)
    return fake


def fetched(answers) -> tuple[object, requests_mock.Mocker]:
    """What ResultFiles.fetch gives (or raises) for FILE, whose host gives `answers` in turn, and the mock."""
    with requests_mock.Mocker() as mocker, result_files_relayed():
        mocker.get(FILE, answers)
        try:
            outcome = ResultFiles(logging.getLogger("test"), result_file_origins()).fetch(FILE)
        except Exception as error:  # handed to the test
            outcome = error
    return outcome, mocker


def the_file() -> dict:
    return {"content": gzip_of(json.dumps(FILE_BODY).encode())}


@pytest.mark.parametrize(
    "failures, waits",
    [
        ([{"status_code": 503}, {"status_code": 500}], [1.0, 2.0]),
        ([{"status_code": 502, "text": "<html>Bad Gateway</html>"}], [1.0]),
        ([{"status_code": 408}], [1.0]),
        ([{"status_code": 429}], [60.0]),  # the connector's wait for a 429 that names none
        ([{"exc": requests.ConnectionError("connection reset")}], [1.0]),
        ([{"exc": requests.ConnectTimeout("connect timed out")}, {"exc": requests.ReadTimeout("no answer")}], [1, 2]),
    ],
)
def test_a_passing_failure_of_the_host_is_tried_again_until_the_file_comes(clock, failures, waits):
    outcome, mocker = fetched([*failures, the_file()])
    assert outcome == FILE_BODY
    assert mocker.call_count == len(failures) + 1
    assert clock.sleeps == waits


@pytest.mark.parametrize(
    "headers, wait",
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": formatdate(FakeTime.EPOCH + 5, usegmt=True)}, 5.0),  # an HTTP date
        ({"x-rate-limit-reset": str(int(FakeTime.EPOCH) + 30)}, 30.0),  # on a 429 only, below
    ],
)
def test_the_wait_x_asks_for_is_waited_before_the_next_try(clock, headers, wait):
    status = 429 if "x-rate-limit-reset" in headers else 503
    outcome, mocker = fetched([{"status_code": status, "headers": headers}, the_file()])
    assert outcome == FILE_BODY and mocker.call_count == 2
    assert clock.sleeps == [wait]


def test_retries_stop_before_a_wait_that_would_end_past_the_retry_budget(clock):
    outcome, mocker = fetched([{"status_code": 503, "headers": {"retry-after": "400"}}] * 3 + [the_file()])
    assert isinstance(outcome, StillFailing) and str(outcome) == "its host answered HTTP 503 on 2 tries"
    assert clock.sleeps == [400.0]  # a second wait of 400 s would end 800 s after the first try


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 418])
def test_a_refusal_is_not_tried_again(clock, status):
    outcome, mocker = fetched([{"status_code": status}, the_file()])
    assert isinstance(outcome, Unfetchable) and str(outcome) == f"had its result file answer HTTP {status}"
    assert mocker.call_count == 1 and clock.sleeps == []


def test_a_host_that_keeps_failing_ends_the_sync_after_6_tries_and_no_state_passes_its_window(x, clock):
    failing = x.mocker.get(f"{RESULTS}/2.json.gz", status_code=503)
    output = sync(x)
    assert failing.call_count == 6 and clock.sleeps == [1, 2, 4, 8, 16]
    message = output.errors[0].trace.error.message
    assert message.startswith(
        "The result file of X's analytics job 2 could not be downloaded: its host answered HTTP 503 on 6 tries; the "
        "sync state was not moved past its window."
    )
    assert not any("abc1" in m.state.stream.stream_state.__dict__ for m in output.state_messages)


@pytest.mark.parametrize("asked", ["86400", "inf", "1e300"])
def test_a_wait_longer_than_a_sync_waits_is_not_slept_and_ends_the_sync(x, clock, asked):
    failing = x.mocker.get(f"{RESULTS}/2.json.gz", status_code=503, headers={"retry-after": asked})
    output = sync(x)
    assert failing.call_count == 1 and clock.sleeps == []
    message = output.errors[0].trace.error.message
    assert message.startswith("X allows no request to /advertiser-api-async-analytics/2.json.gz before ")
    assert not any("abc1" in m.state.stream.stream_state.__dict__ for m in output.state_messages)


# -- 12. the download client: urllib3 pools, the environment's proxy and CA bundle ---------------------------------


def test_a_file_sent_with_content_encoding_gzip_is_inflated_once_not_twice(clock):
    """X's file is a gzip file; a server that also says `Content-Encoding: gzip` about it sends the same bytes."""
    outcome, _ = fetched([{**the_file(), "headers": {"Content-Encoding": "gzip"}}])
    assert outcome == FILE_BODY


def test_connections_go_back_to_the_pool_once_a_file_is_read_and_a_failed_ones_are_not_reused(clock):
    with requests_mock.Mocker() as mocker, result_files_relayed() as relay:
        mocker.get(FILE, [the_file(), the_file(), {"status_code": 503}, the_file()])
        files = ResultFiles(logging.getLogger("test"), result_file_origins())
        for _ in range(3):
            assert files.fetch(FILE) == FILE_BODY
    first, second, failed, after = relay.connections
    assert first == second == failed  # one connection for both files and the 503's answer
    assert after != failed  # the 503's body was not read: its connection was closed, not reused


def test_a_refused_files_connection_is_not_reused(clock):
    with requests_mock.Mocker() as mocker, result_files_relayed() as relay:
        mocker.get(FILE, [{"content": gzip_bomb()}, the_file()])
        files = ResultFiles(logging.getLogger("test"), result_file_origins())
        with pytest.raises(Unfetchable, match="once inflated"):
            files.fetch(FILE)
        assert files.fetch(FILE) == FILE_BODY
    # At once, on a new connection: the bomb's unread rest is never read as the next answer (nor fails a try).
    assert clock.sleeps == [] and len(relay.connections) == 2 and relay.connections[0] != relay.connections[1]


PROXY_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture
def environment(monkeypatch):
    """Sets the given variables on a process environment without any proxy or CA-bundle setting."""
    for name in PROXY_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return lambda **variables: [monkeypatch.setenv(name, value) for name, value in variables.items()]


class _FileHandler(BaseHTTPRequestHandler):
    server: FileHost

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.targets.append(self.path)
        real_sleep(self.server.delays.pop(0) if self.server.delays else 0)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.content)))
        self.end_headers()
        self.wfile.write(self.server.content)

    def log_message(self, *args) -> None:
        pass


class FileHost(ThreadingHTTPServer):
    """A loopback server that answers every GET with FILE's content (the first ones each after one of `delays`
    seconds) and records the request line's target: a proxy's request carries the whole URL, an origin's only the
    path."""

    daemon_threads = True

    def __init__(self, delays: tuple[float, ...] = ()):
        super().__init__(("127.0.0.1", 0), _FileHandler)
        self.content = the_file()["content"]
        self.delays = list(delays)
        self.targets: list[str] = []

    def __enter__(self):
        threading.Thread(target=self.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_proxy_from_the_environment_carries_the_download(environment):
    nowhere = f"http://127.0.0.1:{closed_port()}"  # the file's host itself cannot be reached: only the proxy can
    with FileHost() as proxy:
        environment(HTTP_PROXY=proxy.url)
        files = ResultFiles(logging.getLogger("test"), result_file_origins(nowhere))
        assert files.fetch(f"{nowhere}/7.json.gz") == FILE_BODY
    assert proxy.targets == [f"{nowhere}/7.json.gz"]  # a proxy's request: the whole URL


def test_no_proxy_sends_the_download_straight_to_its_host(environment):
    with FileHost() as host:
        environment(HTTP_PROXY=f"http://127.0.0.1:{closed_port()}", NO_PROXY="127.0.0.1")
        files = ResultFiles(logging.getLogger("test"), result_file_origins(host.url))
        assert files.fetch(f"{host.url}/7.json.gz") == FILE_BODY
    assert host.targets == ["/7.json.gz"]


@pytest.mark.parametrize(
    "variables, proxied",
    [
        ({"HTTPS_PROXY": "http://proxy.corp:3128"}, "proxy.corp"),
        ({"HTTPS_PROXY": "proxy.corp:3128"}, "proxy.corp"),  # no scheme: http, as requests reads it
        ({"ALL_PROXY": "http://all.corp:8080"}, "all.corp"),
        ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "twimg.com"}, None),
        ({"HTTP_PROXY": "http://proxy.corp:3128"}, None),  # for http URLs only
    ],
)
def test_https_downloads_take_the_proxy_requests_would(environment, variables, proxied):
    environment(**variables)
    manager = ResultFiles(logging.getLogger("test"), result_file_origins())._pools.for_url(FILE_ON_X)
    assert (manager.proxy.host if isinstance(manager, urllib3.ProxyManager) else None) == proxied


def test_a_proxys_credentials_are_sent_to_the_proxy(environment):
    environment(HTTPS_PROXY="http://me:secret@proxy.corp:3128")
    manager = ResultFiles(logging.getLogger("test"), result_file_origins())._pools.for_url(FILE_ON_X)
    assert manager.proxy_headers == urllib3.make_headers(proxy_basic_auth="me:secret")


@pytest.mark.parametrize(
    "variables, setting",
    [
        ({"REQUESTS_CA_BUNDLE": "/etc/ssl/corp-ca.pem", "CURL_CA_BUNDLE": "/etc/ssl/curl.pem"}, "/etc/ssl/corp-ca.pem"),
        ({"CURL_CA_BUNDLE": "/etc/ssl/curl.pem"}, "/etc/ssl/curl.pem"),
        ({}, certifi.where()),
    ],
)
def test_the_ca_bundle_of_the_environment_verifies_the_download_host(environment, variables, setting):
    environment(**variables)
    pool = ResultFiles(logging.getLogger("test"), result_file_origins())._pools.for_url(FILE_ON_X)
    pool = pool.connection_from_url(FILE_ON_X)
    assert (pool.ca_certs, pool.cert_reqs) == (setting, "CERT_REQUIRED")


def test_a_ca_directory_is_read_as_one(environment, tmp_path):
    environment(REQUESTS_CA_BUNDLE=str(tmp_path))
    pool = ResultFiles(logging.getLogger("test"), result_file_origins())._pools.for_url(FILE_ON_X)
    pool = pool.connection_from_url(FILE_ON_X)
    assert (pool.ca_certs, pool.ca_cert_dir) == (None, str(tmp_path))


def test_the_environment_is_read_once_per_host(environment):
    files = ResultFiles(logging.getLogger("test"), result_file_origins())
    direct = files._pools.for_url(FILE_ON_X)
    environment(HTTPS_PROXY="http://proxy.corp:3128")
    assert files._pools.for_url(f"{RESULTS}/8.json.gz") is direct


def test_a_read_timeout_is_tried_again(clock, monkeypatch):
    monkeypatch.setattr(result_files, "TIMEOUT", urllib3.Timeout(connect=10, read=0.2))
    with FileHost(delays=(1.0,)) as host:
        files = ResultFiles(logging.getLogger("test"), result_file_origins(host.url))
        assert files.fetch(f"{host.url}/7.json.gz") == FILE_BODY
    assert host.targets == ["/7.json.gz"] * 2 and clock.sleeps == [1.0]
