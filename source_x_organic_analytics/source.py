"""The source: `check` and the list of streams."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream

from .auth import build_authenticator
from .config import config_error, parse_config
from .context import Connection, ReadsAhead, RequestPool, SyncContext, V2Usage, utc_now
from .secret_filter import mask_credentials
from .state_input import usable_state
from .streams import Accounts, OrganicReport, OrganicReportHourly, ScheduledTweets, Tweets
from .streams.accounts import AccountDirectory
from .streams.base import AccountStream
from .streams.followers_history import FollowersHistory
from .streams.tweets import TimelinePages
from .streams.v2_user import V2Timeline, V2UserDirectory, check_v2_user
from .timelines import Timelines

# `tweets` before `organic_report`: the report then finds each timeline paged already (either order is correct).
_READ_ORDER = {"accounts": 0, "tweets": 1, "organic_report": 2, "organic_report_hourly": 3, "scheduled_tweets": 4}


class SourceXOrganicAnalytics(AbstractSource):
    def __init__(self, clock: Callable[[], datetime] = utc_now):
        super().__init__()
        self._clock = clock
        self._v2_usage: V2Usage | None = None
        self._pool: RequestPool | None = None
        self._read_order: list[str] = []  # the streams a read selected, in the order it reads them

    def _context(self, config: Mapping[str, Any]) -> SyncContext:
        # Before anything can fail or log: the entrypoint's filter knows only each secret's raw value.
        mask_credentials(config.get("credentials"))
        parsed = parse_config(config, today=self._clock().date())
        # The authenticator gets the config object itself: OAuth 2.0 writes rotated tokens back into it.
        connection = Connection(config=parsed, authenticator=build_authenticator(config), clock=self._clock)  # type: ignore[arg-type]
        to_come: list[ReadsAhead] = []  # filled by `streams` once they exist
        self._pool = connection.pool
        if parsed.v2_mode:
            accounts, timeline = V2UserDirectory(connection), V2Timeline(connection)
            self._v2_usage = connection.v2_usage
        else:
            accounts, timeline = AccountDirectory(connection, parsed.account_ids, to_come), TimelinePages(connection)
        shared = {f.name: getattr(connection, f.name) for f in fields(Connection) if f.init}
        return SyncContext(**shared, accounts=accounts, timelines=Timelines(timeline), streams_to_come=to_come)

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        context = self._context(config)
        if context.config.v2_mode:
            return check_v2_user(context.accounts)
        # Reads each configured account by its id (or lists all when none is configured): proves the credentials.
        context.accounts.raise_for_missing()
        if not context.accounts.readable():
            raise config_error(
                "These credentials can read no ads account. Sign in with an X user that has at least the Analyst "
                "role on an ads account (ads.x.com → Account access)."
            )
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        context = self._context(config)
        streams = [
            Accounts(context),
            Tweets(context),
            OrganicReport(context),
            OrganicReportHourly(context),
            FollowersHistory(context),
        ]
        # X API v2 has no scheduled posts.
        streams = streams if context.config.v2_mode else [*streams, ScheduledTweets(context)]
        by_name = {stream.name: stream for stream in streams}
        context.streams_to_come[:] = [
            by_name[name] for name in self._read_order if isinstance(by_name.get(name), AccountStream)
        ]
        return streams

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        # The CDK parses the state file here and fails on shapes it does not expect: the earliest place to keep what
        # is usable and log the rest.
        raw = cls._read_json_file(state_path) if state_path else None
        return usable_state(raw, logging.getLogger("airbyte").warning)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | MutableMapping[str, Any] | None = None,
    ) -> Iterator[AirbyteMessage]:
        catalog.streams.sort(key=lambda s: _READ_ORDER.get(s.stream.name, len(_READ_ORDER)))
        self._read_order = [configured.stream.name for configured in catalog.streams]
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            if self._v2_usage is not None:
                logger.info(self._v2_usage.summary())
            if self._pool is not None:
                # Requests read ahead for a stream that ended early are not sent.
                self._pool.shutdown(wait=False, cancel_futures=True)
