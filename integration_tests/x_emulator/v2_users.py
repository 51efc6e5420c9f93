"""X API v2 users and their posts: ``GET /2/users/me`` and ``GET /2/users/{id}/tweets``, plus the truth of the
connector's ``api: x_api_v2`` mode.

Who is "me": X API v2 acts as the user who authorized the app. The emulator's credentials act as that user, and in
v2 mode that user is the FULL promotable user (the brand) of the account ``EmulatorServer.v2_me_account_id`` (by
default the first account, "West Coast Coffee", America/Los_Angeles): the ``analyst`` user of the Ads API has no posts.
Their posts are the account's organic published, non-deleted ones, replies included (promoted-only posts and drafts
are not on a timeline), newest first; only the ``v2_timeline_cap`` (3,200 as on X) most recent are reachable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .objects import iso
from .timerules import hour_index, now_hour
from .v2 import V2_FIELDS, V2_TO_ADS, invalid_request, v2_bucket_sums, v2_timestamp

if TYPE_CHECKING:
    from .dataset import Account, Dataset, Tweet

UTC = dt.timezone.utc
TIMELINE_CAP = 3200
PRIVATE_METRICS_DAYS = 30  # organic_metrics / non_public_metrics: posts of the last 30 days only
TIMELINE_PARAMS = (
    "max_results",
    "pagination_token",
    "tweet.fields",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "exclude",
    "expansions",
    "user.fields",
)
USER_FIELDS = (
    "id",
    "name",
    "username",
    "created_at",
    "description",
    "location",
    "verified",
    "protected",
    "public_metrics",
)
TWEET_FIELDS = (
    "id",
    "text",
    "edit_history_tweet_ids",
    "created_at",
    "lang",
    "source",
    "public_metrics",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "organic_metrics",
    "non_public_metrics",
    "author_id",
)
_DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
_SOURCE_NAME = re.compile(r">([^<]*)<")


def forbidden_body() -> dict[str, Any]:
    """What X answers a user-context token that lacks a scope the endpoint needs (e.g. ``users.read``)."""
    return {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Forbidden"}


# ----------------------------------------------------------------------------- objects
def user_v2(account: Account) -> dict[str, Any]:
    """The brand user of ``account`` with every field of USER_FIELDS X has for it (``location`` absent in UTC) but
    ``public_metrics``, which depend on the server's hooks (v2_lookup.py)."""
    user = account.full_user
    obj: dict[str, Any] = {
        "id": str(user.id),
        "name": user.name,
        "username": user.screen_name,
        "created_at": v2_timestamp(account.created_at),
        "description": f"Official account of {account.name}.",
        "verified": False,
        "protected": False,
    }
    if "/" in account.timezone:
        obj["location"] = account.timezone.rsplit("/", 1)[1].replace("_", " ")
    return obj


def timeline(ds: Dataset, account: Account) -> list[Tweet]:
    return [t for t in ds.tweets[account.id] if t.is_organic_published]


def _conversation_id(ds: Dataset, tweet: Tweet) -> str:
    """The root of the reply chain, as far as the dataset knows it."""
    current = tweet
    while current.in_reply_to is not None:
        parent = ds.tweet_index.get(current.in_reply_to[0])
        if parent is None:
            return str(current.in_reply_to[0])
        current = parent
    return current.id_str


def _private_metrics(tweet: Tweet, now: dt.datetime) -> dict[str, int]:
    sums = v2_bucket_sums(tweet, tweet.created_hour, now_hour(now), now_hour(now))
    return {
        "impression_count": sums["impressions"],
        "url_link_clicks": sums["url_clicks"],
        "user_profile_clicks": sums["user_profile_clicks"],
    }


def tweet_v2(ds: Dataset, tweet: Tweet, fields: tuple[str, ...], now: dt.datetime) -> dict[str, Any]:
    """A post with the asked fields; the private metrics only on posts of the last 30 days."""
    reply = tweet.in_reply_to
    recent = now - tweet.created_at <= dt.timedelta(days=PRIVATE_METRICS_DAYS)
    values: dict[str, Callable[[], Any]] = {
        "id": lambda: tweet.id_str,
        "text": lambda: tweet.full_text,
        "edit_history_tweet_ids": lambda: [tweet.id_str],
        "created_at": lambda: v2_timestamp(tweet.created_at),
        "lang": lambda: tweet.lang,
        "source": lambda: _SOURCE_NAME.search(tweet.source).group(1),  # type: ignore[union-attr]
        "author_id": lambda: str(tweet.user.id),
        "public_metrics": lambda: {
            "retweet_count": tweet.retweet_count,
            "reply_count": tweet.reply_count or 0,
            "like_count": tweet.favorite_count,
            "quote_count": tweet.quote_count or 0,
        },
        "conversation_id": lambda: _conversation_id(ds, tweet),
        "in_reply_to_user_id": lambda: None if reply is None else str(reply[1]),
        "referenced_tweets": lambda: None if reply is None else [{"type": "replied_to", "id": str(reply[0])}],
        "organic_metrics": lambda: (
            None
            if not recent
            else {
                **_private_metrics(tweet, now),
                "like_count": tweet.favorite_count,
                "reply_count": tweet.reply_count or 0,
                "retweet_count": tweet.retweet_count,
            }
        ),
        "non_public_metrics": lambda: _private_metrics(tweet, now) if recent else None,
    }
    obj = {}
    for name in fields:
        value = values[name]()
        if value is not None:  # X omits what a post does not have
            obj[name] = value
    return obj


