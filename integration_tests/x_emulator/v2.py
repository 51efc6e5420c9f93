"""X API v2 post analytics, ``GET /2/tweets/analytics``: parameter rules, metrics and problem bodies.

The numbers come from the same hourly model as the Ads stats (metrics.py): every field the two APIs share is the Ads
metric named in ``V2_TO_ADS`` summed over the same hours, so a client gets identical day totals from either source.
The v2-only fields (``V2_ONLY_FIELDS``) get their own hourly rate, constant per UTC day, derived deterministically
from the tweet's hourly impressions rate: each is <= impressions in every hour and so in every sum.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .metrics import ALL_METRICS, _mix64, bucket_sums, daily_rates
from .timerules import hour_index, now_hour

if TYPE_CHECKING:
    from .dataset import Dataset, Tweet

UTC = dt.timezone.utc

# v2 field -> Ads API metric it equals (over the same hours). media_views is 0 for tweets without video (Ads: null).
V2_TO_ADS: dict[str, str] = {
    "impressions": "impressions",
    "engagements": "engagements",
    "likes": "likes",
    "retweets": "retweets",
    "replies": "replies",
    "url_clicks": "url_clicks",
    "follows": "follows",
    "unfollows": "unfollows",
    "media_views": "video_total_views",
}
# v2-only fields: (name, lowest ratio, highest ratio) of the tweet's hourly impressions (times a daily factor 0.5-1.5)
_V2_ONLY_SPEC: tuple[tuple[str, float, float], ...] = (
    ("bookmarks", 0.001, 0.01),
    ("quote_tweets", 0.0005, 0.004),
    ("user_profile_clicks", 0.002, 0.015),
    ("detail_expands", 0.01, 0.06),
)
V2_ONLY_FIELDS: tuple[str, ...] = tuple(name for name, _, _ in _V2_ONLY_SPEC)
V2_FIELDS: tuple[str, ...] = tuple(V2_TO_ADS) + V2_ONLY_FIELDS
V2_NON_METRIC_FIELDS: tuple[str, ...] = ("timestamped_metrics",)  # accepted in analytics.fields, adds no metric
V2_GRANULARITIES: tuple[str, ...] = ("hourly", "daily", "weekly", "total")
V2_PARAMS: tuple[str, ...] = ("ids", "start_time", "end_time", "granularity", "analytics.fields")
V2_MAX_IDS = 100
_STEP_HOURS = {"hourly": 1, "daily": 24, "weekly": 168}  # total: the whole range
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z")
_ADS_INDEX = {name: ALL_METRICS.index(ads) for name, ads in V2_TO_ADS.items()}
_MASK64 = (1 << 64) - 1
_FIX = 1 << 16

INVALID_REQUEST_TYPE = "https://api.x.com/2/problems/invalid-request"
NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"


# ----------------------------------------------------------------------------- problem bodies
class V2Problem(Exception):
    """Raised while handling a v2 request; the server answers ``status`` with ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('title')}: {body.get('detail')}")
        self.status = status
        self.body = body


