"""The connector's configuration, parsed once and validated with messages that name the field to fix."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

DEFAULT_API_BASE_URL = "https://ads-api.x.com"
DEFAULT_X_API_BASE_URL = "https://api.x.com"
ADS_API_VERSION = "12"
METRICS_SOURCES = ("auto", "ads_api", "x_api_v2")
STATS_ENDPOINTS = ("auto", "jobs", "synchronous")
ADS_API_MODE, X_API_V2_MODE = "ads_api", "x_api_v2"
API_MODES = (ADS_API_MODE, X_API_V2_MODE)
DEFAULT_TOKEN_REFRESH_ENDPOINT = "https://api.x.com/2/oauth2/token"
DEFAULT_HISTORY_DAYS = 90
DEFAULT_LOOKBACK_DAYS = 3
MAX_LOOKBACK_DAYS = 30
DEFAULT_NUM_WORKERS = 3
MAX_NUM_WORKERS = 10
# X opened on 2006-03-21: no day before it has organic metrics, and dates far in the past overflow time zone math.
X_FIRST_DAY = date(2006, 3, 21)
# X documents no maximum for an `account_ids` list; 200 is its bound for the other id lists (`tweet_ids`, `job_ids`).
# Each configured account is read with a request of its own, so this only keeps `check` and the sync's start bounded.
MAX_ACCOUNT_IDS = 200
# How many ids a message names before it says "and N more": a message must stay readable with thousands of ids.
IDS_IN_MESSAGE = 5
_LOOPBACK_NAMES = {"localhost"}

# The secret fields of each auth method (the spec marks them airbyte_secret).
CREDENTIAL_FIELDS = {
    "oauth2.0": ("client_id", "client_secret", "refresh_token", "access_token"),
    "oauth1.0a": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
}

# Ads account ids are short base-36 strings ("18ce54d4x5t"); anything else would only fail later, on X's side.
_ACCOUNT_ID = re.compile(r"^[0-9a-z]{1,32}$")


def config_error(message: str, internal_message: str | None = None) -> AirbyteTracedException:
    """An error the user must fix in the connector's settings; its message is what the UI shows."""
    return AirbyteTracedException(
        message=message, internal_message=internal_message or message, failure_type=FailureType.config_error
    )


def short_list(items: Iterable[str], shown: int = IDS_IN_MESSAGE) -> str:
    """The first few items and how many more: a message that lists ids stays short however many there are."""
    items = list(items)
    head = ", ".join(items[:shown])
    return f"{head} and {len(items) - shown} more" if len(items) > shown else head


def _quoted(value: str, limit: int = 40) -> str:
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}…"


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class XConfig:
    credentials: MutableMapping[str, Any]
    account_ids: tuple[str, ...]
    start_date: date
    end_date: date | None
    lookback_window_days: int
    api_base_url: str
    num_workers: int = 3
    metrics_source: str = "auto"
    stats_endpoint: str = "auto"  # the Ads API's metrics: chosen per account (`stats_budget`), or always one
    x_api_base_url: str = DEFAULT_X_API_BASE_URL
    api: str = ADS_API_MODE
    # The days of organic_report in x_api_v2 mode (X API v2 knows no account time zone); unused in ads_api mode.
    timezone: str = "UTC"

    @property
    def ads_api_root(self) -> str:
        """The Ads API's versioned root, every Ads API path relative to it."""
        return f"{self.api_base_url}/{ADS_API_VERSION}/"

    @property
    def v2_mode(self) -> bool:
        return self.api == X_API_V2_MODE

    @property
    def auth_type(self) -> str:
        return str(self.credentials.get("auth_type", ""))


def _parse_date(config: Mapping[str, Any], field: str) -> date | None:
    value = config.get(field)
    if value in (None, ""):
        return None
    try:
        parsed = date.fromisoformat(str(value))
    except ValueError:
        raise config_error(f"`{field}` must be a date written YYYY-MM-DD; got {value!r:.40}.") from None
    if parsed < X_FIRST_DAY:
        raise config_error(f"`{field}` {parsed} is before X existed: choose a day on or after {X_FIRST_DAY}.")
    return parsed


