"""Deterministic organic-tweet metrics and bucket sums.

Model (chosen so that any window can be summed in O(days) and the truth never depends on how a client windows its
requests):

* Every metric has an *hourly rate* that is constant within one UTC day: ``daily_rates(tweet, utc_day)``.
  A bucket ``[h0, h1)`` (UTC hour indices) is summed as ``sum(rate(day) * active_hours_in(day))`` over the at most
  ``ceil((h1 - h0) / 24) + 1`` UTC days it touches, so a DAY bucket is at most two partial-day products.
* An hour earns only if it is at or after the hour the tweet was created in and the hour is complete at the
  emulator's ``now`` (hour start + 1 h <= now). Future and current hours are 0.
* Impressions per hour ~ base * noise / (1 + age_days) ** 1.1 with stochastic rounding, and old tweets are quiet on
  most days, so months-old tweets still earn a little on some days and nothing on many.
* Every other metric is ``floor(impressions * ratio * day_factor)`` with ``ratio * day_factor < 1``: each is therefore
  <= impressions in every hour and so in every sum; ``engagements`` uses the sum of its component ratios, so it is
  >= likes + retweets + replies + follows + clicks + card_engagements.
* A metric is ``None`` iff the tweet never has it: no profile (dead / deleted / draft / promoted-only tweet) means every
  metric is None; a tweet without video has the VIDEO metrics None. Otherwise the value is an int (zeros allowed).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported only for type hints; dataset imports this module at runtime
    from .dataset import Tweet

ENGAGEMENT_METRICS: tuple[str, ...] = (
    "impressions",
    "engagements",
    "retweets",
    "replies",
    "likes",
    "follows",
    "unfollows",
    "clicks",
    "url_clicks",
    "app_clicks",
    "card_engagements",
    "qualified_impressions",
    "carousel_swipes",
    "poll_card_vote",
    "tweets_send",
)
VIDEO_METRICS: tuple[str, ...] = (
    "video_total_views",
    "video_views_25",
    "video_views_50",
    "video_views_75",
    "video_views_100",
    "video_cta_clicks",
    "video_content_starts",
    "video_3s100pct_views",
    "video_6s_views",
    "video_15s_views",
)
ALL_METRICS: tuple[str, ...] = ENGAGEMENT_METRICS + VIDEO_METRICS
METRIC_GROUPS: dict[str, tuple[str, ...]] = {"ENGAGEMENT": ENGAGEMENT_METRICS, "VIDEO": VIDEO_METRICS}

_MASK64 = (1 << 64) - 1
_FIX = 1 << 16  # fixed-point scale of the ratios and of the daily factor
_MAX_RATIO = 0.66  # ratio * max daily factor (1.5) stays < 1, hence every metric <= impressions
_DECAY = [(1.0 + age) ** -1.1 for age in range(20000)]  # precomputed long-tail decay, index = age in days


@dataclass(frozen=True)
class MetricProfile:
    """Per-tweet constants of the metric model (None on a tweet = that tweet never has any metric)."""

    seed: int
    base_per_hour: float  # expected impressions per hour on the creation day
    ratios: tuple[int, ...]  # fixed-point ratio (x / 2**16) for ALL_METRICS[1:], video ones only if has_video
    has_video: bool
    cache: dict[int, tuple[int, ...] | None] = field(default_factory=dict, compare=False, repr=False)


def make_profile(
    rng: random.Random, *, has_video: bool, has_url: bool, has_card: bool, is_reply: bool
) -> MetricProfile:
    """Draw the per-tweet constants; only the dataset builder calls this (with its seeded rng)."""
    base = min(600.0, rng.lognormvariate(3.4, 1.0)) * (0.3 if is_reply else 1.0)

    def r(lo: float, hi: float) -> float:
        return rng.uniform(lo, hi)

    retweets, replies, likes = r(0.001, 0.01), r(0.0005, 0.006), r(0.005, 0.04)
    follows, unfollows = r(0.0002, 0.002), r(0.0001, 0.0006)
    url_clicks = r(0.002, 0.012) if has_url else 0.0
    app_clicks = r(0.0, 0.001) if has_card else 0.0
    clicks = url_clicks + app_clicks + r(0.003, 0.02)
    card_engagements = r(0.001, 0.01) if has_card else 0.0
    engagements = retweets + replies + likes + follows + clicks + card_engagements + r(0.0, 0.02)
    engagement_ratios = {
        "engagements": engagements,
        "retweets": retweets,
        "replies": replies,
        "likes": likes,
        "follows": follows,
        "unfollows": unfollows,
        "clicks": clicks,
        "url_clicks": url_clicks,
        "app_clicks": app_clicks,
        "card_engagements": card_engagements,
        "qualified_impressions": r(0.45, _MAX_RATIO),
        "carousel_swipes": 0.0,
        "poll_card_vote": 0.0,
        "tweets_send": r(0.0, 0.002),
    }
    values = [engagement_ratios[name] for name in ENGAGEMENT_METRICS[1:]]
    if has_video:
        starts = r(0.2, 0.6)
        total = starts * r(0.6, 0.95)
        v25 = total * r(0.6, 0.9)
        v50, v75 = v25 * r(0.6, 0.9), v25 * r(0.3, 0.55)
        v100 = v75 * r(0.4, 0.8)
        video_ratios = {
            "video_total_views": total,
            "video_views_25": v25,
            "video_views_50": v50,
            "video_views_75": v75,
            "video_views_100": v100,
            "video_cta_clicks": r(0.0, 0.004),
            "video_content_starts": starts,
            "video_3s100pct_views": total * r(0.3, 0.7),
            "video_6s_views": total * r(0.4, 0.8),
            "video_15s_views": total * r(0.1, 0.3),
        }
        values += [video_ratios[name] for name in VIDEO_METRICS]
    ratios = tuple(int(min(v, _MAX_RATIO) * _FIX) for v in values)
    return MetricProfile(seed=rng.getrandbits(63), base_per_hour=base, ratios=ratios, has_video=has_video)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-mixed, platform-independent hash for per-day noise."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _active_probability(age: int) -> float:
    """Chance that a tweet of this age earns anything on a given day (old tweets are mostly quiet)."""
    if age < 7:
        return 1.0
    return max(0.12, 1.0 / (1.0 + (age - 7) / 45.0))


def daily_rates(tweet: Tweet, utc_day: int) -> tuple[int, ...] | None:
    """Hourly rate of every metric the tweet has, on UTC day ``utc_day`` (days since epoch); None = all zero.

    Order: impressions, then ALL_METRICS[1:] (video ones only if the tweet has video). Cached per tweet.
    """
    profile = tweet.profile
    assert profile is not None
    cache = profile.cache
    if utc_day in cache:
        return cache[utc_day]
    age = utc_day - tweet.created_hour // 24
    result: tuple[int, ...] | None = None
    if age >= 0:
        h = _mix64(profile.seed ^ ((utc_day * 0xD1B54A32D192ED03) & _MASK64))
        if ((h >> 48) & 0xFFFF) / 65536.0 < _active_probability(age):
            noise = 0.3 + 1.4 * ((h >> 16) & 0xFFFF) / 65536.0
            expected = profile.base_per_hour * noise * _DECAY[min(age, len(_DECAY) - 1)]
            impressions = int(expected + (h & 0xFFFF) / 65536.0)  # stochastic rounding
            if impressions > 0:
                scale = impressions * (32768 + ((h >> 32) & 0xFFFF))  # daily factor in [0.5, 1.5)
                result = (impressions, *[(scale * k) >> 32 for k in profile.ratios])
    cache[utc_day] = result
    return result


def bucket_sums(tweet: Tweet, h0: int, h1: int, now_hour: int) -> list[int] | None:
    """Sum of every metric of ``tweet`` over UTC hours [h0, h1), counting only complete hours before ``now_hour``.

    Returns None if the tweet has no metrics at all, else a list aligned with daily_rates' order.
    """
    profile = tweet.profile
    if profile is None:
        return None
    width = 1 + len(profile.ratios)
    lo, hi = max(h0, tweet.created_hour), min(h1, now_hour)
    acc = [0] * width
    if lo >= hi:
        return acc
    for day in range(lo // 24, (hi - 1) // 24 + 1):
        rates = daily_rates(tweet, day)
        if rates is None:
            continue
        n = min(hi, day * 24 + 24) - max(lo, day * 24)
        acc = [a + r * n for a, r in zip(acc, rates, strict=True)]
    return acc


def metrics_dict(tweet: Tweet, sums: list[int] | None, groups: tuple[str, ...]) -> dict[str, int | None]:
    """Name the values of one bucket for the requested metric groups (None where the tweet never has the metric)."""
    out: dict[str, int | None] = {}
    has_video = sums is not None and len(sums) > len(ENGAGEMENT_METRICS)
    for group in groups:
        for name in METRIC_GROUPS[group]:
            if sums is None or (group == "VIDEO" and not has_video):
                out[name] = None
            else:
                out[name] = sums[ALL_METRICS.index(name)]
    return out


def series(
    tweet: Tweet, h0: int, step_hours: int, buckets: int, now_hour: int, groups: tuple[str, ...]
) -> dict[str, list[int] | None]:
    """The ``metrics`` object of a stats response: per metric a list of ``buckets`` sums, or None."""
    names = [name for group in groups for name in METRIC_GROUPS[group]]
    per_bucket = [bucket_sums(tweet, h0 + i * step_hours, h0 + (i + 1) * step_hours, now_hour) for i in range(buckets)]
    if tweet.profile is None:
        return {name: None for name in names}
    has_video = tweet.profile.has_video
    out: dict[str, list[int] | None] = {}
    for name in names:
        if name in VIDEO_METRICS and not has_video:
            out[name] = None
        else:
            idx = ALL_METRICS.index(name)
            out[name] = [b[idx] for b in per_bucket]  # type: ignore[index]
    return out
