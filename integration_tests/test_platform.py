"""What the Airbyte platform enforces or shows from the connector's metadata and spec: `allowedHosts` must cover every
host the connector contacts (a platform that enforces the list blocks any other), and the form's layout."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from integration_tests import e2e_support as e2e
from integration_tests.x_emulator import EmulatorServer, build_dataset
from integration_tests.x_emulator.server import x_host

NOW = e2e.current_hour() - dt.timedelta(hours=1)
TODAY = NOW.date()
METADATA = yaml.safe_load((e2e.ROOT / "metadata.yaml").read_text())
ALLOWED_HOSTS = set(METADATA["data"]["allowedHosts"]["hosts"])


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    return e2e.run_cli(tmp_path_factory.mktemp("spec"), "spec", None).of_type("SPEC")[0]["spec"]


def contacted_hosts(emu: EmulatorServer) -> set[str | None]:
    return {x_host(r.method, r.path) for r in emu.requests}


def run_every_kind_of_request(emu: EmulatorServer, workdir: Path) -> None:
    """check, a backfill through analytics jobs (whose results X serves from another host), a short range through
    the synchronous endpoint, and the X API v2 fallback; OAuth 2.0, so tokens are refreshed too. Each run gets a
    fresh refresh token: X's are single-use."""

    def config(days: int, stats_endpoint: str = "auto") -> dict:
        start = TODAY - dt.timedelta(days=days)
        return emu.oauth2_config(
            start_date=start, end_date=TODAY, x_api_base_url=emu.base_url, stats_endpoint=stats_endpoint
        )

    assert e2e.run_cli(workdir / "check", "check", config(30)).connection_status["status"] == "SUCCEEDED"
    assert e2e.run_cli(workdir / "jobs", "read", config(30, "jobs"), e2e.catalog()).returncode == 0
    assert e2e.run_cli(workdir / "sync", "read", config(2), e2e.catalog(["organic_report"])).returncode == 0
    emu.refuse_organic_tweet = True
    fallback = e2e.run_cli(workdir / "v2", "read", config(2), e2e.catalog(["organic_report"]))
    assert fallback.returncode == 0, fallback.describe()


def test_allowed_hosts_cover_every_host_the_connector_contacts(tmp_path):
    ds = build_dataset(today=TODAY, tweets_per_account=8)
    with EmulatorServer(ds, now=NOW) as emu:
        run_every_kind_of_request(emu, tmp_path)
        paths = {x_host(r.method, r.path): r.path for r in emu.requests}
        hosts = contacted_hosts(emu)
    assert {"ads-api.x.com", "api.x.com", "ton.twimg.com"} <= hosts, f"the runs did not reach every host: {paths}"
    assert hosts <= ALLOWED_HOSTS, f"not in metadata.yaml's allowedHosts: {hosts - ALLOWED_HOSTS} (e.g. {paths})"


def test_allowed_hosts_cover_the_specs_default_and_example_urls(spec):
    properties = spec["connectionSpecification"]["properties"]
    oauth2 = next(o for o in properties["credentials"]["oneOf"] if o["properties"]["auth_type"]["const"] == "oauth2.0")
    urls = [properties["api_base_url"]["default"], properties["x_api_base_url"]["default"]]
    urls += properties["api_base_url"]["examples"] + [oauth2["properties"]["token_refresh_endpoint"]["default"]]
    token_url = spec["advanced_auth"]["oauth_config_specification"]["oauth_connector_input_specification"]
    urls.append(token_url["access_token_url"])  # requested by the platform, but from the connector's own network
    assert {urlsplit(u).hostname for u in urls} <= ALLOWED_HOSTS


def test_form_shows_accounts_and_start_date_and_hides_the_base_urls(spec):
    properties = spec["connectionSpecification"]["properties"]
    required = set(spec["connectionSpecification"]["required"])
    assert {"account_ids", "start_date"} & required == set()
    assert properties["account_ids"]["always_show"] is True
    assert properties["start_date"]["always_show"] is True
    for base_url in ("api_base_url", "x_api_base_url"):
        assert properties[base_url]["airbyte_hidden"] is True


def test_every_field_the_form_shows_has_a_field_anchor_in_the_docs(spec):
    docs = (e2e.ROOT / "docs" / "x-organic-analytics.md").read_text()
    anchored = {
        name.strip() for group in re.findall(r'<FieldAnchor field="([^"]+)">', docs) for name in group.split(",")
    }
    properties = spec["connectionSpecification"]["properties"]
    shown = {name for name, prop in properties.items() if name != "credentials" and not prop.get("airbyte_hidden")}
    for option in properties["credentials"]["oneOf"]:
        shown |= {
            f"credentials.{name}"
            for name, prop in option["properties"].items()
            if name != "auth_type" and not prop.get("airbyte_hidden")
        }
    assert shown - anchored == set()


def test_registry_entries_name_the_distribution_and_the_dockerfiles_base_image():
    assert METADATA["data"]["remoteRegistries"]["pypi"] == {
        "enabled": True,
        "packageName": re.search(r'^name = "(.+)"$', (e2e.ROOT / "pyproject.toml").read_text(), re.M).group(1),
    }
    assert {"oss", "cloud"} <= set(METADATA["data"]["registryOverrides"])
    dockerfile = (e2e.ROOT / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={METADATA['data']['connectorBuildOptions']['baseImage']}\n" in dockerfile
