"""X Ads API error bodies: ``{"errors": [{"code", "message", "parameter"?}], "request": {"params": {...}}}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised anywhere in request handling; the server turns it into an HTTP response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        parameter: str | None = None,
        *,
        extra: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        error: dict[str, Any] = {"code": code, "message": message}
        if parameter is not None:
            error["parameter"] = parameter
        self.errors = [error, *(extra or [])]
        self.headers = headers or {}

    def body(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"errors": self.errors, "request": {"params": params or {}}}


def unauthorized() -> ApiError:
    return ApiError(401, "UNAUTHORIZED_ACCESS", "This request is not properly authenticated")


def invalid(parameter: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", message, parameter)


def time_window(message: str, parameter: str | None = None) -> ApiError:
    return ApiError(400, "INVALID_TIME_WINDOW", message, parameter)
