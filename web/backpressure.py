"""Back-pressure: a node that falls behind refuses new work cheaply instead of queueing it.

An asyncio server never says no by itself: past the CPU it has, every event waits behind all the
others, latency grows without bound and the pings that keep sockets alive wait too, until every
client is dropped at once (5,000 sockets collapsed so, issue #13). The sign that comes first is the
event loop waking up late. :class:`LoopPressure` measures that lag with a ticker and, once it
passes a threshold, tells the socket server (:class:`signaling.guard.Overload`) to refuse:

* **new connections first**, from ``connection_lag`` on (for a second on end): a connection
  costs several store reads and announcements, a page retries it after a pause, and the sockets
  already held keep their service;
* **events** from ``event_lag`` on, with the retryable ``busy`` code and nothing else done (no
  store, no log line per refusal, no announcement).

A refusal holds for ``hold`` seconds after the last late tick, so the node does not flap between
refusing and accepting while the backlog drains.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import suppress

from aiohttp import web

TICK_SECONDS = 0.05
SUSTAIN_SECONDS = 1.0
"""How long every tick must have been late before refusing: one late wake-up (a collection, a burst
of work, another process on the core) is not overload; a loop late for a second on end is."""
HOLD_SECONDS = 1.0


class LoopPressure:
    """How late the event loop runs, and whether new work should be refused for it now."""

    def __init__(
        self,
        *,
        connection_lag: float,
        event_lag: float,
        tick: float = TICK_SECONDS,
        hold: float = HOLD_SECONDS,
    ) -> None:
        self._tick = tick
        self._connection_lag = connection_lag
        self._event_lag = event_lag
        self._hold = hold
        self.lag = 0.0
        self._late_since: float | None = None
        self._refuse_connections_until = 0.0
        self._refuse_events_until = 0.0

    def observe(self, lag: float, now: float) -> None:
        """One tick woke ``lag`` seconds late at ``now`` (monotonic)."""
        self.lag = lag
        if lag < self._connection_lag:
            self._late_since = None
            return
        if self._late_since is None:
            self._late_since = now
        if now - self._late_since < SUSTAIN_SECONDS:
            return
        self._refuse_connections_until = now + self._hold
        if lag >= self._event_lag:
            self._refuse_events_until = now + self._hold

    def refuse_connection(self) -> bool:
        return time.monotonic() < self._refuse_connections_until

    def refuse_event(self) -> bool:
        return time.monotonic() < self._refuse_events_until

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._tick
            await asyncio.sleep(self._tick)
            self.observe(max(0.0, loop.time() - due), time.monotonic())

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: measured while the app runs."""
        task = asyncio.get_running_loop().create_task(self._ticker())
        yield
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


PRESSURE = web.AppKey("pressure", LoopPressure)
"""The app's :class:`LoopPressure` (for ``/metrics`` readers and tests)."""
