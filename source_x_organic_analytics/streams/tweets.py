"""The `tweets` stream: each account's organic published timeline, which also yields the tweet ids for the report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any

from ..errors import ShapeError, required_id
from .base import AccountStream, XAdsStream

_V1_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
# Numeric twins of string ids: X's numbers exceed 2^53 and lose digits in most warehouses, so only strings are kept.
_NUMERIC_ID_FIELDS = ("in_reply_to_status_id", "in_reply_to_user_id", "quoted_status_id")


def parse_v1_time(value: str) -> str:
    """`Tue Aug 27 22:22:12 +0000 2019` → `2019-08-27T22:22:12Z`."""
    if not isinstance(value, str):
        raise ShapeError(f"`created_at` {value!r:.50} is not a date")
    parsed = datetime.strptime(value, _V1_TIME_FORMAT).astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_tweet(item: Mapping[str, Any], account_id: str) -> dict[str, Any]:
    record = {k: v for k, v in item.items() if k not in _NUMERIC_ID_FIELDS}
    tweet_id = required_id(item, "id_str", "tweet_id", "id")
    record.update(
        id=tweet_id, tweet_id=tweet_id, account_id=account_id, created_at=parse_v1_time(item.get("created_at"))
    )
    user = item.get("user")
    if isinstance(user, Mapping):
        record["user"] = {**user, "id": str(user.get("id_str") or user.get("id"))}
    return record


class TimelinePages(XAdsStream):
    """`GET /12/accounts/{id}/tweets`: an account's organic published timeline, page by page, for the timelines
    service."""

    name = "tweets"

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"accounts/{(stream_slice or {})['account_id']}/tweets"

    def request_params(self, stream_state: Mapping[str, Any] | None, **kwargs: Any) -> MutableMapping[str, Any]:
        params = super().request_params(stream_state, **kwargs)
        # The API's default timeline is promoted-only tweets; organic reporting needs the organic timeline,
        # replies included.
        params.update(tweet_type="PUBLISHED", timeline_type="ORGANIC", include_mentions_and_replies="true")
        return params

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return normalize_tweet(item, stream_slice["account_id"])


class Tweets(AccountStream):
    """Full refresh on purpose: counts change and tweets get deleted, so every sync reads the timeline again. The
    timelines service pages it, once per sync, for this stream and `organic_report`."""

    def read_ahead_accounts(self, accounts: list[Mapping[str, Any]]) -> None:
        self.context.timelines.read_ahead([account["id"] for account in accounts])

    def read_pages(self, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        yield from self.context.timelines.records(stream_slice["account_id"])
