"""Organic-tweet analytics requests: X's validation rules and the response body (shared by sync stats and jobs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .dataset import Account, Dataset
from .errors import ApiError, invalid, time_window
from .metrics import METRIC_GROUPS, series
from .objects import iso
from .timerules import (
    TimeParseError,
    hour_index,
    is_local_midnight_today_offset,
    is_whole_hour,
    now_hour,
    parse_time,
)

REQUIRED = ("entity", "entity_ids", "start_time", "end_time", "granularity", "metric_groups", "placement")
GRANULARITIES = ("DAY", "HOUR", "TOTAL")
PLACEMENTS = ("ALL_ON_TWITTER", "PUBLISHER_NETWORK")  # PUBLISHER_NETWORK: accepted, organic tweets get zeros there
MAX_ENTITY_IDS = 20
METRIC_GROUP_MESSAGE = "Valid metric groups for entity OrganicTweet are Engagement,Video"
REFUSE_CODES = ("INVALID_PARAMETER", "FEATURE_NOT_AVAILABLE")  # error codes of a refused entity=ORGANIC_TWEET


@dataclass(frozen=True)
class StatsQuery:
    account_id: str
    entity: str
    entity_ids: tuple[str, ...]
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC, exclusive
    granularity: str
    metric_groups: tuple[str, ...]
    placement: str

    @property
    def step_hours(self) -> int:
        total = hour_index(self.end) - hour_index(self.start)
        return {"DAY": 24, "HOUR": 1}.get(self.granularity, total)

    @property
    def buckets(self) -> int:
        return (hour_index(self.end) - hour_index(self.start)) // self.step_hours

    def params(self) -> dict[str, Any]:
        """The ``request.params`` echo, as X normalises it."""
        return {
            "start_time": iso(self.start),
            "end_time": iso(self.end),
            "entity": self.entity,
            "entity_ids": list(self.entity_ids),
            "granularity": self.granularity,
            "metric_groups": list(self.metric_groups),
            "placement": self.placement,
        }


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_stats_query(
    params: dict[str, str],
    account: Account,
    ds: Dataset,
    now: dt.datetime,
    max_days: int,
    refuse_organic_tweet: bool = False,
    refuse_code: str = "INVALID_PARAMETER",
) -> StatsQuery:
    """Validate like X (first failing rule wins, except that all missing parameters are reported together)."""
    missing = [p for p in REQUIRED if not params.get(p, "").strip()]
    if missing:
        errors = [{"code": "MISSING_PARAMETER", "message": f"{p} is required", "parameter": p} for p in missing]
        raise ApiError(400, "MISSING_PARAMETER", errors[0]["message"], missing[0], extra=errors[1:])

    entity = params["entity"].strip()
    if entity != "ORGANIC_TWEET":
        raise invalid("entity", f"Entity {entity} is not supported by this emulator (only ORGANIC_TWEET)")
    if refuse_organic_tweet and refuse_code == "FEATURE_NOT_AVAILABLE":  # the mid-2026 risk, second flavour
        raise ApiError(400, "FEATURE_NOT_AVAILABLE", "Analytics for entity ORGANIC_TWEET are not available", "entity")
    if refuse_organic_tweet:  # the mid-2026 risk: X stops accepting ORGANIC_TWEET
        raise invalid(
            "entity",
            "Expected one of: ACCOUNT, CAMPAIGN, FUNDING_INSTRUMENT, LINE_ITEM, MEDIA_CREATIVE, PROMOTED_ACCOUNT, "
            f"PROMOTED_TWEET, got: {entity}",
        )

    granularity = params["granularity"].strip().upper()
    if granularity not in GRANULARITIES:
        raise invalid("granularity", f"Expected one of: {', '.join(GRANULARITIES)}, got: {params['granularity']}")
    placement = params["placement"].strip().upper()
    if placement not in PLACEMENTS:
        raise invalid("placement", f"Expected one of: {', '.join(PLACEMENTS)}, got: {params['placement']}")

    groups = [g.upper() for g in _split(params["metric_groups"])]
    if not groups or any(g not in METRIC_GROUPS for g in groups):
        raise invalid("metric_groups", METRIC_GROUP_MESSAGE)

    ids = _split(params["entity_ids"])
    if len(ids) > MAX_ENTITY_IDS:
        raise invalid("entity_ids", f"Expected no more than {MAX_ENTITY_IDS} entity_ids, got {len(ids)}")
    bad = [i for i in ids if not i.isdigit() or (t := ds.tweet_index.get(int(i))) is None or t.account_id != account.id]
    if bad:
        raise invalid("entity_ids", f"Invalid entity_ids for account {account.id}: {', '.join(bad)}")

    times = {}
    for name in ("start_time", "end_time"):
        try:
            times[name] = parse_time(params[name], account.timezone, now)
        except TimeParseError:
            raise invalid(name, f"{name} must be an ISO 8601 time with an offset, got: {params[name]}") from None
    start, end = times["start_time"], times["end_time"]
    for name, ts in (("start_time", start), ("end_time", end)):
        if not is_whole_hour(ts):
            raise time_window(f"{name} must be on a whole hour", name)
    if end <= start:
        raise time_window("end_time must be after start_time")
    if end - start > dt.timedelta(days=max_days):
        raise time_window(f"The time window may not exceed {max_days} days")
    if granularity in ("DAY", "TOTAL"):
        for name, ts in (("start_time", start), ("end_time", end)):
            if not is_local_midnight_today_offset(ts, account.timezone, now):
                raise time_window(
                    f"{name} must be midnight in the account time zone ({account.timezone}) for {granularity} "
                    "granularity",
                    name,
                )
    return StatsQuery(
        account_id=account.id,
        entity=entity,
        entity_ids=tuple(dict.fromkeys(ids)),
        start=start,
        end=end,
        granularity=granularity,
        metric_groups=tuple(dict.fromkeys(groups)),
        placement=placement,
    )


def stats_body(query: StatsQuery, ds: Dataset, now: dt.datetime) -> dict[str, Any]:
    """The synchronous response body (also the content of a job's gzip file)."""
    h0, step, n = hour_index(query.start), query.step_hours, query.buckets
    limit = now_hour(now) if query.placement == "ALL_ON_TWITTER" else -(1 << 40)  # nothing earns off-platform
    data = []
    for tweet_id in query.entity_ids:
        tweet = ds.tweet_index[int(tweet_id)]
        metrics = series(tweet, h0, step, n, limit, query.metric_groups)
        data.append({"id": tweet_id, "id_data": [{"segment": None, "metrics": metrics}]})
    return {"data_type": "stats", "time_series_length": n, "data": data, "request": {"params": query.params()}}
