"""The connector's requests session: the environment's settings read once per host, and nothing else changed."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
import requests
import requests.sessions
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics import http_session
from source_x_organic_analytics.http_session import EnvironmentOnceSession

from .conftest import account, make_config, tweet

OLD = datetime(2026, 3, 1, tzinfo=timezone.utc)
URLS = [
    "https://ads-api.x.com/12/accounts?count=1000",
    "https://ads-api.x.com/12/stats/jobs/accounts/abc1",
    "https://ton.twimg.com/advertiser-api-async-analytics/1.json.gz",
    "http://127.0.0.1:8080/12/accounts",
]


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "ton.twimg.com,127.0.0.1"},
        {"https_proxy": "http://proxy.corp:3128", "http_proxy": "http://other:8080"},
        {"REQUESTS_CA_BUNDLE": "/etc/ssl/corp-ca.pem"},
        {"CURL_CA_BUNDLE": "/etc/ssl/curl-ca.pem", "ALL_PROXY": "socks5://socks.corp:1080"},
    ],
)
def test_settings_are_the_ones_requests_derives_for_every_host(monkeypatch, environment):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours, theirs = EnvironmentOnceSession(), requests.Session()
    for _ in range(2):  # the second round comes from the cache
        for url in URLS:
            for verify in (None, False):
                expected = theirs.merge_environment_settings(url, {}, None, verify, None)
                assert ours.merge_environment_settings(url, {}, None, verify, None) == expected


def test_a_caller_changing_its_settings_does_not_change_the_next_callers():
    session = EnvironmentOnceSession()
    first = session.merge_environment_settings(URLS[0], {}, None, None, None)
    first["proxies"]["https"] = "http://tampered:1"
    first["verify"] = False
    expected = requests.Session().merge_environment_settings(URLS[0], {}, None, None, None)
    assert session.merge_environment_settings(URLS[0], {}, None, None, None) == expected


def test_a_backfill_reads_the_environment_once_per_host_not_per_request(fake_x, source, monkeypatch, jobs_endpoint):
    monkeypatch.setattr("source_x_organic_analytics.streams.stats_jobs.time.sleep", lambda seconds: None)
    looked_up: list[str] = []
    real = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        looked_up.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)  # the streams' sessions
    monkeypatch.setattr(http_session, "get_environ_proxies", counted)  # the result files' pools
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, OLD) for i in range(45)]}
    catalog = CatalogBuilder().with_stream("tweets", SyncMode.full_refresh)
    catalog = catalog.with_stream("organic_report", SyncMode.incremental).build()

    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog)

    assert output.errors == [] and len(output.records) > 45
    sent = fake_x.mocker.request_history
    hosts = {urlsplit(r.url).netloc for r in sent}
    assert hosts == {"ads-api.test", "ton.twimg.com"} and len(sent) >= 10  # timeline, jobs, polls, downloads
    assert sorted({urlsplit(url).netloc for url in looked_up}) == sorted(hosts)
    # Once per host and client: the streams' clients and the downloads' each keep their own.
    assert len(looked_up) <= 2 * len(hosts) + 1


def test_result_downloads_send_no_credentials_even_if_a_netrc_names_their_host(
    fake_x, source, monkeypatch, tmp_path, jobs_endpoint
):
    monkeypatch.setattr("source_x_organic_analytics.streams.stats_jobs.time.sleep", lambda seconds: None)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine ton.twimg.com login someone password not-for-x\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fake_x.accounts = [account("abc1")]
    fake_x.tweets = {"abc1": [tweet(1000 + i, OLD) for i in range(3)]}
    catalog = CatalogBuilder().with_stream("organic_report", SyncMode.incremental).build()

    output = read(source, make_config(start_date="2026-07-01", end_date="2026-11-23"), catalog)

    assert output.errors == []
    downloads = [r for r in fake_x.mocker.request_history if r.netloc == "ton.twimg.com"]
    assert downloads and [r.headers.get("Authorization") for r in downloads] == [None] * len(downloads)
