"""Every form of a credential is masked wherever the CDK filters: log lines at every level, TRACE messages, stack
traces. The forms are built here independently of the connector's own list."""

from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote, urlencode

import pytest
from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_x_organic_analytics.secret_filter import mask_credentials, mask_secret

# Each chunk below must never show up in any output; between them, characters that every encoding treats differently.
CHUNKS = ("Sx9q", "Qk7w", "Zp3e", "Lm5r")
SECRET = "Sx9q/Qk7w+\"Zp3e'Lm5r\n"  # as pasted, with a trailing line break
CLIENT_ID = "cid-Tn4v"
BASIC = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()

FORMS = {
    "raw": SECRET,
    "stripped": SECRET.strip(),
    "repr": repr(SECRET),
    "bytes repr": repr(SECRET.encode()),  # how http.client quotes a header value it refuses
    "repr of stripped": repr(SECRET.strip()),
    "json": json.dumps(SECRET),
    "json of repr": json.dumps(repr(SECRET.encode())),  # an exception's text inside a JSON-serialised message
    "percent-encoded": quote(SECRET, safe=""),
    "percent-encoded stripped": quote(SECRET.strip(), safe=""),
    "form-encoded": urlencode({"refresh_token": SECRET}),
    "basic": f"Basic {BASIC}",
}


@pytest.fixture(autouse=True)
def fresh_filter():
    update_secrets([])
    yield
    update_secrets([])


def assert_masked(text: str) -> None:
    leaked = [c for c in (*CHUNKS, BASIC) if c in text]
    assert not leaked, f"{leaked} in {text!r}"


def mask_config_secrets() -> None:
    mask_credentials({"auth_type": "oauth2.0", "client_id": CLIENT_ID, "client_secret": SECRET})


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_each_form_of_a_credential_is_masked(form):
    text = f"POST /2/oauth2/token failed: {form} (end)"
    assert any(c in filter_secrets(text) for c in (*CHUNKS, BASIC))  # before masking: the text shows the secret
    mask_config_secrets()
    assert_masked(filter_secrets(text))
    assert filter_secrets(text).startswith("POST /2/oauth2/token failed: ") and "(end)" in filter_secrets(text)


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.FATAL])
@pytest.mark.parametrize("platform_debug", [False, True], ids=["", "LOG_LEVEL=debug"])
def test_log_lines_and_their_stack_traces_are_masked_at_every_level(level, platform_debug, monkeypatch):
    if platform_debug:
        monkeypatch.setenv("LOG_LEVEL", "debug")
    mask_config_secrets()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AirbyteLogFormatter())
    logger = logging.getLogger("test_secret_filter")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        try:
            raise ValueError(f"Invalid header value {FORMS['bytes repr']}")
        except ValueError:
            for form in FORMS.values():
                logger.log(level, "token request: %s", form, exc_info=True)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert output.count("token request") == len(FORMS)
    assert_masked(output)


def test_trace_messages_and_their_stack_traces_are_masked(capsys):
    mask_config_secrets()
    try:
        raise ValueError(f"Invalid header value {FORMS['bytes repr']}: {' '.join(FORMS.values())}")
    except ValueError as error:
        traced = AirbyteTracedException.from_exception(error, message=f"failed: {FORMS['repr']}")
    message = traced.as_sanitized_airbyte_message().trace.error
    assert "Invalid header value" in message.internal_message and "ValueError" in message.stack_trace
    for text in (message.message, message.internal_message, message.stack_trace):
        assert_masked(text)
    traced.emit_message()  # what the entrypoint prints for an uncaught exception: serialised, then filtered
    printed = capsys.readouterr().out
    assert "Invalid header value" in printed
    assert_masked(printed)


def test_a_token_x_rotates_mid_sync_is_masked_in_every_form():
    rotated = "rt-Sx9q/Qk7w+Zp3e=Lm5r"
    mask_secret(rotated)
    for form in (rotated, quote(rotated, safe=""), repr(rotated.encode()), json.dumps(repr(rotated))):
        assert_masked(filter_secrets(f"refresh_token={form}"))
