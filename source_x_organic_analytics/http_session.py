"""The requests session under every HTTP client of the connector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

# Above the 10 workers `num_workers` allows: a worker never waits for a pooled connection.
POOL_SIZE = 20


class EnvironmentOnceSession(requests.Session):
    """A session that reads the proxy and CA-bundle settings of the environment once per host, not per request.

    requests re-reads the whole process environment two to three times for every request (proxies, `no_proxy`, CA
    bundle): about a sixth of the CPU of one small request, for an answer that cannot change while a sync runs. The
    settings are the ones requests itself derives (`trust_env` semantics unchanged), computed on first use of a
    host and reused."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        for scheme in ("https://", "http://"):
            self.mount(scheme, HTTPAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE))

    def merge_environment_settings(
        self, url: str, proxies: Mapping[str, Any] | None, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        # Callers may update what they get: each has its own copy.
        return {**settings, "proxies": dict(settings["proxies"])}


class NoCredentials(AuthBase):
    """For URLs that carry their own authorisation (X's result files): sends nothing, and spares requests its
    search for a ~/.netrc entry (two file-system calls) on every download."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request
