"""The result files of X's analytics jobs: fetched only from X's hosts, without credentials, bounded in size.

A job's `url` is whatever X's job list says. The connector fetches it only over HTTPS from the host X documents for
result files, or from a host the config points the connector at (a local emulator, over plain HTTP only on a
loopback address); it sends no credentials, follows at most a few redirects and checks each one like the first, and
stops reading past a size no real result file comes near. Whatever it refuses, the caller reads another way.

Downloads go through urllib3 directly, not the CDK's client nor a requests session: they need no auth, no rate-limit
gate and none of the CDK's error mapping, and each layer costs CPU on each of a backfill's hundreds of files. The
proxy and CA-bundle settings of the environment apply as requests applies them (`http_session.EnvironmentPools`).
They are retried by `ResultFiles._get`, waiting as `_retry_wait` says.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3

from ..config import is_loopback
from ..errors import MAX_RETRIES, answer_retry_wait, parse_json
from ..http_session import EnvironmentPools

X_RESULT_HOST = "ton.twimg.com"  # where X documents its result files (https://ton.twimg.com/advertiser-api-async-...)
# A real file is small: 20 tweets x 90 days x 25 metrics is ~100 KB of JSON. 64 MB is over 600 times that, so no real
# file reaches it, while a hostile one (a small gzip that inflates to gigabytes) stops there instead of filling memory.
MAX_INFLATED_BYTES = 64 * 1024 * 1024
MAX_COMPRESSED_BYTES = MAX_INFLATED_BYTES  # gzip never makes a file bigger by more than a few bytes
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 3
LINK_GONE_STATUSES = (403, 404, 410)  # what a storage answers for an expired or withdrawn link
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
IDENTITY = {"Accept-Encoding": "identity"}
GZIP_MAGIC = b"\x1f\x8b"
TIMEOUT = urllib3.Timeout(connect=10, read=300)  # the read timeout bounds each read of the body
MAX_DOWNLOAD_SECONDS = 10 * 60  # a real file takes well under a second
MAX_TRIES = 1 + MAX_RETRIES  # of one hop that fails for a passing reason (a 408, a 429, a 5xx, no connection)
RETRY_BUDGET_SECONDS = 10 * 60  # from a hop's first try: no retry starts a wait that would end later


class Unfetchable(Exception):
    """The file cannot be read here, whatever the number of tries; its batch must be read another way."""


class LinkGone(Unfetchable):
    """The storage no longer serves the file (X's links expire): a new job gets a new one."""


class StillFailing(Exception):
    """The file's host kept failing for a passing reason through every try: the sync ends, to be run again later."""


Origin = tuple[str, str, int]


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


def result_file_origins(*base_urls: str) -> frozenset[Origin]:
    """Where result files may come from: X's result host, and the API hosts the config names (`api_base_url`,
    `x_api_base_url`), which serve their own files when they are an emulator or a proxy of X's."""
    configured = (_origin(url) for url in base_urls)
    return frozenset({("https", X_RESULT_HOST, 443), *(origin for origin in configured if origin is not None)})


def refusal(url: str, origins: frozenset[Origin]) -> str | None:
    """Why `url` is not fetched, or None when it may be: a URL X did not send could lead the connector anywhere."""
    parts = urlsplit(url)
    origin = _origin(url)
    if parts.username is not None or parts.password is not None:
        return "carries credentials in its URL"
    if origin is None or origin not in origins:
        return f"is not on X's result host {X_RESULT_HOST} nor on a configured API host ({parts.netloc or url!r})"
    if origin[0] != "https" and not (origin[0] == "http" and is_loopback(origin[1])):
        return f"is not HTTPS ({parts.scheme}://{parts.netloc})"
    return None


def _passing_failure(status: int) -> bool:
    """An answer worth another try: a timeout, a rate limit, a server error."""
    return status in (408, 429) or status >= 500


Answer = urllib3.BaseHTTPResponse


def _retry_wait(url: str, failure: Answer | Exception, attempt: int) -> float:
    """Seconds to wait before trying a hop again after its `attempt`-th try failed: what X asks on its answer
    (`retry-after`, a 429's reset), through the connector's one check of X's waits (which raises WaitTooLongError
    beyond what a sync waits); else 1, 2, 4, 8 then 16 s, the CDK's own backoff."""
    asked = (
        None
        if isinstance(failure, Exception)
        else answer_retry_wait(failure.status, failure.headers, urlsplit(url).path, time.time(), attempt)
    )
    return float(2 ** (attempt - 1)) if asked is None else asked


def _capped(chunks: Iterable[bytes], limit: int, what: str) -> Iterator[bytes]:
    """The chunks, until they add up to more than `limit` bytes: then the file is refused."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise Unfetchable(f"has a result file larger than {limit // (1024 * 1024)} MB {what}")
        yield chunk


def _raw_chunks(response: Answer) -> Iterator[bytes]:
    """The body as sent (no Content-Encoding decoding: that is done below, bounded), read a chunk at a time, within
    MAX_DOWNLOAD_SECONDS: the read timeout bounds each read, not a server that sends a byte now and then."""
    give_up_at = time.monotonic() + MAX_DOWNLOAD_SECONDS
    try:
        for chunk in response.stream(CHUNK_BYTES, decode_content=False):
            if time.monotonic() > give_up_at:
                raise Unfetchable(f"took more than {MAX_DOWNLOAD_SECONDS // 60} minutes to download its result file")
            yield chunk
    except urllib3.exceptions.HTTPError as error:  # a connection cut mid-file: the caller downloads it again
        raise OSError(f"the download was cut short ({error})") from error


def _inflate_members(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Gzip members inflated one bounded step at a time: never more than CHUNK_BYTES of output per call, so a
    small compressed chunk cannot expand into memory all at once."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in chain((first,), chunks):
        data = chunk
        while True:
            try:
                out = inflater.decompress(data, CHUNK_BYTES)
            except zlib.error as error:  # garbled: the caller downloads it again
                raise ValueError(f"the gzip stream is corrupt ({error})") from error
            if out:
                yield out
            data = inflater.unconsumed_tail
            if inflater.eof:
                rest = inflater.unused_data + data
                if not rest.strip(b"\x00"):
                    break
                inflater, data = zlib.decompressobj(16 + zlib.MAX_WBITS), rest  # the next gzip member
                continue
            if not data and len(out) < CHUNK_BYTES:
                break
    if not inflater.eof:
        raise EOFError("the gzip stream ends before its end marker")


def _gunzip_if_gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Inflates the stream when it is gzip, passes it on otherwise: X's file is gzip, and a server that also sets
    Content-Encoding wraps it once more."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(GZIP_MAGIC):
            break
    if head.startswith(GZIP_MAGIC):
        yield from _inflate_members(head, chunks)
    else:
        yield head
        yield from chunks


def read_body(response: Answer) -> bytes:
    """The file's content, inflated (through at most two gzip layers), refused past the size caps."""
    compressed = _capped(_raw_chunks(response), MAX_COMPRESSED_BYTES, "compressed")
    inflated = _capped(_gunzip_if_gzip(_gunzip_if_gzip(compressed)), MAX_INFLATED_BYTES, "once inflated")
    return b"".join(inflated)


def _give_back(response: Answer) -> None:
    """Returns the answer's connection to its pool, closed first unless its body was read to the end: the rest of a
    refused or unread body must not be read as the next answer."""
    if not response.isclosed():
        response.close()
    response.release_conn()


class ResultFiles:
    """Fetches result files through urllib3 pools shared by the worker threads, one hop at a time, each hop retried
    by `_retry_wait`. urllib3 sends no credentials of its own (no ~/.netrc, no auth)."""

    def __init__(self, logger: logging.Logger, origins: frozenset[Origin]):
        self._logger = logger
        self._origins = origins
        self._pools = EnvironmentPools()

    def fetch(self, url: str) -> Mapping[str, Any]:
        """The parsed file. Raises `Unfetchable` (or `LinkGone`) for a file not to be read here, ValueError, OSError
        or EOFError for one that came garbled and may be downloaded again, `StillFailing` when its host kept failing,
        and WaitTooLongError when X asks to wait longer than a sync waits."""
        for _ in range(MAX_REDIRECTS + 1):
            why = refusal(url, self._origins)
            if why is not None:
                raise Unfetchable(f"has its result at a URL that {why}")
            with self._answer(url) as response:
                if response.status in REDIRECT_STATUSES and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                return self._parse(response)
        raise Unfetchable(f"had its result file redirected more than {MAX_REDIRECTS} times")

    @contextmanager
    def _answer(self, url: str) -> Iterator[Answer]:
        """One hop's answer (see `_get`), its connection given back to the pool afterwards."""
        response = self._get(url)
        try:
            yield response
        finally:
            _give_back(response)

    def _get(self, url: str) -> Answer:
        """One hop's answer, its body unread, tried again while it fails for a passing reason."""
        give_up_at = time.monotonic() + RETRY_BUDGET_SECONDS
        for attempt in range(1, MAX_TRIES + 1):
            try:
                # Redirects are followed by `fetch`, so each is checked like the first; urllib3 retries nothing
                # itself, and leaves the body (X's gzip file, whatever Content-Encoding says) to `read_body`.
                response = self._pools.for_url(url).urlopen(
                    "GET",
                    url,
                    headers=IDENTITY,
                    timeout=TIMEOUT,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
            except urllib3.exceptions.HTTPError as error:  # no connection, a timeout, a connection dropped
                failure: Answer | Exception = error
                said = f"could not be reached ({type(error).__name__})"
            else:
                if not _passing_failure(response.status):
                    return response
                _give_back(response)  # its body is not worth reading
                failure, said = response, f"answered HTTP {response.status}"
            if attempt == MAX_TRIES:
                break
            wait = _retry_wait(url, failure, attempt)
            if time.monotonic() + wait > give_up_at:
                break
            self._logger.info(f"A result file's host {said}; trying again in {wait:g} s (try {attempt + 1}).")
            time.sleep(wait)
        raise StillFailing(f"its host {said} on {attempt} tries")

    @staticmethod
    def _parse(response: Answer) -> Mapping[str, Any]:
        status = response.status
        if status in LINK_GONE_STATUSES:
            raise LinkGone(f"had its result file answer HTTP {status}")
        if status != 200:
            raise Unfetchable(f"had its result file answer HTTP {status}")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_COMPRESSED_BYTES:
            raise Unfetchable(f"has a result file of {int(declared)} bytes, above {MAX_COMPRESSED_BYTES}")
        body = parse_json(read_body(response))
        if not isinstance(body, Mapping):
            raise ValueError(f"the file holds a {type(body).__name__}, not an object")
        return body


def mismatch(body: Mapping[str, Any], account_id: str, params: Mapping[str, str], batch: Iterable[str]) -> str | None:
    """Why a result file is not the answer to the job that asked `params` for `batch` (None when it is). X echoes a
    request in the file's `request.params`: a file of another job, another account or another window would put its
    metrics under the wrong tweets or days."""
    request = body.get("request")
    echoed = request.get("params") if isinstance(request, Mapping) else None
    if not isinstance(echoed, Mapping):
        return "has a result file without `request.params` to check it against"
    wanted = set(batch)
    differences = [
        name
        for name, same in (
            ("account_id", "account_id" not in echoed or str(echoed["account_id"]) == account_id),
            ("entity_ids", _id_set(echoed.get("entity_ids")) == wanted),
            ("start_time", _instant(echoed.get("start_time")) == _instant(params.get("start_time"))),
            ("end_time", _instant(echoed.get("end_time")) == _instant(params.get("end_time"))),
            ("granularity", str(echoed.get("granularity", "")).upper() == str(params.get("granularity", "")).upper()),
        )
        if not same
    ]
    if differences:
        return f"has a result file for another request (its {', '.join(differences)} differ from the job's)"
    strangers = {str(item.get("id")) for item in body.get("data") or [] if isinstance(item, Mapping)} - wanted
    if strangers:
        return f"has a result file with metrics of {len(strangers)} tweet(s) the job did not ask for"
    return None


def _id_set(value: Any) -> set[str] | None:
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, list):
        return {str(part) for part in value}
    return None


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
