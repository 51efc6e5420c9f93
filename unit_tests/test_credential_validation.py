"""A credential pasted with whitespace or a control character is refused by the real entrypoint before any request,
with a config_error that names the field and shows no form of the value."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from .conftest import OAUTH1, account, all_text, make_config, oauth2_credentials, run_check

PASTED = "Pq8Wz3Tk6Ry1"  # the distinctive core of every pasted value below
FLAWS = {
    "trailing line break": f"{PASTED}\n",
    "leading space": f" {PASTED}",
    "trailing tab": f"{PASTED}\t",
    "control character inside": f"{PASTED[:6]}\x00{PASTED[6:]}",
    "zero-width space": f"{PASTED}\u200b",
}
FIELDS = [
    *(("oauth2.0", f) for f in ("client_id", "client_secret", "refresh_token", "access_token")),
    *(("oauth1.0a", f) for f in ("consumer_key", "consumer_secret", "access_token", "access_token_secret")),
]


def credentials(auth_type: str, field: str, value: str) -> dict[str, Any]:
    creds = oauth2_credentials() if auth_type == "oauth2.0" else dict(OAUTH1)
    creds[field] = value
    if field == "access_token" and auth_type == "oauth2.0":
        # A current access token is used as is, without a refresh first: the path that sent it to http.client.
        creds["token_expiry_date"] = "2099-01-01T00:00:00+00:00"
    return creds


def assert_no_form_of(value: str, text: str) -> None:
    forms = {value, value.strip(), repr(value)[1:-1], quote(value, safe=""), PASTED[:6], PASTED[6:]}
    assert not [f for f in forms if f in text]


@pytest.mark.parametrize("auth_type, field", FIELDS, ids=[f"{a}-{f}" for a, f in FIELDS])
def test_a_read_with_a_pasted_line_break_fails_naming_the_field_before_any_request(
    auth_type, field, fake_x, source, capsys
):
    fake_x.accounts = [account("abc1")]
    value = FLAWS["trailing line break"]
    config = make_config(credentials=credentials(auth_type, field, value))
    output = read(source, config, CatalogBuilder().with_stream("accounts", SyncMode.full_refresh).build())

    assert fake_x.mocker.request_history == []
    assert output.records == []
    errors = [e.trace.error for e in output.errors]
    assert errors and all(e.failure_type.value == "config_error" for e in errors)
    assert f"`credentials.{field}` starts or ends with whitespace" in errors[0].message
    assert_no_form_of(value, all_text(output, capsys.readouterr().out))


@pytest.mark.parametrize("flaw", FLAWS.values(), ids=FLAWS.keys())
def test_check_refuses_every_kind_of_pasted_flaw(flaw, fake_x, source, tmp_path):
    config = make_config(credentials=credentials("oauth2.0", "client_secret", flaw))
    status, output = run_check(source, config, tmp_path)

    assert fake_x.mocker.request_history == []
    assert status["status"] == "FAILED"
    assert "`credentials.client_secret`" in status["message"]
    basic = base64.b64encode(f"client-abc:{flaw}".encode()).decode()
    assert basic not in output
    assert_no_form_of(flaw, output)


def test_clean_credentials_with_inner_punctuation_are_accepted(fake_x, source):
    fake_x.accounts = [account("abc1")]
    creds = {**OAUTH1, "consumer_secret": "a b+c/d=e~f"}  # only the ends and invisible characters are refused
    output = read(
        source, make_config(credentials=creds), CatalogBuilder().with_stream("accounts", SyncMode.full_refresh).build()
    )
    assert not output.errors and len(output.records) == 1
    assert output.records[0].record.data["id"] == "abc1"
