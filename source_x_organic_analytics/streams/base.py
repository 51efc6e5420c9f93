"""The one place that knows the Ads API's envelope, cursor pagination, errors and rate limits."""

from __future__ import annotations

import threading
from abc import ABC
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from concurrent.futures import Future
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.http import HttpClient, HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..context import Connection, SyncContext
from ..errors import (
    AccountProblem,
    ShapeError,
    XBackoffStrategy,
    XErrorHandler,
    expecting_x_shape,
    raise_for_refusal,
    response_json,
)

# Raises the typed error an answer X refused calls for (one of errors.py's); returns on an answer to use.
ErrorPolicy = Callable[[requests.Response], None]

# (connect, read) seconds: X answers within seconds; a minute of silence means a dropped connection.
REQUEST_TIMEOUT = (10, 60)


# A page that brings no id this slice has not had yet is X handing the same objects again (one page under a new
# cursor each time pages forever). One or two can be the listing shifting while it is paged; this many in a row is a
# loop.
MAX_PAGES_WITHOUT_NEW_IDS = 3
# The last bound, for what no id can tell (empty pages under ever-new cursors): at X's documented maximum of 1,000
# objects a page (200 for scheduled tweets) that is 10 million tweets (2 million scheduled ones) of one ads account,
# beyond any real account, and over an hour of X's 2,000 account reads per 15 minutes.
MAX_PAGES_PER_SLICE = 10_000
# Accounts whose first page is requested while the account before them is read: with the default 3 workers, the
# account being read and the next two are in flight together.
READ_AHEAD_ACCOUNTS = 2
# At most this many objects in pages requested ahead, each page counted as large as the largest the stream has
# received: pages parsed at once, and held until their turn, must not grow memory with the accounts' size (a page of
# 1,000 tweets takes about 5 MB parsed).
READ_AHEAD_OBJECTS = 400


class PaginationLoopError(AirbyteTracedException):
    """X handed back a cursor it had already given: following it would page forever."""


class EndlessPagingError(PaginationLoopError):
    """X's paging of one listing would not end; `account_id` (None for a listing of no account) names whose read
    stopped."""

    def __init__(self, account_id: str | None, endpoint: str, why: str):
        whose = f"ads account {account_id}" if account_id else "it"
        message = (
            f"X's paging of {endpoint} does not end: {why}. Stopped reading {whose} there so as not to loop "
            "forever; the objects X had handed were emitted once. Retry the sync later; if it persists, report it "
            "to X."
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)
        self.account_id = account_id
        self.endpoint = endpoint


class AccountEndlessPagingError(EndlessPagingError, AccountProblem):
    """Endless paging of one ads account's listing: only that account is skipped, the others are still read."""


class PageGuard:
    """What one slice's pages have brought so far, to tell an endless listing from a long one."""

    def __init__(self, account_id: str | None = None, endpoint: str = "", page_size: int = 1000):
        self._account_id = account_id
        self._endpoint = endpoint
        self._page_size = page_size
        self._cursors: set[str] = set()
        self._ids: set[Any] = set()
        self._pages = 0
        self._received = 0
        self._pages_without_new_ids = 0
        self._total_count: int | None = None

    def new_page(self, records: list[Mapping[str, Any]], total_count: Any) -> list[Mapping[str, Any]]:
        """The page's records to emit: all of them if it brings an id not had yet, none if it brings only ids this
        slice already emitted (X handing a page again)."""
        self._pages += 1
        self._received += len(records)
        if isinstance(total_count, int) and not isinstance(total_count, bool):
            self._total_count = total_count
        ids = {record.get("id") for record in records}
        if records and ids <= self._ids:
            self._pages_without_new_ids += 1
            return []
        self._pages_without_new_ids = 0
        self._ids |= ids
        return records

    def follow(self, cursor: str) -> None:
        """Raises EndlessPagingError instead of following `cursor` when the listing would not end."""
        if cursor in self._cursors:
            self._stop("it returned the same page cursor twice")
        self._cursors.add(cursor)
        if self._pages_without_new_ids >= MAX_PAGES_WITHOUT_NEW_IDS:
            self._stop(f"{self._pages_without_new_ids} pages in a row brought only objects it had already handed")
        # Twice what X counts, and a page: objects added while the listing is paged are few.
        if self._total_count is not None and self._received > 2 * self._total_count + self._page_size:
            self._stop(f"it handed {self._received} objects after announcing a total of {self._total_count}")
        if self._pages >= MAX_PAGES_PER_SLICE:
            self._stop(f"it handed {self._pages} pages, more than any real listing has")

    def _stop(self, why: str) -> None:
        error = AccountEndlessPagingError if self._account_id else EndlessPagingError
        raise error(self._account_id, self._endpoint, why)


