"""Both auth methods as X checks them: a correct HMAC-SHA1 signature of the final URL, and rotating OAuth 2.0 tokens."""

import base64
import json
from types import SimpleNamespace
from urllib.parse import parse_qsl, unquote, urlparse

from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from oauthlib.oauth1.rfc5849 import signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header

from .conftest import OAUTH1, TOKEN_URL, account, all_text, make_config, oauth2_credentials


def accounts_catalog():
    return CatalogBuilder().with_stream("accounts", SyncMode.full_refresh).build()


def test_oauth1_header_is_a_valid_hmac_sha1_signature_of_the_final_url(fake_x, source):
    fake_x.accounts = [account("abc1")]
    read(source, make_config(), accounts_catalog())
    request = fake_x.mocker.request_history[0]
    assert "count=1000" in request.url  # the query string the signature must cover
    header = {k: unquote(v) for k, v in parse_authorization_header(request.headers["Authorization"].decode())}
    assert header["oauth_signature_method"] == "HMAC-SHA1"
    assert header["oauth_consumer_key"] == OAUTH1["consumer_key"] and header["oauth_token"] == OAUTH1["access_token"]
    url = urlparse(request.url)
    params = [(k, v) for k, v in header.items() if k != "oauth_signature"] + parse_qsl(url.query)
    base = signature.signature_base_string(
        "GET",
        signature.base_string_uri(f"{url.scheme}://{url.netloc}{url.path}"),
        signature.normalize_parameters(params),
    )
    client = SimpleNamespace(
        client_secret=OAUTH1["consumer_secret"], resource_owner_secret=OAUTH1["access_token_secret"]
    )
    assert signature.sign_hmac_sha1_with_client(base, client) == header["oauth_signature"]
    # A different secret gives a different signature: the check above can fail.
    client.client_secret = "other"
    assert signature.sign_hmac_sha1_with_client(base, client) != header["oauth_signature"]


def control_messages(stdout: str) -> list[dict]:
    # The CDK prints CONTROL messages straight to stdout, so that the platform gets them even mid-request.
    messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [m["control"] for m in messages if m.get("type") == "CONTROL"]


def test_oauth2_refreshes_with_basic_auth_sends_the_bearer_and_emits_the_rotated_refresh_token(fake_x, source, capsys):
    fake_x.accounts = [account("abc1")]
    token = fake_x.mocker.post(
        TOKEN_URL,
        json={"token_type": "bearer", "expires_in": 7200, "access_token": "access-NEW", "refresh_token": "refresh-2"},
    )
    config = make_config(credentials=oauth2_credentials())
    output = read(source, config, accounts_catalog())

    assert token.call_count == 1
    refresh = token.last_request
    assert refresh.headers["Authorization"] == "Basic " + base64.b64encode(b"client-abc:client-SECRET-def").decode()
    form = dict(parse_qsl(refresh.text))
    assert form == {"grant_type": "refresh_token", "refresh_token": "refresh-SECRET-1"}  # no client secret in the body
    api_call = fake_x.mocker.request_history[1]
    assert api_call.headers["Authorization"] == "Bearer access-NEW"

    controls = control_messages(capsys.readouterr().out)
    assert len(controls) == 1
    saved = controls[0]["connectorConfig"]["config"]["credentials"]
    assert saved["refresh_token"] == "refresh-2" and saved["access_token"] == "access-NEW"
    assert len(output.records) == 1


def test_a_refresh_token_x_rejects_is_a_config_error_telling_to_reauthenticate(fake_x, source, capsys):
    fake_x.accounts = [account("abc1")]
    fake_x.mocker.post(
        TOKEN_URL,
        status_code=400,
        json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
    )
    output = read(source, make_config(credentials=oauth2_credentials()), accounts_catalog())
    error = output.errors[0].trace.error
    assert error.failure_type.value == "config_error"
    assert "Re-authenticate" in error.message
    text = all_text(output, capsys.readouterr().out)
    assert "Refresh token" in text  # the text checked below is the real output
    for secret in ("refresh-SECRET-1", "client-SECRET-def"):
        assert secret not in text
