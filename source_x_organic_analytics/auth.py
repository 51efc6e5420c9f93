"""Builds the requests authenticator for either of X's user-context auth methods."""

from __future__ import annotations

import base64
from collections.abc import MutableMapping
from typing import Any

from airbyte_cdk.sources.streams.http.requests_native_auth import SingleUseRefreshTokenOauth2Authenticator
from requests.auth import AuthBase
from requests_oauthlib import OAuth1

from .config import DEFAULT_TOKEN_REFRESH_ENDPOINT, config_error


def _basic_auth(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def build_authenticator(config: MutableMapping[str, Any]) -> AuthBase:
    """`config` is the whole connector config: the OAuth 2.0 authenticator writes rotated tokens back into it."""
    credentials = config["credentials"]
    if credentials.get("auth_type") == "oauth1.0a":
        # requests-oauthlib signs each prepared request, i.e. after the query string is final, as X requires.
        return OAuth1(
            client_key=credentials["consumer_key"],
            client_secret=credentials["consumer_secret"],
            resource_owner_key=credentials["access_token"],
            resource_owner_secret=credentials["access_token_secret"],
            signature_method="HMAC-SHA1",
            signature_type="AUTH_HEADER",
        )
    if credentials.get("auth_type") == "oauth2.0":
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not credentials.get(k)]
        if missing:
            raise config_error(
                f"OAuth 2.0 credentials are missing {', '.join('`credentials.' + k + '`' for k in missing)}."
            )
        # X's refresh tokens are single-use: this authenticator stores the rotated one in the config and emits it
        # in a CONTROL message, so the platform saves it before the next sync. X wants the client credentials in
        # HTTP Basic auth, which also keeps them out of the form body.
        return SingleUseRefreshTokenOauth2Authenticator(
            connector_config=config,
            token_refresh_endpoint=credentials.get("token_refresh_endpoint") or DEFAULT_TOKEN_REFRESH_ENDPOINT,
            refresh_request_headers={
                "Authorization": _basic_auth(credentials["client_id"], credentials["client_secret"])
            },
            refresh_token_error_status_codes=(400, 401),
            refresh_token_error_key="error",
            refresh_token_error_values=("invalid_request", "invalid_grant", "invalid_client", "unauthorized_client"),
        )
    raise config_error("`credentials.auth_type` must be `oauth2.0` or `oauth1.0a`.")
