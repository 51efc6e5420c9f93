"""The one place where the connector reaches into airbyte-cdk beyond its public API.

Each use is a reason why pyproject.toml accepts only the CDK minor version the tests ran (7.39): a new minor may
rename or reshape any of these without notice. After a CDK upgrade, check each entry below against the new version
(the test suite exercises all of them).

- `airbyte_cdk.logger.PRINT_BUFFER.flush_interval`: the CDK's stdout buffer, an undocumented module global. Set to
  10 ms (run.py) because at its default 0.1 s it holds up to ~2 MB of records three times over, the part of peak
  memory that grew with the sync. No public setting exists.
- `SingleUseRefreshTokenOauth2Authenticator` private methods, overridden or called by `auth.XOAuth2Authenticator`
  (its docstring has the details): `_make_handled_request` (the refresh request: a timeout, retries of non-JSON
  answers, no ~/.netrc), and `_token_refresh_lock`, `_current_access_token_or_none`, `_extract_refresh_token`,
  `_extract_access_token`, `_extract_token_expiry_date`, `_default_token_expiry_date`, `_emit_control_message`,
  `_log_response`, `_parse_error_response_content`, `_wrap_refresh_token_exception`, `_build_provider_error_detail`,
  `_build_provider_response_info`, so that X's rotated refresh token is stored and emitted before anything else can
  fail, and refusals read as the CDK's own.
- `airbyte_cdk.utils.airbyte_secrets_utils.add_to_secrets` (secret_filter.py): registers each form of a secret with
  the CDK's log filter; the CDK masks only the spec's `airbyte_secret` values, not tokens it receives later.

Public CDK API used in ways the CDK's own streams do not (kept here so that an upgrade looks at them too):
- `HttpClient.send_request` (exported by `airbyte_cdk.sources.streams.http`), called directly by every request of
  the streams to X's APIs (`XAdsStream.send_gated`) instead of going through HttpStream's paging: the streams page
  themselves (`XAdsStream.read_pages`) because HttpStream's loop (`_read_pages`) and its client (`_http_client`) are
  private and its client cannot be given a session. Job result files are downloaded without the CDK
  (`streams/result_files.py`: urllib3 directly).
- `HttpStream.__init__` building a client and calling `get_error_handler()`/`get_backoff_strategy()` at once: the
  streams set what those hooks read before calling it.
"""

from __future__ import annotations

from airbyte_cdk.logger import PRINT_BUFFER


def set_stdout_flush_interval(seconds: float) -> None:
    PRINT_BUFFER.flush_interval = seconds
