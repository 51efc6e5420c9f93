"""The HTTP floor: the CDK floor (bench/floor_source.py) that also sends a sync's HTTP requests and parses the answers.

`python -m bench.http_floor read --config http_floor.json --catalog catalog.json` emits the same records as the CDK
floor (the same config: templates and counts per stream) and, besides, sends the requests of a recorded sync of the
connector to the bench's replay server (bench/replay.py), which answers each with the very body X's emulator gave the
connector:

    {"streams": {...}, "credentials": {"consumer_key": ..., ...},
     "requests": [{"method": "POST", "url": "http://127.0.0.1:PORT/replay/0/12/stats/jobs/accounts/abc",
                   "params": {...}, "result_file": false}, ...]}

What a request costs it is what any CDK connector pays for it, and no more:
- every request goes through the CDK's `HttpClient` (its default session, a plain `HttpStatusErrorHandler`, the
  default backoff), with the request's own query parameters;
- API requests are signed by the connector's own authenticator (`auth.build_authenticator`: requests-oauthlib's
  OAuth1, HMAC-SHA1 in the Authorization header, for the bench's OAuth 1.0a config); result files (`result_file`)
  are fetched by a second client without credentials, as the connector fetches them;
- every answer is parsed: JSON (orjson, the CDK's own serializer), result files gunzipped first.

Requests are sent one at a time from the one thread that emits the records, spread evenly over the sync's records
(request j just before record j x records / requests), as a connector emits what each answer brings: no thread pool,
so nothing of the connector's concurrency is in this floor.
"""

from __future__ import annotations

import gzip
import logging
import sys
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import orjson
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers import HttpStatusErrorHandler

from bench.floor_source import FloorSource, FloorStream
from source_x_organic_analytics.auth import build_authenticator

TIMEOUT_SECONDS = 60
logger = logging.getLogger("airbyte")


class Replay:
    """The sync's requests, sent in order, spread evenly over its `records` records."""

    def __init__(self, requests: list[Mapping[str, Any]], credentials: Mapping[str, str], records: int):
        self._requests = requests
        self._records = records
        self._sent = 0
        self._emitted = 0
        error_handler = HttpStatusErrorHandler(logger)
        # The connector's own signer: requests-oauthlib's OAuth1 for the bench's OAuth 1.0a config.
        signer = build_authenticator({"credentials": dict(credentials)})
        self._api = HttpClient(name="http_floor_api", logger=logger, error_handler=error_handler, authenticator=signer)
        self._files = HttpClient(name="http_floor_files", logger=logger, error_handler=error_handler)

    def records_until_next_request(self, available: int) -> int:
        """Sends the requests due before the next record, then says how many of the `available` records come
        before the next request is due."""
        while self._sent < len(self._requests) and self._due(self._sent) <= self._emitted:
            self._send(self._requests[self._sent])
            self._sent += 1
        next_due = self._due(self._sent) if self._sent < len(self._requests) else self._emitted + available
        run = min(available, next_due - self._emitted)
        self._emitted += run
        return run

    def _due(self, request: int) -> int:
        """The record (0-based, in the sync's order) before which this request is sent: every one before the last."""
        return request * self._records // len(self._requests)

    def _send(self, request: Mapping[str, Any]) -> None:
        client = self._files if request["result_file"] else self._api
        _, response = client.send_request(
            request["method"], request["url"], {"timeout": TIMEOUT_SECONDS}, params=request["params"]
        )
        content = gzip.decompress(response.content) if request["result_file"] else response.content
        orjson.loads(content)


class HttpFloorStream(FloorStream):
    def __init__(self, name: str, templates: list[Mapping[str, Any]], count: int, replay: Replay):
        super().__init__(name, templates, count)
        self._replay = replay

    def read_records(self, *args: Any, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        """The CDK floor's records, with the requests due before each sent first."""
        records = super().read_records(*args, **kwargs)
        left = self._count
        while left:
            run = self._replay.records_until_next_request(left)
            yield from islice(records, run)
            left -= run


class HttpFloorSource(FloorSource):
    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        counts = {name: int(spec["count"]) for name, spec in config.get("streams", {}).items()}
        replay = Replay(config.get("requests", []), config.get("credentials", {}), sum(counts.values()))
        return [
            HttpFloorStream(name, config["streams"][name]["templates"], count, replay) for name, count in counts.items()
        ]


def main() -> None:
    launch(HttpFloorSource(), sys.argv[1:])


if __name__ == "__main__":
    main()
