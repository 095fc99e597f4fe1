"""The live side's half of the consoles' diffs (signaling/live.py), with a recording socket server.

A consult's change reaches its unit's consoles as one numbered ``queue:diff`` carrying that one row;
a queue store change goes out as the store computed it; an announcement that fails is logged and
does not fail the operation that made the change (consoles resync at the next number).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rooms import consult as rules
from rooms.queue import QueueChange, QueueEntry
from rooms.store.memory import memory_stores
from rooms.store.queue_memory import MemoryQueueStore
from signaling.connections import Registry
from signaling.live import SocketLiveRooms
from signaling.node_state import NodeState

T0 = datetime(2026, 3, 2, 16, tzinfo=UTC)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self.fail = fail

    async def emit(self, event: str, data: dict[str, Any], room: str) -> None:
        if self.fail:
            raise ConnectionError("the socket.io manager is down")
        self.sent.append((event, data, room))


def live(sio: Recorder, queues: MemoryQueueStore) -> SocketLiveRooms:
    media: Any = object()
    server: Any = sio
    staff: Any = None  # no account is read here
    return SocketLiveRooms(
        server, Registry(), memory_stores(staff), media, NodeState(), lambda: T0, queues.bump
    )


async def test_a_consult_change_is_one_numbered_row_for_its_unit() -> None:
    sio, queues = Recorder(), MemoryQueueStore()
    rooms = live(sio, queues)
    queues.listen(rooms.queue_entries_changed)
    await queues.check_in(QueueEntry("c-1", "p-1", "umf-1", T0, T0))  # number 1: the entry
    consult = rules.create(
        consult_id="c-1",
        patient_id="p-1",
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0,
        unit="umf-1",
    ).consult
    await rooms.list_changed(consult)  # number 2: its row
    diffs = [(data, room) for event, data, room in sio.sent if event == "queue:diff"]
    assert [d["version"] for d, _ in diffs] == [1, 2]
    assert {room for _, room in diffs} == {"staff:umf-1"}
    assert [e["consult_id"] for e in diffs[0][0]["entries"]] == ["c-1"] and diffs[0][0]["consults"] == []
    row = diffs[1][0]
    assert [c["consult_id"] for c in row["consults"]] == ["c-1"] and row["consults"][0]["version"] == 0
    assert row["entries"] == [] and row["consults_removed"] == []
    assert (await queues.snapshot("umf-1")).version == 2


async def test_a_failed_announcement_does_not_fail_the_change(caplog: pytest.LogCaptureFixture) -> None:
    queues = MemoryQueueStore()
    queues.listen(live(Recorder(fail=True), queues).queue_entries_changed)
    kept = await queues.check_in(QueueEntry("c-1", "p-1", "umf-1", T0, T0))
    assert kept.appointment_id == "c-1"
    assert [e.appointment_id for e in (await queues.snapshot("umf-1")).waiting] == ["c-1"]
    assert "queue diff 1 of unit umf-1 not sent" in caplog.text


def test_a_change_of_the_list_elsewhere_is_empty() -> None:
    assert QueueChange("umf-1", 3).empty
