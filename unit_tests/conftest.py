"""A small fake of the X Ads API on requests-mock: enough state to answer like X, small enough to read in a test."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse, urlsplit

import pytest
import requests
import requests_mock as rm
import urllib3

from source_x_organic_analytics import SourceXOrganicAnalytics
from source_x_organic_analytics.stats_budget import SyncStatsBudget

BASE = "https://ads-api.test"
SCHEDULED = f"{BASE}/12/accounts/abc1/scheduled_tweets"
FROZEN_NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC: the clock of the `sleeps` fixture
TOKEN_URL = "https://api.test/2/oauth2/token"
RESULTS = "https://ton.twimg.com/advertiser-api-async-analytics"  # where X serves result files
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

OAUTH1 = {
    "auth_type": "oauth1.0a",
    "consumer_key": "ck-123",
    "consumer_secret": "cs-SECRET-456",
    "access_token": "at-789",
    "access_token_secret": "ats-SECRET-012",
}


def oauth2_credentials() -> dict[str, Any]:
    return {
        "auth_type": "oauth2.0",
        "client_id": "client-abc",
        "client_secret": "client-SECRET-def",
        "refresh_token": "refresh-SECRET-1",
        "token_refresh_endpoint": TOKEN_URL,
    }


def make_config(**overrides: Any) -> dict[str, Any]:
    config = {
        "credentials": dict(OAUTH1),
        "api_base_url": BASE,
        "start_date": "2026-11-10",
        "end_date": "2026-11-23",
        "lookback_window_days": 3,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}  # None = leave the field out


def v1_time(instant: datetime) -> str:
    return instant.strftime("%a %b %d %H:%M:%S +0000 %Y")


def tweet(tweet_id: int, created: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": tweet_id,
        "id_str": str(tweet_id),
        "tweet_id": str(tweet_id),
        "full_text": f"tweet {tweet_id}",
        "created_at": v1_time(created),
        "user": {"id": 42, "id_str": "42"},
        "tweet_type": "PUBLISHED",
        **extra,
    }


def error_body(code: str, message: str, parameter: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message}
    if parameter:
        error["parameter"] = parameter
    return {"errors": [error], "request": {"params": {}}}


@dataclass
class FakeX:
    """Answers list endpoints with X's cursor paging and the stats endpoint from `metric(tweet_id, utc_start)`."""

    mocker: rm.Mocker
    accounts: list[dict[str, Any]] = field(default_factory=list)
    tweets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    scheduled: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (tweet_id, bucket start in UTC) -> metrics for that day, or None for a tweet X returns as all-null.
    metric: Callable[[str, datetime], dict[str, int] | None] = lambda tweet_id, start: {"impressions": 1}
    stats_calls: list[dict[str, str]] = field(default_factory=list)
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)  # job id -> its stats params
    failing_jobs: set[str] = field(default_factory=set)  # job ids that end FAILED
    polls_until_done: int = 1  # status calls a job stays PROCESSING for
    # The user's synchronous budget left in X's current rate window, announced on each stats answer (None: no headers).
    sync_budget: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self) -> FakeX:
        self.mocker.post(re.compile(rf"{BASE}/12/stats/jobs/accounts/(\w+)"), json=self._create_job)
        self.mocker.get(re.compile(rf"{BASE}/12/stats/jobs/accounts/(\w+)"), json=self._job_status)
        self.mocker.get(re.compile(rf"{RESULTS}/(\w+).json.gz"), content=self._job_file)
        self.mocker.get(f"{BASE}/12/accounts", json=self._accounts)
        self.mocker.get(re.compile(rf"{BASE}/12/accounts/(\w+)(\?|$)"), json=self._account)
        self.mocker.get(re.compile(rf"{BASE}/12/accounts/(\w+)/tweets"), json=self._tweets)
        self.mocker.get(re.compile(rf"{BASE}/12/accounts/(\w+)/scheduled_tweets"), json=self._scheduled)
        self.mocker.get(re.compile(rf"{BASE}/12/stats/accounts/(\w+)"), json=self._stats)
        return self

    @staticmethod
    def _params(request) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlparse(request.url).query, keep_blank_values=True).items()}

    def _page(self, items: list[dict[str, Any]], request, default_count: int) -> dict[str, Any]:
        params = self._params(request)
        count = int(params.get("count", default_count))
        offset = int(params.get("cursor", "0"))
        page = items[offset : offset + count]
        more = offset + count < len(items)
        return {"request": {"params": params}, "data": page, "next_cursor": str(offset + count) if more else None}

    def _accounts(self, request, context) -> dict[str, Any]:
        params = self._params(request)
        wanted = params.get("account_ids")
        items = [a for a in self.accounts if not wanted or a["id"] in wanted.split(",")]
        return self._page(items, request, 200)

    def _account(self, request, context) -> dict[str, Any]:
        """`GET /12/accounts/{id}`: like X, a deleted or unknown account is a 403 ACCOUNT_NOT_FOUND."""
        account_id = self._account_of(request)
        found = [a for a in self.accounts if a["id"] == account_id and not a.get("deleted")]
        if not found:
            context.status_code = 403
            return error_body("ACCOUNT_NOT_FOUND", f"User 42 is not authorized to access account {account_id}")
        return {"request": {"params": {}}, "data": found[0]}

    def listings(self) -> list[Any]:
        """The `GET /12/accounts` requests made: X allows a user 5 per 15 minutes."""
        return [r for r in self.mocker.request_history if r.path == "/12/accounts"]

    def _account_of(self, request) -> str:
        return re.search(r"/accounts/(\w+)", request.path).group(1)

    def _tweets(self, request, context) -> dict[str, Any]:
        return self._page(self.tweets.get(self._account_of(request), []), request, 200)

    def _scheduled(self, request, context) -> dict[str, Any]:
        return self._page(self.scheduled.get(self._account_of(request), []), request, 100)

    def _create_job(self, request, context) -> dict[str, Any]:
        with self._lock:  # jobs are created from several worker threads at once
            job_id = str(len(self.jobs) + 1)
            self.jobs[job_id] = {**self._params(request), "_polls": 0}
        return {"data": {"id": int(job_id), "id_str": job_id, "status": "PROCESSING", "url": None}}

    def _job_status(self, request, context) -> dict[str, Any]:
        data = []
        for job_id in self._params(request)["job_ids"].split(","):
            job = self.jobs[job_id]
            job["_polls"] += 1
            done = job["_polls"] >= self.polls_until_done
            status = ("FAILED" if job_id in self.failing_jobs else "SUCCESS") if done else "PROCESSING"
            url = f"{RESULTS}/{job_id}.json.gz" if status == "SUCCESS" else None
            data.append({"id_str": job_id, "status": status, "url": url})
        return {"data": data}

    def _job_file(self, request, context) -> bytes:
        job_id = re.search(r"/(\w+)\.json\.gz", request.path).group(1)
        params = {k: v for k, v in self.jobs[job_id].items() if not k.startswith("_")}
        return gzip.compress(json.dumps(self._stats_body(params)).encode())

    def _stats(self, request, context) -> dict[str, Any]:
        params = self._params(request)
        with self._lock:
            self.stats_calls.append(params)
            if self.sync_budget is not None:
                spent = self.sync_budget <= 0
                self.sync_budget = max(0, self.sync_budget - 1)
                # Spent: a 429 until a day ahead, which ends the sync at once instead of waiting.
                reset = time.time() + (86400 if spent else 900)
                remaining = str(self.sync_budget)
                context.headers.update(
                    {
                        "x-rate-limit-limit": "250",
                        "x-rate-limit-remaining": remaining,
                        "x-rate-limit-reset": str(int(reset)),
                    }
                )
                if spent:
                    context.status_code = 429
                    return error_body("TOO_MANY_REQUESTS", "Rate limit exceeded")
        return self._stats_body(params)

    def _stats_body(self, params: dict[str, str]) -> dict[str, Any]:
        start = datetime.fromisoformat(params["start_time"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(params["end_time"].replace("Z", "+00:00"))
        buckets = int((end - start) / timedelta(days=1))
        data = []
        for tweet_id in params["entity_ids"].split(","):
            days = [self.metric(tweet_id, start + timedelta(days=i)) for i in range(buckets)]
            names = sorted({n for d in days if d for n in d})
            metrics: dict[str, Any] = {"impressions": None, "likes": None}
            for name in names:
                metrics[name] = [(d or {}).get(name, 0) for d in days]
            data.append({"id": tweet_id, "id_data": [{"segment": None, "metrics": metrics}]})
        return {"data_type": "stats", "time_series_length": buckets, "data": data, "request": {"params": params}}


class _Relay(BaseHTTPRequestHandler):
    """Answers `GET /<scheme>/<host><path>` as requests-mock answers `GET <scheme>://<host><path>`, byte for byte;
    drops the connection when requests-mock raises (a mocked `exc`, an unmocked URL)."""

    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses its connections
    server: RelayServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        scheme, _, rest = self.path.lstrip("/").partition("/")
        self.server.connections.append(self.client_address)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        try:
            answer = self.server.session.get(f"{scheme}://{rest}", headers=headers, allow_redirects=False, stream=True)
            body = answer.raw.read(decode_content=False)
        except Exception:  # what the mock raises stands for a connection lost before an answer
            self.close_connection = True
            return
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class RelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.session = requests.Session()
        self.session.trust_env = False  # no ~/.netrc, no proxy: the relay adds nothing to what the client sent
        self.connections: list[tuple[str, int]] = []  # the client's (address, port) of each request, in order

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that stops reading (a refused file) is no error of the relay's


@contextmanager
def result_files_relayed() -> Iterator[RelayServer]:
    """Result files come through urllib3, which requests-mock does not intercept: while this lasts, urllib3 requests
    to hosts other than 127.0.0.1 go to a real HTTP server on loopback that answers what requests-mock answers for
    their URL. The connector's whole download path (pools, timeouts, streaming, dropped connections) runs for real;
    only the host and TLS are not X's."""
    server = RelayServer()
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    real = urllib3.PoolManager.urlopen

    def relayed(manager: urllib3.PoolManager, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1":
            url = f"http://127.0.0.1:{server.server_port}/{parts.scheme}/{parts.netloc}{parts.path}"
            url += f"?{parts.query}" if parts.query else ""
        return real(manager, method, url, *args, **kwargs)

    try:
        with mock.patch.object(urllib3.PoolManager, "urlopen", relayed):
            yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_x():
    with rm.Mocker() as mocker, result_files_relayed():
        yield FakeX(mocker).install()


@pytest.fixture
def sleeps():
    """Records every wait instead of sleeping; the clock is frozen so waits are exact."""
    with (
        mock.patch("airbyte_cdk.sources.streams.http.rate_limiting.time.sleep") as user_sleep,
        mock.patch("time.sleep") as other_sleep,
        mock.patch("source_x_organic_analytics.errors.time.time", return_value=FROZEN_NOW),
    ):
        # backoff itself sleeps 0 s between tries of a user-defined wait; only real waits count.
        yield lambda: [c.args[0] for c in user_sleep.call_args_list + other_sleep.call_args_list if c.args[0]]


def x_answer(status: int, headers: dict[str, str], url: str = f"{BASE}/12/accounts/abc1/tweets") -> requests.Response:
    """An answer of X's to a GET of `url`, without a body."""
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response.request = requests.Request("GET", url).prepare()
    return response


def _pin_endpoint(monkeypatch: pytest.MonkeyPatch, jobs: bool) -> None:
    monkeypatch.setattr(SyncStatsBudget, "prefers_jobs", lambda self, costs, probe: jobs)


@pytest.fixture
def jobs_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every account's metrics through asynchronous jobs, whatever the budget: for tests of the job engine. Which
    endpoint a sync chooses is test_stats_budget.py's."""
    _pin_endpoint(monkeypatch, jobs=True)


@pytest.fixture
def synchronous_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every account's metrics through the synchronous endpoint (7-day windows)."""
    _pin_endpoint(monkeypatch, jobs=False)


@pytest.fixture
def source() -> SourceXOrganicAnalytics:
    return SourceXOrganicAnalytics(clock=lambda: NOW)


def account(account_id: str, tz: str = "UTC", **extra: Any) -> dict[str, Any]:
    return {"id": account_id, "name": f"Account {account_id}", "timezone": tz, "deleted": False, **extra}


def as_dicts(output) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(m.record.data)) for m in output.records]


def days(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def all_text(output, stdout: str = "") -> str:
    """Everything a run printed: every message (logs and traces included) and what went straight to stdout."""
    from airbyte_cdk.models import AirbyteMessageSerializer

    return "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in output.get_message_iterator()) + stdout


def run_check(source, config: dict[str, Any], tmp_path) -> tuple[Any, str]:
    """`check` through the real entrypoint (the CDK's test wrapper has no check helper): (status, all output)."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    entrypoint = AirbyteEntrypoint(source)
    lines = list(entrypoint.run(entrypoint.parse_args(["check", "--config", str(path)])))
    messages = [json.loads(line) for line in lines]
    status = next(m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS")
    return status, "\n".join(lines)
