"""What every source of organic metrics implements: (account, window, tweet ids) → `organic_report` records.

`organic_report` reads through one of them per window (the Ads API's synchronous endpoint or X API v2; the Ads API's
jobs are planned ahead, see `ads_stats.AdsJobsReader`); another metrics stream can read through the same ones."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from ..windows import Window, WindowMaker


def batched(ids: list[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most `size` ids: X caps the ids of one request."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class MetricReader(ABC):
    """Reads a window's metrics in batches of at most `batch_size` tweets, their requests on a bounded pool."""

    batch_size: int

    def __init__(self, pool: Executor):
        self._pool = pool

    def read(
        self, account_id: str, window: Window, windows: WindowMaker, tweet_ids: list[str]
    ) -> Iterator[dict[str, Any]]:
        """The records of `tweet_ids` over `window`; `windows` writes any part of it the way the account's are."""
        return self.read_batches(account_id, window, windows, batched(tweet_ids, self.batch_size))

    @abstractmethod
    def read_batches(
        self, account_id: str, window: Window, windows: WindowMaker, batches: list[list[str]]
    ) -> Iterator[dict[str, Any]]: ...
