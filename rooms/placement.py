"""Which media node and worker takes a consult's media: a pure choice over the nodes' loads.

Each node publishes, per media worker, how many rooms and forwarded tracks it holds, the packets
per second it moves and the share of a core it burns (``cluster/registry.py``). A worker is full
when any of those reaches its limit; a node that is draining takes nothing new. Among the workers
with room left, two are drawn at random and the less loaded one wins ("the power of two choices"):
nearly as even as always taking the least loaded, without every node piling onto the same idle
worker in the second after it appeared.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    rooms: int = 0
    tracks: int = 0
    """Forwarded copies of published tracks (one per subscriber and track)."""
    packets_per_second: float = 0.0
    """RTP packets in and out over the last interval."""
    cpu: float = 0.0
    """Share of one core used over the last interval (0.0 to 1.0, more when a sample overlaps)."""


@dataclass(frozen=True, slots=True)
class NodeLoad:
    node_id: str
    workers: tuple[WorkerLoad, ...]
    serving: bool = True
    """``False`` while the node drains: it keeps its calls but takes no new one."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one media worker (one core) carries before it counts as full."""

    max_tracks: int = 200
    max_packets_per_second: float = 40_000.0
    max_cpu: float = 0.85


@dataclass(frozen=True, slots=True)
class Choice:
    node_id: str
    worker: int
    load: float
    """The worker's fullness before this room: the largest of its ratios to the limits."""


def fullness(worker: WorkerLoad, limits: Limits) -> float:
    """0.0 idle; 1.0 or more full, by whichever measure is nearest its limit."""
    return max(
        worker.tracks / limits.max_tracks,
        worker.packets_per_second / limits.max_packets_per_second,
        worker.cpu / limits.max_cpu,
    )


def open_workers(nodes: Iterable[NodeLoad], limits: Limits, avoid: Collection[str] = ()) -> list[Choice]:
    """Every worker of a serving node not in ``avoid`` that is under all its limits."""
    return [
        Choice(node.node_id, index, fullness(worker, limits))
        for node in nodes
        if node.serving and node.node_id not in avoid
        for index, worker in enumerate(node.workers)
        if fullness(worker, limits) < 1.0
    ]


def choose(
    nodes: Iterable[NodeLoad], limits: Limits, rng: random.Random, avoid: Collection[str] = ()
) -> Choice | None:
    """The less loaded of two random open workers (a tie goes to the lower node id, then worker),
    or ``None`` when every worker is full, draining or avoided."""
    workers = open_workers(nodes, limits, avoid)
    if not workers:
        return None
    drawn = rng.sample(workers, min(2, len(workers)))
    return min(drawn, key=lambda c: (c.load, c.node_id, c.worker))