def unauthorized_body() -> dict[str, Any]:
    return {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


def too_many_requests_body() -> dict[str, Any]:
    return {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}


def client_not_enrolled_body() -> dict[str, Any]:
    return {
        "title": "Client Forbidden",
        "type": "https://api.x.com/2/problems/client-forbidden",
        "reason": "client-not-enrolled",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a "
        "Twitter developer App that is attached to a Project. You can create a project via the developer portal.",
        "registration_url": "https://developer.x.com/en/docs/projects/overview",
        "required_enrollment": "Appropriate Level of API Access",
    }


def server_error_body(status: int) -> dict[str, Any]:
    title = "Service Unavailable" if status == 503 else "Internal Server Error"
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def invalid_request(parameter: str, value: str, detail: str) -> V2Problem:
    """400 ``Invalid Request`` problem; ``errors`` carries the offending parameter like X's v2 validation errors."""
    body = {
        "errors": [{"parameters": {parameter: [value]}, "message": detail}],
        "title": "Invalid Request",
        "detail": detail,
        "type": INVALID_REQUEST_TYPE,
    }
    return V2Problem(400, body)


def not_found_error(resource_id: str, resource_type: str = "tweet") -> dict[str, Any]:
    return {
        "value": resource_id,
        "detail": f"Could not find {resource_type} with ids: [{resource_id}].",
        "title": "Not Found Error",
        "resource_type": resource_type,
        "parameter": "ids",
        "resource_id": resource_id,
        "type": NOT_FOUND_TYPE,
    }


# ----------------------------------------------------------------------------- query
@dataclass(frozen=True)
class V2Query:
    ids: tuple[str, ...]  # deduplicated, request order
    start: dt.datetime  # UTC, whole hour
    end: dt.datetime  # UTC, whole hour, exclusive
    granularity: str  # hourly | daily | weekly | total
    fields: tuple[str, ...]  # metric fields, request order (timestamped_metrics dropped)

    def buckets(self) -> list[tuple[int, int]]:
        """[h0, h1) hour-index bounds; bucket i starts at start + i * step, the last one may be partial."""
        h0, h1 = hour_index(self.start), hour_index(self.end)
        step = _STEP_HOURS.get(self.granularity, h1 - h0)
        return [(h, min(h + step, h1)) for h in range(h0, h1, step)]


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _parse_time(name: str, value: str) -> dt.datetime:
    if not _TIME_RE.fullmatch(value):
        raise invalid_request(
            name, value, f"The `{name}` query parameter value [{value}] is not a valid time (YYYY-MM-DDTHH:mm:ssZ)"
        )
    try:
        ts = dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise invalid_request(
            name, value, f"The `{name}` query parameter value [{value}] is not a valid time (YYYY-MM-DDTHH:mm:ssZ)"
        ) from None
    fraction = value[20:-1] if len(value) > 20 else ""
    if ts.minute or ts.second or fraction.strip("0"):
        raise invalid_request(name, value, f"The `{name}` query parameter value [{value}] must be on a whole hour")
    return ts


def parse_v2_query(
    params: dict[str, str], now: dt.datetime, max_range_days: int = 7, retention_days: int = 400
) -> V2Query:
    """Validate like X's v2 (first failing rule wins); raises V2Problem (400 Invalid Request)."""
    for name, value in params.items():
        if name not in V2_PARAMS:
            raise invalid_request(name, value, f"The query parameter [{name}] is not one of [{','.join(V2_PARAMS)}]")
    for name in V2_PARAMS:
        if not params.get(name, "").strip():
            raise invalid_request(name, params.get(name, ""), f"The `{name}` query parameter can not be empty")

    raw_ids = params["ids"]
    ids = _split(raw_ids)
    if not 1 <= len(ids) <= V2_MAX_IDS:
        raise invalid_request(
            "ids", raw_ids, f"The `ids` query parameter value [{raw_ids}] is not between 1 and {V2_MAX_IDS}"
        )
    bad = next((i for i in ids if not i.isdigit() or len(i) > 19), None)
    if bad is not None:
        raise invalid_request("ids", bad, f"The `ids` query parameter value [{bad}] does not match ^[0-9]{{1,19}}$")

    start = _parse_time("start_time", params["start_time"].strip())
    end = _parse_time("end_time", params["end_time"].strip())
    if end <= start:
        raise invalid_request(
            "end_time",
            params["end_time"],
            f"The `end_time` query parameter value [{params['end_time']}] must be a time after `start_time`",
        )
    if end - start > dt.timedelta(days=max_range_days):
        raise invalid_request(
            "start_time",
            params["start_time"],
            f"The `start_time` query parameter value [{params['start_time']}] must be within {max_range_days} days "
            "of `end_time`",
        )
    earliest = now.astimezone(UTC) - dt.timedelta(days=retention_days)
    if start < earliest:
        raise invalid_request(
            "start_time",
            params["start_time"],
            f"The `start_time` query parameter value [{params['start_time']}] must be within {retention_days} days "
            f"of the current time (earliest: {earliest:%Y-%m-%dT%H:%M:%SZ})",
        )

    granularity = params["granularity"].strip()
    if granularity not in V2_GRANULARITIES:
        raise invalid_request(
            "granularity",
            granularity,
            f"The `granularity` query parameter value [{granularity}] is not one of [{','.join(V2_GRANULARITIES)}]",
        )

    fields = _split(params["analytics.fields"])
    allowed = V2_FIELDS + V2_NON_METRIC_FIELDS
    unknown = next((f for f in fields if f not in allowed), None)
    if unknown is not None:
        raise invalid_request(
            "analytics.fields",
            unknown,
            f"The `analytics.fields` query parameter value [{unknown}] is not one of [{','.join(allowed)}]",
        )
    metric_fields = tuple(f for f in dict.fromkeys(fields) if f in V2_FIELDS)
    return V2Query(tuple(dict.fromkeys(ids)), start, end, granularity, metric_fields)


# ----------------------------------------------------------------------------- metrics
def _v2_only_rates(tweet: Tweet, utc_day: int, impressions_rate: int) -> list[int]:
    """Hourly rate of each V2_ONLY_FIELDS on one UTC day: impressions rate * ratio * daily factor, floored (< rate)."""
    seed = tweet.profile.seed  # type: ignore[union-attr]
    factor = 32768 + (_mix64(seed ^ 0x2545F4914F6CDD1D ^ ((utc_day * 0x9E3779B97F4A7C15) & _MASK64)) & 0xFFFF)
    out = []
    for i, (_, lo, hi) in enumerate(_V2_ONLY_SPEC):
        u = (_mix64(seed ^ (0xA0761D6478BD642F * (i + 1) & _MASK64)) >> 20 & 0xFFFF) / 65536.0
        ratio = int((lo + (hi - lo) * u) * _FIX)
        out.append((impressions_rate * factor * ratio) >> 32)
    return out


def v2_bucket_sums(tweet: Tweet, h0: int, h1: int, limit_hour: int) -> dict[str, int]:
    """Every V2_FIELDS value of ``tweet`` over UTC hours [h0, h1), counting only complete hours before
    ``limit_hour`` and not before the tweet's creation hour. Tweets without metrics are all 0."""
    out = dict.fromkeys(V2_FIELDS, 0)
    sums = bucket_sums(tweet, h0, h1, limit_hour)
    if sums is None:
        return out
    for name, idx in _ADS_INDEX.items():
        out[name] = sums[idx] if idx < len(sums) else 0  # no video: media_views 0
    lo, hi = max(h0, tweet.created_hour), min(h1, limit_hour)
    if lo >= hi:
        return out
    extra = [0] * len(V2_ONLY_FIELDS)
    for day in range(lo // 24, (hi - 1) // 24 + 1):
        rates = daily_rates(tweet, day)
        if rates is None:
            continue
        n = min(hi, day * 24 + 24) - max(lo, day * 24)
        extra = [a + r * n for a, r in zip(extra, _v2_only_rates(tweet, day, rates[0]), strict=True)]
    out.update(zip(V2_ONLY_FIELDS, extra, strict=True))
    return out


def v2_visible(ds: Dataset, tweet_id: str) -> Tweet | None:
    """The tweet behind an id as v2 sees it: published, not deleted, of a readable live account; else None."""
    tweet = ds.tweet_index.get(int(tweet_id))
    if tweet is None or tweet.deleted or tweet.tweet_type != "PUBLISHED":
        return None
    account = ds.account(tweet.account_id)
    if account is None or account.deleted or not account.readable:
        return None
    return tweet


def v2_timestamp(ts: dt.datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def analytics_body(query: V2Query, ds: Dataset, now: dt.datetime) -> dict[str, Any]:
    """The 200 body: ``data`` for found tweets (request order), ``errors`` for the others; empty keys omitted."""
    limit = now_hour(now)
    buckets = query.buckets()
    data, errors = [], []
    for tweet_id in query.ids:
        tweet = v2_visible(ds, tweet_id)
        if tweet is None:
            errors.append(not_found_error(tweet_id))
            continue
        series = []
        for h0, h1 in buckets:
            values = v2_bucket_sums(tweet, h0, h1, limit)
            series.append(
                {
                    "timestamp": v2_timestamp(dt.datetime.fromtimestamp(h0 * 3600, UTC)),
                    "metrics": {name: values[name] for name in query.fields},
                }
            )
        data.append({"id": tweet_id, "timestamped_metrics": series})
    body: dict[str, Any] = {}
    if data:
        body["data"] = data
    if errors:
        body["errors"] = errors
    return body