# ----------------------------------------------------------------------------- endpoints
def _fields(params: dict[str, str], name: str, allowed: tuple[str, ...], default: tuple[str, ...]) -> tuple[str, ...]:
    asked = [f.strip() for f in params.get(name, "").split(",") if f.strip()]
    unknown = next((f for f in asked if f not in allowed), None)
    if unknown is not None:
        raise invalid_request(
            name, unknown, f"The `{name}` query parameter value [{unknown}] is not one of [{','.join(allowed)}]"
        )
    return tuple(dict.fromkeys([*default, *asked]))


def users_me(
    ds: Dataset, me: Account, params: dict[str, str], public_metrics: dict[str, int]
) -> tuple[int, dict[str, Any]]:
    fields = _fields(params, "user.fields", USER_FIELDS, ("id", "name", "username"))
    user = {**user_v2(me), "public_metrics": public_metrics}
    return 200, {"data": {name: user[name] for name in fields if name in user}}


def _token_tag(user_id: str, offset: int) -> str:
    return hashlib.sha1(f"{user_id}|{offset}".encode()).hexdigest()[:8]


def _offset(token: str | None, user_id: str) -> int:
    if not token:
        return 0
    try:
        offset = int(token[:-8], 36)
    except ValueError:
        offset = -1
    if offset < 0 or _token_tag(user_id, offset) != token[-8:]:
        raise invalid_request(
            "pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid"
        )
    return offset


