"""Masks every form in which a credential can reach a log line, a TRACE message or a stack trace.

The CDK's filter (`airbyte_cdk.utils.airbyte_secrets_utils`) replaces exact substrings, and the entrypoint registers
only the raw value of each `airbyte_secret` field. A secret also travels as:
- its stripped value (a pasted token with a trailing line break reaches X without it),
- `repr`-escaped (http.client's "Invalid header value b'Bearer …\\n'", an exception's repr in the failed-streams
  message), and JSON-escaped (the CDK filters some messages after serialising them to JSON, stack traces included),
- percent-encoded (OAuth 1.0a header parameters, form bodies),
- in HTTP Basic auth, as `base64(client_id:client_secret)` (the token refresh request).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets

from .config import CREDENTIAL_FIELDS

_ALL_CREDENTIAL_FIELDS = tuple(dict.fromkeys(f for fields in CREDENTIAL_FIELDS.values() for f in fields))


def basic_auth_value(client_id: str, client_secret: str) -> str:
    """The credentials part of an HTTP Basic `Authorization` header."""
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def _escapes(text: str) -> set[str]:
    return {repr(text)[1:-1], repr(text.encode())[2:-1], json.dumps(text)[1:-1]}


# A secret is escaped up to three times before the CDK filters it: http.client quotes a refused header's repr in
# its exception, the failed-streams message holds that exception's repr, and a TRACE message is serialised to JSON
# before it is filtered.
ESCAPE_DEPTH = 3


def _escaped_forms(text: str) -> set[str]:
    forms = {text}
    for _ in range(ESCAPE_DEPTH):
        forms |= {escaped for form in forms for escaped in _escapes(form)}
    return forms


def secret_forms(secret: str) -> set[str]:
    """Every form of `secret` to mask (not the empty string, which the CDK's filter skips anyway)."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        for encoded in (value, quote(value, safe=""), quote_plus(value, safe="")):
            forms |= _escaped_forms(encoded)
    return {f for f in forms if f}


def mask_secret(secret: str) -> None:
    """Adds every form of `secret` to the CDK's filter; longest first, so a form is never cut by a shorter one."""
    for form in sorted(secret_forms(secret), key=len, reverse=True):
        add_to_secrets(form)


def mask_credentials(credentials: Any) -> None:
    """Masks every credential of either auth method, and the Basic auth value of the OAuth 2.0 client.

    The entrypoint replaces the filter's list at the start of each command (after reading the config): call this
    after that, i.e. from the source, before the config is validated or any request sent."""
    if not isinstance(credentials, Mapping):
        return
    secrets = [v for v in (credentials.get(f) for f in _ALL_CREDENTIAL_FIELDS) if isinstance(v, str)]
    client_id, client_secret = credentials.get("client_id"), credentials.get("client_secret")
    if isinstance(client_id, str) and isinstance(client_secret, str):
        secrets += _basic_auth_values(client_id, client_secret)
    for secret in secrets:
        mask_secret(secret)


def _basic_auth_values(client_id: str, client_secret: str) -> Iterable[str]:
    return {basic_auth_value(client_id, client_secret), basic_auth_value(client_id.strip(), client_secret.strip())}
