"""A video sink made while a participant's video is paused (their page reconnected its media, or
the publisher came back) follows the pause: paused, and probing the link when the pause is for
congestion. Before, it was paused without probes after a reconnect, and not paused at all after
the publisher came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from media.adaptation import PROBE_START_PPS, PauseCause, VideoGate
from media.sfu_room import Participant, Published, Room
from media.subscriptions import reconcile
from tests.unit.test_link_delivery import Sink as PolicySink


@dataclass
class Sink(PolicySink):
    handle: object = None


@dataclass
class Forwarding:
    sinks: list[Sink] = field(default_factory=list)

    def subscribe(self, transceiver: object, handle: object) -> Sink:
        self.sinks.append(Sink(handle=handle))
        return self.sinks[-1]

    def unsubscribe(self, sink: Sink) -> None:
        self.sinks.remove(sink)


class Connection:
    def addTransceiver(self, kind: str, direction: str) -> Any:
        return SimpleNamespace(kind=kind, direction=direction)


def consult(gate: VideoGate) -> tuple[Room, Participant, Participant]:
    room = Room("consult", forwarding=Forwarding())  # type: ignore[arg-type]
    nurse, patient = Participant("nurse"), Participant("patient", video_gate=gate)
    room.participants.update(nurse=nurse, patient=patient)
    for source, kind in (("camera", "video"), ("microphone", "audio")):
        nurse.published[source] = Published(source, kind, SimpleNamespace(kind=kind), handle=object())
    return room, nurse, patient


def sinks(patient: Participant) -> dict[str, Any]:
    return {source: subscription.sink for (_, source), subscription in patient.subscriptions.items()}


@pytest.mark.parametrize(
    ("gate", "paused", "probing"),
    [
        (VideoGate(), False, None),
        (VideoGate(paused=True, cause=PauseCause.LOSS), True, None),
        (VideoGate(paused=True, cause=PauseCause.CONGESTION), True, PROBE_START_PPS),
    ],
)
def test_a_sink_made_during_a_pause_follows_it(gate: VideoGate, paused: bool, probing: float | None) -> None:
    room, nurse, patient = consult(gate)
    connection = Connection()
    reconcile(room, patient, lambda: connection)  # type: ignore[arg-type,return-value]
    for republished in (False, True):
        if republished:  # the nurse's page reloaded: same media lines, new sources
            for published in nurse.published.values():
                published.handle = object()
            assert not reconcile(room, patient, lambda: connection)  # type: ignore[arg-type,return-value]
        camera, microphone = sinks(patient)["camera"], sinks(patient)["microphone"]
        assert camera.handle is nurse.published["camera"].handle
        assert (camera.paused, camera.probing) == (paused, probing)
        assert (microphone.paused, microphone.probing) == (False, None)  # audio always flows