def _int_param(params: dict[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = params.get(name)
    try:
        value = default if raw in (None, "") else int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise invalid_request(
            name, str(raw), f"The `{name}` query parameter value [{raw}] is not between {low} and {high}"
        )
    return value


def user_tweets(
    ds: Dataset, accounts: list[Account], user_id: str, params: dict[str, str], now: dt.datetime, cap: int
) -> tuple[int, dict[str, Any]]:
    """A page of the user's posts, newest first, of the ``cap`` most recent (800 with ``exclude=replies``)."""
    for name, value in params.items():
        if name not in TIMELINE_PARAMS:
            raise invalid_request(
                name, value, f"The query parameter [{name}] is not one of [{','.join(TIMELINE_PARAMS)}]"
            )
    account = next((a for a in accounts if str(a.full_user.id) == user_id), None)
    if account is None:
        detail = f"Could not find user with id: [{user_id}]."
        return 200, {"errors": [{"value": user_id, "detail": detail, "title": "Not Found Error", "parameter": "id"}]}
    size = _int_param(params, "max_results", 5, 100, 10)
    fields = _fields(params, "tweet.fields", TWEET_FIELDS, _DEFAULT_TWEET_FIELDS)
    excluded = {e.strip() for e in params.get("exclude", "").split(",") if e.strip()}
    posts = [t for t in timeline(ds, account) if not ("replies" in excluded and t.is_reply)]
    posts = posts[: 800 if "replies" in excluded else cap]
    posts = [t for t in posts if _in_range(t, params)]
    offset = _offset(params.get("pagination_token"), user_id)
    page = posts[offset : offset + size]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta.update(newest_id=page[0].id_str, oldest_id=page[-1].id_str)
    end = offset + len(page)
    if end < len(posts):
        meta["next_token"] = _b36(end) + _token_tag(user_id, end)
    body: dict[str, Any] = {"meta": meta}
    if page:
        body["data"] = [tweet_v2(ds, t, fields, now) for t in page]
    return 200, body


def _in_range(tweet: Tweet, params: dict[str, str]) -> bool:
    def when(name: str) -> dt.datetime | None:
        raw = params.get(name)
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None

    start, end = when("start_time"), when("end_time")
    since, until = params.get("since_id"), params.get("until_id")
    return (
        (start is None or tweet.created_at >= start)
        and (end is None or tweet.created_at < end)
        and (not since or tweet.id > int(since))
        and (not until or tweet.id < int(until))
    )


def _b36(n: int) -> str:
    digits = ""
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return digits or "0"


# ----------------------------------------------------------------------------- truth of x_api_v2 mode
def truth_accounts(me: Account, timezone: str) -> list[dict[str, Any]]:
    """The one `accounts` record: the user's v2 fields and the configured zone (Ads fields null)."""
    user = user_v2(me)
    return [{**user, "created_at": iso(me.created_at), "timezone": timezone}]


def truth_tweets(ds: Dataset, me: Account, cap: int = TIMELINE_CAP) -> list[dict[str, Any]]:
    """The `tweets` records: v2's fields in the stream's columns; the ones v2 does not give are absent (null)."""
    out = []
    for tweet in timeline(ds, me)[:cap]:
        obj = tweet_v2(ds, tweet, ("source", "public_metrics", "conversation_id"), ds_now(ds))
        counts = obj["public_metrics"]
        reply = tweet.in_reply_to
        record = {
            "id": tweet.id_str,
            "tweet_id": tweet.id_str,
            "id_str": tweet.id_str,
            "account_id": str(me.full_user.id),
            "full_text": tweet.full_text,
            "created_at": iso(tweet.created_at),
            "lang": tweet.lang,
            "source": obj["source"],
            "favorite_count": counts["like_count"],
            "retweet_count": counts["retweet_count"],
            "reply_count": counts["reply_count"],
            "quote_count": counts["quote_count"],
            "conversation_id": obj["conversation_id"],
            "user": {"id": str(me.full_user.id), "id_str": str(me.full_user.id)},
        }
        if reply is not None:
            record.update(in_reply_to_status_id_str=str(reply[0]), in_reply_to_user_id_str=str(reply[1]))
        out.append(record)
    return out


def ds_now(ds: Dataset) -> dt.datetime:
    """A fixed instant for the fields that do not depend on the clock (none of truth_tweets' do)."""
    return dt.datetime.combine(ds.today, dt.time(0), tzinfo=UTC)


def _report_columns(values: dict[str, int]) -> dict[str, int]:
    """v2 fields under the report's column names (v2's own fields, media_views included, keep theirs)."""
    columns = {**V2_TO_ADS, "media_views": "media_views"}
    return {columns.get(name, name): value for name, value in values.items() if name in V2_FIELDS}


def truth_organic_report(
    ds: Dataset, me: Account, start: dt.date, end: dt.date, timezone: str, now: dt.datetime, cap: int = TIMELINE_CAP
) -> dict[tuple[str, str, str], dict[str, int]]:
    """Rows keyed (user id, post id, 'YYYY-MM-DD'): the hourly buckets whose start falls on that calendar day of
    ``timezone`` (23 or 25 of them on a DST change), summed; only rows with a non-zero metric."""
    zone, limit, user_id = ZoneInfo(timezone), now_hour(now), str(me.full_user.id)
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    day = start
    while day <= end:
        h0 = hour_index(dt.datetime.combine(day, dt.time(0), tzinfo=zone))
        h1 = hour_index(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone))
        for tweet in timeline(ds, me)[:cap]:
            if tweet.profile is None or tweet.created_hour >= h1:
                continue
            values = v2_bucket_sums(tweet, h0, h1, limit)
            if any(values.values()):
                out[(user_id, tweet.id_str, day.isoformat())] = _report_columns(values)
        day += dt.timedelta(days=1)
    return out


def truth_organic_report_hourly(
    ds: Dataset, me: Account, start: dt.date, end: dt.date, timezone: str, now: dt.datetime, cap: int = TIMELINE_CAP
) -> dict[tuple[str, str, str], dict[str, int]]:
    """Rows keyed (user id, post id, 'YYYY-MM-DDTHH:00:00Z'): each complete hourly bucket from local midnight of
    ``start`` to the end of ``end`` in ``timezone`` with a non-zero metric (the hours ``truth_organic_report`` sums)."""
    zone, limit, user_id = ZoneInfo(timezone), now_hour(now), str(me.full_user.id)
    h0 = hour_index(dt.datetime.combine(start, dt.time(0), tzinfo=zone))
    h1 = min(hour_index(dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)), limit)
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for tweet in timeline(ds, me)[:cap]:
        if tweet.profile is None:
            continue
        for hour in range(max(h0, tweet.created_hour), h1):
            values = v2_bucket_sums(tweet, hour, hour + 1, limit)
            if any(values.values()):
                stamp = dt.datetime.fromtimestamp(hour * 3600, dt.timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")
                out[(user_id, tweet.id_str, stamp)] = _report_columns(values)
    return out


def answer(emu: Any, name: str, req: Any, groups: dict[str, str], now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """The server's entry point for the two endpoints (``_ROUTES`` names ``v2_users_me`` and ``v2_user_tweets``)."""
    if emu.v2_users_forbidden:
        return 403, forbidden_body()
    me = emu.ds.account(emu.v2_me_account_id)
    if name == "v2_users_me":
        return users_me(emu.ds, me, req.params, emu.v2_public_metrics())
    accounts = emu.ds.readable_accounts()
    return user_tweets(emu.ds, accounts, groups["user"], req.params, now, emu.v2_timeline_cap)
