"""The `scheduled_tweets` stream: tweets waiting to be published (and what became of them), per account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import required_id
from .base import AccountStream


class ScheduledTweets(AccountStream):
    endpoint = "scheduled_tweets"
    page_size = 200  # the endpoint's maximum

    def read_ahead_accounts(self, accounts: list[Mapping[str, Any]]) -> None:
        self.read_ahead({"account_id": account["id"]} for account in accounts)

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        tweet_id = item.get("tweet_id")
        return {
            **item,
            "id": required_id(item, "id_str", "id"),
            "tweet_id": None if tweet_id is None else str(tweet_id),
            "account_id": stream_slice["account_id"],
        }
