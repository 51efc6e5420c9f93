"""The HTTP server: routing, auth, rate limits, faults, pagination and the read endpoints of X Ads API v12.

Request pipeline (order matters and mirrors X): route (unknown → 404) → authenticate (→ 401, no rate headers) →
rate limit (→ 429) → fault injection → endpoint (→ 400/403/200). Every request, whatever its fate, is recorded in
``EmulatorServer.requests``.
X API v2 ``GET /2/tweets/analytics`` has its own pipeline (``_dispatch_v2``, problem bodies, see v2.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import auth, v2, v2_lookup, v2_users
from .dataset import Account, Dataset
from .errors import ApiError, invalid, unauthorized
from .faults import FaultConfig
from .jobs import MAX_PROCESSING_PER_ACCOUNT, JobStore
from .objects import account_obj, promotable_user_objs, scheduled_tweet_obj, tweet_obj
from .ratelimit import FAMILIES, RateLimiter
from .stats import REFUSE_CODES, parse_stats_query, stats_body

UTC = dt.timezone.utc
API_VERSION = "12"
SYNC_MAX_DAYS = 7
JOB_MAX_DAYS = 90


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]  # query-string parameters merged with form-body parameters (last value wins)
    status: int  # 0 = connection dropped without a response
    ts: float  # epoch seconds at arrival


@dataclass(frozen=True)
class KeptResponse:
    """A request and the answer it got, as sent: what a replay of the sync serves again (``keep_responses``)."""

    method: str
    path: str
    raw_query: str  # the query string as sent, undecoded
    status: int  # 0 = connection dropped without a response
    content_type: str
    body: bytes


class RequestLog:
    """Thread-safe, list-like record of every request (iteration works on a snapshot)."""

    def __init__(self) -> None:
        self._items: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._items.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._items[index]


@dataclass
class Request:
    method: str
    path: str
    raw_query: str
    params: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    form_body: str | None  # the body when it is application/x-www-form-urlencoded


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the socket without answering
    delay: float = 0.0  # extra seconds before answering
    late: bool = False  # a "slow" fault marker: answer for real, but only after ``delay``


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), headers=dict(headers or {}))


_ROUTES: list[tuple[str, re.Pattern[str], str, str | None]] = [
    # (method, path pattern, endpoint name, rate-limit family)
    ("POST", re.compile(r"/2/oauth2/token"), "token", None),
    ("GET", re.compile(r"/i/oauth2/authorize"), "authorize", None),  # x.com's consent screen (a browser's, not ours)
    ("GET", re.compile(r"/_jobs/(?P<job>\d+)\.json\.gz"), "job_file", None),
    ("GET", re.compile(r"/12/accounts"), "accounts", "accounts_list"),
    ("GET", re.compile(r"/12/accounts/(?P<account>[^/]+)"), "account", "account_reads"),
    ("GET", re.compile(r"/12/accounts/(?P<account>[^/]+)/authenticated_user_access"), "user_access", "account_reads"),
    ("GET", re.compile(r"/12/accounts/(?P<account>[^/]+)/promotable_users"), "promotable_users", "account_reads"),
    ("GET", re.compile(r"/12/accounts/(?P<account>[^/]+)/tweets"), "tweets", "account_reads"),
    ("GET", re.compile(r"/12/accounts/(?P<account>[^/]+)/scheduled_tweets"), "scheduled_tweets", "account_reads"),
    ("GET", re.compile(r"/12/stats/accounts/(?P<account>[^/]+)"), "stats", "stats_sync"),
    ("POST", re.compile(r"/12/stats/jobs/accounts/(?P<account>[^/]+)"), "job_create", "jobs_create"),
    ("GET", re.compile(r"/12/stats/jobs/accounts/(?P<account>[^/]+)"), "job_list", "jobs_status"),
    ("GET", re.compile(r"/2/tweets/analytics"), "v2_analytics", "v2_analytics"),  # X API v2 (own pipeline)
    ("GET", re.compile(r"/2/users/me"), "v2_users_me", "v2_users_me"),  # X API v2, see v2_users.py
    ("GET", re.compile(r"/2/users/(?P<user>\d+)/tweets"), "v2_user_tweets", "v2_user_tweets"),
    ("GET", re.compile(r"/2/users"), "v2_lookup", "v2_users_lookup"),  # X API v2 user lookup, see v2_lookup.py
]


# The X host that serves each route (everything else is the Ads API's): the emulator serves them all on one port.
X_HOST_OF_ROUTE = {
    "token": "api.x.com",
    "authorize": "x.com",
    "job_file": "ton.twimg.com",
    "v2_analytics": "api.x.com",
}
ADS_API_HOST = "ads-api.x.com"


def x_host(method: str, path: str) -> str | None:
    """The host X serves this request from, None for a path X has no route for."""
    route = _route(method, path)
    return None if route is None else X_HOST_OF_ROUTE.get(route[0], ADS_API_HOST)


def _route(method: str, path: str) -> tuple[str, str | None, dict[str, str]] | None:
    for m, pattern, name, family in _ROUTES:
        match = pattern.fullmatch(path)
        if match and m == method:
            return name, family, match.groupdict()
    return None


def _bool(params: dict[str, str], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(name, f"Expected a boolean (true or false), got: {value}")


def _ids(params: dict[str, str], name: str, limit: int) -> list[str] | None:
    if not params.get(name):
        return None
    ids = [v.strip() for v in params[name].split(",") if v.strip()]
    if len(ids) > limit:
        raise invalid(name, f"Expected no more than {limit} {name}, got {len(ids)}")
    return ids


def _cursor_tag(scope: str, offset: int) -> str:
    return hashlib.sha1(f"{scope}|{offset}".encode()).hexdigest()[:6]


def paginate(
    items: list[Any], params: dict[str, str], scope: str, default: int, maximum: int
) -> tuple[list[Any], str | None]:
    """Opaque offset cursors bound to ``scope`` (the path); a count outside [1, maximum] is INVALID_PARAMETER."""
    raw = params.get("count")
    try:
        count = default if raw in (None, "") else int(raw)
    except ValueError:
        raise invalid("count", f"Expected an integer between 1 and {maximum}, got: {raw}") from None
    if not 1 <= count <= maximum:
        raise invalid("count", f"Expected an integer between 1 and {maximum}, got: {raw}")
    offset = 0
    cursor = params.get("cursor")
    if cursor:
        try:
            if not cursor.startswith("c-") or len(cursor) < 9:
                raise ValueError(cursor)
            offset = int(cursor[2:-6], 36)
            if _cursor_tag(scope, offset) != cursor[-6:]:
                raise ValueError(cursor)
        except ValueError:
            raise invalid("cursor", f"Invalid cursor: {cursor}") from None
    page = items[offset : offset + count]
    end = offset + len(page)
    if end >= len(items):
        return page, None
    b36 = ""
    n = end
    while n:
        n, r = divmod(n, 36)
        b36 = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + b36
    return page, f"c-{b36}{_cursor_tag(scope, end)}"


class EmulatorServer:
    """A local X Ads API v12 on 127.0.0.1. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        dataset: Dataset,
        port: int = 0,
        now: dt.datetime | None = None,
        latency_ms: float = 0,
        rate_limits: dict[str, int] | None = None,
        rate_window_seconds: float = 900,
        faults: FaultConfig | dict[str, Any] | None = None,
        *,
        access_token_ttl_seconds: float = 7200,
        job_seconds: float = 1.0,
        job_failures: set[int] | float | None = None,
        host: str = "127.0.0.1",
        v2_enrolled: bool = True,
        v2_max_range_days: int = 7,
        v2_retention_days: int = 400,
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.ds = dataset
        self.host = host
        self._port = port
        self._now = now
        self.latency_ms = latency_ms
        self.faults = FaultConfig.coerce(faults)
        self.rate_limiter = RateLimiter(rate_limits, rate_window_seconds)
        self.oauth1 = auth.OAuth1Verifier()
        self.oauth2 = auth.OAuth2Tokens(access_token_ttl_seconds)
        self.jobs = JobStore(dataset, job_seconds, job_failures)
        self.requests = RequestLog()
        # When True (read per request), every answer is also kept, body and all, in `kept_responses`, in the order the
        # answers were made: the bench replays a sync's answers from it. Off by default: a year's bodies are tens of MB.
        self.keep_responses = False
        self.kept_responses: list[KeptResponse] = []
        self.refuse_organic_tweet = (
            False  # when True, entity=ORGANIC_TWEET gets a 400 (mid-2026 risk); read per request
        )
        self.refuse_organic_tweet_code = "INVALID_PARAMETER"  # or "FEATURE_NOT_AVAILABLE": the code of that 400
        self.v2_enrolled = v2_enrolled  # False: every GET /2/tweets/analytics answers 403 client-not-enrolled
        self.v2_max_range_days = v2_max_range_days
        self.v2_retention_days = v2_retention_days
        # X API v2 users (v2_users.py): whose brand user is "me", the timeline's reach, and a token lacking a scope.
        self.v2_me_account_id = dataset.readable_accounts()[0].id
        self.v2_timeline_cap = v2_users.TIMELINE_CAP
        self.v2_users_forbidden = False  # True: /2/users/* answer 403 Forbidden (a token without users.read)
        # public_metrics of /2/users and /2/users/me (v2_lookup.py): followers gained, counts X leaves out.
        self.v2_followers_growth = 0
        self.v2_public_metrics_omitted: set[str] = set()
        self.early_retries = 0
        # Endpoints ("tweets", "scheduled_tweets") whose paging never ends: each page is the first one again, under a
        # cursor never given before. Read per request.
        self.endless_paging: set[str] = set()
        self._endless_cursors = itertools.count(1)
        self._counter_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self._port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name="x-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection (keep-alive ones included) and free the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._counter_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- public helpers
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def now(self) -> dt.datetime:
        """The emulator's data clock: decides "today" for the time-zone offset rule and which hours are complete."""
        return self._now if self._now is not None else dt.datetime.now(UTC)

    @now.setter
    def now(self, value: dt.datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self._now = value

    def refuses_organic_tweet(self, req: Request) -> bool:
        """Whether this stats request gets X's 400 on entity=ORGANIC_TWEET; a subclass may decide per request."""
        return self.refuse_organic_tweet

    @property
    def refuse_organic_tweet_code(self) -> str:
        return self._refuse_organic_tweet_code

    @refuse_organic_tweet_code.setter
    def refuse_organic_tweet_code(self, value: str) -> None:
        if value not in REFUSE_CODES:
            raise ValueError(f"refuse_organic_tweet_code must be one of {REFUSE_CODES}, got {value!r}")
        self._refuse_organic_tweet_code = value

    @property
    def token_refreshes(self) -> int:
        return self.oauth2.refreshes

    def _config(
        self, credentials: dict[str, str], start_date: Any, end_date: Any, account_ids: Any, extra: Any
    ) -> dict[str, Any]:
        today = self.ds.today
        start = start_date if start_date is not None else today - dt.timedelta(days=30)
        end = end_date if end_date is not None else today
        config: dict[str, Any] = {
            "credentials": credentials,
            "api_base_url": self.base_url,
            # X API v2 (user lookup, post analytics) is served on the same port.
            "x_api_base_url": self.base_url,
            "start_date": start.isoformat() if isinstance(start, dt.date) else str(start),
            "end_date": end.isoformat() if isinstance(end, dt.date) else str(end),
            "lookback_window_days": 3,
        }
        if account_ids is not None:
            config["account_ids"] = list(account_ids)
        config.update(extra)
        return config

    def oauth1_config(
        self,
        *,
        start_date: dt.date | str | None = None,
        end_date: dt.date | str | None = None,
        account_ids: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Connector config using OAuth 1.0a. Dates default to dataset today - 30 days .. dataset today."""
        credentials = {
            "auth_type": "oauth1.0a",
            "consumer_key": auth.CONSUMER_KEY,
            "consumer_secret": auth.CONSUMER_SECRET,
            "access_token": auth.ACCESS_TOKEN,
            "access_token_secret": auth.ACCESS_TOKEN_SECRET,
        }
        return self._config(credentials, start_date, end_date, account_ids, extra)

    def oauth2_config(
        self,
        *,
        start_date: dt.date | str | None = None,
        end_date: dt.date | str | None = None,
        account_ids: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Connector config using OAuth 2.0, with a freshly minted (valid, single-use) refresh token."""
        credentials = {
            "auth_type": "oauth2.0",
            "client_id": auth.CLIENT_ID,
            "client_secret": auth.CLIENT_SECRET,
            "refresh_token": self.oauth2.mint_refresh_token(),
            "token_refresh_endpoint": f"{self.base_url}/2/oauth2/token",
        }
        return self._config(credentials, start_date, end_date, account_ids, extra)

    def v2_public_metrics(self) -> dict[str, int]:
        """``public_metrics`` of "me" on ``GET /2/users/me``: the counts ``GET /2/users`` gives (v2_lookup.py)."""
        me = self.ds.account(self.v2_me_account_id)
        assert me is not None
        return v2_lookup.public_metrics(me.full_user.id, self.v2_followers_growth, self.v2_public_metrics_omitted)

    # ----------------------------------------------------------------- pipeline
    def dispatch(self, req: Request) -> Response:
        route = _route(req.method, req.path)
        if route is None:
            error = {"code": "ROUTE_NOT_FOUND", "message": "The requested resource could not be found"}
            return _json(404, {"errors": [error]})
        name, family, groups = route
        if name == "authorize":
            return self._authorize(req)
        if name == "token":
            fault = self._fault(self.faults is not None and self.faults.include_token_endpoint)
            return _apply_fault(fault, self._token, req)
        if name == "job_file":
            fault = self._fault(self.faults is not None and self.faults.include_job_downloads)
            return _apply_fault(fault, lambda _: self._job_file(int(groups["job"])), req)
        if name == "v2_analytics":
            return self._dispatch_v2(req)
        if name == "v2_lookup":
            return self._dispatch_v2(req, family, lambda now: _json(*v2_lookup.answer(self, req)))
        if name.startswith("v2_user"):
            return self._dispatch_v2(req, name, lambda now: _json(*v2_users.answer(self, name, req, groups, now)))

        user = self._authenticate(req)
        if user is None:
            return _json(401, unauthorized().body())
        assert family is not None
        account_id = groups.get("account")
        headers = self._rate_headers(family, user, account_id)
        if headers.pop("_refused", None):
            body = {"errors": [{"code": "TOO_MANY_REQUESTS", "message": "Rate limit exceeded"}]}
            return _json(429, body, headers)
        fault = self._fault(self.faults is not None)
        if fault is not None and not fault.late:
            fault.headers.update(headers)
            return fault
        try:
            handler: Callable[[Request, str | None], Response] = getattr(self, f"_ep_{name}")
            response = handler(req, account_id)
        except ApiError as err:
            response = _json(err.status, err.body(_echo(req.params)), err.headers)
        response.headers.update(headers)
        if fault is not None:  # "slow" fault: the real answer, after a pause beyond the client's read timeout
            response.delay = fault.delay
        return response

    def _dispatch_v2(
        self, req: Request, family: str = "v2_analytics", endpoint: Callable[[dt.datetime], Response] | None = None
    ) -> Response:
        """X API v2 pipeline: auth (401) → enrollment (403) → rate limit (429) → fault → endpoint, problem bodies.
        `endpoint` answers a request that passed (default: the post analytics)."""
        user = self._authenticate(req)
        if user is None:
            return _json(401, v2.unauthorized_body())
        if not self.v2_enrolled:
            return _json(403, v2.client_not_enrolled_body())
        headers = self._rate_headers(family, user, None)
        if headers.pop("_refused", None):
            return _json(429, v2.too_many_requests_body(), headers)
        fault = self._fault(self.faults is not None)
        if fault is not None and not fault.late:
            if fault.status in (500, 503):  # v2 speaks problem objects
                fault.body = json.dumps(v2.server_error_body(fault.status)).encode()
            fault.headers.update(headers)
            return fault
        now = self.now
        try:
            if endpoint is not None:
                response = endpoint(now)
            else:
                query = v2.parse_v2_query(req.params, now, self.v2_max_range_days, self.v2_retention_days)
                response = _json(200, v2.analytics_body(query, self.ds, now))
        except v2.V2Problem as problem:
            response = _json(problem.status, problem.body)
        response.headers.update(headers)
        if fault is not None:
            response.delay = fault.delay
        return response

    def _authenticate(self, req: Request) -> str | None:
        """The user id behind the request, or None. Both OAuth flavours act as the same user ("analyst")."""
        authorization = req.headers.get("authorization", "")
        if authorization[:6].lower() == "oauth ":
            host = req.headers.get("host", f"{self.host}:{self._port}")
            ok = self.oauth1.verify(req.method, f"http://{host}{req.path}", req.raw_query, req.form_body, authorization)
            return str(self.ds.analyst.id) if ok else None
        if authorization[:7].lower() == "bearer ":
            return str(self.ds.analyst.id) if self.oauth2.access_valid(authorization[7:].strip()) else None
        return None

    def keep_response(self, req: Request, response: Response) -> None:
        kept = KeptResponse(
            req.method,
            req.path,
            req.raw_query,
            0 if response.drop else response.status,
            response.content_type,
            response.body,
        )
        with self._counter_lock:
            self.kept_responses.append(kept)

    def _rate_headers(self, family: str, user: str, account_id: str | None) -> dict[str, str]:
        scope = FAMILIES[family][0]
        verdict = self.rate_limiter.hit(family, user, account_id if scope == "account" else None)
        headers = verdict.headers()
        if account_id is not None:  # account-scoped paths also report the per-account bucket
            account_verdict = verdict if scope == "account" else self.rate_limiter.hit(family, user, account_id, False)
            headers.update(account_verdict.headers("x-account-rate-limit"))
        if verdict.early_retry:
            with self._counter_lock:
                self.early_retries += 1
        if not verdict.allowed:
            headers["_refused"] = "1"
        return headers

    def _fault(self, eligible: bool) -> Response | None:
        if not eligible or self.faults is None:
            return None
        kind = self.faults.draw()
        if kind is None:
            return None
        if kind == "503":
            body = {"errors": [{"code": "SERVICE_UNAVAILABLE", "message": "Service Unavailable"}]}
            return _json(503, body, {"retry-after": "1"})
        if kind == "500":
            return _json(500, {"errors": [{"code": "INTERNAL_ERROR", "message": "Internal error"}]})
        if kind == "bad_json":
            return Response(200, b'{"request": {"params": {}}, "data": [{"id": "trunc', "application/json")
        if kind == "502_html":
            html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(502, html, "text/html")
        if kind == "drop":
            return Response(0, b"", drop=True)
        return Response(0, b"", delay=self.faults.slow_seconds, late=True)  # "slow"

    # ----------------------------------------------------------------- helpers for endpoints
    def _account(self, account_id: str | None, with_deleted: bool = False) -> Account:
        account = self.ds.account(account_id or "")
        if account is None or not account.readable or (account.deleted and not with_deleted):
            raise ApiError(
                403,
                "ACCOUNT_NOT_FOUND",
                f"User {self.ds.analyst.id} is not authorized to access account {account_id}, or it does not exist",
            )
        return account

    def _paginate(
        self, endpoint: str, items: list[Any], params: dict[str, str], scope: str, default: int, maximum: int
    ) -> tuple[list[Any], str | None]:
        """paginate(); for an endpoint in `endless_paging`, the first page under a fresh cursor, whatever is asked."""
        if endpoint not in self.endless_paging:
            return paginate(items, params, scope, default, maximum)
        page, _ = paginate(items, {k: v for k, v in params.items() if k != "cursor"}, scope, default, maximum)
        with self._counter_lock:
            return page, f"c-endless{next(self._endless_cursors)}"

    @staticmethod
    def _envelope(req: Request, data: Any, data_type: str, next_cursor: Any = None, **extra: Any) -> Response:
        body = {"request": {"params": _echo(req.params)}, "data": data, "next_cursor": next_cursor}
        body.update(data_type=data_type, **extra)
        return _json(200, body)

    # ----------------------------------------------------------------- endpoints
    def _ep_accounts(self, req: Request, _: str | None) -> Response:
        p = req.params
        with_total = _bool(p, "with_total_count")
        if with_total and p.get("cursor"):
            raise ApiError(
                400,
                "EXCLUSIVE_PARAMETERS",
                "with_total_count and cursor are exclusive parameters",
                "with_total_count",
                extra=[{"code": "EXCLUSIVE_PARAMETERS", "message": "exclusive with cursor", "parameter": "cursor"}],
            )
        accounts = self.ds.readable_accounts(with_deleted=_bool(p, "with_deleted"))
        wanted = _ids(p, "account_ids", 200)
        if wanted is not None:
            accounts = [a for a in accounts if a.id in wanted]
        if p.get("q"):
            accounts = [a for a in accounts if a.name.lower().startswith(p["q"].lower())]
        if p.get("sort_by"):
            field_name, _, direction = p["sort_by"].partition("-")
            if field_name not in ("created_at", "updated_at", "deleted", "name") or direction not in ("asc", "desc"):
                raise invalid("sort_by", f"Invalid sort_by: {p['sort_by']}")
            accounts = sorted(accounts, key=lambda a: getattr(a, field_name), reverse=direction == "desc")
        page, cursor = paginate(accounts, p, req.path, 200, 1000)
        extra = {"total_count": len(accounts)} if with_total else {}
        return self._envelope(req, [account_obj(a) for a in page], "account", cursor, **extra)

    def _ep_account(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id, with_deleted=_bool(req.params, "with_deleted"))
        return self._envelope(req, account_obj(account, single=True), "account")

    def _ep_user_access(self, req: Request, account_id: str | None) -> Response:
        self._account(account_id)
        data = {"user_id": str(self.ds.analyst.id), "permissions": ["ANALYST"]}
        body = {"request": {"params": _echo(req.params)}, "data": data}
        return _json(200, body)

    def _ep_promotable_users(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id)
        page, cursor = paginate(promotable_user_objs(account), req.params, req.path, 200, 1000)
        return self._envelope(req, page, "promotable_user", cursor)

    def _ep_tweets(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id)
        p = req.params
        tweet_type = p.get("tweet_type", "").upper()
        if not tweet_type:
            raise ApiError(400, "MISSING_PARAMETER", "tweet_type is required", "tweet_type")
        if tweet_type not in ("DRAFT", "PUBLISHED", "SCHEDULED"):
            raise invalid("tweet_type", f"Expected one of: DRAFT, PUBLISHED, SCHEDULED, got: {p['tweet_type']}")
        timeline = (p.get("timeline_type") or "NULLCAST").upper()
        if timeline not in ("ALL", "NULLCAST", "ORGANIC"):
            raise invalid("timeline_type", f"Expected one of: ALL, NULLCAST, ORGANIC, got: {p['timeline_type']}")
        replies = _bool(p, "include_mentions_and_replies")
        with_deleted, trim = _bool(p, "with_deleted"), _bool(p, "trim_user")
        ids = _ids(p, "tweet_ids", 200)
        if ids is not None and not all(i.isdigit() for i in ids):
            raise invalid("tweet_ids", "tweet_ids must be numeric tweet ids")
        sort_by = p.get("sort_by") or "created_at-desc"
        if sort_by not in ("created_at-desc", "created_at-asc"):
            raise invalid("sort_by", f"Invalid sort_by: {sort_by}")
        user_id = p.get("user_id")
        promotable = {str(account.full_user.id), str(account.retweets_only_user.id)}
        if user_id and user_id not in promotable:
            raise invalid("user_id", f"User {user_id} is not a promotable user of account {account.id}")

        selected = []
        if user_id in (None, "", str(account.full_user.id)):  # the RETWEETS_ONLY user has no tweets of its own
            wanted = None if ids is None else {int(i) for i in ids}
            for t in self.ds.tweets[account.id]:  # newest first
                if t.tweet_type != tweet_type or (t.deleted and not with_deleted) or (t.is_reply and not replies):
                    continue
                if (timeline == "NULLCAST" and not t.nullcast) or (timeline == "ORGANIC" and t.nullcast):
                    continue
                if wanted is not None and t.id not in wanted:
                    continue
                selected.append(t)
        if sort_by == "created_at-asc":
            selected.reverse()
        page, cursor = self._paginate("tweets", selected, p, req.path, 200, 1000)
        return self._envelope(req, [tweet_obj(t, trim_user=trim) for t in page], "tweet", cursor)

    def _ep_scheduled_tweets(self, req: Request, account_id: str | None) -> Response:
        """DELETED scheduled tweets are "gone for good": hidden unless with_deleted=true (the Ads API convention)."""
        account = self._account(account_id)
        p = req.params
        with_deleted = _bool(p, "with_deleted")
        user_id = p.get("user_id")
        items = [
            s
            for s in self.ds.scheduled[account.id]
            if (with_deleted or s.scheduled_status != "DELETED") and (not user_id or str(s.user_id) == user_id)
        ]
        page, cursor = self._paginate("scheduled_tweets", items, p, req.path, 100, 200)
        return self._envelope(req, [scheduled_tweet_obj(s) for s in page], "scheduled_tweet", cursor)

    def _ep_stats(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id)
        now = self.now
        query = parse_stats_query(
            req.params,
            account,
            self.ds,
            now,
            SYNC_MAX_DAYS,
            self.refuses_organic_tweet(req),
            self.refuse_organic_tweet_code,
        )
        return _json(200, stats_body(query, self.ds, now))

    def _job_headers(self, account_id: str) -> dict[str, str]:
        processing = self.jobs.processing(account_id)
        return {
            "x-concurrent-job-limit": str(MAX_PROCESSING_PER_ACCOUNT),
            "x-concurrent-job-limit-remaining": str(max(0, MAX_PROCESSING_PER_ACCOUNT - processing)),
        }

    def _ep_job_create(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id)
        now = self.now
        query = parse_stats_query(
            req.params,
            account,
            self.ds,
            now,
            JOB_MAX_DAYS,
            self.refuses_organic_tweet(req),
            self.refuse_organic_tweet_code,
        )
        try:
            job = self.jobs.create(query, now)
        except ApiError as err:
            err.headers.update(self._job_headers(account.id))
            raise
        body = {"request": {"params": query.params()}, "data": self.jobs.obj(job, self.base_url)}
        return _json(200, body, self._job_headers(account.id))

    def _ep_job_list(self, req: Request, account_id: str | None) -> Response:
        account = self._account(account_id)
        ids = _ids(req.params, "job_ids", 200)
        if ids is not None and not all(i.isdigit() for i in ids):
            raise invalid("job_ids", "job_ids must be numeric job ids")
        jobs = self.jobs.for_account(account.id, None if ids is None else [int(i) for i in ids])
        page, cursor = paginate(jobs, req.params, req.path, 200, 1000)
        response = self._envelope(req, [self.jobs.obj(j, self.base_url) for j in page], "job", cursor)
        response.headers.update(self._job_headers(account.id))
        return response

    def _job_file(self, job_id: int) -> Response:
        """The result file, served without OAuth (like X's pre-signed URL); 404 until the job succeeded."""
        job = self.jobs.get(job_id)
        if job is None or self.jobs.status(job) != "SUCCESS":
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        hostile = self.jobs.hostile_file(job)
        if hostile is not None:
            status, body, headers = hostile
            return Response(status, body, "application/gzip" if status == 200 else "application/xml", headers)
        return Response(200, self.jobs.payload(job), "application/gzip")

    def _authorize(self, req: Request) -> Response:
        try:
            return Response(302, b"", headers={"Location": self.oauth2.authorize(req.params)})
        except auth.TokenError as err:
            return _json(err.status, err.body)

    def _token(self, req: Request) -> Response:
        form = dict(parse_qsl(req.form_body or "", keep_blank_values=True))
        grant = self.oauth2.exchange_code if form.get("grant_type") == "authorization_code" else self.oauth2.refresh
        try:
            return _json(200, grant(form, req.headers.get("authorization")))
        except auth.TokenError as err:
            return _json(err.status, err.body)


def _apply_fault(fault: Response | None, handler: Callable[[Request], Response], req: Request) -> Response:
    if fault is not None and not fault.late:
        return fault
    response = handler(req)
    if fault is not None:
        response.delay = fault.delay
    return response


def _echo(params: dict[str, str]) -> dict[str, Any]:
    """``request.params`` echo: comma lists become lists, like X's normalised echo."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        out[k] = v.split(",") if k.endswith("_ids") or k == "metric_groups" else v
    return out


def _make_handler(emu: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real API front end
        timeout = 60  # idle keep-alive connections are closed after a minute

        def version_string(self) -> str:
            return "x-emulator"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK stalls
            with emu._counter_lock:
                emu._connections.add(self.connection)

        def parse_request(self) -> bool:
            # The request has arrived once its first line is read: parsing its headers is the emulator's work, part
            # of the latency like the rest of it.
            self.arrived = time.time()
            return super().parse_request()

        def finish(self) -> None:
            with emu._counter_lock:
                emu._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._handle()

        def do_POST(self) -> None:  # noqa: N802
            self._handle()

        def do_PUT(self) -> None:  # noqa: N802
            self._handle()

        def do_DELETE(self) -> None:  # noqa: N802
            self._handle()

        def _handle(self) -> None:
            arrived = self.arrived
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            form = None
            if headers.get("content-type", "").split(";")[0].strip() == "application/x-www-form-urlencoded":
                form = body.decode("utf-8", "replace")
            params = dict(parse_qsl(split.query, keep_blank_values=True))
            if form:
                params.update(parse_qsl(form, keep_blank_values=True))
            req = Request(self.command, split.path, split.query, params, headers, body, form)
            try:
                response = emu.dispatch(req)
            except Exception:  # noqa: BLE001 - an emulator bug must still answer like X's 500
                traceback.print_exc(file=sys.stderr)
                response = _json(500, {"errors": [{"code": "INTERNAL_ERROR", "message": "Internal error"}]})
            emu.requests.append(RequestRecord(req.method, req.path, params, response.status, arrived))
            if emu.keep_responses:
                emu.keep_response(req, response)
            # X's latency is the whole time an answer takes, its own work included: the emulator's (a result file's
            # metrics and gzip take milliseconds of Python) is counted in it, not added to it.
            pause = response.delay + max(0.0, emu.latency_ms / 1000 - (time.time() - arrived))
            if pause:
                emu._stopping.wait(pause)
            if response.drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.send_header("x-current-api-version", API_VERSION)
                for k, v in response.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(response.body)
            except OSError:
                self.close_connection = True

    return Handler
