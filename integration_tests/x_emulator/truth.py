"""Ground truth: what a correct connector should emit, computed straight from the Dataset (no HTTP).

Uses the same object builders (objects.py), metric model (metrics.py) and time rules (timerules.py) as the server, so
any difference between a connector's output and these functions is the connector's (or the transport's) doing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from .dataset import Account, Dataset
from .metrics import ALL_METRICS, bucket_sums
from .objects import account_obj, scheduled_tweet_obj, tweet_obj
from .timerules import day_start_utc, hour_index, now_hour
from .v2 import V2_FIELDS as V2_FIELDS  # re-exported: truth.V2_TO_ADS etc.
from .v2 import V2_ONLY_FIELDS as V2_ONLY_FIELDS
from .v2 import V2_TO_ADS as V2_TO_ADS
from .v2 import v2_bucket_sums

UTC = dt.timezone.utc


def _selected(ds: Dataset, account_ids: Iterable[str] | None) -> list[Account]:
    """Readable, non-deleted accounts, optionally restricted to (and in the order of) the configured ids."""
    readable = ds.readable_accounts()
    if account_ids is None:
        return readable
    by_id = {a.id: a for a in readable}
    return [by_id[i] for i in dict.fromkeys(account_ids) if i in by_id]


def accounts(ds: Dataset, account_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Account objects as GET /12/accounts returns them (no ``salt``, which only single-object responses carry)."""
    return [account_obj(a) for a in _selected(ds, account_ids)]


def tweets(ds: Dataset, account_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every organic, published, non-deleted tweet (replies included), newest first per account.

    Each is the API object (untrimmed user) with ``id`` replaced by ``id_str`` and ``account_id`` added.
    """
    out = []
    for account in _selected(ds, account_ids):
        for tweet in ds.tweets[account.id]:
            if tweet.is_organic_published:
                obj = tweet_obj(tweet)
                obj["id"] = tweet.id_str
                obj["account_id"] = account.id
                out.append(obj)
    return out


def scheduled_tweets(ds: Dataset, account_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Scheduled tweets the endpoint returns by default (SCHEDULED, SUCCESS, FAILED; DELETED ones are gone).

    ``id`` is replaced by ``id_str`` and ``account_id`` is added.
    """
    out = []
    for account in _selected(ds, account_ids):
        for s in ds.scheduled[account.id]:
            if s.scheduled_status != "DELETED":
                obj = scheduled_tweet_obj(s)
                obj["id"] = obj["id_str"]
                obj["account_id"] = account.id
                out.append(obj)
    return out


def organic_report(
    ds: Dataset,
    start_date: dt.date,
    end_date: dt.date,
    account_ids: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[tuple[str, str, str], dict[str, int | None]]:
    """Daily organic metrics keyed by (account_id, tweet_id, 'YYYY-MM-DD'), account-local days, both ends inclusive.

    The bucket of day d is [local midnight of d with TODAY's UTC offset, +24 h) — exactly what a DAY request for that
    account returns. Values are ints, or None where the tweet never has the metric (no video → VIDEO metrics None).
    Only entries with some non-zero metric, and only tweets created before the end of the bucket.
    """
    out: dict[tuple[str, str, str], dict[str, int | None]] = {}
    for key, tweet, h0, limit in _day_buckets(ds, start_date, end_date, account_ids, now):
        values = _row(tweet, h0, h0 + 24, limit)
        if values is not None:
            out[key] = values
    return out


def _row(tweet: Any, h0: int, h1: int, limit: int) -> dict[str, int | None] | None:
    """The tweet's metrics over hours [h0, h1), None when all are zero; metrics it never has (no video) are None."""
    sums = bucket_sums(tweet, h0, h1, limit)
    if not sums or not any(sums):
        return None
    values: dict[str, int | None] = dict(zip(ALL_METRICS, sums, strict=False))
    values.update((name, None) for name in ALL_METRICS[len(sums) :])
    return values


def _live_tweets(ds: Dataset, account_id: str) -> list[Any]:
    """The tweets with organic metrics: organic, published, not deleted."""
    return [t for t in ds.tweets[account_id] if t.is_organic_published and t.profile is not None]


def _day_buckets(
    ds: Dataset, start_date: dt.date, end_date: dt.date, account_ids: Iterable[str] | None, now: dt.datetime | None
) -> Iterator[tuple[tuple[str, str, str], Any, int, int]]:
    """(key, tweet, first hour of the local day, the last complete hour) for every live tweet's day in the range."""
    now = now or dt.datetime.now(UTC)
    limit = now_hour(now)
    n_days = (end_date - start_date).days + 1
    for account in _selected(ds, account_ids):
        first = hour_index(day_start_utc(start_date, account.timezone, now))
        for tweet in _live_tweets(ds, account.id):
            for i in range(max(0, (tweet.created_hour - first) // 24), n_days):
                yield (
                    (account.id, tweet.id_str, (start_date + dt.timedelta(days=i)).isoformat()),
                    tweet,
                    first + 24 * i,
                    limit,
                )


def organic_report_v2(
    ds: Dataset,
    start_date: dt.date,
    end_date: dt.date,
    account_ids: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[tuple[str, str, str], dict[str, int]]:
    """Daily X API v2 analytics keyed by (account_id, tweet_id, 'YYYY-MM-DD'), account-local days, both ends inclusive.

    Days are exactly ``organic_report``'s ([local midnight with TODAY's offset, +24 h)), the tweets are the same
    (organic, published, not deleted). Values: every field of ``V2_FIELDS`` as an int (``media_views`` is 0 without
    video); the fields in ``V2_TO_ADS`` equal the Ads metrics of ``organic_report``. Only entries with a non-zero field.
    """
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for key, tweet, h0, limit in _day_buckets(ds, start_date, end_date, account_ids, now):
        values = v2_bucket_sums(tweet, h0, h0 + 24, limit)
        if any(values.values()):
            out[key] = values
    return out


def organic_report_hourly(
    ds: Dataset,
    start_date: dt.date,
    end_date: dt.date,
    account_ids: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> dict[tuple[str, str, str], dict[str, int | None]]:
    """Hourly organic metrics keyed by (account_id, tweet_id, 'YYYY-MM-DDTHH:00:00Z'), the UTC start of each hour.

    The hours are those of ``organic_report``'s days start_date..end_date (from the first day's start, local midnight
    with TODAY's offset, to the last day's end), only complete ones: so the hours of a day sum to that day's row.
    Values as in ``organic_report``; only hours with some non-zero metric.
    """
    now = now or dt.datetime.now(UTC)
    limit = now_hour(now)
    out: dict[tuple[str, str, str], dict[str, int | None]] = {}
    for account in _selected(ds, account_ids):
        first = hour_index(day_start_utc(start_date, account.timezone, now))
        last = min(hour_index(day_start_utc(end_date + dt.timedelta(days=1), account.timezone, now)), limit)
        for tweet in _live_tweets(ds, account.id):
            for hour in range(max(first, tweet.created_hour), last):
                values = _row(tweet, hour, hour + 1, limit)
                if values is not None:
                    stamp = dt.datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%dT%H:00:00Z")
                    out[(account.id, tweet.id_str, stamp)] = values
    return out
