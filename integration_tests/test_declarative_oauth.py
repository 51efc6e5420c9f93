"""The Airbyte UI's "Authenticate your account" button, played against the X emulator from the spec the connector
emits (integration_tests/airbyte_oauth.py is the platform's part): consent, token exchange, the outputs placed in a
config, then `check` and a sync with that config, and a later refresh that rotates the refresh token.
A spec whose flow cannot work (a wrong challenge, no offline.access, an output put at the wrong place) fails here."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests

from integration_tests import e2e_support as e2e
from integration_tests.airbyte_oauth import DeclarativeOAuthFlow, OAuthFlowError, code_challenge_s256
from integration_tests.x_emulator import EmulatorServer, build_dataset, truth
from integration_tests.x_emulator import auth as emu_auth

AIRBYTE_CLOUD_CALLBACK = "https://cloud.airbyte.com/auth_flow"  # what the docs tell users to register in their X app
X_HOSTS = ("x.com", "api.x.com")  # the consent screen and the token endpoint, both served by the emulator here
NOW = e2e.current_hour() - dt.timedelta(hours=1)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=3)


class CheckFailed(Exception):
    """The connector did not accept the config the platform built."""


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict[str, Any]:
    """The spec as the platform gets it: from the connector's `spec` command."""
    run = e2e.run_cli(tmp_path_factory.mktemp("spec"), "spec", None)
    return run.of_type("SPEC")[0]["spec"]


@pytest.fixture(scope="module")
def ds():
    return build_dataset(today=TODAY, tweets_per_account=8)


@pytest.fixture()
def emu(ds):
    with EmulatorServer(ds, now=NOW) as server:
        yield server


def reroute_to(emu: EmulatorServer):
    def reroute(url: str) -> str:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname in X_HOSTS, f"the flow left X: {url}"
        return emu.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    return reroute


def platform_config(emu: EmulatorServer, spec: dict[str, Any], workdir) -> dict[str, Any]:
    """The button's whole run, then the connector's `check` on the config it produced (which must use the access
    token the flow obtained, not spend the refresh token at once)."""
    flow = DeclarativeOAuthFlow(
        spec["advanced_auth"], emu_auth.CLIENT_ID, emu_auth.CLIENT_SECRET, AIRBYTE_CLOUD_CALLBACK, reroute_to(emu)
    )
    with requests.Session() as browser:
        state, callback = flow.authorize(browser)
        assert callback["state"] == state
        outputs = flow.complete(browser, callback)
    # The form's own choice of method (the predicate), the outputs, then what points the connector at the emulator.
    config = flow.apply({"credentials": {"auth_type": spec["advanced_auth"]["predicate_value"]}}, outputs)
    jsonschema.validate(config, spec["connectionSpecification"])
    config["credentials"]["token_refresh_endpoint"] = f"{emu.base_url}/2/oauth2/token"
    config.update(api_base_url=emu.base_url, x_api_base_url=emu.base_url, start_date=START.isoformat())
    config["end_date"] = TODAY.isoformat()
    refreshes = emu.token_refreshes
    check = e2e.run_cli(workdir / "check", "check", config)
    if (check.connection_status or {}).get("status") != "SUCCEEDED" or emu.token_refreshes != refreshes:
        raise CheckFailed(f"{check.connection_status}; refreshes during check: {emu.token_refreshes - refreshes}")
    return config


def test_codechallenge_filter_is_airbytes_documented_s256():
    assert code_challenge_s256("id_123:secret_456") == "kdlBQTTftIOzHnzQoqp3dQ5jBsSehFTjg1meg1gL3OY"


def test_consent_url_for_a_sample_client_id(spec):
    flow = DeclarativeOAuthFlow(spec["advanced_auth"], "sample-client-id", "unused", AIRBYTE_CLOUD_CALLBACK)
    verifier = "v" * 43
    assert flow.consent_url(verifier) == (
        "https://x.com/i/oauth2/authorize?response_type=code&client_id=sample-client-id"
        "&redirect_uri=https%3A%2F%2Fcloud.airbyte.com%2Fauth_flow"
        "&scope=tweet.read+users.read+ads.read+offline.access"
        f"&state={verifier}&code_challenge={code_challenge_s256(verifier)}&code_challenge_method=S256"
    )


def test_button_flow_gives_a_config_that_checks_syncs_and_rotates(ds, emu, spec, tmp_path):
    config = platform_config(emu, spec, tmp_path)
    assert emu.oauth2.codes_exchanged == 1
    flow_refresh_token = config["credentials"]["refresh_token"]

    run = e2e.run_cli(tmp_path / "sync", "read", config, e2e.catalog())
    assert run.returncode == 0, run.describe()
    assert emu.token_refreshes == 0, "the sync should have used the access token the flow obtained"
    assert sorted(a["id"] for a in run.records("accounts")) == sorted(a["id"] for a in truth.accounts(ds))
    expected = truth.organic_report(ds, START, TODAY, now=NOW)
    assert expected and set(e2e.organic_by_key(run.records("organic_report"))) == set(expected)

    # Hours later the access token has expired: the next sync spends the flow's refresh token, which X rotates.
    later = copy.deepcopy(config)
    later["credentials"]["token_expiry_date"] = "2000-01-01T00:00:00Z"
    following = e2e.run_cli(tmp_path / "later", "read", later, e2e.catalog(["accounts"]))
    assert following.returncode == 0, following.describe()
    assert emu.token_refreshes == 1
    rotated = following.controls[-1]["connectorConfig"]["config"]["credentials"]["refresh_token"]
    assert rotated and rotated != flow_refresh_token
    spent = requests.post(
        f"{emu.base_url}/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": flow_refresh_token},
        auth=(emu_auth.CLIENT_ID, emu_auth.CLIENT_SECRET),
        timeout=10,
    )
    assert spent.status_code == 400, "the flow's refresh token should be single-use"


def _input(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["advanced_auth"]["oauth_config_specification"]["oauth_connector_input_specification"]


def _outputs(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["advanced_auth"]["oauth_config_specification"]["complete_oauth_output_specification"]["properties"]


BROKEN_SPECS = {
    "challenge is the verifier itself": lambda s: _input(s).update(
        consent_url=_input(s)["consent_url"].replace("{{ state_value | codechallengeS256 }}", "{{ state_value }}")
    ),
    "verifier not sent": lambda s: _input(s)["access_token_params"].pop("code_verifier"),
    "no offline.access": lambda s: _input(s).update(scope=_input(s)["scope"].replace(" offline.access", "")),
    "refresh token put outside credentials": lambda s: _outputs(s)["refresh_token"].update(
        path_in_connector_config=["refresh_token"]
    ),
    "access token put at the wrong name": lambda s: _outputs(s)["access_token"].update(
        path_in_connector_config=["credentials", "token"]
    ),
    "basic auth of the wrong pair": lambda s: _input(s)["access_token_headers"].update(
        Authorization="Basic {{ (client_id_value ~ ':' ~ auth_code_value) | b64encode }}"
    ),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN_SPECS))
def test_a_broken_flow_fails_the_button_test(emu, spec, tmp_path, breakage):
    broken = json.loads(json.dumps(spec))
    BROKEN_SPECS[breakage](broken)
    with pytest.raises((OAuthFlowError, jsonschema.ValidationError, CheckFailed)):
        platform_config(emu, broken, tmp_path)
