"""The Airbyte platform's side of a declarative OAuth 2.0 flow, played from the connector's spec.

What the "Authenticate your account" button does with `advanced_auth.oauth_config_specification`, as Airbyte's
"OAuth Authentication Methods" page documents it and its platform code (io.airbyte.oauth.declarative:
DeclarativeOAuthFlow, DeclarativeOAuthSpecHandler) implements it:

1. consent: a random `state` of `state.min`..`state.max` characters (letters, digits, `.-_`; 7..24 without `state`),
   the template values below, `consent_url` rendered with them;
2. completion, once the provider redirected to the redirect URI with `code` and `state`: `access_token_url`,
   `access_token_headers` and `access_token_params` rendered with the client's secret, the code and the *same* state;
   a POST whose body is form-encoded when the headers say `Content-Type: application/x-www-form-urlencoded`, JSON
   otherwise; each `extract_output` path read from the JSON answer (a missing one fails the flow), `expires_in`
   (`token_expiry_key`) also turned into `token_expiry_date` = now + that many seconds;
3. the outputs named by `complete_oauth_output_specification` and the client credentials named by
   `complete_oauth_server_output_specification` put at their `path_in_connector_config`.

Template values: every key of `oauth_connector_input_specification` (objects and arrays as ""), the `*_key` names
(defaults `client_id`, `client_secret`, `redirect_uri`, `scope`, `state`, `code`), `<name>_value` for each, and
`<name>_param` = `key=value` with `redirect_uri` and `scope` URL-encoded (Java's URLEncoder: space → `+`). Filters:
`urlencode`, `urldecode`, `b64encode`, `b64decode`, `codechallengeS256` (unpadded base64url of SHA-256, RFC 7636).
The platform renders with Jinjava, which leaves an unknown variable empty; here an unknown variable is an error, so a
typo in the spec fails the test instead of sending a broken URL.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import jinja2
import requests

STATE_CHARS = string.ascii_letters + string.digits + ".-_"
DEFAULT_STATE_LENGTH = {"min": 7, "max": 24}
# template key name -> its default: the name of the request parameter that carries the value
KEY_DEFAULTS = {
    "client_id_key": "client_id",
    "client_secret_key": "client_secret",
    "redirect_uri_key": "redirect_uri",
    "scope_key": "scope",
    "state_key": "state",
    "auth_code_key": "code",
}
URL_ENCODED_PARAMS = ("redirect_uri_key", "scope_key")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class OAuthFlowError(Exception):
    """The flow failed where the platform's would: a rejected request, or an output the answer does not carry."""


def code_challenge_s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters.update(
        urlencode=lambda value: quote(str(value), safe=""),
        urldecode=lambda value: unquote(str(value)),
        b64encode=lambda value: base64.b64encode(str(value).encode()).decode(),
        b64decode=lambda value: base64.b64decode(str(value)).decode(),
        codechallengeS256=code_challenge_s256,
    )
    return env


def _text(value: Any) -> str:
    """Jackson's asText(): containers are empty."""
    return "" if isinstance(value, dict | list) else str(value)


def template_values(spec_input: Mapping[str, Any], **values: str) -> dict[str, str]:
    """The template map for one request; ``values`` keyed by the key names' defaults (client_id=..., code=...)."""
    out = {**{name: _text(spec_input.get(name, default)) for name, default in KEY_DEFAULTS.items()}}
    out.update({name: _text(value) for name, value in spec_input.items()})
    for key_name, default in KEY_DEFAULTS.items():
        if default in values:
            out[out[key_name]] = values[default]
    for key_name in KEY_DEFAULTS:
        base = key_name.removesuffix("_key")
        param_name = out[key_name]
        value = out.get(param_name)
        out[f"{base}_value"] = value
        shown = quote_plus(value) if key_name in URL_ENCODED_PARAMS and value is not None else value
        out[f"{base}_param"] = f"{param_name}={shown}"
    return out


def render(template: str, values: Mapping[str, str]) -> str:
    return _environment().from_string(template).render(values)


def random_state(spec_input: Mapping[str, Any]) -> str:
    bounds = {**DEFAULT_STATE_LENGTH, **spec_input.get("state", {})}
    length = bounds["min"] + secrets.randbelow(bounds["max"] - bounds["min"] + 1)
    return "".join(secrets.choice(STATE_CHARS) for _ in range(length))


