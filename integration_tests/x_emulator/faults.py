"""Seeded fault injection: the transport failures a connector must survive.

Kinds: "503" (SERVICE_UNAVAILABLE + retry-after: 1), "500" (INTERNAL_ERROR), "bad_json" (200 with a non-JSON body),
"502_html" (502 with an HTML body), "slow" (the real response, but only after ``slow_seconds``, beyond a client's read
timeout) and "drop" (the socket is closed without any response).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS: tuple[str, ...] = ("503", "500", "bad_json", "502_html", "slow", "drop")


@dataclass
class FaultConfig:
    rate: float = 0.0  # probability that an eligible request gets a fault
    seed: int = 0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 15.0
    include_token_endpoint: bool = False  # faults never hit POST /2/oauth2/token unless asked
    include_job_downloads: bool = True
    schedule: dict[int, str] = field(default_factory=dict)  # explicit faults by eligible-request number (1-based)

    def __post_init__(self) -> None:
        bad = [k for k in (*self.kinds, *self.schedule.values()) if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {FAULT_KINDS}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._n = 0
        self.injected: list[tuple[int, str]] = []  # (eligible-request number, kind), for test diagnostics

    @classmethod
    def coerce(cls, value: FaultConfig | dict[str, Any] | None) -> FaultConfig | None:
        if value is None or isinstance(value, FaultConfig):
            return value
        return cls(**value)

    def draw(self) -> str | None:
        """Decide the fate of the next eligible request (deterministic in arrival order for a given seed)."""
        with self._lock:
            self._n += 1
            kind = self.schedule.get(self._n)
            roll, pick = self._rng.random(), self._rng.randrange(len(self.kinds))  # always draw: stable sequence
            if kind is None and roll < self.rate:
                kind = self.kinds[pick]
            if kind is not None:
                self.injected.append((self._n, kind))
            return kind
