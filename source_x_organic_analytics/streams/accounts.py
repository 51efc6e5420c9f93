"""The `accounts` stream and the directory of readable accounts that the per-account streams iterate over."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from ..config import config_error, short_list
from ..context import Connection, ReadOnce, ReadsAhead, SyncContext
from ..errors import AccountAccessError, ShapeError, expecting_x_shape, required_id
from .base import XAdsStream


class AccountReads(XAdsStream):
    """`GET /12/accounts` and `GET /12/accounts/{id}`: what the account directory reads."""

    name = "accounts"

    def path(self, **kwargs: Any) -> str:
        return "accounts"

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**item, "id": required_id(item, "id")}

    def read_one(self, account_id: str) -> Mapping[str, Any]:
        """`GET /12/accounts/{id}`: one account, on that account's rate-limit budget. Listing all accounts draws on
        the user's, which X documents as 5 requests per 15 minutes: a check, a discover and a read started together
        would spend most of it."""
        body = self.call("GET", f"accounts/{account_id}", {})
        with expecting_x_shape(f"accounts/{account_id}"):
            data = body["data"]
            if not isinstance(data, Mapping):
                raise ShapeError("`data` is not an object")
            # X adds `salt` (a hashing key for audience uploads) only to single-object answers: without it an
            # account's record is the same whether it was read by id or listed.
            return self.transform({k: v for k, v in data.items() if k != "salt"}, {})


class Accounts(AccountReads):
    """The `accounts` stream: every ads account the credentials can read, or the configured ones, as the directory
    read them."""

    context: SyncContext

    def read_records(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        directory = self.context.accounts
        yield from directory.listed()
        directory.raise_for_missing()


class AccountDirectory:
    """The accounts of this sync, read once and shared by every stream: each configured account by its id, or, with
    none configured, one listing of every account the credentials can read."""

    def __init__(
        self, connection: Connection, configured_ids: tuple[str, ...], streams_to_come: list[ReadsAhead] | None = None
    ):
        self._configured_ids = configured_ids
        # The sync's streams to come (SyncContext.streams_to_come): they start on the first account while the others
        # are read.
        self._streams_to_come = streams_to_come if streams_to_come is not None else []
        self._accounts = AccountReads(connection)
        self._pool = connection.pool
        self._listing = ReadOnce(lambda: self._read_configured() if self._configured_ids else self._list_all())

    def listed(self) -> list[Mapping[str, Any]]:
        return self._listing.get()

    def _list_all(self) -> list[Mapping[str, Any]]:
        return list(self._accounts.read_pages({}))

    def _read_configured(self) -> list[Mapping[str, Any]]:
        # The first read alone: when the credentials are wrong, one request says so instead of one per account.
        first, *others = self._configured_ids
        found = [self._read_if_allowed(first)]
        reading = [self._pool.submit(self._read_if_allowed, account_id) for account_id in others]
        for stream in self._streams_to_come if found[0] is not None else []:
            stream.read_ahead_accounts(found[:1])
        found += [read.result() for read in reading]
        return [account for account in found if account is not None]

    def _read_if_allowed(self, account_id: str) -> Mapping[str, Any] | None:
        """The account, or None when X refuses these credentials access to it (`missing()` then names it)."""
        try:
            return self._accounts.read_one(account_id)
        except AccountAccessError as error:
            self._accounts.logger.warning(f"Ads account {account_id} in `account_ids` cannot be read: {error.message}")
            return None

    def readable(self) -> list[Mapping[str, Any]]:
        return [a for a in self.listed() if not a.get("deleted")]

    def get(self, account_id: str) -> Mapping[str, Any]:
        return next(a for a in self.listed() if a["id"] == account_id)

    def missing(self) -> list[str]:
        readable = {a["id"] for a in self.readable()}
        return [a for a in self._configured_ids if a not in readable]

    def raise_for_missing(self) -> None:
        missing = self.missing()
        if missing:
            raise config_error(
                f"These credentials cannot read the ads account(s) {short_list(missing)} in `account_ids`. "
                f"{self._readable_elsewhere()} Fix the id, or ask an admin of the account to give your X user at least "
                "the Analyst role."
            )

    def _readable_elsewhere(self) -> str:
        """Which accounts the credentials can read, for the message about a configured one they cannot. This costs
        one listing, on the user's budget of 5 per 15 minutes, but only on this failure path, which the user must
        fix anyway and cannot fix without knowing the right id; a sync that reads its accounts never lists them."""
        try:
            ids = [a["id"] for a in self._list_all() if not a.get("deleted")]
        except AirbyteTracedException as error:
            return f"Listing the accounts they can read failed too ({error.message})."
        return f"Accounts they can read: {short_list(ids) or 'none'}."
