"""`api: x_api_v2` mode: the authenticated user (`GET /2/users/me`) stands in for an ads account and their posts
(`GET /2/users/{id}/tweets`) for its timeline, so that `accounts`, `tweets` and `organic_report` read X API v2 only.

The user record carries the configured `timezone`: `organic_report` then places that user's days the way it places an
ads account's, and keeps its state per user id in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import requests
from airbyte_cdk.models import FailureType

from ..config import config_error
from ..context import Connection, ReadOnce
from ..errors import ShapeError, XApiError, expecting_x_shape, required_id, response_json
from .base import PageGuard, XAdsStream
from .post_analytics import v2_problem

# X serves only this many of a user's most recent posts through the user timeline, then answers an empty page.
TIMELINE_CAP = 3200
V2_PAGE_SIZE = 100  # the timeline's largest page
V2_SCOPES = "tweet.read users.read offline.access"
USER_FIELDS = "id,name,username,created_at,description,location,verified,protected"
TWEET_FIELDS = "id,text,created_at,lang,source,public_metrics,conversation_id,in_reply_to_user_id,referenced_tweets"
# public_metrics → the `tweets` schema's count columns (the Ads API's names).
_COUNT_COLUMNS = {
    "like_count": "favorite_count",
    "retweet_count": "retweet_count",
    "reply_count": "reply_count",
    "quote_count": "quote_count",
}


def raise_for_v2_user_problem(response: requests.Response, auth_type: str, not_enrolled: str | None = None) -> None:
    """A refusal of the user endpoints, with what to change in the X Developer Portal. `not_enrolled` is what to say
    when the app has no X API v2 access, after X's error (by default: attach it to a Project)."""
    if response.ok:
        return
    error, problem = v2_problem(response)
    if response.status_code == 403 and problem.get("reason") == "client-not-enrolled":
        raise XApiError(
            error,
            f"X API v2 refused the request ({error}): "
            + (
                not_enrolled
                or "the X app is not attached to a Project. In the X Developer Portal (Projects & Apps), add the "
                "app to a Project with X API v2 access, then use that app's keys."
            ),
        )
    if response.status_code == 403:
        fix = (
            f"Authorize the app again with the OAuth 2.0 scopes `{V2_SCOPES}` (X Developer Portal → the app → User "
            "authentication settings) and save the new refresh token in the source."
            if auth_type == "oauth2.0"
            else "In the X Developer Portal, give the app Read permission (the app → User authentication settings), "
            "then generate a new access token and secret and save them in the source."
        )
        raise XApiError(error, f"X API v2 refused to read the authenticated user ({error}). {fix}")
    raise XApiError(
        error,
        f"X API v2 rejected the request to {response.request.path_url} ({error}).",
        failure_type=FailureType.config_error if response.status_code == 401 else FailureType.system_error,
    )


