"""What a media backend tells the operator: how much it holds and how much it has forwarded.

Counts only, never room or participant ids: these figures become Prometheus metrics, whose labels
must stay few and must never name a person. Per-packet work only bumps plain integers in the
forwarder's own statistics (:mod:`media.rtp_forwarding`); a census adds them up when asked
(every second in a worker process, which sends it to the main process over its pipe), so
metrics cost nothing per packet beyond those integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class TrafficCounts:
    """Cumulative RTP figures of one forwarder, or of every forwarder a process has had."""

    packets_in: int = 0
    """RTP packets received from publishers (RTX unwrapped, before any check)."""
    payload_bytes_in: int = 0
    """Their payload bytes (RTP headers not counted)."""
    packets_out: int = 0
    bytes_out: int = 0
    """RTP packets (headers included) sent to subscribers, retransmissions not counted."""
    nacks_sent: int = 0
    """NACKs the server sent to publishers for packets it missed."""
    nacks_received: int = 0
    """Sequence numbers subscribers NACKed."""
    retransmissions: int = 0
    """Packets resent to subscribers from the retransmission cache."""
    keyframe_requests_sent: int = 0
    """PLIs the server sent to publishers (rate-limited)."""
    keyframe_requests_received: int = 0
    """PLIs and FIRs subscribers sent the server."""
    keyframe_waits: int = 0
    """Times a subscriber's stream (re)started at a keyframe after waiting for one."""
    dropped_waiting_for_keyframe: int = 0
    dropped_invalid: int = 0
    dropped_duplicate: int = 0
    losses_recovered: int = 0
    losses_unrecovered: int = 0
    send_errors: int = 0

    def add(self, other: TrafficCounts) -> None:
        for counter in fields(self):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@runtime_checkable
class CountsTraffic(Protocol):
    """A forwarding strategy that keeps :class:`TrafficCounts` (packet forwarding does)."""

    def traffic(self) -> TrafficCounts: ...


def traffic_of(forwarding: object) -> TrafficCounts:
    """The forwarding's counts; a strategy that keeps none (re-encoding) counts nothing."""
    return forwarding.traffic() if isinstance(forwarding, CountsTraffic) else TrafficCounts()


@dataclass(frozen=True, slots=True)
class MediaCensus:
    """One backend at one moment (plain data: it crosses the worker pipe)."""

    rooms: int = 0
    participants: int = 0
    publishers: int = 0
    """Participants with a publishing connection."""
    subscriptions: int = 0
    """Forwarded copies of published tracks, one per subscriber and track."""
    traffic: TrafficCounts = field(default_factory=TrafficCounts)
    cpu_seconds: float = 0.0
    """CPU the process has used (user and system), filled in by the worker that reports."""
    loop_lag_seconds: float = 0.0
    """How late the reporting worker's event loop woke up last time."""


@runtime_checkable
class TakesCensus(Protocol):
    """A backend that can count what it holds (:class:`media.sfu.SfuBackend`)."""

    def census(self) -> MediaCensus: ...