def put(config: dict[str, Any], path: list[str], value: Any) -> None:
    node = config
    for name in path[:-1]:
        node = node.setdefault(name, {})
    node[path[-1]] = value


def _read_path(data: Any, path: str) -> Any:
    for name in path.split("."):
        data = data.get(name) if isinstance(data, dict) else None
    return data


@dataclass
class DeclarativeOAuthFlow:
    """One user's run of the button. ``reroute`` maps a URL of the provider to where the test serves it."""

    advanced_auth: Mapping[str, Any]
    client_id: str
    client_secret: str
    redirect_uri: str
    reroute: Callable[[str], str] = lambda url: url

    @property
    def spec_input(self) -> Mapping[str, Any]:
        return self.advanced_auth["oauth_config_specification"]["oauth_connector_input_specification"]

    def consent_url(self, state: str) -> str:
        values = template_values(self.spec_input, client_id=self.client_id, redirect_uri=self.redirect_uri, state=state)
        return render(self.spec_input["consent_url"], values)

    def authorize(self, session: requests.Session) -> tuple[str, dict[str, str]]:
        """Opens the consent URL as the user's browser would and returns (state, the redirect's query)."""
        state = random_state(self.spec_input)
        answer = session.get(self.reroute(self.consent_url(state)), allow_redirects=False, timeout=10)
        location = answer.headers.get("Location", "")
        if answer.status_code != 302 or not location.startswith(self.redirect_uri):
            raise OAuthFlowError(f"consent screen answered {answer.status_code}: {answer.text[:300]}")
        return state, dict(parse_qsl(urlsplit(location).query))

    def complete(self, session: requests.Session, callback: Mapping[str, str]) -> dict[str, Any]:
        """The token request from the callback's code and state; returns the outputs by their output-spec names."""
        values = template_values(
            self.spec_input,
            client_id=self.client_id,
            client_secret=self.client_secret,
            redirect_uri=self.redirect_uri,
            code=callback.get(self.spec_input.get("auth_code_key", "code"), ""),
            state=callback.get(self.spec_input.get("state_key", "state"), ""),
        )
        headers = {
            render(k, values): render(v, values) for k, v in self.spec_input.get("access_token_headers", {}).items()
        }
        params = {
            render(k, values): render(v, values) for k, v in self.spec_input.get("access_token_params", {}).items()
        }
        url = self.reroute(render(self.spec_input["access_token_url"], values))
        if headers.get("Content-Type") == FORM_CONTENT_TYPE:
            answer = session.post(url, headers=headers, data=params, timeout=10)
        else:
            answer = session.post(url, headers=headers, json=params, timeout=10)
        if answer.status_code != 200:
            raise OAuthFlowError(f"token endpoint answered {answer.status_code}: {answer.text[:300]}")
        return self._outputs(answer.json())

    def _outputs(self, data: Mapping[str, Any]) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        expiry_key = self.spec_input.get("token_expiry_key", "expires_in")
        for path in self.spec_input.get("extract_output") or ["refresh_token"]:
            value = _read_path(data, path)
            key = path.split(".")[-1]
            if value is None:
                raise OAuthFlowError(f"Missing '{key}' field in the OAuth output; the answer has {sorted(data)}")
            if key == expiry_key:
                expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=int(value))
                outputs["token_expiry_date"] = expiry.isoformat().replace("+00:00", "Z")  # Java's Instant.toString()
            outputs[key] = _text(value)
        return outputs

    def apply(self, config: dict[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
        """Puts the outputs and the client credentials where the complete_oauth_* specifications say."""
        spec = self.advanced_auth["oauth_config_specification"]
        server_values = {"client_id": self.client_id, "client_secret": self.client_secret}
        for name, prop in spec["complete_oauth_server_output_specification"]["properties"].items():
            put(config, prop["path_in_connector_config"], server_values[name])
        for name, prop in spec["complete_oauth_output_specification"]["properties"].items():
            if name not in outputs:
                raise OAuthFlowError(f"Missing OAuth2 output {name} from the oauth flow")
            put(config, prop["path_in_connector_config"], outputs[name])
        return config
