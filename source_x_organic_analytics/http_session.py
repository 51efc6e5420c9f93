"""The requests session under every HTTP client of the connector, and the urllib3 pools of its result files."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests.utils import (
    DEFAULT_CA_BUNDLE_PATH,
    get_auth_from_url,
    get_environ_proxies,
    prepend_scheme_if_needed,
    select_proxy,
)

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


class EnvironmentPools:
    """urllib3 pool managers for plain GETs without requests (result files), honouring the environment as requests
    does: HTTPS_PROXY/HTTP_PROXY/ALL_PROXY unless NO_PROXY excludes the host, and the CA bundle of REQUESTS_CA_BUNDLE
    or CURL_CA_BUNDLE, else certifi's. Read once per host, like EnvironmentOnceSession. Thread-safe: worker threads
    share the managers and their pools."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_host: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._managers: dict[tuple[str | None, str], urllib3.PoolManager] = {}

    def for_url(self, url: str) -> urllib3.PoolManager:
        """The manager to send a request for `url` through: a ProxyManager when the environment proxies its host."""
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        manager = self._by_host.get(host)
        if manager is None:
            with self._lock:
                manager = self._by_host.get(host) or self._manager(select_proxy(url, get_environ_proxies(url)))
                self._by_host[host] = manager
        return manager

    def _manager(self, proxy: str | None) -> urllib3.PoolManager:
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH
        key = (proxy, ca_bundle)
        if key not in self._managers:
            where = "ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"
            tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", where: ca_bundle}
            pools: dict[str, Any] = {"num_pools": POOL_SIZE, "maxsize": POOL_SIZE, **tls}
            if proxy is None:
                self._managers[key] = urllib3.PoolManager(**pools)
            else:
                proxy = prepend_scheme_if_needed(proxy, "http")  # as requests reads `HTTPS_PROXY=host:port`
                username, password = get_auth_from_url(proxy)
                auth = urllib3.make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
                self._managers[key] = urllib3.ProxyManager(proxy, proxy_headers=auth, **pools)
        return self._managers[key]