def validate_credentials(credentials: Mapping[str, Any]) -> None:
    """Refuse a credential with surrounding whitespace or a control character, before any request is sent.

    A copy-paste easily adds a trailing line break, and such a token does not merely fail at X: http.client refuses the
    header and quotes the token, escaped, in its exception. The message names the field and never the value.
    """
    for field in CREDENTIAL_FIELDS[credentials["auth_type"]]:
        value = credentials.get(field)
        if not isinstance(value, str):
            continue  # absent or empty: the spec check and the authenticator say which field is missing
        flaw = _credential_flaw(value)
        if flaw:
            raise config_error(
                f"`credentials.{field}` {flaw}, which copying it often adds. Paste the value again without it "
                "(it is not shown here because it is secret)."
            )


def _credential_flaw(value: str) -> str | None:
    if value != value.strip():
        return "starts or ends with whitespace (a space, tab or line break)"
    if not value.isprintable():
        return "contains a control or invisible character"
    return None


def parse_config(config: Mapping[str, Any], today: date | None = None) -> XConfig:
    """Validate the raw config; `today` (UTC) is injectable so that the defaults are testable."""
    today = today or utc_today()
    credentials = config.get("credentials")
    if not isinstance(credentials, MutableMapping) or credentials.get("auth_type") not in ("oauth2.0", "oauth1.0a"):
        raise config_error(
            "`credentials.auth_type` must be `oauth2.0` or `oauth1.0a`: choose an authentication method."
        )
    validate_credentials(credentials)

    raw_ids = config.get("account_ids") or []
    if not isinstance(raw_ids, list):
        raise config_error('`account_ids` must be a list of ads account ids, such as ["18ce54d4x5t"].')
    account_ids = tuple(dict.fromkeys(str(a).strip() for a in raw_ids))
    if len(account_ids) > MAX_ACCOUNT_IDS:
        raise config_error(
            f"`account_ids` lists {len(account_ids)} accounts; at most {MAX_ACCOUNT_IDS} are allowed. Leave it empty "
            "to sync every account the credentials can read, or split the accounts over several connections."
        )
    malformed = [a for a in account_ids if not _ACCOUNT_ID.match(a)]
    if malformed:
        raise config_error(
            f"`account_ids` contains {short_list(_quoted(a) for a in malformed)}, which is not an ads account id. "
            "Ids are the short code of lowercase letters and digits in the ads.x.com URL, such as 18ce54d4x5t."
        )

    start_date = _parse_date(config, "start_date") or today - timedelta(days=DEFAULT_HISTORY_DAYS)
    end_date = _parse_date(config, "end_date")
    # An account east of UTC may already be on tomorrow's date, so "future" means beyond UTC tomorrow.
    if start_date > today + timedelta(days=1):
        raise config_error(f"`start_date` {start_date} is in the future: choose a day on or before {today}.")
    if end_date is not None and end_date < start_date:
        raise config_error(f"`end_date` {end_date} is before `start_date` {start_date}: the range would be empty.")

    lookback = config.get("lookback_window_days", DEFAULT_LOOKBACK_DAYS)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or not 0 <= lookback <= MAX_LOOKBACK_DAYS:
        raise config_error(
            f"`lookback_window_days` must be a whole number from 0 to {MAX_LOOKBACK_DAYS}; got {lookback!r}."
        )

    num_workers = config.get("num_workers", DEFAULT_NUM_WORKERS)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 1 <= num_workers <= MAX_NUM_WORKERS:
        raise config_error(f"`num_workers` must be a whole number from 1 to {MAX_NUM_WORKERS}; got {num_workers!r}.")

    metrics_source = config.get("metrics_source") or "auto"
    if metrics_source not in METRICS_SOURCES:
        raise config_error(f"`metrics_source` must be one of {', '.join(METRICS_SOURCES)}; got {metrics_source!r}.")

    stats_endpoint = config.get("stats_endpoint") or "auto"
    if stats_endpoint not in STATS_ENDPOINTS:
        raise config_error(f"`stats_endpoint` must be one of {', '.join(STATS_ENDPOINTS)}; got {stats_endpoint!r}.")

    api_base_url = _base_url(config, "api_base_url", DEFAULT_API_BASE_URL)
    x_api_base_url = _base_url(config, "x_api_base_url", DEFAULT_X_API_BASE_URL)
    if credentials.get("auth_type") == "oauth2.0" and credentials.get("token_refresh_endpoint"):
        _check_url(credentials["token_refresh_endpoint"], "credentials.token_refresh_endpoint")

    return XConfig(
        credentials=credentials,
        account_ids=account_ids,
        start_date=start_date,
        end_date=end_date,
        lookback_window_days=lookback,
        api_base_url=api_base_url,
        num_workers=num_workers,
        metrics_source=metrics_source,
        stats_endpoint=stats_endpoint,
        x_api_base_url=x_api_base_url,
        **_api_mode(config),
    )


