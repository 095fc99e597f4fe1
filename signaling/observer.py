"""What the socket server tells whoever counts (the composition root's metrics), and nothing more.

Only names from a fixed set reach an observer: an event name the server handles (a client's own
made-up event name arrives as ``unknown``), an error code, never an id or a payload, so metric
labels stay few and say nothing about a person.
"""

from __future__ import annotations

from typing import Protocol


class SignalingObserver(Protocol):
    def connected(self) -> None:
        """A socket connection was accepted."""

    def event(self, name: str) -> None:
        """A client sent an event (a handled event's name, or ``unknown``)."""

    def refused(self, code: str) -> None:
        """An event or connection was refused with this error code."""

    def reconnected(self) -> None:
        """A participant whose connection dropped during a call came back within the grace."""


class NoObserver:
    """Counts nothing: the default when nobody watches."""

    def connected(self) -> None:
        pass

    def event(self, name: str) -> None:
        pass

    def refused(self, code: str) -> None:
        pass

    def reconnected(self) -> None:
        pass
