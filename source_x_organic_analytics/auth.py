"""Builds the requests authenticator for either of X's user-context auth methods."""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

import backoff
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.exceptions import DefaultBackoffException
from airbyte_cdk.sources.streams.http.requests_native_auth import SingleUseRefreshTokenOauth2Authenticator
from airbyte_cdk.utils.datetime_helpers import AirbyteDateTime, ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.auth import AuthBase
from requests_oauthlib import OAuth1

from .config import DEFAULT_TOKEN_REFRESH_ENDPOINT, config_error
from .errors import response_json
from .http_session import NoCredentials
from .secret_filter import basic_auth_value, mask_secret
from .streams.base import REQUEST_TIMEOUT

logger = logging.getLogger("airbyte")

# How long a token refresh keeps retrying X's transient failures (the CDK's own bound).
TOKEN_RETRY_SECONDS = 300
# The CDK's own message for a refresh X refuses, so that the message users see (and the docs quote) stays the same.
REFRESH_TOKEN_REJECTED = (
    "Refresh token was rejected by the OAuth provider (invalid, expired, or already used). Re-authenticate this "
    "source's credentials in its connection settings."
)


class _TokenAnswerUnusable(DefaultBackoffException):
    """A token endpoint answer worth retrying: 429, 5xx, or a 200 whose body is not a JSON object."""


class XOAuth2Authenticator(SingleUseRefreshTokenOauth2Authenticator):
    """The CDK's authenticator for single-use refresh tokens, made safe for X.

    CDK internals overridden here, and why (re-check them on each airbyte-cdk upgrade):
    - `refresh_and_set_access_token`: the CDK parses `expires_in` before it stores the new refresh token, so a
      malformed `expires_in` loses the token X has just rotated (the old one is spent): the next sync cannot start.
      Here the new tokens are stored, masked and emitted in a CONTROL message before anything else can fail; an
      `expires_in` that gives no future expiry falls back to the CDK's default lifetime.
    - `_make_handled_request`: the CDK's refresh request has no timeout (a stalled token endpoint hangs the sync)
      and lets a 200 answer that is not JSON through as a crash. Here it has the API requests' timeout, and such an
      answer is retried like a 5xx.
    """

    def refresh_and_set_access_token(self) -> None:
        token_before_waiting = self._current_access_token_or_none()
        with self._token_refresh_lock:
            if self._current_access_token_or_none() != token_before_waiting:
                return  # another thread refreshed while this one waited for the lock
            self._save_tokens(self._tokens_from_x())

    def _save_tokens(self, answer: Mapping[str, Any]) -> None:
        refresh_token = self._extract_refresh_token(answer)
        access_token = self._extract_access_token(answer)
        for token in (refresh_token, access_token):
            if isinstance(token, str):
                mask_secret(token)
        if refresh_token is not None:
            self.set_refresh_token(refresh_token)
        self.access_token = access_token
        self.set_token_expiry_date(self._expiry_date(answer))
        self._emit_control_message()

    def _expiry_date(self, answer: Mapping[str, Any]) -> AirbyteDateTime:
        try:
            expiry = self._extract_token_expiry_date(answer)
        except (ValueError, TypeError, OverflowError):
            expiry = None
        if expiry is None or expiry <= ab_datetime_now():
            expiry = self._default_token_expiry_date()
            logger.warning(
                "X's token endpoint answered an `expires_in` that is not a positive number of seconds; the access "
                f"token is refreshed again at {expiry:%H:%M:%S} UTC."
            )
        return expiry

    def _tokens_from_x(self) -> Mapping[str, Any]:
        try:
            return self._make_handled_request()
        except (_TokenAnswerUnusable, requests.ConnectionError, requests.Timeout) as last_failure:
            raise AirbyteTracedException(
                message=f"X's token endpoint gave no usable answer for {TOKEN_RETRY_SECONDS // 60} minutes. Run the "
                "sync again later.",
                internal_message=f"Token refresh failed after retries: {type(last_failure).__name__}: {last_failure}",
                failure_type=FailureType.transient_error,
            ) from None

    @backoff.on_exception(
        backoff.expo,
        (_TokenAnswerUnusable, requests.ConnectionError, requests.Timeout),
        max_time=lambda: TOKEN_RETRY_SECONDS,  # read at each refresh, so that a test can shorten it
        on_backoff=lambda details: logger.info(
            f"X's token endpoint failed ({details['exception']}); retrying in {details['wait']:.1f} s."
        ),
    )
    def _make_handled_request(self) -> Mapping[str, Any]:
        response = requests.post(
            self.get_token_refresh_endpoint(),  # type: ignore[arg-type]  # always set for this authenticator
            data=self.build_refresh_request_body(),
            headers=self.build_refresh_request_headers(),
            timeout=REQUEST_TIMEOUT,
            auth=NoCredentials(),  # a ~/.netrc entry for X's host would replace the Basic header
        )
        self._log_response(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise _TokenAnswerUnusable(response.request, response, f"token endpoint answered {response.status_code}")
        if not response.ok:
            raise self._refusal(response)
        try:
            answer = response_json(response)
        except ValueError:
            answer = None
        if not isinstance(answer, Mapping):
            raise _TokenAnswerUnusable(response.request, response, "token endpoint answered a body that is not JSON")
        return answer

    def _refusal(self, response: requests.Response) -> Exception:
        error = requests.HTTPError(f"token endpoint answered {response.status_code}", response=response)
        content = self._parse_error_response_content(response)
        if not self._wrap_refresh_token_exception(error, response_content=content):
            return error
        detail = self._build_provider_error_detail(content)
        return AirbyteTracedException(
            message=f"{REFRESH_TOKEN_REJECTED} Provider error: {detail}" if detail else REFRESH_TOKEN_REJECTED,
            internal_message=f"X's token endpoint refused the refresh. {self._build_provider_response_info(error)}",
            failure_type=FailureType.config_error,
        )


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
        return XOAuth2Authenticator(
            connector_config=config,
            token_refresh_endpoint=credentials.get("token_refresh_endpoint") or DEFAULT_TOKEN_REFRESH_ENDPOINT,
            refresh_request_headers={
                "Authorization": "Basic " + basic_auth_value(credentials["client_id"], credentials["client_secret"])
            },
            refresh_token_error_status_codes=(400, 401),
            refresh_token_error_key="error",
            refresh_token_error_values=("invalid_request", "invalid_grant", "invalid_client", "unauthorized_client"),
        )
    raise config_error("`credentials.auth_type` must be `oauth2.0` or `oauth1.0a`.")
