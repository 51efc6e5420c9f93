"""Fixed-window rate limits per endpoint family, with X's headers and a count of "early retries".

A window starts at the first request of a bucket and lasts ``window`` seconds; ``reset`` is its end in epoch seconds
(rounded up in headers, so a client that waits until the header's reset is never early).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

# family -> (scope, default limit per window). Scope "user": one bucket per user; "account": per (user, account).
FAMILIES: dict[str, tuple[str, int]] = {
    "accounts_list": ("user", 100),  # GET /12/accounts (documented as 5; lenient by default)
    "account_reads": ("account", 2000),  # GET /12/accounts/{id}[/...]
    "stats_sync": ("user", 250),  # GET /12/stats/accounts/{id}
    # POST /12/stats/jobs/accounts/{id}: X documents no creation rate, only "at most 100 jobs processing per ads
    # account" (enforced as TOO_MANY_JOBS); the family exists so a test can set a limit, the default is lenient.
    "jobs_create": ("account", 10_000),
    "jobs_status": ("account", 1000),  # GET /12/stats/jobs/accounts/{id}
    "v2_analytics": ("user", 300),  # GET /2/tweets/analytics (X API v2)
    "v2_users_me": ("user", 75),  # GET /2/users/me (X API v2)
    "v2_user_tweets": ("user", 900),  # GET /2/users/{id}/tweets (X API v2)
    "v2_users_lookup": ("user", 900),  # GET /2/users?ids=… (X API v2)
}


@dataclass
class _Bucket:
    start: float
    count: int = 0
    limited: bool = False  # a 429 was returned in this window


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # epoch seconds
    early_retry: bool  # request arrived after a 429 of this bucket and before its reset

    def headers(self, prefix: str = "x-rate-limit") -> dict[str, str]:
        return {
            f"{prefix}-limit": str(self.limit),
            f"{prefix}-remaining": str(self.remaining),
            f"{prefix}-reset": str(math.ceil(self.reset)),
        }


class RateLimiter:
    def __init__(self, limits: dict[str, int] | None, window: float) -> None:
        unknown = set(limits or {}) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown rate-limit families {sorted(unknown)}; known: {sorted(FAMILIES)}")
        self.limits = {name: (limits or {}).get(name, default) for name, (_, default) in FAMILIES.items()}
        self.window = window
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def hit(self, family: str, user: str, account: str | None, enforce: bool = True) -> Verdict:
        """Count one request; with enforce=False the bucket only informs (never refuses)."""
        key = (family, user) if account is None else (family, user, account)
        limit = self.limits[family]
        now = time.time()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or now >= bucket.start + self.window:
                bucket = self._buckets[key] = _Bucket(start=now)
            reset = bucket.start + self.window
            early = bucket.limited
            if bucket.count < limit or not enforce:
                bucket.count += 1
                return Verdict(True, limit, max(0, limit - bucket.count), reset, early)
            bucket.limited = True
            return Verdict(False, limit, 0, reset, early)
