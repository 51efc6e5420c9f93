"""The one place where the connector reaches into airbyte-cdk beyond its public API.

Each use is a reason why pyproject.toml accepts only the CDK minor version the tests ran (7.39): a new minor may
rename or reshape any of these without notice. After a CDK upgrade, check each entry below against the new version
(the test suite exercises all of them).

- `airbyte_cdk.logger.PRINT_BUFFER.flush_interval`: the CDK's stdout buffer, an undocumented module global. Set to
  10 ms (run.py) because at its default 0.1 s it holds up to ~2 MB of records three times over, the part of peak
  memory that grew with the sync. No public setting exists.

Public CDK API used in ways the CDK's own streams do not (kept here so that an upgrade looks at them too):
- `HttpClient.send_request` (exported by `airbyte_cdk.sources.streams.http`), called directly by every request of
  the streams (`XAdsStream.send_gated`, the job result downloads) instead of going through HttpStream's paging: the
  streams page themselves (`XAdsStream.read_pages`) because HttpStream's loop (`_read_pages`) and its client
  (`_http_client`) are private and its client cannot be given a session.
- `HttpStream.__init__` building a client and calling `get_error_handler()`/`get_backoff_strategy()` at once: the
  streams set what those hooks read before calling it.
"""

from __future__ import annotations

from airbyte_cdk.logger import PRINT_BUFFER


def set_stdout_flush_interval(seconds: float) -> None:
    PRINT_BUFFER.flush_interval = seconds
