"""The `followers_history` stream: a daily snapshot of each account's X user and its public counts.

X keeps no history of follower counts, so the history is built one snapshot per sync: every sync emits one record per
(account, X user behind it) dated the sync's day in the account's time zone, and a second sync that day re-emits that
day's row with the newer counts (the destination's dedup on the primary key keeps the last). Nothing can be
backfilled. The state, `{"<account_id>": {"date": "YYYY-MM-DD"}}` like organic_report's, only records the day of each
account's last snapshot: no sync reads a range from it.

Which users: in `ads_api` mode each account's FULL promotable user (`GET /12/accounts/{id}/promotable_users`), in
`x_api_v2` mode the authenticated user (as its own account). Their counts come from X API v2's user lookup
(`GET /2/users?ids=…`, up to 100 users a request), asked once for every account of the sync before the first record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from datetime import date
from typing import Any

import requests
from airbyte_cdk.models import SyncMode

from ..account_plan import account_timezone
from ..errors import AccountDataError, ShapeError, expecting_x_shape, metric_value, required_id, response_json
from .base import AccountStream
from .v2_user import raise_for_v2_user_problem

COUNTS = ("followers_count", "following_count", "tweet_count", "listed_count", "like_count", "media_count")
LOOKUP_FIELDS = "public_metrics,username,name"
MAX_IDS_PER_LOOKUP = 100
# What the stream needs when the app has no X API v2 access; the Ads API streams need none.
NOT_ENROLLED = (
    "followers_history needs X API v2 access, which this X app lacks. In the X Developer Portal, attach the app to a "
    "Project with an X API v2 access tier that includes user lookup (GET /2/users: the Basic tier or above, or "
    "pay-per-use), then use that app's keys; or deselect followers_history. The other streams do not need it."
)


def sanitize_snapshot_state(state: Any, warn: Callable[[str], None]) -> dict[str, dict[str, str]]:
    """Keep each `{"<account_id>": {"date": "YYYY-MM-DD"}}` entry; a malformed one is dropped with a warning. Nothing
    is read from it, so nothing can be lost by dropping it: the next snapshot writes it again."""
    if not isinstance(state, Mapping):
        return {}
    clean: dict[str, dict[str, str]] = {}
    for account_id, entry in state.items():
        raw = entry.get("date") if isinstance(entry, Mapping) else None
        try:
            clean[str(account_id)] = {"date": date.fromisoformat(str(raw)).isoformat()}
        except ValueError:
            warn(f"Ignoring followers_history state {account_id!r}: {entry!r:.80} is not {{'date': 'YYYY-MM-DD'}}.")
    return clean


class FollowersHistory(AccountStream):
    primary_key = ["account_id", "user_id", "date"]
    cursor_field = "date"
    endpoint = "promotable_users"

    def __init__(self, context):
        super().__init__(context)
        self._state: dict[str, dict[str, str]] = {}
        self._users: dict[str, Mapping[str, Any]] = {}
        self._not_found: dict[str, str] = {}

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._state = sanitize_snapshot_state(value, self.logger.warning)

    # -- slices: one per account, planned for every account first so the users are looked up 100 at a time --------

    def stream_slices(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any] | None]:
        self._skipped = {}
        planned = [s for account in self.context.accounts.readable() for s in self.planned_slices(account)]
        self._look_up([user_id for s in planned for user_id in s["user_ids"]])
        yield from planned
        # After every slice was read: names the accounts skipped while planning and those skipped while reading.
        self._raise_for_skipped()

    def account_slices(self, account: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        account_id = account["id"]
        today = self.context.clock().astimezone(account_timezone(account)).date()
        user_ids = [account_id] if self.context.config.v2_mode else self._full_users(account_id)
        if not user_ids:
            self.logger.warning(f"followers_history: ads account {account_id} has no FULL promotable user to snapshot.")
            return
        yield {"account_id": account_id, "date": today.isoformat(), "user_ids": user_ids}

    def _full_users(self, account_id: str) -> list[str]:
        """The account's FULL promotable users: the X users whose organic tweets it reports on."""
        users = self.read_pages({"account_id": account_id})
        full = [user for user in users if user.get("promotable_user_type") == "FULL" and not user.get("deleted")]
        try:
            return [required_id(user, "user_id") for user in full]
        except ShapeError:
            raise AccountDataError(account_id, "FULL promotable user", full, "has no `user_id`") from None

    def _lookup_refusals(self, response: requests.Response) -> None:
        raise_for_v2_user_problem(response, self.context.config.auth_type, NOT_ENROLLED)

    def _look_up(self, user_ids: list[str]) -> None:
        """`GET /2/users` for every user of the sync, 100 a request; warns once when X leaves counts out."""
        self._users, self._not_found = {}, {}
        unique = list(dict.fromkeys(user_ids))
        url = f"{self.context.config.x_api_base_url}/2/users"
        for start in range(0, len(unique), MAX_IDS_PER_LOOKUP):
            batch = unique[start : start + MAX_IDS_PER_LOOKUP]
            params = {"ids": ",".join(batch), "user.fields": LOOKUP_FIELDS}
            response = self.send_gated("GET", url, params, self._lookup_refusals)
            with expecting_x_shape("GET /2/users"):
                self._read_lookup(response_json(response))
        self._warn_for_absent_counts()

    def _read_lookup(self, body: Mapping[str, Any]) -> None:
        for item in body.get("data") or []:
            self._users[required_id(item, "id")] = item
        for error in body.get("errors") or []:
            if error.get("value"):
                self._not_found[str(error["value"])] = str(error.get("detail") or error.get("title") or error)

    def _warn_for_absent_counts(self) -> None:
        metrics = [user.get("public_metrics") or {} for user in self._users.values()]
        absent = [name for name in COUNTS if any(name not in counts for counts in metrics)]
        if absent:
            self.logger.warning(
                f"X API v2 left {', '.join(absent)} out of the users' public_metrics: followers_history has them null "
                "in this sync. X was reported to remove follower counts from self-serve access tiers in April 2026; "
                "an access tier that includes them fills them again."
            )

    # -- records -------------------------------------------------------------------------------------------------

    def read_account(self, stream_slice: Mapping[str, Any], stream_state: Mapping[str, Any]) -> Iterable[Any]:
        account_id = stream_slice["account_id"]
        for user_id in stream_slice["user_ids"]:
            yield self._snapshot(account_id, user_id, stream_slice["date"])
        self._state[account_id] = {"date": stream_slice["date"]}

    def _snapshot(self, account_id: str, user_id: str, day: str) -> Mapping[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            why = self._not_found.get(user_id, "X API v2's user lookup did not return it")
            raise AccountDataError(account_id, "FULL promotable user", user_id, f"X API v2 cannot look up ({why})")
        with expecting_x_shape(f"the X API v2 user {user_id}"):
            counts = user.get("public_metrics") or {}
            if not isinstance(counts, Mapping):
                raise ShapeError("`public_metrics` is not an object")
            return {
                "account_id": account_id,
                "user_id": user_id,
                "date": day,
                "username": user.get("username"),
                "name": user.get("name"),
                **{name: metric_value(counts.get(name)) for name in COUNTS},
            }
