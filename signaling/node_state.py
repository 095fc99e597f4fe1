"""What this node remembers about its consults between two events, and forgets when one ends.

Nothing here is authoritative (the stores are); it is the node's bookkeeping of timers and of the
last things its pages said, so a consult that ends leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from rooms.quality_log import QualityWindow

Key = tuple[str, str]
"""(consult id, participant id)."""


@dataclass
class NodeState:
    drops: dict[Key, tuple[datetime, asyncio.Task[None]]] = field(default_factory=dict)
    """Participants whose connection dropped mid-call: when, and the task that gives up on them."""
    devices: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    """Consult id -> participant id -> their page's last ``participant:devices``."""
    quality_windows: dict[Key, QualityWindow] = field(default_factory=dict)
    """Each participant's quality samples not yet in the session log (``rooms/quality_log.py``)."""

    def cancel_drop(self, consult_id: str, participant_id: str) -> None:
        """The participant is out of the call on purpose (sent back, denied, revoked): no grace."""
        drop = self.drops.pop((consult_id, participant_id), None)
        if drop is not None:
            drop[1].cancel()

    def forget(self, consult_id: str) -> None:
        """The consult ended: its timers stop and its memories go."""
        for key in [key for key in self.drops if key[0] == consult_id]:
            self.drops.pop(key)[1].cancel()
        for key in [key for key in self.quality_windows if key[0] == consult_id]:
            del self.quality_windows[key]
        self.devices.pop(consult_id, None)

    def forget_all(self) -> None:
        for _, task in self.drops.values():
            task.cancel()
        self.drops.clear()
