"""The `accounts` stream and the directory of readable accounts that the per-account streams iterate over."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from airbyte_cdk.models import SyncMode

from ..config import config_error
from ..errors import required_id
from .base import XAdsStream


class Accounts(XAdsStream):
    """`GET /12/accounts`: every ads account the credentials can read, or the configured ones."""

    def __init__(self, context, account_ids: tuple[str, ...] = ()):
        self.account_ids = account_ids
        super().__init__(context)

    def path(self, **kwargs: Any) -> str:
        return "accounts"

    def request_params(self, stream_state: Mapping[str, Any] | None, **kwargs: Any) -> MutableMapping[str, Any]:
        params = super().request_params(stream_state, **kwargs)
        if self.account_ids:
            params["account_ids"] = ",".join(self.account_ids)
        return params

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**item, "id": required_id(item, "id")}

    def read_records(self, sync_mode: SyncMode, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        directory = self.context.accounts
        yield from directory.listed()
        directory.raise_for_missing()


class AccountDirectory:
    """The accounts of this sync, listed once and shared by every stream."""

    def __init__(self, context, configured_ids: tuple[str, ...]):
        self._configured_ids = configured_ids
        self._filtered = Accounts(context, configured_ids)
        self._all = Accounts(context)
        self._listed: list[Mapping[str, Any]] | None = None
        self._failure: Exception | None = None

    def listed(self) -> list[Mapping[str, Any]]:
        # A failed listing is remembered too: X allows few account listings per 15 minutes, and every stream of the
        # sync would otherwise redo the same failing call with its retries.
        if self._failure is not None:
            raise self._failure
        if self._listed is None:
            try:
                self._listed = list(self._filtered.read_pages({}))
            except Exception as error:
                self._failure = error
                raise
        return self._listed

    def readable(self) -> list[Mapping[str, Any]]:
        return [a for a in self.listed() if not a.get("deleted")]

    def get(self, account_id: str) -> Mapping[str, Any]:
        return next(a for a in self.listed() if a["id"] == account_id)

    def missing(self) -> list[str]:
        readable = {a["id"] for a in self.readable()}
        return [a for a in self._configured_ids if a not in readable]

    def all_readable_ids(self) -> list[str]:
        return [a["id"] for a in self._all.read_pages({}) if not a.get("deleted")]

    def raise_for_missing(self) -> None:
        missing = self.missing()
        if missing:
            raise config_error(
                f"These credentials cannot read the ads account(s) {', '.join(missing)} in `account_ids`. Accounts "
                f"they can read: {', '.join(self.all_readable_ids()) or 'none'}. Fix the id, or ask an admin of the "
                "account to give your X user at least the Analyst role."
            )
