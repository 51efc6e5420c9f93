"""X API v2 user lookup (``GET /2/users?ids=…``) with ``public_metrics``, and the truth of the ``followers_history``
stream.

Every user of the dataset (each account's FULL and RETWEETS_ONLY promotable users, the analyst) can be looked up. Their
``public_metrics`` are stable: derived from the user id, so two syncs see the same counts unless a test moves them with
``EmulatorServer.v2_followers_growth`` (added to ``followers_count``). ``EmulatorServer.v2_public_metrics_omitted``
names counts X leaves out of ``public_metrics`` (as reported for self-serve tiers since April 2026).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .v2 import invalid_request, not_found_error
from .v2_users import USER_FIELDS, _fields, forbidden_body, user_v2

if TYPE_CHECKING:
    from .dataset import Account, Dataset, User

MAX_IDS = 100
COUNTS = ("followers_count", "following_count", "tweet_count", "listed_count", "like_count", "media_count")
# Each count's base and spread: a brand has many more followers than it follows.
_COUNT_RANGES = {
    "followers_count": (1_000, 500_000),
    "following_count": (10, 2_000),
    "tweet_count": (100, 20_000),
    "listed_count": (0, 900),
    "like_count": (0, 30_000),
    "media_count": (0, 3_000),
}


def public_metrics(user_id: int, growth: int = 0, omitted: Iterable[str] = ()) -> dict[str, int]:
    """The user's counts: stable per user id, ``growth`` more followers, without the ``omitted`` ones."""
    digest = hashlib.sha256(str(user_id).encode()).digest()
    counts = {}
    for index, name in enumerate(COUNTS):
        low, spread = _COUNT_RANGES[name]
        counts[name] = low + int.from_bytes(digest[4 * index : 4 * index + 4], "big") % spread
    counts["followers_count"] += growth
    skipped = set(omitted)
    return {name: value for name, value in counts.items() if name not in skipped}


def _users_by_id(ds: Dataset) -> dict[str, tuple[User, Account | None]]:
    """Every user the dataset knows, with the account whose promotable user it is (None for the analyst)."""
    users: dict[str, tuple[User, Account | None]] = {str(ds.analyst.id): (ds.analyst, None)}
    for account in ds.accounts:
        for user in (account.full_user, account.retweets_only_user):
            users[str(user.id)] = (user, account)
    return users


def _user_object(user: User, account: Account | None, fields: tuple[str, ...], metrics: dict[str, int]) -> dict:
    base: dict[str, Any] = {"id": str(user.id), "name": user.name, "username": user.screen_name}
    if account is not None and user == account.full_user:
        base = user_v2(account)
    base["public_metrics"] = metrics
    return {name: base[name] for name in fields if name in base}


def users_lookup(ds: Dataset, params: dict[str, str], growth: int, omitted: Iterable[str]) -> tuple[int, dict]:
    """``GET /2/users``: 1–100 numeric ids; unknown ids come back as per-item errors beside ``data``."""
    ids = [i.strip() for i in params.get("ids", "").split(",") if i.strip()]
    if not 1 <= len(ids) <= MAX_IDS or not all(i.isdigit() for i in ids):
        raise invalid_request("ids", params.get("ids", ""), f"The `ids` query parameter must hold 1 to {MAX_IDS} ids")
    fields = _fields(params, "user.fields", USER_FIELDS, ("id", "name", "username"))
    known = _users_by_id(ds)
    data, errors = [], []
    for user_id in ids:
        if user_id not in known:
            errors.append(not_found_error(user_id, "user"))
            continue
        user, account = known[user_id]
        data.append(_user_object(user, account, fields, public_metrics(user.id, growth, omitted)))
    body: dict[str, Any] = {"data": data} if data else {}
    if errors:
        body["errors"] = errors
    return 200, body


def answer(emu: Any, req: Any) -> tuple[int, dict[str, Any]]:
    """The server's entry point for ``GET /2/users`` (route ``v2_lookup``)."""
    if emu.v2_users_forbidden:
        return 403, forbidden_body()
    return users_lookup(emu.ds, req.params, emu.v2_followers_growth, emu.v2_public_metrics_omitted)


# ----------------------------------------------------------------------------- truth
def snapshot(account_id: str, user: User, day: dt.date, growth: int = 0, omitted: Iterable[str] = ()) -> dict[str, Any]:
    """One ``followers_history`` record; an omitted count is null (absent from the emitted JSON)."""
    counts = public_metrics(user.id, growth, omitted)
    return {
        "account_id": account_id,
        "user_id": str(user.id),
        "date": day.isoformat(),
        "username": user.screen_name,
        "name": user.name,
        **{name: counts.get(name) for name in COUNTS},
    }


def truth_followers_history(
    accounts: Iterable[Account], now: dt.datetime, growth: int = 0, omitted: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """``ads_api`` mode: one record per account (its FULL promotable user), dated ``now``'s day in its time zone."""
    return [snapshot(a.id, a.full_user, now.astimezone(ZoneInfo(a.timezone)).date(), growth, omitted) for a in accounts]


def truth_followers_history_v2(
    me: Account, timezone: str, now: dt.datetime, growth: int = 0, omitted: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """``x_api_v2`` mode: the authenticated user, as its own account, dated ``now``'s day in the configured zone."""
    user = me.full_user
    return [snapshot(str(user.id), user, now.astimezone(ZoneInfo(timezone)).date(), growth, omitted)]