def _api_mode(config: Mapping[str, Any]) -> dict[str, str]:
    """`api` and `timezone`: which API serves the streams, and the days of organic_report in x_api_v2 mode."""
    api = config.get("api") or ADS_API_MODE
    if api not in API_MODES:
        raise config_error(f"`api` must be one of {', '.join(API_MODES)}; got {api!r}.")
    zone = str(config.get("timezone") or "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise config_error(
            f"`timezone` must be an IANA time zone name such as Europe/Berlin or America/New_York; got {zone!r}."
        ) from None
    if api == X_API_V2_MODE and not _whole_hour_offsets(tz):
        raise config_error(
            f"`timezone` {zone} is offset from UTC by a fraction of an hour, and X API v2 counts post analytics in "
            "UTC hours, so its days cannot be cut at that zone's midnight. Choose a zone whose offset is whole hours "
            "(such as UTC or a neighbouring zone)."
        )
    return {"api": api, "timezone": zone}


def _whole_hour_offsets(tz: ZoneInfo) -> bool:
    """Whether the zone's UTC offset has been whole hours over the last year and a half (summer and winter)."""
    now = datetime.now(timezone.utc)
    instants = (now - timedelta(days=30 * n) for n in range(18))
    return all((tz.utcoffset(instant) or timedelta(0)) % timedelta(hours=1) == timedelta(0) for instant in instants)


def _base_url(config: Mapping[str, Any], field: str, default: str) -> str:
    return _check_url(config.get(field) or default, field).rstrip("/")


def is_loopback(host: str) -> bool:
    """A host name or address that never leaves this machine: the only place plain HTTP is allowed."""
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(value: Any, field: str) -> str:
    """A URL the connector sends credentials to: https, or plain http only to this machine (a local emulator), so
    that a bearer token or an OAuth signature never crosses a network in clear. The URL is only echoed once it is
    known to hold no user info or query, where a secret could hide."""
    url = str(value)
    if any(c.isspace() or not c.isprintable() for c in url):
        raise config_error(f"`{field}` contains whitespace or a control character: remove it (a pasted newline?).")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError:
        raise config_error(f"`{field}` is not a valid URL.") from None
    if "@" in parts.netloc:
        raise config_error(f"`{field}` contains a user name or password: remove it; `credentials` sign every request.")
    if "?" in url or "#" in url:
        raise config_error(f"`{field}` has a query (`?…`) or a fragment (`#…`): give the URL without them.")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise config_error(f"`{field}` must be an https URL such as https://api.x.com; got {url!r}.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise config_error(
            f"`{field}` must use https: {url!r} would send your credentials in clear. Plain http is only accepted "
            "for a test server on this machine (localhost, 127.0.0.0/8 or ::1)."
        )
    return url
