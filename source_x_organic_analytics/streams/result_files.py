"""The result files of X's analytics jobs: fetched only from X's hosts, without credentials, bounded in size.

A job's `url` is whatever X's job list says. The connector fetches it only over HTTPS from the host X documents for
result files, or from a host the config points the connector at (a local emulator, over plain HTTP only on a
loopback address); it sends no credentials, follows at most a few redirects and checks each one like the first, and
stops reading past a size no real result file comes near. Whatever it refuses, the caller reads another way.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import chain
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers import HttpStatusErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.default_error_mapping import DEFAULT_ERROR_MAPPING
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from ..config import is_loopback
from ..errors import parse_json
from ..http_session import EnvironmentOnceSession, NoCredentials

X_RESULT_HOST = "ton.twimg.com"  # where X documents its result files (https://ton.twimg.com/advertiser-api-async-...)
# A real file is small: 20 tweets x 90 days x 25 metrics is ~100 KB of JSON. 64 MB is over 600 times that, so no real
# file reaches it, while a hostile one (a 510 KB gzip inflating to 512 MB) stops there instead of filling memory.
MAX_INFLATED_BYTES = 64 * 1024 * 1024
MAX_COMPRESSED_BYTES = MAX_INFLATED_BYTES  # gzip never makes a file bigger by more than a few bytes
CHUNK_BYTES = 64 * 1024
MAX_REDIRECTS = 3
LINK_GONE_STATUSES = (403, 404, 410)  # what a storage answers for an expired or withdrawn link
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
GZIP_MAGIC = b"\x1f\x8b"
TIMEOUT_SECONDS = (10, 300)  # connect, and each read of the body
MAX_DOWNLOAD_SECONDS = 10 * 60  # a real file takes well under a second


class Unfetchable(Exception):
    """The file cannot be read here, whatever the number of tries; its batch must be read another way."""


class LinkGone(Unfetchable):
    """The storage no longer serves the file (X's links expire): a new job gets a new one."""


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


def _no_body_handling() -> dict[Any, ErrorResolution]:
    """The CDK's error handling, except that no 4xx but 408 and 429 fails or is retried inside the client: those are
    handed back unread, since the CDK would log their whole body, and a link that is gone is not worth 5 retries."""
    handed_back = ErrorResolution(response_action=ResponseAction.IGNORE, failure_type=None, error_message=None)
    return {
        **DEFAULT_ERROR_MAPPING,
        **{status: handed_back for status in range(400, 500) if status not in (408, 429)},
    }


def _capped(chunks: Iterable[bytes], limit: int, what: str) -> Iterator[bytes]:
    """The chunks, until they add up to more than `limit` bytes: then the file is refused."""
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise Unfetchable(f"has a result file larger than {limit // (1024 * 1024)} MB {what}")
        yield chunk


def _raw_chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as sent (no Content-Encoding decoding: that is done below, bounded), read a chunk at a time, within
    MAX_DOWNLOAD_SECONDS: the read timeout bounds each read, not a server that sends a byte now and then."""
    give_up_at = time.monotonic() + MAX_DOWNLOAD_SECONDS
    try:
        for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
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


def read_body(response: requests.Response) -> bytes:
    """The file's content, inflated (through at most two gzip layers), refused past the size caps."""
    compressed = _capped(_raw_chunks(response), MAX_COMPRESSED_BYTES, "compressed")
    inflated = _capped(_gunzip_if_gzip(_gunzip_if_gzip(compressed)), MAX_INFLATED_BYTES, "once inflated")
    return b"".join(inflated)


class ResultFiles:
    """Fetches result files through the CDK's client (its retries of 5xx and connection errors), one hop at a time."""

    def __init__(self, logger: logging.Logger, origins: frozenset[Origin]):
        self._origins = origins
        self._client = HttpClient(
            name="organic_report_job_results",
            logger=logger,
            error_handler=HttpStatusErrorHandler(logger, error_mapping=_no_body_handling(), max_retries=5),
            session=EnvironmentOnceSession(),
            authenticator=NoCredentials(),  # also keeps requests from looking up ~/.netrc for the host
        )

    def fetch(self, url: str) -> Mapping[str, Any]:
        """The parsed file. Raises `Unfetchable` (or `LinkGone`) for a file not to be read here, and ValueError,
        OSError or EOFError for one that came garbled and may be downloaded again."""
        for _ in range(MAX_REDIRECTS + 1):
            why = refusal(url, self._origins)
            if why is not None:
                raise Unfetchable(f"has its result at a URL that {why}")
            # Redirects are followed here, not by requests, so each is checked like the first and none can pick up
            # credentials on the way (requests re-reads ~/.netrc for a redirect's host).
            _, response = self._client.send_request(
                "GET",
                url,
                headers={"Accept-Encoding": "identity"},
                request_kwargs={"timeout": TIMEOUT_SECONDS, "stream": True, "allow_redirects": False},
            )
            with response:
                if response.status_code in REDIRECT_STATUSES and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                return self._parse(response)
        raise Unfetchable(f"had its result file redirected more than {MAX_REDIRECTS} times")

    @staticmethod
    def _parse(response: requests.Response) -> Mapping[str, Any]:
        status = response.status_code
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
