"""The `tweets` stream: each account's organic published timeline, which also yields the tweet ids for the report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import ShapeError, required_id
from .base import AccountStream

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


@dataclass(frozen=True)
class TimelineTweet:
    id: str
    created_at: datetime


class Tweets(AccountStream):
    """Full refresh on purpose: counts change and tweets get deleted, so every sync reads the timeline again."""

    endpoint = "tweets"

    def request_params(self, stream_state: Mapping[str, Any] | None, **kwargs: Any) -> MutableMapping[str, Any]:
        params = super().request_params(stream_state, **kwargs)
        # The API's default timeline is promoted-only tweets; organic reporting needs the organic timeline,
        # replies included.
        params.update(tweet_type="PUBLISHED", timeline_type="ORGANIC", include_mentions_and_replies="true")
        return params

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return normalize_tweet(item, stream_slice["account_id"])

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        timeline: list[TimelineTweet] = []
        for record in self.read_pages(stream_slice):
            # A tweet without a creation time cannot be placed in a window; transform() already refused it.
            created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
            timeline.append(TimelineTweet(record["id"], created))
            yield record
        self.context.timelines.store(stream_slice["account_id"], timeline)


class TimelineCache:
    """Each account's timeline is paged through once per sync: by `tweets` if it runs, else here on demand."""

    def __init__(self, tweets: Tweets):
        self._tweets = tweets
        self._timelines: dict[str, list[TimelineTweet]] = {}

    def store(self, account_id: str, timeline: list[TimelineTweet]) -> None:
        self._timelines[account_id] = timeline

    def get(self, account_id: str) -> list[TimelineTweet]:
        if account_id not in self._timelines:
            # Exhausting the stream's own read caches the timeline as a side effect.
            for _ in self._tweets.read_account({"account_id": account_id}, {}):
                pass
        return self._timelines[account_id]