class V2Stream(XAdsStream):
    """An X API v2 list endpoint: `{"data": ..., "meta": {"next_token": ...}}`, paged with `pagination_token`."""

    page_size = V2_PAGE_SIZE
    # The query parameters of every page but the token.
    fixed_params: Mapping[str, Any] = {}

    @property
    def url_base(self) -> str:
        return f"{self.context.config.x_api_base_url}/2/"

    def request_params(
        self, stream_state: Mapping[str, Any] | None, next_page_token: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> MutableMapping[str, Any]:
        token = {"pagination_token": next_page_token["cursor"]} if next_page_token else {}
        return {**self.fixed_params, **token}

    def next_page_token(self, response: requests.Response, guard: PageGuard | None = None) -> Mapping[str, Any] | None:
        with expecting_x_shape(response.request.path_url):
            token = (response_json(response).get("meta") or {}).get("next_token")
            if token is not None and not isinstance(token, str):
                raise ShapeError(f"`meta.next_token` {token!r:.50} is not a string")
        return self._follow(token, guard)

    def refusals(self, response: requests.Response) -> None:
        raise_for_v2_user_problem(response, self.context.config.auth_type)


class V2Me(V2Stream):
    """`GET /2/users/me`, as the one account-like record of the sync."""

    name = "accounts"
    fixed_params = {"user.fields": USER_FIELDS}

    def path(self, **kwargs: Any) -> str:
        return "users/me"

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        fields = {key: item.get(key) for key in USER_FIELDS.split(",")}
        created_at = item.get("created_at")
        return {
            **fields,
            "id": required_id(item, "id"),
            "created_at": created_at if created_at is None else v2_time(created_at),
            "timezone": self.context.config.timezone,
        }


class V2UserDirectory:
    """The directory of x_api_v2 mode: the authenticated user only (`account_ids` does not apply)."""

    def __init__(self, connection: Connection):
        self._me = V2Me(connection)
        # Read once per sync: X allows 75 of these per 15 minutes.
        self._users = ReadOnce(lambda: list(self._me.read_pages({})))

    def listed(self) -> list[Mapping[str, Any]]:
        users = self._users.get()
        if len(users) != 1:
            raise config_error(f"X API v2 answered GET /2/users/me with {len(users)} users instead of one.")
        return users

    def readable(self) -> list[Mapping[str, Any]]:
        return self.listed()

    def get(self, account_id: str) -> Mapping[str, Any]:
        return next(user for user in self.listed() if user["id"] == account_id)

    def missing(self) -> list[str]:
        return []

    def raise_for_missing(self) -> None:
        """Nothing can be missing: the user is whoever the credentials belong to."""


def v2_time(value: Any) -> str:
    """v2 writes milliseconds (`…T12:34:56.000Z`); the streams' format has whole seconds, as in ads_api mode."""
    if not isinstance(value, str) or len(value) < 19:
        raise ShapeError(f"`created_at` {value!r:.50} is not a date-time")
    return value[:19] + "Z"


def v2_tweet_record(item: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """A v2 post in the `tweets` schema: what v2 gives, null for the Ads API's own fields."""
    tweet_id = required_id(item, "id")
    counts = item.get("public_metrics") or {}
    replied_to = next(
        (ref.get("id") for ref in item.get("referenced_tweets") or [] if ref.get("type") == "replied_to"), None
    )
    return {
        "id": tweet_id,
        "tweet_id": tweet_id,
        "id_str": tweet_id,
        "account_id": user_id,
        "full_text": item.get("text"),
        "created_at": v2_time(item.get("created_at")),
        "lang": item.get("lang"),
        "source": item.get("source"),
        **{column: counts.get(field) for field, column in _COUNT_COLUMNS.items()},
        "in_reply_to_status_id_str": replied_to,
        "in_reply_to_user_id_str": item.get("in_reply_to_user_id"),
        "conversation_id": item.get("conversation_id"),
        "user": {"id": user_id, "id_str": user_id},
    }


class V2Timeline(V2Stream):
    """The user's posts, newest first, for the timelines service: they give `tweets` its records and organic_report
    its post ids (each post is read once per sync)."""

    name = "tweets"
    fixed_params = {"max_results": V2_PAGE_SIZE, "tweet.fields": TWEET_FIELDS}

    def path(self, stream_slice: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        return f"users/{(stream_slice or {})['account_id']}/tweets"

    def transform(self, item: Mapping[str, Any], stream_slice: Mapping[str, Any]) -> Mapping[str, Any]:
        return v2_tweet_record(item, stream_slice["account_id"])

    def read_pages(self, stream_slice: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        posts = 0
        for record in super().read_pages(stream_slice):
            posts += 1
            yield record
        self.context.v2_usage.add_posts(posts)
        if posts >= TIMELINE_CAP:
            self.logger.warning(
                f"The timeline of user {stream_slice['account_id']} reached X API v2's limit of the {TIMELINE_CAP:,} "
                "most recent posts: older posts, and their organic_report rows, cannot be read through X API v2 "
                "(the `ads_api` mode reads them)."
            )


def check_v2_user(directory: V2UserDirectory) -> tuple[bool, Any]:
    """`check` in x_api_v2 mode: one `GET /2/users/me`, whose refusals say what to change."""
    directory.listed()
    return True, None
