"""How X's answers map to retries, waits and messages a user can act on.

X's error body is `{"errors": [{"code", "message", "parameter"?}]}`, but some error pages are not JSON at all, so the
HTTP status always decides what happens and the body only enriches the message.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

logger = logging.getLogger("airbyte")

MAX_RETRIES = 5
# Long enough for a 429 to wait out a whole 15-minute rate window and still retry; 5xx retries stay bounded by
# MAX_RETRIES with exponential waits (1, 2, 4, 8, 16 s).
MAX_RETRY_SECONDS = 3 * 3600
DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60
MAX_RATE_LIMIT_WAIT_SECONDS = 15 * 60 + 5
LONG_WAIT_SECONDS = 30

_ACCOUNT_IN_PATH = re.compile(r"/accounts/([0-9a-zA-Z]+)")
# X's codes of a refusal that concerns one ads account (as a 404 too: an account or its resource not found).
ACCOUNT_ACCESS_CODES = {"ACCOUNT_NOT_FOUND", "ACCOUNT_LOCKED_OUT", "USER_NOT_FOUND", "ACTION_NOT_ALLOWED", "NOT_FOUND"}


@dataclass(frozen=True)
class XErrorDetail:
    status: int
    code: str
    message: str
    parameter: str | None = None

    def __str__(self) -> str:
        where = f" (parameter `{self.parameter}`)" if self.parameter else ""
        return f"{self.status} {self.code}: {self.message}{where}"


# orjson works in a scratch buffer of about 12x its input: for a 1.5 MB page of 1,000 tweets that is ~18 MB, the
# largest allocation of a sync and what made its peak memory grow with the tweet count. json needs none, at ~10 ms
# more per such page; the stats answers that dominate CPU are all far smaller.
ORJSON_MAX_BYTES = 256 * 1024


def parse_json(content: bytes) -> Any:
    """orjson (already the CDK's serializer) parses X's stats answers several times faster than json; it refuses
    integers beyond 64 bits, which only json can read (X's numeric ids may one day pass 2^64)."""
    if len(content) > ORJSON_MAX_BYTES:
        return json.loads(content)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def response_json(response: requests.Response) -> Any:
    """The parsed body, parsed once: the error handler and the stream both need it."""
    cached = getattr(response, "_x_json", None)
    if cached is None:
        cached = parse_json(response.content)
        response._x_json = cached  # type: ignore[attr-defined]
    return cached


def error_detail(response: requests.Response) -> XErrorDetail:
    try:
        body = response_json(response)
        first = (body.get("errors") or [{}])[0] if isinstance(body, Mapping) else {}
    except ValueError:
        first = {}
    if not isinstance(first, Mapping):
        first = {}
    return XErrorDetail(
        status=response.status_code,
        code=str(first.get("code") or response.reason or "HTTP_ERROR"),
        message=str(first.get("message") or "X gave no error message"),
        parameter=first.get("parameter"),
    )


def account_in_url(url: str) -> str | None:
    match = _ACCOUNT_IN_PATH.search(url or "")
    return match.group(1) if match else None


class XApiError(AirbyteTracedException):
    """X refused a request for a reason retrying cannot fix; `detail` keeps X's code for callers that recover."""

    def __init__(self, detail: XErrorDetail, message: str, failure_type: FailureType = FailureType.config_error):
        super().__init__(message=message, internal_message=f"X answered {detail}", failure_type=failure_type)
        self.detail = detail


class AccountProblem(AirbyteTracedException):
    """A problem of one ads account only (a refusal, a field X sent that cannot be used): a per-account stream skips
    that account for the rest of the sync, reads the others, and ends with an error that names it."""

    account_id: str


class AccountAccessError(XApiError, AccountProblem):
    """The credentials cannot read one ads account, or one of its endpoints; the others can still be synced."""

    def __init__(self, account_id: str, endpoint: str, detail: XErrorDetail):
        super().__init__(
            detail,
            f"X refused {endpoint} of ads account {account_id} ({detail}). The authenticated X user needs a role on "
            "that account that may read it: at least the Analyst role (ads.x.com → the account → Account access); "
            "or "
            f"remove {account_id} from `account_ids`.",
        )
        self.account_id = account_id


class AccountDataError(AccountProblem):
    """X described an ads account with a value the connector cannot use; no window of it can be placed."""

    def __init__(self, account_id: str, field: str, value: Any, why: str):
        message = f"Ads account {account_id} has `{field}` {value!r:.80}, which {why}; it was skipped."
        super().__init__(message=message, internal_message=message, failure_type=FailureType.system_error)
        self.account_id = account_id


class UnexpectedResponseError(AirbyteTracedException):
    """X answered 200 with data of a shape the connector cannot read; no record is invented from it."""


class ShapeError(ValueError):
    """A field of X's answer that is missing or of the wrong type, described for the user."""


@contextmanager
def expecting_x_shape(where: str) -> Iterator[None]:
    """Turns an error from reading X's data into a message that says what and where, instead of a bare Python
    error; the state is not moved past it because the exception ends the slice."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as error:
        what = str(error) if isinstance(error, ShapeError) else "a field is missing or has an unexpected type"
        message = (
            f"X answered {where} with data the connector cannot read: {what}. Nothing after the last complete page "
            "or window was saved as synced; retry the sync later, and report it if it persists."
        )
        raise UnexpectedResponseError(
            message=message,
            internal_message=f"{message} ({type(error).__name__}: {error})",
            failure_type=FailureType.system_error,
        ) from error


def required_id(item: Mapping[str, Any], *keys: str) -> str:
    """The first of `keys` holding an id; an object without one cannot become a record (its primary key)."""
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    raise ShapeError(f"an object has no `{'`/`'.join(keys)}`")


def metric_value(value: Any) -> int | None:
    """X's metrics are counts: an integer, or null. Anything else is refused rather than coerced."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ShapeError(f"the metric value {value!r} is not a whole number")


def raise_for_refusal(response: requests.Response) -> None:
    """Turn a 4xx that the error handler let through into the exception that says what to do."""
    if response.ok:
        return
    detail = error_detail(response)
    method, path = (response.request.method if response.request else "GET"), urlsplit(response.url).path
    account_id = account_in_url(path)
    if response.status_code == 403 and detail.code == "UNAUTHORIZED_CLIENT_APPLICATION":
        raise XApiError(
            detail,
            f"Your X app is not approved for the Ads API ({detail}). Apply for Ads API access for the app in the X "
            "Developer Portal, or use the keys of an app that has it.",
        )
    # Any other 403 under an account's path, and a 404 with an account-level code, concern that account alone.
    status = response.status_code
    if account_id and (status == 403 or (status == 404 and detail.code in ACCOUNT_ACCESS_CODES)):
        raise AccountAccessError(account_id, f"{method} {path}", detail)
    if response.status_code == 403:
        raise XApiError(detail, f"X refused the request ({detail}). The X user lacks a permission this needs.")
    raise XApiError(
        detail,
        f"X rejected the request to {path} ({detail}).",
        failure_type=FailureType.system_error,
    )


class XErrorHandler(ErrorHandler):
    """Maps X's statuses to CDK actions.

    4xx refusals other than 401/429 are let through (IGNORE) so that the stream raises a typed error naming the
    account or X's code; a stream can then skip one unreadable account, or recover from INVALID_TIME_WINDOW,
    without retrying a request that cannot succeed.
    """

    def __init__(self, refresh_token_on_401: bool):
        self._refresh_token_on_401 = refresh_token_on_401

    @property
    def max_retries(self) -> int:
        return MAX_RETRIES

    @property
    def max_time(self) -> int:
        return MAX_RETRY_SECONDS

    def interpret_response(self, response_or_exception: requests.Response | Exception | None = None) -> ErrorResolution:
        if isinstance(response_or_exception, Exception) or response_or_exception is None:
            return ErrorResolution(
                ResponseAction.RETRY,
                FailureType.transient_error,
                f"Could not reach X ({type(response_or_exception).__name__}); retrying.",
            )
        response = response_or_exception
        status = response.status_code
        if response.ok:
            try:
                response_json(response)
            except ValueError:
                return ErrorResolution(
                    ResponseAction.RETRY,
                    FailureType.transient_error,
                    f"X answered {status} with a body that is not JSON.",
                )
            return ErrorResolution(ResponseAction.SUCCESS)
        if status == 429:
            return ErrorResolution(
                ResponseAction.RATE_LIMITED, FailureType.transient_error, "X's rate limit was reached."
            )
        if status == 401:
            detail = error_detail(response)
            if self._refresh_token_on_401:
                return ErrorResolution(ResponseAction.REFRESH_TOKEN_THEN_RETRY, FailureType.config_error, str(detail))
            return ErrorResolution(
                ResponseAction.FAIL,
                FailureType.config_error,
                f"X rejected the credentials ({detail}). They are invalid or have been revoked: generate a new access "
                "token and secret for the app in the X Developer Portal and update the source.",
            )
        if status == 408 or status >= 500:
            return ErrorResolution(
                ResponseAction.RETRY, FailureType.transient_error, f"X is temporarily unavailable ({status})."
            )
        return ErrorResolution(ResponseAction.IGNORE, FailureType.config_error, f"X refused the request ({status}).")


def _seconds_until(epoch: float, now: float) -> float:
    return max(0.0, epoch - now)


def rate_limit_wait_seconds(headers: Mapping[str, str], now: float, attempt: int = 1) -> float:
    """Seconds until X's limit resets: the account-level limit first, the user-level one next."""
    for header in ("x-account-rate-limit-reset", "x-rate-limit-reset"):
        value = headers.get(header)
        if value:
            try:
                return min(_seconds_until(float(value), now), MAX_RATE_LIMIT_WAIT_SECONDS)
            except ValueError:
                continue
    return min(DEFAULT_RATE_LIMIT_WAIT_SECONDS * attempt, MAX_RATE_LIMIT_WAIT_SECONDS)


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`retry-after` is either delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return _seconds_until(parsedate_to_datetime(value).timestamp(), now)
    except (TypeError, ValueError):
        return None


Budget = tuple[int, float, int | None]  # (remaining, reset as epoch seconds, limit of the window if announced)


def announced_budget(headers: Mapping[str, str]) -> Budget | None:
    """The tighter of X's two budgets (per account, per user) announced on a response."""
    budgets = []
    for prefix in ("x-account-rate-limit", "x-rate-limit"):
        try:
            remaining, reset = int(headers[f"{prefix}-remaining"]), float(headers[f"{prefix}-reset"])
        except (KeyError, ValueError):
            continue
        try:
            limit: int | None = int(headers[f"{prefix}-limit"])
        except (KeyError, ValueError):
            limit = None
        budgets.append((remaining, reset, limit))
    return min(budgets, key=lambda b: (b[0], b[1])) if budgets else None


class RateLimitGate:
    """Shared by the workers that call one endpoint: none sends a request X's budget cannot take.

    A worker takes a slot before sending. Until the endpoint has answered once, one request at a time goes out (the
    answer tells the budget). Within a rate window, the last announced `remaining` bounds the requests in flight and,
    once used up, every worker waits for the announced reset; in the next window the announced `limit` does (one
    request at a time if X gave none). An endpoint that answers without these headers is bound only by the workers.
    A 429 closes the gate until its reset for everyone, so no worker comes back early (X can revoke API access from
    apps that ignore its limits)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open_at = 0.0
        self._answered = False
        self._budget: Budget | None = None
        self._in_flight = 0

    def close_until(self, epoch: float) -> None:
        with self._cond:
            self._open_at = max(self._open_at, epoch)

    def _allowed(self, now: float) -> tuple[int | None, float | None]:
        """How many requests may be in flight now (None: no bound), and until when (None: until an answer)."""
        if not self._answered:
            return 1, None
        if self._budget is None:
            return None, None
        remaining, reset, limit = self._budget
        if now < reset + 1:
            return remaining, reset + 1
        return (1 if limit is None else max(1, limit)), None

    def acquire(self) -> None:
        with self._cond:
            while True:
                now = time.time()
                if now < self._open_at:
                    self._cond.wait(self._open_at - now)
                    continue
                allowed, until = self._allowed(now)
                if allowed is not None and self._in_flight >= allowed:
                    if until is not None and until - now >= LONG_WAIT_SECONDS and not self._in_flight:
                        resume = datetime.fromtimestamp(until, tz=timezone.utc).strftime("%H:%M:%S UTC")
                        logger.info(f"X's rate-limit budget for this endpoint is spent: resuming at {resume}.")
                    self._cond.wait(None if until is None else until - now)
                    continue
                self._in_flight += 1
                return

    def release(self, response: requests.Response | None) -> None:
        with self._cond:
            self._in_flight -= 1
            self._answered = self._answered or response is not None
            budget = announced_budget(response.headers) if response is not None else None
            # Answers arrive out of order: within one rate window the lowest `remaining` is the latest truth.
            if budget is not None and (self._budget is None or budget[1] > self._budget[1]):
                self._budget = budget
            elif budget is not None and budget[1] == self._budget[1] and budget[0] < self._budget[0]:
                self._budget = budget
            self._cond.notify_all()


class RateLimitGates:
    """One gate per endpoint (ids stripped): X counts its limits per endpoint family."""

    _IDS = re.compile(r"/(accounts|jobs)/[^/?]+")

    def __init__(self) -> None:
        self._gates: dict[str, RateLimitGate] = {}
        self._lock = threading.Lock()

    def for_request(self, method: str, url: str) -> RateLimitGate:
        path = self._IDS.sub(r"/\1/-", url.split("?", 1)[0])
        key = f"{method} {path}"
        with self._lock:
            return self._gates.setdefault(key, RateLimitGate())


class XBackoffStrategy(BackoffStrategy):
    """Waits as long as X says: until the rate-limit reset on 429, `retry-after` on 503; else the CDK's default."""

    def __init__(self, gates: RateLimitGates | None = None):
        self._gates = gates

    def backoff_time(
        self, response_or_exception: requests.Response | requests.RequestException | None, attempt_count: int
    ) -> float | None:
        if not isinstance(response_or_exception, requests.Response):
            return None
        response = response_or_exception
        now = time.time()
        if response.status_code == 429:
            wait = rate_limit_wait_seconds(response.headers, now, attempt_count)
        elif response.status_code == 503:
            wait = retry_after_seconds(response.headers.get("retry-after"), now)
            if wait is None:
                return None
        else:
            return None
        if wait >= LONG_WAIT_SECONDS:
            resume = datetime.fromtimestamp(now + wait + 1, tz=timezone.utc).strftime("%H:%M:%S UTC")
            logger.info(
                f"X asked to wait ({response.status_code} on {response.request.path_url}): resuming at {resume}."
            )
        if self._gates is not None and response.status_code == 429:
            self._gates.for_request(response.request.method, response.request.url).close_until(now + wait + 1)
        # The CDK adds one second of its own; a zero would make it fall back to its exponential default.
        return max(wait, 0.01)
