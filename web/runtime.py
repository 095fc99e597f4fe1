"""How the serving process runs: uvloop's event loop, and a garbage collector kept out of the tail.

CPython's full collections walk every tracked object. A node holding thousands of sockets owns
millions of them (most made at start-up: modules, pydantic schemas, FHIR models), so with the
default thresholds a full collection paused the loop for 350-474 ms about every 11 s at 3,000
connections, and every acknowledgement waiting behind it took the pause in full (issue #13).
Three measures, each measured by ``bench.signaling`` (docs/performance.md):

* :func:`tune_gc` raises the thresholds, so young collections run about 70 times less often and full ones
  far less often;
* :func:`settle_after_start` collects once after start-up and then ``gc.freeze()``\\ s everything that
  exists, so later collections never walk the start-up heap again;
* :class:`GcPauses` times every collection through ``gc.callbacks`` for ``tc_gc_pause_seconds``,
  so the pauses are seen rather than guessed.

uvloop (libuv) makes the loop's own work (sockets, timers, callbacks) cheaper than asyncio's pure
Python selector loop; the production entry point runs on it (:func:`run`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from media.workers import GC_THRESHOLDS

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run the server's main coroutine on uvloop."""
    return uvloop.run(main)


def tune_gc() -> None:
    """The serving process collects as its media workers do (:data:`media.workers.GC_THRESHOLDS`)."""
    gc.set_threshold(*GC_THRESHOLDS)


def settle_after_start() -> None:
    """Everything built at start-up lives as long as the process: collect once, then freeze it."""
    gc.collect()
    gc.freeze()


class GcPauses:
    """Times each garbage collection and hands ``observe`` its length (seconds) and generation."""

    def __init__(self, observe: Callable[[float, int], None]) -> None:
        self._observe = observe
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self._observe(time.perf_counter() - self._started, info["generation"])
            self._started = 0.0

    async def lifecycle(self, _: object) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: observed while the app runs."""
        gc.callbacks.append(self._callback)
        try:
            yield
        finally:
            gc.callbacks.remove(self._callback)
