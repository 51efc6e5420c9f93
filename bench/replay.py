"""A recorded sync's answers served again, for the HTTP floor (bench/http_floor.py).

The emulator keeps, when asked (`EmulatorServer.keep_responses`), each request's method, path and query string with
its answer's status, content type and body. `ReplayServer` serves the i-th of them at `/replay/<i><original path>`,
from a loopback HTTP/1.1 server on its own threads in the bench process (so none of its work is counted in the
floor's CPU), and counts what it served: the bench checks that the floor asked for every answer exactly once.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from integration_tests.x_emulator.server import KeptResponse, _route

_REPLAY_PATH = re.compile(r"/replay/(?P<index>\d+)/")


@dataclass(frozen=True)
class Recording:
    """A sync's answers in the order they were made, and the credentials it signed its requests with."""

    responses: list[KeptResponse]
    credentials: Mapping[str, str]

    def failures(self) -> list[str]:
        """The answers that were not a 2xx: a replay only stands for a sync that went through."""
        return [f"{r.method} {r.path} -> {r.status}" for r in self.responses if not 200 <= r.status < 300]


class ReplayServer:
    """Serves a recording's answers on 127.0.0.1; a context manager."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self.served: Counter = Counter()  # answer index -> times served
        self.refused = 0  # requests for no answer of the recording, or with another method
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name="replay", daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def requests(self) -> list[dict[str, Any]]:
        """The floor's requests, in the recording's order: the same method, path and query parameters, under
        `/replay/<i>`; result files flagged, to go without credentials."""
        return [
            {
                "method": r.method,
                "url": f"{self.base_url}/replay/{i}{r.path}",
                "params": dict(parse_qsl(r.raw_query, keep_blank_values=True)),
                "result_file": is_result_file(r),
            }
            for i, r in enumerate(self.recording.responses)
        ]

    def answer(self, method: str, path: str) -> KeptResponse | None:
        match = _REPLAY_PATH.match(path)
        index = int(match["index"]) if match else -1
        responses = self.recording.responses
        kept = responses[index] if 0 <= index < len(responses) else None
        with self._lock:
            if kept is None or kept.method != method:
                self.refused += 1
                return None
            self.served[index] += 1
        return kept

    def missed(self) -> str | None:
        """What the floor did not ask exactly once (None when it asked for every answer once and for nothing else)."""
        total = len(self.recording.responses)
        twice = sum(1 for n in self.served.values() if n > 1)
        if len(self.served) == total and not twice and not self.refused:
            return None
        return (
            f"the HTTP floor asked for {len(self.served):,} of the {total:,} recorded answers ({twice} more than once, "
            f"{self.refused} requests for none of them)"
        )


def is_result_file(response: KeptResponse) -> bool:
    """A job's result file (the emulator's `job_file` route), which the connector fetches without credentials."""
    route = _route(response.method, response.path)
    return route is not None and route[0] == "job_file"


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the emulator

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the emulator: no Nagle stalls

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._answer()

        def do_POST(self) -> None:  # noqa: N802
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            kept = server.answer(self.command, urlsplit(self.path).path)
            status, content_type, body = (
                (kept.status, kept.content_type, kept.body) if kept else (404, "text/plain", b"not in the recording")
            )
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
