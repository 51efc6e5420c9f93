"""Authentication as X does it: OAuth 1.0a HMAC-SHA1 user context, and OAuth 2.0 bearer tokens with rotating
single-use refresh tokens.

Signature checking is delegated to oauthlib's RFC 5849 functions (never a hand-rolled base string), so the emulator
agrees with requests-oauthlib, and a client that signs the wrong URL or query string fails here as it would on X.
All auth clocks are the real wall clock (time.time / time.monotonic), independent of the emulator's data clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

# Fixed test credentials (not secrets: they only open this local emulator).
CONSUMER_KEY = "emuConsumerKey4XAds12"
CONSUMER_SECRET = "emuConsumerSecret0123456789abcdefghijklmnopqr"
ACCESS_TOKEN = "1500000000000000001-emuAnalystAccessToken0123456789"
ACCESS_TOKEN_SECRET = "emuAnalystAccessTokenSecret0123456789abcdefgh"
CLIENT_ID = "ZW11LWNsaWVudC1pZC1mb3ItYWRz"
CLIENT_SECRET = "emu-oauth2-client-secret-0123456789abcdefghijklmnop"
OAUTH2_SCOPE = "tweet.read users.read ads.read offline.access"
# Scopes the consent screen accepts (X's list has more: these are the ones a reader of analytics could ask for).
KNOWN_SCOPES = frozenset(OAUTH2_SCOPE.split()) | {"follows.read", "list.read", "like.read", "bookmark.read"}
_PKCE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1

TIMESTAMP_TOLERANCE_SECONDS = 300
_NONCE_MEMORY_SECONDS = 2 * TIMESTAMP_TOLERANCE_SECONDS + 60  # older nonces fail the timestamp check anyway


class OAuth1Verifier:
    """Verifies HMAC-SHA1 signatures over method + URL + query + form body; remembers nonces to refuse replays."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Insertion-ordered, so the expired ones are at the front: dropping them costs O(1) per request. (Rebuilding
        # the dict once it held 10,000 made every later request walk all of them: 1-2 ms each, after a few syncs.)
        self._nonces: dict[tuple[str, str, str], float] = {}

    def verify(self, method: str, url_no_query: str, raw_query: str, form_body: str | None, authorization: str) -> bool:
        try:
            header = dict(oauth_utils.parse_authorization_header(authorization))
        except ValueError:
            return False
        header = {k: oauth_utils.unescape(v) for k, v in header.items()}
        if header.get("oauth_consumer_key") != CONSUMER_KEY or header.get("oauth_token") != ACCESS_TOKEN:
            return False
        if header.get("oauth_signature_method") != "HMAC-SHA1" or header.get("oauth_version", "1.0") != "1.0":
            return False
        nonce, provided = header.get("oauth_nonce"), header.get("oauth_signature")
        if not nonce or not provided:
            return False
        params = oauth_sig.collect_parameters(
            uri_query=raw_query, body=form_body, headers={"Authorization": authorization}, exclude_oauth_signature=True
        )
        base = oauth_sig.signature_base_string(
            method.upper(), oauth_sig.base_string_uri(url_no_query), oauth_sig.normalize_parameters(params)
        )
        client = SimpleNamespace(client_secret=CONSUMER_SECRET, resource_owner_secret=ACCESS_TOKEN_SECRET)
        if not hmac.compare_digest(oauth_sig.sign_hmac_sha1_with_client(base, client), provided):
            return False
        try:
            timestamp = int(header.get("oauth_timestamp", ""))
        except ValueError:
            return False
        now = time.time()
        if abs(now - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
            return False
        key = (CONSUMER_KEY, ACCESS_TOKEN, nonce)
        with self._lock:  # a nonce is consumed only by a correctly signed, fresh request
            while self._nonces:
                oldest, seen = next(iter(self._nonces.items()))
                if now - seen < _NONCE_MEMORY_SECONDS:
                    break
                del self._nonces[oldest]
            if key in self._nonces:
                return False
            self._nonces[key] = now
        return True


@dataclass
class TokenError(Exception):
    status: int
    body: dict


@dataclass(frozen=True)
class CodeGrant:
    """What the consent screen bound an authorization code to."""

    challenge: str
    method: str
    redirect_uri: str
    scope: str


class OAuth2Tokens:
    """Refresh tokens are single-use and rotate; access tokens expire after ``access_ttl`` seconds."""

    def __init__(self, access_ttl: float) -> None:
        self.access_ttl = access_ttl
        self._lock = threading.Lock()
        self._refresh: dict[str, bool] = {}  # token -> still valid
        self._access: dict[str, float] = {}  # token -> monotonic expiry
        self._codes: dict[str, CodeGrant] = {}  # authorization code -> its grant, until exchanged (single use)
        self.refreshes = 0
        self.codes_exchanged = 0
        # When set, the next successful refresh answers this as `expires_in` (the token still lives access_ttl),
        # then it is cleared: a token endpoint that lies about the lifetime once.
        self.malformed_expires_in_once: Any = None

    def mint_refresh_token(self) -> str:
        token = "rt-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = True
        return token

    def access_valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._access.get(token)
        return expiry is not None and time.monotonic() < expiry

    def authorize(self, params: dict[str, str]) -> str:
        """GET https://x.com/i/oauth2/authorize, the user consenting at once: validates the request like X's consent
        screen and returns the redirect URL carrying ``state`` and a code bound to the PKCE challenge, the redirect
        URI and the scopes. A bad request is a 400 (X shows an error page and never redirects)."""
        problems = [
            ("response_type", params.get("response_type") != "code"),
            ("client_id", params.get("client_id") != CLIENT_ID),
            ("redirect_uri", not params.get("redirect_uri")),
            ("state", not params.get("state")),
            ("code_challenge", not params.get("code_challenge")),
            ("code_challenge_method", params.get("code_challenge_method") not in ("S256", "plain")),
            ("scope", not params.get("scope") or not set(params["scope"].split()) <= KNOWN_SCOPES),
        ]
        bad = [name for name, failed in problems if failed]
        if bad:
            raise TokenError(400, {"error": "invalid_request", "error_description": f"Invalid {', '.join(bad)}."})
        code = "code-" + secrets.token_urlsafe(24)
        grant = CodeGrant(
            params["code_challenge"], params["code_challenge_method"], params["redirect_uri"], params["scope"]
        )
        with self._lock:
            self._codes[code] = grant
        separator = "&" if "?" in grant.redirect_uri else "?"
        return f"{grant.redirect_uri}{separator}{urlencode({'state': params['state'], 'code': code})}"

    def exchange_code(self, form: dict[str, str], authorization: str | None) -> dict:
        """POST /2/oauth2/token with grant_type=authorization_code: the code is single-use and must come with the
        redirect URI it was issued for and the PKCE verifier of its challenge. ``offline.access`` in the granted
        scopes is what adds a refresh token."""
        _authenticate_client(form, authorization)
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant.redirect_uri:
            raise TokenError(400, _invalid_code())
        verifier = form.get("code_verifier", "")
        if not _PKCE_VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            _challenge(verifier, grant.method), grant.challenge
        ):
            raise TokenError(400, _invalid_code())
        access = "at-" + secrets.token_urlsafe(32)
        body = {"token_type": "bearer", "expires_in": self._ttl_out(), "access_token": access, "scope": grant.scope}
        with self._lock:
            self._access[access] = time.monotonic() + self.access_ttl
            if "offline.access" in grant.scope.split():
                body["refresh_token"] = "rt-" + secrets.token_urlsafe(32)
                self._refresh[body["refresh_token"]] = True
            self.codes_exchanged += 1
        return body

    def _ttl_out(self) -> float | int:
        return int(self.access_ttl) if float(self.access_ttl).is_integer() else self.access_ttl

    def refresh(self, form: dict[str, str], authorization: str | None) -> dict:
        """POST /2/oauth2/token. Confidential clients authenticate with HTTP Basic (X's way). For a public client
        (no Basic header) ``client_id`` in the body is accepted instead; a wrong or missing client is a 401."""
        _authenticate_client(form, authorization)
        if form.get("grant_type") != "refresh_token":
            raise TokenError(400, {"error": "invalid_request", "error_description": "Missing or invalid grant_type."})
        old = form.get("refresh_token", "")
        with self._lock:
            if not self._refresh.get(old):
                raise TokenError(400, _invalid_token())
            self._refresh[old] = False  # single use: the old token is dead from now on
            new_refresh = "rt-" + secrets.token_urlsafe(32)
            self._refresh[new_refresh] = True
            access = "at-" + secrets.token_urlsafe(32)
            self._access[access] = time.monotonic() + self.access_ttl
            self.refreshes += 1
            expires_in, self.malformed_expires_in_once = self.malformed_expires_in_once, None
        return {
            "token_type": "bearer",
            "expires_in": self._ttl_out() if expires_in is None else expires_in,
            "access_token": access,
            "scope": OAUTH2_SCOPE,
            "refresh_token": new_refresh,
        }


def _authenticate_client(form: dict[str, str], authorization: str | None) -> None:
    if authorization:
        if not authorization.lower().startswith("basic "):
            raise TokenError(401, _unauthorized_client())
        try:
            cid, _, csecret = base64.b64decode(authorization[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise TokenError(401, _unauthorized_client()) from None
        if not (hmac.compare_digest(cid, CLIENT_ID) and hmac.compare_digest(csecret, CLIENT_SECRET)):
            raise TokenError(401, _unauthorized_client())
    elif form.get("client_id") != CLIENT_ID:
        raise TokenError(401, _unauthorized_client())


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _invalid_code() -> dict:
    return {"error": "invalid_request", "error_description": "Value passed for the authorization code was invalid."}


def _invalid_token() -> dict:
    return {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}


def _unauthorized_client() -> dict:
    return {"error": "unauthorized_client", "error_description": "Missing valid authorization header"}
