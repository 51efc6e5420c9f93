"""How X's answers map to retries, waits and messages a user can act on.

X's error body is `{"errors": [{"code", "message", "parameter"?}]}`, but some error pages are not JSON at all, so the
HTTP status always decides what happens and the body only enriches the message.
"""

from __future__ import annotations

import json
import logging
import math
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
# X's rate windows last 15 minutes: no wait X asks for is longer when it is honest. A longer one is not slept through
# (a sync would hang for hours); the stream ends saying when X allows the next request. The 5 s cover a reset
# announced a few seconds past the window, or a clock a little behind X's.
MAX_WAIT_SECONDS = 15 * 60 + 5
LONG_WAIT_SECONDS = 30
# The gate opens one second after the instant X names: X's resets are whole seconds.
GATE_MARGIN_SECONDS = 1
# An epoch this large in seconds would be past the year 5000: X's value is in milliseconds.
_MILLISECOND_EPOCHS_FROM = 1e11

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


# orjson works in a scratch buffer many times its input: for a timeline page of 1,000 tweets that is the largest
# allocation of a sync, and it makes peak memory grow with the tweet count. json needs none, at a little more CPU per
# such page; the stats answers that dominate CPU are all far smaller (the bench's peak RSS pair measures it).
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


class WaitTooLongError(AirbyteTracedException):
    """X asked for no request before a time further away than a sync waits: retrying later is all there is to do."""

    def __init__(self, resume_at: float, endpoint: str, asked: str):
        when = utc_text(resume_at)
        message = (
            f"X allows no request to {endpoint} before {when} ({asked}); a sync waits at most "
            f"{MAX_WAIT_SECONDS // 60} minutes, so this stream stopped. Everything read in full before it (and its "
            f"state) was saved; run the sync again after {when}."
        )
        super().__init__(message=message, internal_message=message, failure_type=FailureType.transient_error)
        self.resume_at = resume_at


def utc_text(epoch: float) -> str:
    """`2026-11-30 16:20:00 UTC`; an instant beyond any calendar (X's `1e300`, `inf`) is said so instead of crashing."""
    try:
        return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return "a time beyond the year 9999"


def wait_asked_by_x(seconds: float | None, now: float, endpoint: str, asked: str) -> float | None:
    """The one check every wait X asks for passes (429 resets, retry-after on any status, a spent budget): the
    seconds to sleep, finite and at most MAX_WAIT_SECONDS. None (or NaN) means X named no usable wait; a time
    already past means none. Longer, infinity included, raises WaitTooLongError naming when X allows the next
    request; `asked` quotes what X said, for that message."""
    if seconds is None or math.isnan(seconds):
        return None
    if seconds > MAX_WAIT_SECONDS:
        raise WaitTooLongError(now + seconds, endpoint, asked)
    return max(0.0, seconds)