class XAdsStream(HttpStream, ABC):
    """A list endpoint of the Ads API: `{"data": [...], "next_cursor": ...}`, paged with `count` and `cursor`."""

    primary_key = "id"
    page_size = 1000

    def __init__(self, context: Connection):
        # HttpStream builds its HTTP client (and asks for the error handler) in __init__: context comes first.
        self.context = context
        self.rate_limit_gates = context.rate_limit_gates
        # First pages requested ahead of their slice's read (`read_ahead`), by slice.
        self._first_pages: dict[tuple[Any, ...], Future[requests.Response]] = {}
        self._ahead: list[Mapping[str, Any]] = []  # slices wanted ahead, not requested yet
        self._largest_page = 0  # objects in the largest page received
        # Set once X has answered a page of this stream (not refused it): pages of other slices may then be read ahead.
        self._answered = threading.Event()
        super().__init__(authenticator=context.authenticator)
        # Every request of these streams goes through this client (`send_gated`), not the one HttpStream builds: the
        # same error handler, backoff and auth, on the sync's one session (HttpStream has no public way to give its own
        # client a session).
        self.http_client = HttpClient(
            name=self.name,
            logger=self.logger,
            error_handler=self.get_error_handler(),
            session=context.session,
            authenticator=context.authenticator,
            backoff_strategy=self.get_backoff_strategy(),
            message_repository=InMemoryMessageRepository(),
        )

    @property
    def is_resumable(self) -> bool:
        # HttpStream's state property would make the CDK treat every stream as "resumable full refresh" and checkpoint
        # page tokens; these full-refresh streams re-read everything each sync, and only incremental ones resume.
        return self.supports_incremental

    @property
    def url_base(self) -> str:
        return self.context.config.ads_api_root

    def get_error_handler(self) -> ErrorHandler:
        return XErrorHandler(refresh_token_on_401=self.context.config.auth_type == "oauth2.0")

    def get_backoff_strategy(self) -> BackoffStrategy:
        return XBackoffStrategy(self.rate_limit_gates)

    def request_kwargs(self, **kwargs: Any) -> Mapping[str, Any]:
        # Without a timeout a stalled connection would hang the sync forever; a timeout is retried like a 5xx.
        return {"timeout": REQUEST_TIMEOUT}

    def call(self, method: str, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One request outside the list-paging flow (stats, jobs), with the same auth, retries and rate-limit waits."""
        return response_json(self.send_gated(method, urljoin(self.url_base, path), params))

    def refusals(self, response: requests.Response) -> None:
        """This stream's error policy: the Ads API's."""
        raise_for_refusal(response)

    def send_gated(
        self, method: str, url: str, params: Mapping[str, Any], policy: ErrorPolicy | None = None
    ) -> requests.Response:
        """Sends through the CDK's HTTP client (auth, retries, waits) once X's budget for that endpoint allows, and
        raises the typed error of `policy` (the stream's own by default) for an answer X refused: no caller sees
        one. Sent from a worker of the sync's pool, as every request of the sync is."""
        return self.context.pool.run(self._send_gated, method, url, params, policy)

    def _send_gated(
        self, method: str, url: str, params: Mapping[str, Any], policy: ErrorPolicy | None
    ) -> requests.Response:
        gate = self.rate_limit_gates.for_request(method, url)
        gate.acquire()
        response = None
        try:
            _, response = self.http_client.send_request(
                http_method=method,
                url=url,
                request_kwargs=self.request_kwargs(),
                params=dict(params),
                dedupe_query_params=True,
            )
        finally:
            gate.release(response)
        (policy or self.refusals)(response)
        return response

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None,
        stream_slice: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> MutableMapping[str, Any]:
        params: dict[str, Any] = {"count": self.page_size}
        if next_page_token:
            params["cursor"] = next_page_token["cursor"]
        return params

    def next_page_token(self, response: requests.Response, guard: PageGuard | None = None) -> Mapping[str, Any] | None:
        with expecting_x_shape(response.request.path_url):
            cursor = response_json(response).get("next_cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise ShapeError(f"`next_cursor` {cursor!r:.50} is not a string")
        return self._follow(cursor, guard)

    @staticmethod
    def _follow(cursor: str | None, guard: PageGuard | None) -> Mapping[str, Any] | None:
        if not cursor:
            return None
        if guard is not None:
            # Stop loudly rather than loop or silently truncate.
            guard.follow(cursor)
        return {"cursor": cursor}

    def parse_response(
        self, response: requests.Response, guard: PageGuard | None = None, **kwargs: Any
    ) -> Iterable[Mapping[str, Any]]:
        with expecting_x_shape(response.request.path_url):
            body = response_json(response)
            data = body.get("data") or []
            if isinstance(data, Mapping):
                data = [data]
            if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
                raise ShapeError("`data` is not a list of objects")
            records = [self.transform(item, kwargs.get("stream_slice") or {}) for item in data]
            if guard is not None:
                records = guard.new_page(records, body.get("total_count"))
        # The response is held (with the body parsed on it) until the next page has been parsed; without `data` that
        # is only the cursor, not a second page of up to 1,000 objects. The items themselves are freed before the
        # records are emitted.
        body.pop("data", None)
        del data
        yield from records

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return item

    def read_ahead(self, slices: Iterable[Mapping[str, Any]]) -> None:
        """Requests the first page of each of `slices` not requested yet, on the sync's pool: `read_pages` takes it
        when it reads that slice, and only then sees its records, or the error that answered it. Until X has answered
        a page of this stream, one slice at a time: a refusal of the app or of the credentials then costs one
        request, not one per account."""
        self._ahead = [s for s in slices if self._slice_key(s) not in self._first_pages]
        self._send_ahead()

    def _may_read_ahead(self, pages: int) -> bool:
        """Whether `pages` more pages may be requested ahead of their turn: until X has answered a page of this
        stream, only a first one; then while they stay within READ_AHEAD_OBJECTS. A stream not read yet knows no
        page's size: its first pages of the accounts asked (1 + READ_AHEAD_ACCOUNTS at a time) are the bound."""
        if not self._answered.is_set():
            return not self._first_pages
        return (len(self._first_pages) + pages) * self._largest_page <= READ_AHEAD_OBJECTS

    def _send_ahead(self) -> None:
        while self._ahead and self._may_read_ahead(1):
            stream_slice = self._ahead.pop(0)
            self._first_pages[self._slice_key(stream_slice)] = self.context.pool.submit(self._page, stream_slice, None)

    @staticmethod
    def _slice_key(stream_slice: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted(stream_slice.items()))

    def _page_url(self, stream_slice: Mapping[str, Any]) -> str:
        return urljoin(self.url_base, self.path(stream_state={}, stream_slice=stream_slice))

    def _page(self, stream_slice: Mapping[str, Any], page_token: Mapping[str, Any] | None) -> requests.Response:
        params = self.request_params(stream_state={}, stream_slice=stream_slice, next_page_token=page_token)
        response = self.send_gated(self.http_method, self._page_url(stream_slice), params)
        self._answered.set()
        return response

    def read_pages(self, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """Every record of one slice, paging to the end (HttpStream's own paging loop is private API). Pages follow
        one another (each asks for the cursor of the one before); small ones are fetched while the one before is
        emitted."""
        guard = PageGuard(stream_slice.get("account_id"), urlsplit(self._page_url(stream_slice)).path, self.page_size)
        key = self._slice_key(stream_slice)
        self._ahead = [s for s in self._ahead if self._slice_key(s) != key]
        first = self._first_pages.pop(key, None)
        next_page = first.result if first is not None else partial(self._page, stream_slice, None)
        while next_page is not None:
            response = next_page()
            records = list(self.parse_response(response, guard, stream_slice=stream_slice, stream_state={}))
            self._largest_page = max(self._largest_page, len(records))
            self._send_ahead()  # X has answered: the slices wanted ahead may go
            next_page = self._next_page(response, guard, stream_slice)
            yield from records

    def _next_page(
        self, response: requests.Response, guard: PageGuard, stream_slice: Mapping[str, Any]
    ) -> Callable[[], requests.Response] | None:
        """What gives the next page: its request in flight while this page's records are emitted when pages are
        small, else sent when asked; None after the last page. A cursor that cannot be followed fails the next page,
        raised once this page's records are emitted, as when the pages were read one by one."""
        try:
            token = self.next_page_token(response, guard)
        except Exception as stop:
            return partial(reraise, stop)
        if token is None:
            return None
        if self._may_read_ahead(1):
            return self.context.pool.submit(self._page, stream_slice, token).result
        return partial(self._page, stream_slice, token)


def reraise(error: BaseException) -> Any:
    raise error


class AccountStream(XAdsStream, ABC):
    """A stream read one ads account at a time. An account with a problem of its own (a refusal, a field that cannot
    be used) is skipped for the rest of the sync, so that the others are synced and its state never passes a window
    it did not read; the stream then ends with an error that names it."""

    context: SyncContext

    def __init__(self, context: SyncContext):
        super().__init__(context)
        self._skipped: dict[str, AccountProblem] = {}

    def stream_slices(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any] | None]:
        self._skipped = {}
        to_come = self.context.streams_to_come
        if self in to_come:
            to_come.remove(self)  # read now: it reads ahead for itself
        accounts = self.context.accounts.readable()
        for position, account in enumerate(accounts):
            for stream in [self, *to_come]:
                stream.read_ahead_accounts(accounts[position : position + 1 + READ_AHEAD_ACCOUNTS])
            yield from self.planned_slices(account)
        # Runs once the last slice is read, so every other account's records were emitted before this error.
        self._raise_for_skipped()

    def read_ahead_accounts(self, accounts: list[Mapping[str, Any]]) -> None:
        """Starts reading `accounts` (the one read next, then the ones after it) ahead of their slices, so that the
        next accounts' requests are in flight while one account's records are emitted, and the first accounts'
        while the streams read before this one run. None by default."""

    def planned_slices(self, account: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The account's slices, or none when planning them meets a problem of that account (it is then skipped)."""
        try:
            return list(self.account_slices(account))
        except AccountProblem as problem:
            self._skip(problem)
            return []

    def account_slices(self, account: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        yield {"account_id": account["id"]}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        stream_slice = stream_slice or {}
        if stream_slice.get("account_id") in self._skipped:
            return
        try:
            yield from self.read_account(stream_slice, stream_state or {})
        except AccountProblem as problem:
            self._skip(problem)

    def _skip(self, problem: AccountProblem) -> None:
        self.logger.warning(f"{self.name}: skipping ads account {problem.account_id}: {problem.message}")
        self._skipped.setdefault(problem.account_id, problem)

    def _raise_for_skipped(self) -> None:
        problems = list(self._skipped.values())
        if len(problems) == 1:
            raise problems[0]
        if problems:
            config = all(p.failure_type == FailureType.config_error for p in problems)
            message = f"{self.name} skipped {len(problems)} ads accounts: " + " ".join(p.message for p in problems)
            raise AirbyteTracedException(
                message=message,
                internal_message=message,
                failure_type=FailureType.config_error if config else FailureType.system_error,
            )

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        yield from self.read_pages(stream_slice)

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"accounts/{(stream_slice or {})['account_id']}/{self.endpoint}"

    endpoint: str = ""
