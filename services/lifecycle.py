"""Whether this node serves or drains: one flag every part of the node (and placement) reads.

A node that drains (``SIGTERM``) keeps the calls it carries but takes no new consults: its
``/readyz`` answers 503 at once so the load balancer sends new people elsewhere, a check-in on it
is refused with a retryable code, and placement must not choose it. Nothing here decides when the
node exits (``web/lifecycle.py`` does); this is only the state, shared without imports of the edges.
"""

from __future__ import annotations

import asyncio


class NodeLifecycle:
    def __init__(self) -> None:
        self._draining = asyncio.Event()

    @property
    def draining(self) -> bool:
        """True from the first ``SIGTERM`` (or shutdown) on; it never goes back."""
        return self._draining.is_set()

    def drain(self) -> bool:
        """Start draining; whether this call started it (a second ``SIGTERM`` finds it started)."""
        started = not self._draining.is_set()
        self._draining.set()
        return started

    async def wait_draining(self) -> None:
        """Returns once the node drains (for a placement loop or a registry that publishes it)."""
        await self._draining.wait()