def reset_epoch(value: str | None) -> float | None:
    """A rate-limit reset as epoch seconds, None if it is no number. X documents seconds; a value only milliseconds
    can mean is read as milliseconds."""
    try:
        epoch = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(epoch):
        return None
    return epoch / 1000 if epoch >= _MILLISECOND_EPOCHS_FROM else epoch


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """`retry-after` is either delay-seconds or an HTTP date; None if it is neither. Unchecked: see wait_asked_by_x."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    return None if math.isnan(seconds) else seconds


def _asked_seconds(status: int, headers: Mapping[str, str], now: float) -> tuple[float, str] | None:
    """What X asks to wait before retrying an answer of `status` with `headers`, unchecked, and the header that says
    it: on a 429 the reset of the account-level limit first, the user-level one next; then `retry-after`, on any
    status."""
    resets = ("x-account-rate-limit-reset", "x-rate-limit-reset") if status == 429 else ()
    for header in resets:
        reset = reset_epoch(headers.get(header))
        if reset is not None:
            return reset - now, header
    seconds = retry_after_seconds(headers.get("retry-after"), now)
    return None if seconds is None else (seconds, "retry-after")


def endpoint_of(response: requests.Response) -> str:
    request = response.request
    return urlsplit(request.url if request is not None and request.url else response.url or "").path or "X"


def retry_wait_seconds(response: requests.Response, now: float, attempt: int = 1) -> float | None:
    """Seconds to wait before retrying `response`: see answer_retry_wait."""
    return answer_retry_wait(response.status_code, response.headers, endpoint_of(response), now, attempt)


def answer_retry_wait(
    status: int, headers: Mapping[str, str], endpoint: str, now: float, attempt: int = 1
) -> float | None:
    """Seconds to wait before retrying an answer of `status` with `headers` from `endpoint` (a path): what X asks,
    through wait_asked_by_x; without an ask, a default that grows with the attempts on a 429, and None (the CDK's
    exponential backoff) on other statuses. Takes the answer's parts, not a requests response: result files come
    through urllib3."""
    asked = _asked_seconds(status, headers, now)
    if asked is not None:
        seconds, header = asked
        quote = f"`{header}: {headers[header]:.40}` on a {status}"
        return wait_asked_by_x(seconds, now, endpoint, quote)
    if status == 429:
        return min(DEFAULT_RATE_LIMIT_WAIT_SECONDS * attempt, MAX_WAIT_SECONDS)
    return None


Budget = tuple[int, float, int | None]  # (remaining, reset as epoch seconds, limit of the window if announced)


USER_BUDGET = "x-rate-limit"  # the headers of X's budget per user and endpoint
ACCOUNT_BUDGET = "x-account-rate-limit"  # the headers of X's budget per ads account and endpoint


def announced_budget(
    headers: Mapping[str, str], prefixes: tuple[str, ...] = (ACCOUNT_BUDGET, USER_BUDGET)
) -> Budget | None:
    """The tighter of X's budgets named by `prefixes` (per account, per user) announced on a response."""
    budgets = []
    for prefix in prefixes:
        reset = reset_epoch(headers.get(f"{prefix}-reset"))
        try:
            remaining = int(headers[f"{prefix}-remaining"])
        except (KeyError, ValueError):
            continue
        if reset is None:
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

    def __init__(self, endpoint: str = "this endpoint", budgets: tuple[str, ...] = (ACCOUNT_BUDGET, USER_BUDGET)):
        self._endpoint = endpoint
        self._budgets = budgets  # the headers whose budget this gate follows
        self._cond = threading.Condition()
        self._open_at = 0.0
        self._answered = False
        self._budget: Budget | None = None
        self._in_flight = 0

    def close_until(self, epoch: float) -> None:
        with self._cond:
            if epoch > self._open_at:
                self._open_at = epoch
            # Waiters re-check: a gate closed beyond what a sync waits makes each of them raise now.
            self._cond.notify_all()

    def _allowed(self, now: float) -> tuple[int | None, float | None]:
        """How many requests may be in flight now (None: no bound), and until when (None: until an answer)."""
        if not self._answered:
            return 1, None
        if self._budget is None:
            return None, None
        remaining, reset, limit = self._budget
        if now < reset + GATE_MARGIN_SECONDS:
            return remaining, reset + GATE_MARGIN_SECONDS
        return (1 if limit is None else max(1, limit)), None

    def acquire(self) -> None:
        """Takes a slot once X's budget allows; raises WaitTooLongError rather than wait longer than a sync waits."""
        with self._cond:
            while True:
                now = time.time()
                if now < self._open_at:
                    self._check_wait(self._open_at, now, "asked on an earlier answer")
                    self._cond.wait(self._open_at - now)
                    continue
                allowed, until = self._allowed(now)
                if allowed is not None and self._in_flight >= allowed:
                    if until is not None:
                        self._check_wait(until, now, "its announced rate-limit budget is spent until its reset")
                        if until - now >= LONG_WAIT_SECONDS and not self._in_flight:
                            logger.info(
                                f"X's rate-limit budget for {self._endpoint} is spent: resuming at {utc_text(until)}."
                            )
                    self._cond.wait(None if until is None else until - now)
                    continue
                self._in_flight += 1
                return

    def budget(self) -> Budget | None:
        """X's budget as last announced on this gate's answers (remaining, reset, limit); None before any."""
        with self._cond:
            return self._budget

    def _check_wait(self, target: float, now: float, asked: str) -> None:
        """Raises WaitTooLongError when X's instant (`target`, one second of margin included) is too far away."""
        wait_asked_by_x(target - GATE_MARGIN_SECONDS - now, now, self._endpoint, asked)

    def release(self, response: requests.Response | None) -> None:
        with self._cond:
            self._in_flight -= 1
            self._answered = self._answered or response is not None
            budget = announced_budget(response.headers, self._budgets) if response is not None else None
            # Answers arrive out of order: within one rate window the lowest `remaining` is the latest truth.
            if budget is not None and (self._budget is None or budget[1] > self._budget[1]):
                self._budget = budget
            elif budget is not None and budget[1] == self._budget[1] and budget[0] < self._budget[0]:
                self._budget = budget
            self._cond.notify_all()


