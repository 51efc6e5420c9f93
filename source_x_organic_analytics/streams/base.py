"""The one place that knows the Ads API's envelope, cursor pagination, errors and rate limits."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urljoin

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.http import HttpClient, HttpStream
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..config import config_error
from ..context import SyncContext
from ..errors import (
    AccountAccessError,
    RateLimitGates,
    ShapeError,
    XBackoffStrategy,
    XErrorHandler,
    expecting_x_shape,
    raise_for_refusal,
    response_json,
)
from ..http_session import EnvironmentOnceSession

API_VERSION = "12"
# (connect, read) seconds: X answers within seconds; a minute of silence means a dropped connection.
REQUEST_TIMEOUT = (10, 60)


class PaginationLoopError(AirbyteTracedException):
    """X handed back a cursor it had already given: following it would page forever."""


class XAdsStream(HttpStream, ABC):
    """A list endpoint of the Ads API: `{"data": [...], "next_cursor": ...}`, paged with `count` and `cursor`."""

    primary_key = "id"
    page_size = 1000

    def __init__(self, context: SyncContext):
        # HttpStream builds its HTTP client (and asks for the error handler) in __init__: context comes first.
        self.context = context
        self.rate_limit_gates = RateLimitGates()
        self._seen_cursors: set[str] = set()
        super().__init__(authenticator=context.authenticator)
        # Every request of these streams goes through this client (`send_gated`), not the one HttpStream builds: the
        # same error handler, backoff and auth, on a session that reads the environment once per host (HttpStream
        # has no public way to give its own client a session).
        self.http_client = HttpClient(
            name=self.name,
            logger=self.logger,
            error_handler=self.get_error_handler(),
            session=EnvironmentOnceSession(),
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
        return f"{self.context.config.api_base_url}/{API_VERSION}/"

    def get_error_handler(self) -> ErrorHandler:
        return XErrorHandler(refresh_token_on_401=self.context.config.auth_type == "oauth2.0")

    def get_backoff_strategy(self) -> BackoffStrategy:
        return XBackoffStrategy(self.rate_limit_gates)

    def request_kwargs(self, **kwargs: Any) -> Mapping[str, Any]:
        # Without a timeout a stalled connection would hang the sync forever; a timeout is retried like a 5xx.
        return {"timeout": REQUEST_TIMEOUT}

    def call(self, method: str, path: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """One request outside the list-paging flow (stats, jobs), with the same auth, retries and rate-limit waits."""
        response = self.send_gated(method, urljoin(self.url_base, path), params)
        raise_for_refusal(response)
        return response_json(response)

    def send_gated(self, method: str, url: str, params: Mapping[str, Any]) -> requests.Response:
        """Sends through the CDK's HTTP client (auth, retries, waits) once X's budget for that endpoint allows."""
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
            return response
        finally:
            gate.release(response)

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

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        with expecting_x_shape(response.request.path_url):
            cursor = response_json(response).get("next_cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise ShapeError(f"`next_cursor` {cursor!r:.50} is not a string")
        if not cursor:
            return None
        # A cursor X already gave would page forever; stop loudly instead of looping or silently truncating.
        if cursor in self._seen_cursors:
            message = (
                f"X returned the same page cursor twice for {response.request.path_url}; stopped paging there "
                "so as not to loop forever. Retry the sync later; if it persists, report it to X."
            )
            raise PaginationLoopError(message=message, internal_message=message, failure_type=FailureType.system_error)
        self._seen_cursors.add(cursor)
        return {"cursor": cursor}

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        raise_for_refusal(response)
        with expecting_x_shape(response.request.path_url):
            body = response_json(response)
            data = body.get("data") or []
            if isinstance(data, Mapping):
                data = [data]
            if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
                raise ShapeError("`data` is not a list of objects")
            records = [self.transform(item, kwargs.get("stream_slice") or {}) for item in data]
        # The CDK keeps this response, and the body parsed on it, until the next page has been fetched and parsed;
        # without `data` that is only the cursor, not a second page of objects (~4 MB for 1,000 tweets). The items
        # themselves are freed before the records are emitted.
        body.pop("data", None)
        del data
        yield from records

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return item

    def read_pages(self, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        """Every record of one slice, paging to the end (HttpStream's own paging loop is private API)."""
        self._seen_cursors = set()
        url = urljoin(self.url_base, self.path(stream_state={}, stream_slice=stream_slice))
        page_token = None
        while True:
            params = self.request_params(stream_state={}, stream_slice=stream_slice, next_page_token=page_token)
            response = self.send_gated(self.http_method, url, params)
            yield from self.parse_response(response, stream_slice=stream_slice, stream_state={})
            page_token = self.next_page_token(response)
            if not page_token:
                return


class AccountStream(XAdsStream, ABC):
    """A stream read one ads account at a time. An account the credentials cannot read is skipped so that the
    others are synced; the stream then ends with a config error that names it."""

    def __init__(self, context: SyncContext):
        super().__init__(context)
        self._refused: dict[str, AccountAccessError] = {}

    def stream_slices(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any] | None]:
        self._refused = {}
        for account in self.context.accounts.readable():
            yield from self.account_slices(account)
        # Runs once the last slice is read, so every readable account's records were emitted before this error.
        if len(self._refused) == 1:
            raise next(iter(self._refused.values()))
        if self._refused:
            raise config_error(" ".join(error.message for error in self._refused.values()))

    def account_slices(self, account: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        yield {"account_id": account["id"]}

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: list[str] | None = None,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
    ) -> Iterable[Mapping[str, Any]]:
        try:
            yield from self.read_account(stream_slice or {}, stream_state or {})
        except AccountAccessError as error:
            self.logger.warning(f"{self.name}: skipping ads account {error.account_id}: {error.message}")
            self._refused[error.account_id] = error

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        yield from self.read_pages(stream_slice)

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"accounts/{(stream_slice or {})['account_id']}/{self.endpoint}"

    endpoint: str = ""
