"""X's token endpoint answering badly: the rotated refresh token is saved whatever follows, and only answers that can
succeed on a retry are retried."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_x_organic_analytics import auth
from source_x_organic_analytics.secret_filter import basic_auth_value

from .conftest import TOKEN_URL, account, all_text, make_config, oauth2_credentials
from .test_auth import control_messages

CATALOG = CatalogBuilder().with_stream("accounts", SyncMode.full_refresh).build()
NEW_TOKENS = {"token_type": "bearer", "access_token": "access-NEW", "refresh_token": "refresh-2"}


def saved_refresh_tokens(stdout: str) -> list[str]:
    return [c["connectorConfig"]["config"]["credentials"]["refresh_token"] for c in control_messages(stdout)]


@pytest.mark.parametrize("expires_in", ["soon", "", [], -3600, 0, 1e300], ids=repr)
def test_a_malformed_expires_in_still_saves_the_rotated_refresh_token_and_the_sync_goes_on(
    expires_in, fake_x, source, capsys
):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.post(TOKEN_URL, json={**NEW_TOKENS, "expires_in": expires_in})
    output = read(source, make_config(credentials=oauth2_credentials()), CATALOG)

    assert saved_refresh_tokens(capsys.readouterr().out) == ["refresh-2"]
    assert not output.errors and len(output.records) == 1
    assert fake_x.mocker.request_history[-1].headers["Authorization"] == "Bearer access-NEW"
    assert any("`expires_in` that is not a positive number of seconds" in m.log.message for m in output.logs)


def test_a_token_answer_that_is_not_json_is_retried(fake_x, source, capsys):
    fake_x.accounts = [account("abc1")]
    token = fake_x.mocker.post(
        TOKEN_URL,
        [{"text": "<html>upstream hiccup</html>"}, {"json": {**NEW_TOKENS, "expires_in": 7200}}],
    )
    output = read(source, make_config(credentials=oauth2_credentials()), CATALOG)

    assert token.call_count == 2
    assert not output.errors and len(output.records) == 1
    assert saved_refresh_tokens(capsys.readouterr().out) == ["refresh-2"]


def test_a_token_endpoint_that_never_answers_usably_ends_in_a_transient_error(fake_x, source, monkeypatch, capsys):
    monkeypatch.setattr(auth, "TOKEN_RETRY_SECONDS", 0)  # give up after the first attempt
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.post(TOKEN_URL, text="not json")
    output = read(source, make_config(credentials=oauth2_credentials()), CATALOG)

    error = output.errors[0].trace.error
    assert error.failure_type.value == "transient_error"
    assert "X's token endpoint gave no usable answer" in error.message
    assert "refresh-SECRET-1" not in all_text(output, capsys.readouterr().out)


def test_a_netrc_entry_for_the_token_host_does_not_replace_the_client_credentials(
    fake_x, source, monkeypatch, tmp_path
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.test login someone password else\n")
    monkeypatch.setenv("NETRC", str(netrc))
    fake_x.accounts = [account("abc1")]
    token = fake_x.mocker.post(TOKEN_URL, json={**NEW_TOKENS, "expires_in": 7200})
    read(source, make_config(credentials=oauth2_credentials()), CATALOG)

    assert token.last_request.headers["Authorization"] == "Basic " + basic_auth_value("client-abc", "client-SECRET-def")