class RequestGates:
    """The gates one request passes: its ads account's budget on that endpoint (when the path names an account),
    then the user's. Taken in that order, a worker waiting for one account's spent budget holds no slot of the
    user's, so the other accounts' requests go on."""

    def __init__(self, gates: list[RateLimitGate]):
        self._gates = gates

    def acquire(self) -> None:
        taken: list[RateLimitGate] = []
        try:
            for gate in self._gates:
                gate.acquire()
                taken.append(gate)
        except BaseException:
            for gate in reversed(taken):
                gate.release(None)
            raise

    def release(self, response: requests.Response | None) -> None:
        for gate in reversed(self._gates):
            gate.release(response)

    def close_until(self, epoch: float) -> None:
        for gate in self._gates:
            gate.close_until(epoch)


class RateLimitGates:
    """The sync's gates, as X counts its budgets: per user and endpoint family (ids stripped), and per ads account
    and endpoint family."""

    _ACCOUNT = re.compile(r"/accounts/[^/?]+")

    def __init__(self) -> None:
        self._gates: dict[str, RateLimitGate] = {}
        self._lock = threading.Lock()

    def for_request(self, method: str, url: str) -> RequestGates:
        path = urlsplit(url).path
        endpoint = self._endpoint(path)
        gates = [self._gate(f"user {method} {endpoint}", endpoint, (USER_BUDGET,))]
        if account_in_url(path):
            gates.insert(0, self._gate(f"account {method} {path}", path, (ACCOUNT_BUDGET,)))
        return RequestGates(gates)

    def user_budget(self, method: str, url: str) -> Budget | None:
        """The user's budget on the endpoint of `url` as X last announced it in this sync; None before any answer."""
        with self._lock:
            gate = self._gates.get(f"user {method} {self._endpoint(urlsplit(url).path)}")
        return None if gate is None else gate.budget()

    @classmethod
    def _endpoint(cls, path: str) -> str:
        """The endpoint family of a path, as X counts a user's budget: ads account ids stripped."""
        return cls._ACCOUNT.sub("/accounts/-", path)

    def _gate(self, key: str, endpoint: str, budgets: tuple[str, ...]) -> RateLimitGate:
        with self._lock:
            if key not in self._gates:
                self._gates[key] = RateLimitGate(endpoint, budgets)
            return self._gates[key]


class XBackoffStrategy(BackoffStrategy):
    """Waits as long as X says (a 429's reset, `retry-after` on any status), within what a sync waits; else the
    CDK's default. Raising from here ends the request: the CDK's retry loop only catches its own backoff exceptions.
    """

    def __init__(self, gates: RateLimitGates | None = None):
        self._gates = gates

    def backoff_time(
        self, response_or_exception: requests.Response | requests.RequestException | None, attempt_count: int
    ) -> float | None:
        if not isinstance(response_or_exception, requests.Response):
            return None
        response = response_or_exception
        now = time.time()
        try:
            wait = retry_wait_seconds(response, now, attempt_count)
        except WaitTooLongError as error:
            # The other workers on this endpoint stop too, instead of asking X again in the meantime.
            self._close_gate(response, error.resume_at + GATE_MARGIN_SECONDS)
            raise
        if wait is None:
            return None
        if wait >= LONG_WAIT_SECONDS:
            logger.info(
                f"X asked to wait ({response.status_code} on {endpoint_of(response)}): resuming at "
                f"{utc_text(now + wait + 1)}."
            )
        if response.status_code == 429:
            self._close_gate(response, now + wait + GATE_MARGIN_SECONDS)
        # The CDK adds one second of its own; a zero would make it fall back to its exponential default.
        return max(wait, 0.01)

    def _close_gate(self, response: requests.Response, epoch: float) -> None:
        if self._gates is not None and response.request is not None:
            self._gates.for_request(str(response.request.method), str(response.request.url)).close_until(epoch)
