"""The catalogue of `organic_report`'s metrics: each column, the Ads API metric group that returns it, and the X API
v2 post analytics field it is summed from. The Ads request's `metric_groups`, the record keys, the v2 request's
`analytics.fields` and their mapping, and the schema's metric properties all come from this one table (a unit test
checks the schema file against it): adding a metric is one line here and one property in the schema."""

from __future__ import annotations

from dataclasses import dataclass

# The Ads API placement organic metrics are read for; v2 records carry it too, so both sources give the same keys.
PLACEMENT = "ALL_ON_TWITTER"


def key_columns(cursor: str) -> tuple[str, ...]:
    """The keys every record has before its metrics, in this order; `cursor` names its bucket (`date` or `hour`)."""
    return ("account_id", "tweet_id", cursor, "placement")


KEY_COLUMNS = key_columns("date")


@dataclass(frozen=True)
class Metric:
    column: str
    ads_group: str | None = None  # the Ads API `metric_groups` value whose answer holds it; None: v2 only
    v2_field: str | None = None  # the `analytics.fields` value of X API v2 it is summed from; None: Ads API only
    note: str | None = None  # what a user must know about it, the schema's `description`


_V2_ONLY = "Only from the X API v2 source (metrics_source x_api_v2 or auto after a switch); null from the Ads API."

CATALOGUE: tuple[Metric, ...] = (
    Metric("impressions", "ENGAGEMENT", "impressions"),
    Metric("engagements", "ENGAGEMENT", "engagements"),
    Metric("retweets", "ENGAGEMENT", "retweets"),
    Metric("replies", "ENGAGEMENT", "replies"),
    Metric("likes", "ENGAGEMENT", "likes"),
    Metric("follows", "ENGAGEMENT", "follows"),
    Metric("unfollows", "ENGAGEMENT", "unfollows"),
    Metric("clicks", "ENGAGEMENT"),
    Metric("url_clicks", "ENGAGEMENT", "url_clicks"),
    Metric("app_clicks", "ENGAGEMENT"),
    Metric("card_engagements", "ENGAGEMENT"),
    Metric("qualified_impressions", "ENGAGEMENT"),
    Metric("carousel_swipes", "ENGAGEMENT"),
    Metric("poll_card_vote", "ENGAGEMENT"),
    Metric("tweets_send", "ENGAGEMENT"),
    Metric("video_total_views", "VIDEO"),
    Metric("video_views_25", "VIDEO"),
    Metric("video_views_50", "VIDEO"),
    Metric("video_views_75", "VIDEO"),
    Metric("video_views_100", "VIDEO"),
    Metric("video_cta_clicks", "VIDEO"),
    Metric("video_content_starts", "VIDEO"),
    Metric("video_3s100pct_views", "VIDEO"),
    Metric("video_6s_views", "VIDEO"),
    Metric("video_15s_views", "VIDEO"),
    Metric(
        "media_views",
        v2_field="media_views",
        note=f"{_V2_ONLY} Views of the tweet's media of every type (images and GIFs too), so not the video-only "
        "video_total_views.",
    ),
    Metric("bookmarks", v2_field="bookmarks", note=_V2_ONLY),
    Metric("quote_tweets", v2_field="quote_tweets", note=_V2_ONLY),
    Metric("user_profile_clicks", v2_field="user_profile_clicks", note=_V2_ONLY),
    Metric("detail_expands", v2_field="detail_expands", note=_V2_ONLY),
)

# The Ads API's columns, in the order its records carry them.
ADS_METRICS: tuple[str, ...] = tuple(m.column for m in CATALOGUE if m.ads_group)
# The groups that return them, each once, in the order of their first metric.
ADS_METRIC_GROUPS = ",".join(dict.fromkeys(m.ads_group for m in CATALOGUE if m.ads_group))
# v2 field → report column. Columns only the Ads API has stay null in v2 records, and the reverse.
V2_TO_COLUMN: dict[str, str] = {m.v2_field: m.column for m in CATALOGUE if m.v2_field}
V2_ANALYTICS_FIELDS = ",".join(V2_TO_COLUMN)
# The keys of an Ads API record, by the cursor naming its bucket (`organic_report`: date, the hourly report: hour).
ADS_RECORD_KEYS = {cursor: (*key_columns(cursor), *ADS_METRICS) for cursor in ("date", "hour")}


def schema_properties() -> dict[str, dict[str, object]]:
    """The metric properties of `organic_report`'s and `organic_report_hourly`'s schemas: every metric is a count X
    may leave null."""
    properties: dict[str, dict[str, object]] = {}
    for metric in CATALOGUE:
        properties[metric.column] = {"type": ["null", "integer"]}
        if metric.note:
            properties[metric.column]["description"] = metric.note
    return properties
