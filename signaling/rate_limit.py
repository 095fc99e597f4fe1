"""A token bucket per connection, so one client cannot flood the server with events (also per
person for chat messages and photo uploads)."""

from __future__ import annotations

import time
from dataclasses import dataclass

LINK_REPORT_BURST = 3.0
"""Link reports a page may send at once: its one a second, and a late one or two."""
LINK_REPORTS_PER_SECOND = 2.0
"""Then twice the pace a page keeps; more is a flood, refused before it reaches the media plane."""


@dataclass(slots=True)
class TokenBucket:
    capacity: float
    refill_per_second: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, capacity: float, refill_per_second: float, now: float) -> TokenBucket:
        return cls(capacity, refill_per_second, capacity, now)

    def take(self, now: float) -> bool:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill_per_second)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until a token is there again, as of the last :meth:`take` (0 when one is)."""
        return max(0.0, (1.0 - self.tokens) / self.refill_per_second)


def link_report_bucket() -> TokenBucket:
    """A connection's own bucket for ``media:link_report``, stricter than the one for all events."""
    return TokenBucket.full(LINK_REPORT_BURST, LINK_REPORTS_PER_SECOND, time.monotonic())
