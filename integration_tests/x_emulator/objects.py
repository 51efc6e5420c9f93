"""API object shapes (JSON-ready dicts), shared by the server and the ground truth so both agree byte for byte."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .dataset import Account, ScheduledTweet, Tweet, User

UTC = dt.timezone.utc


def iso(ts: dt.datetime | None) -> str | None:
    """Ads API datetime format: UTC, whole seconds, 'Z'."""
    return None if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v11_date(ts: dt.datetime) -> str:
    """The tweet object's legacy v1.1 format, e.g. 'Tue Aug 27 22:22:12 +0000 2019' (English names, locale-free)."""
    ts = ts.astimezone(UTC)
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[ts.weekday()]
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[ts.month - 1]
    return f"{day} {month} {ts.day:02d} {ts:%H:%M:%S} +0000 {ts.year}"


def account_obj(account: Account, single: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": account.id,
        "name": account.name,
        "business_name": account.business_name,
        "business_id": account.business_id,
        "timezone": account.timezone,
        "timezone_switch_at": iso(account.timezone_switch_at),
        "created_at": iso(account.created_at),
        "updated_at": iso(account.updated_at),
        "approval_status": "ACCEPTED",
        "deleted": account.deleted,
        "industry_type": account.industry_type,
    }
    if single:  # X returns the salt only on single-object responses
        obj["salt"] = account.salt
    return obj


def user_obj(user: User, trim: bool) -> dict[str, Any]:
    if trim:
        return {"id": user.id, "id_str": str(user.id)}
    return {
        "id": user.id,
        "id_str": str(user.id),
        "name": user.name,
        "screen_name": user.screen_name,
        "protected": False,
        "verified": False,
    }


def tweet_obj(tweet: Tweet, trim_user: bool = False) -> dict[str, Any]:
    """A v1.1 status plus the Ads fields. ``id`` is a JSON integer > 2**53 (clients must key on id_str)."""
    entities = {
        "hashtags": [{"text": tag, "indices": [a, b]} for tag, a, b in tweet.hashtags],
        "symbols": [],
        "user_mentions": [
            {"screen_name": u.screen_name, "name": u.name, "id": u.id, "id_str": str(u.id), "indices": [a, b]}
            for u, a, b in tweet.mentions
        ],
        "urls": [
            {"url": url, "expanded_url": f"https://example.com/{url[-6:]}", "display_url": f"example.com/{url[-6:]}",
             "indices": [a, b]}
            for url, a, b in tweet.urls
        ],
    }  # fmt: skip
    obj: dict[str, Any] = {
        "coordinates": None,
        "retweeted": False,
        "source": tweet.source,
        "entities": entities,
        "display_text_range": [0, len(tweet.full_text)],
        "favorite_count": tweet.favorite_count,
        "in_reply_to_status_id_str": None,
        "geo": None,
        "id_str": tweet.id_str,
        "scopes": {"followers": not tweet.nullcast},
        "in_reply_to_user_id": None,
        "truncated": False,
        "retweet_count": tweet.retweet_count,
        "scheduled_at": None,
        "id": tweet.id,
        "conversation_settings": "EVERYONE",
        "in_reply_to_status_id": None,
        "nullcast": tweet.nullcast,
        "created_at": v11_date(tweet.created_at),
        "place": None,
        "card_uri": tweet.card_uri,
        "favorited": False,
        "full_text": tweet.full_text,
        "lang": tweet.lang,
        "contributors": None,
        "in_reply_to_screen_name": None,
        "in_reply_to_user_id_str": None,
        "user": user_obj(tweet.user, trim_user),
        "tweet_id": tweet.id_str,
        "tweet_type": tweet.tweet_type,
        "name": tweet.name,
        "is_quote_status": False,
    }
    if tweet.reply_count is not None:  # absent on some tweets, as on X
        obj["reply_count"] = tweet.reply_count
    if tweet.quote_count is not None:
        obj["quote_count"] = tweet.quote_count
    if tweet.in_reply_to is not None:
        status_id, user_id, screen_name = tweet.in_reply_to
        obj.update(
            in_reply_to_status_id=status_id,
            in_reply_to_status_id_str=str(status_id),
            in_reply_to_user_id=user_id,
            in_reply_to_user_id_str=str(user_id),
            in_reply_to_screen_name=screen_name,
        )
    if tweet.media_type is not None:
        media_id = tweet.id + 1
        media: dict[str, Any] = {
            "id": media_id,
            "id_str": str(media_id),
            "media_key": f"{'13' if tweet.media_type == 'video' else '3'}_{media_id}",
            "type": tweet.media_type,
            "media_url_https": f"https://pbs.twimg.com/media/{media_id}.jpg",
            "url": "https://t.co/media",
            "display_url": "pic.x.com/media",
            "expanded_url": f"https://x.com/{tweet.user.screen_name}/status/{tweet.id_str}/{tweet.media_type}/1",
            "indices": [len(tweet.full_text), len(tweet.full_text)],
        }
        if tweet.media_type == "video":
            media["video_info"] = {
                "aspect_ratio": [16, 9],
                "duration_millis": 10000 + tweet.id % 50000,
                "variants": [
                    {"bitrate": 832000, "content_type": "video/mp4", "url": f"https://video.twimg.com/{media_id}.mp4"}
                ],
            }
        obj["extended_entities"] = {"media": [media]}
    return obj


def scheduled_tweet_obj(s: ScheduledTweet) -> dict[str, Any]:
    return {
        "name": s.name,
        "completed_at": iso(s.completed_at),
        "text": s.text,
        "user_id": str(s.user_id),
        "scheduled_status": s.scheduled_status,
        "id": s.id,
        "id_str": str(s.id),
        "nullcast": s.nullcast,
        "created_at": iso(s.created_at),
        "scheduled_at": iso(s.scheduled_at),
        "card_uri": s.card_uri,
        "updated_at": iso(s.updated_at),
        "tweet_id": None if s.tweet_id is None else str(s.tweet_id),
        "media_keys": list(s.media_keys),
    }


def promotable_user_objs(account: Account) -> list[dict[str, Any]]:
    out = []
    for i, (user, kind) in enumerate(((account.full_user, "FULL"), (account.retweets_only_user, "RETWEETS_ONLY"))):
        out.append(
            {
                "id": f"{account.id[:4]}{i}",
                "account_id": account.id,
                "user_id": str(user.id),
                "promotable_user_type": kind,
                "created_at": iso(account.created_at),
                "updated_at": iso(account.updated_at),
                "deleted": False,
            }
        )
    return out
