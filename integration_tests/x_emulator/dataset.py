"""Deterministic, seeded data model of what the emulated X Ads API knows about.

Everything is derived from ``random.Random(seed)`` and ``today`` only, so two builds with the same arguments are equal
and the ground truth (truth.py) can be computed from the same Dataset without HTTP.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .metrics import MetricProfile, make_profile

UTC = dt.timezone.utc
TWITTER_EPOCH_MS = 1288834974657  # snowflake epoch: ids sort like their creation time

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_WORDS = (
    "launch update product team today customers analytics growth weekend story new feature release thanks community "
    "event live webinar report insights data dashboard tips guide summer winter sale behind scenes"
).split()
_HASHTAGS = ("analytics", "launch", "data", "news", "tips", "live")
_JA = ("新製品", "お知らせ", "ありがとう", "今日", "イベント")
_DE = ("Neuigkeiten", "Danke", "heute", "Veranstaltung", "Größe")


@dataclass(frozen=True)
class User:
    id: int
    screen_name: str
    name: str


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    business_name: str
    business_id: str
    timezone: str
    timezone_switch_at: dt.datetime  # UTC; a local midnight (for most accounts: the day the account was created)
    created_at: dt.datetime
    updated_at: dt.datetime
    industry_type: str
    salt: str
    full_user: User  # the FULL promotable user whose organic tweets this account reports on
    retweets_only_user: User
    deleted: bool = False
    readable: bool = True  # can the authenticated user ("analyst") read it?

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass
class Tweet:
    id: int
    account_id: str
    user: User
    created_at: dt.datetime  # UTC, whole seconds
    full_text: str
    lang: str
    source: str
    tweet_type: str  # PUBLISHED | DRAFT
    nullcast: bool  # promoted-only tweet
    deleted: bool
    is_reply: bool
    in_reply_to: tuple[int, int, str] | None  # (status id, user id, screen name)
    hashtags: list[tuple[str, int, int]]
    mentions: list[tuple[User, int, int]]
    urls: list[tuple[str, int, int]]
    media_type: str | None  # "video" | "photo" | None
    card_uri: str | None
    name: str | None
    favorite_count: int
    retweet_count: int
    reply_count: int | None  # None = field absent from the object
    quote_count: int | None
    profile: MetricProfile | None  # None = this tweet never has any organic metric
    created_hour: int = field(init=False)  # UTC hour index (hours since epoch) of created_at

    def __post_init__(self) -> None:
        self.created_hour = int(self.created_at.timestamp()) // 3600

    @property
    def id_str(self) -> str:
        return str(self.id)

    @property
    def is_organic_published(self) -> bool:
        """What the organic tweets stream must emit: published, not promoted-only, not deleted (replies included)."""
        return self.tweet_type == "PUBLISHED" and not self.nullcast and not self.deleted


@dataclass(frozen=True)
class ScheduledTweet:
    id: int
    account_id: str
    user_id: int
    name: str | None
    text: str
    scheduled_at: dt.datetime
    completed_at: dt.datetime | None
    scheduled_status: str  # SCHEDULED | SUCCESS | FAILED | DELETED
    tweet_id: int | None
    nullcast: bool
    card_uri: str | None
    media_keys: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class Dataset:
    today: dt.date
    seed: int
    analyst: User
    accounts: list[Account]
    tweets: dict[str, list[Tweet]]  # account id -> tweets, newest first
    scheduled: dict[str, list[ScheduledTweet]]  # account id -> scheduled tweets, newest first
    deleted_account_id: str
    unreadable_account_id: str
    tweet_index: dict[int, Tweet] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._accounts = {a.id: a for a in self.accounts}
        self.tweet_index = {t.id: t for ts in self.tweets.values() for t in ts}

    def account(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def readable_accounts(self, with_deleted: bool = False) -> list[Account]:
        return [a for a in self.accounts if a.readable and (with_deleted or not a.deleted)]


def _b36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out or "0"


def _account_id(rng: random.Random) -> str:
    while True:  # 11 chars like "18ce54d4x5t"
        s = _b36(rng.getrandbits(57))
        if len(s) == 11:
            return s


class _Snowflakes:
    """Snowflake-like ids (> 2**60): ms since the X epoch << 22 | sequence, so ids order like timestamps."""

    def __init__(self) -> None:
        self._seq = 0

    def make(self, when: dt.datetime) -> int:
        self._seq = (self._seq + 1) % (1 << 22)
        ms = int(when.timestamp() * 1000) - TWITTER_EPOCH_MS
        return (ms << 22) | self._seq


def _text(rng: random.Random, lang: str, brand: User, others: list[User]) -> tuple[str, list, list, list]:
    """Tweet text plus entity spans (code-point indices, as X reports them)."""
    pool = _JA if lang == "ja" else _DE if lang == "de" else _WORDS
    sep = "" if lang == "ja" else " "
    text = sep.join(rng.choice(pool) for _ in range(rng.randint(4, 12)))
    if rng.random() < 0.2:
        text += " 🚀"
    hashtags, mentions, urls = [], [], []
    if rng.random() < 0.4:
        tag = rng.choice(_HASHTAGS)
        start = len(text) + 1
        text += f" #{tag}"
        hashtags.append((tag, start, start + len(tag) + 1))
    if others and rng.random() < 0.25:
        u = rng.choice(others)
        start = len(text) + 1
        text += f" @{u.screen_name}"
        mentions.append((u, start, start + len(u.screen_name) + 1))
    if rng.random() < 0.35:
        url = f"https://t.co/{_b36(rng.getrandbits(40))}"
        start = len(text) + 1
        text += f" {url}"
        urls.append((url, start, start + len(url)))
    return text, hashtags, mentions, urls


_ACCOUNT_SPECS = (
    # (name, time zone, role)
    ("West Coast Coffee", "America/Los_Angeles", "active"),
    ("Tokyo Gadgets", "Asia/Tokyo", "active"),
    ("Berlin Bikes", "Europe/Berlin", "active"),
    ("Global Weather", "UTC", "active"),
    ("NYC Books", "America/New_York", "switched"),
    ("Old Brand (deleted)", "Europe/London", "deleted"),
    ("Someone Else's Account", "America/Chicago", "unreadable"),
)
_LANG = {"Asia/Tokyo": "ja", "Europe/Berlin": "de"}
_SOURCES = (
    '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
    '<a href="https://ads.twitter.com" rel="nofollow">Twitter Ads Composer</a>',
    '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
)


def _local_midnight_utc(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def build_dataset(today: dt.date, seed: int = 7, tweets_per_account: int = 60, days: int = 400) -> Dataset:
    """Build the whole emulated world for a given ``today``.

    Per readable, non-deleted account: ``tweets_per_account`` organic PUBLISHED tweets (about 12 % replies, 8 % deleted,
    1 in 4 with video, 1 in 10 without any activity, at least two created today, the rest spread over ``days`` days
    with a bias to the last month), plus max(2, n // 10) promoted-only (nullcast) tweets, 3 DRAFT tweets and scheduled
    tweets in every status. The deleted and the unreadable account have no tweets (nothing can reach them).
    """
    rng = random.Random(seed)
    ids = _Snowflakes()
    analyst = User(id=rng.randrange(10**17, 10**18), screen_name="analyst", name="Ads Analyst")
    today_start = dt.datetime.combine(today, dt.time(0), tzinfo=UTC)
    outsiders = [User(rng.randrange(10**9, 10**10), f"friend_{i}", f"Friend {i}") for i in range(5)]

    accounts: list[Account] = []
    for name, tz, role in _ACCOUNT_SPECS:
        created = dt.datetime(2019, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        created = created.replace(microsecond=0)
        switch = _local_midnight_utc(created.astimezone(ZoneInfo(tz)).date(), tz)
        if role == "switched":  # changed time zone ~100 days ago (the emulator only reports it; metrics unaffected)
            switch = _local_midnight_utc(today - dt.timedelta(days=100), tz)
        handle = "".join(ch for ch in name.lower() if ch.isalnum())[:14]
        accounts.append(
            Account(
                id=_account_id(rng),
                name=name,
                business_name=f"{name} Inc.",
                business_id=f"{rng.randrange(10**17, 10**18)}",
                timezone=tz,
                timezone_switch_at=switch,
                created_at=created,
                updated_at=max(created, switch) + dt.timedelta(hours=rng.randrange(1, 500)),
                industry_type=rng.choice(("RETAIL", "TECHNOLOGY", "MEDIA", "TRAVEL")),
                salt=f"{rng.getrandbits(128):032x}",
                full_user=User(rng.randrange(10**17, 10**18), handle, name),
                retweets_only_user=User(rng.randrange(10**17, 10**18), f"{handle[:10]}_rt", f"{name} RT"),
                deleted=role == "deleted",
                readable=role != "unreadable",
            )
        )

    tweets: dict[str, list[Tweet]] = {}
    scheduled: dict[str, list[ScheduledTweet]] = {}
    for account in accounts:
        if account.deleted or not account.readable:
            tweets[account.id], scheduled[account.id] = [], []
            continue
        tweets[account.id] = _account_tweets(rng, ids, account, outsiders, today_start, tweets_per_account, days)
        scheduled[account.id] = _scheduled_tweets(rng, ids, account, tweets[account.id], today_start)

    return Dataset(
        today=today,
        seed=seed,
        analyst=analyst,
        accounts=accounts,
        tweets=tweets,
        scheduled=scheduled,
        deleted_account_id=next(a.id for a in accounts if a.deleted),
        unreadable_account_id=next(a.id for a in accounts if not a.readable),
    )


def _account_tweets(
    rng: random.Random,
    ids: _Snowflakes,
    account: Account,
    outsiders: list[User],
    today_start: dt.datetime,
    n: int,
    days: int,
) -> list[Tweet]:
    lang = _LANG.get(account.timezone, "en")
    # (kind, age in days): organic published first, then promoted-only and drafts
    plan: list[tuple[str, int]] = []
    for i in range(n):
        if i < 2:
            age = 0  # created today (early UTC hours, see below)
        elif rng.random() < 0.3:
            age = rng.randrange(0, min(30, days))
        else:
            age = rng.randrange(0, days)
        plan.append(("organic", age))
    plan += [("nullcast", rng.randrange(0, days)) for _ in range(max(2, n // 10))]
    plan += [("draft", rng.randrange(0, 60)) for _ in range(3)]

    stamped = []
    for kind, age in plan:
        # today's tweets fall in the first 4 UTC hours so that they exist early in the (real) day
        secs = rng.randrange(4 * 3600) if age == 0 else rng.randrange(86400)
        stamped.append((today_start - dt.timedelta(days=age) + dt.timedelta(seconds=secs), kind))
    stamped.sort(key=lambda x: x[0])

    out: list[Tweet] = []
    for created, kind in stamped:
        tweet_id = ids.make(created)
        organic = kind == "organic"
        is_reply = organic and bool(out) and rng.random() < 0.12
        deleted = organic and not is_reply and rng.random() < 0.08
        roll = rng.random()
        media = "video" if roll < 0.25 else "photo" if roll < 0.35 else None
        text, hashtags, mentions, urls = _text(rng, lang, account.full_user, outsiders)
        in_reply_to = None
        if is_reply:
            if rng.random() < 0.6:
                parent = rng.choice(out)
                in_reply_to = (parent.id, parent.user.id, parent.user.screen_name)
            else:
                other = rng.choice(outsiders)
                in_reply_to = (rng.randrange(1 << 60, 1 << 61), other.id, other.screen_name)
            text = f"@{in_reply_to[2]} {text}"
            shift = len(in_reply_to[2]) + 2
            hashtags = [(t, a + shift, b + shift) for t, a, b in hashtags]
            mentions = [(u, a + shift, b + shift) for u, a, b in mentions]
            urls = [(u, a + shift, b + shift) for u, a, b in urls]
        card = f"card://{rng.randrange(10**18, 10**19)}" if rng.random() < 0.1 else None
        alive = organic and not deleted and rng.random() >= 0.1  # ~1 in 10: no activity ever
        profile = (
            make_profile(rng, has_video=media == "video", has_url=bool(urls), has_card=bool(card), is_reply=is_reply)
            if alive
            else None
        )
        has_counts = rng.random() < 0.7
        out.append(
            Tweet(
                id=tweet_id,
                account_id=account.id,
                user=account.full_user,
                created_at=created,
                full_text=text,
                lang=lang,
                source=rng.choice(_SOURCES),
                tweet_type="DRAFT" if kind == "draft" else "PUBLISHED",
                nullcast=kind == "nullcast",
                deleted=deleted,
                is_reply=is_reply,
                in_reply_to=in_reply_to,
                hashtags=hashtags,
                mentions=mentions,
                urls=urls,
                media_type=media,
                card_uri=card,
                name=f"Ad creative {tweet_id % 1000}" if kind == "nullcast" else None,
                favorite_count=rng.randrange(0, 500),
                retweet_count=rng.randrange(0, 80),
                reply_count=rng.randrange(0, 40) if has_counts else None,
                quote_count=rng.randrange(0, 10) if has_counts else None,
                profile=profile,
            )
        )
    out.reverse()  # newest first, as the API returns them
    return out


def _scheduled_tweets(
    rng: random.Random, ids: _Snowflakes, account: Account, tweets: list[Tweet], today_start: dt.datetime
) -> list[ScheduledTweet]:
    """Scheduled tweets in every status: SUCCESS ones point at real published organic tweets."""
    published = [t for t in tweets if t.is_organic_published and not t.is_reply][:20]
    out: list[ScheduledTweet] = []
    statuses = ["SCHEDULED"] * 3 + ["SUCCESS"] * 3 + ["FAILED", "DELETED"]
    for i, status in enumerate(statuses):
        tweet_id = None
        completed = None
        if status == "SCHEDULED":
            when = today_start + dt.timedelta(days=1 + i, hours=rng.randrange(24))
        elif status == "SUCCESS" and published:
            target = published[min(i, len(published) - 1)]
            when, tweet_id = target.created_at, target.id
            completed = when + dt.timedelta(seconds=rng.randrange(1, 30))
        else:
            when = today_start - dt.timedelta(days=rng.randrange(2, 90), hours=rng.randrange(24))
        created = when - dt.timedelta(days=rng.randrange(1, 10), seconds=rng.randrange(86400))
        created = min(created, today_start - dt.timedelta(hours=1))  # nothing is created in the future
        updated = completed or min(created + dt.timedelta(hours=rng.randrange(1, 48)), today_start)
        out.append(
            ScheduledTweet(
                id=ids.make(created),
                account_id=account.id,
                user_id=account.full_user.id,
                name=f"Scheduled {i}" if rng.random() < 0.5 else None,
                text=f"Scheduled post {i} from {account.name}",
                scheduled_at=when,
                completed_at=completed,
                scheduled_status=status,
                tweet_id=tweet_id,
                nullcast=rng.random() < 0.3,
                card_uri=None,
                media_keys=(f"3_{rng.randrange(10**18, 10**19)}",) if rng.random() < 0.4 else (),
                created_at=created,
                updated_at=updated,
            )
        )
    out.sort(key=lambda s: s.id, reverse=True)
    return out
