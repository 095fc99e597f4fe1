"""A node's media load per worker, read from the backend's census.

Censuses carry cumulative figures (packets, CPU seconds); the rates placement compares are the
differences between two readings over the time between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from media.census import MediaCensus
from rooms.placement import WorkerLoad

Censuses = Callable[[], Mapping[int, MediaCensus]]
"""The latest census of each running worker, by worker index (``WorkerPool.census``)."""


class LoadMeter:
    def __init__(self, censuses: Censuses, workers: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._censuses = censuses
        self._workers = workers
        self._clock = clock
        self._last: dict[int, tuple[float, MediaCensus]] = {}

    def read(self) -> tuple[WorkerLoad, ...]:
        """Each worker's load now; a worker that has not reported yet (just started) is idle."""
        now = self._clock()
        censuses = self._censuses()
        loads = []
        for index in range(self._workers):
            census = censuses.get(index)
            if census is None:
                loads.append(WorkerLoad())
                continue
            loads.append(self._rate(index, now, census))
        return tuple(loads)

    def _rate(self, index: int, now: float, census: MediaCensus) -> WorkerLoad:
        previous = self._last.get(index)
        self._last[index] = (now, census)
        tracks = census.subscriptions + census.publishers
        if previous is None or now <= previous[0]:
            return WorkerLoad(rooms=census.rooms, tracks=tracks)
        seconds = now - previous[0]
        before = previous[1]
        packets = (census.traffic.packets_in + census.traffic.packets_out) - (
            before.traffic.packets_in + before.traffic.packets_out
        )
        return WorkerLoad(
            rooms=census.rooms,
            tracks=tracks,
            packets_per_second=max(0.0, packets / seconds),
            cpu=max(0.0, (census.cpu_seconds - before.cpu_seconds) / seconds),
        )
