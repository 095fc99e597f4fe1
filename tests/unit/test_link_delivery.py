"""Overrun checks as the link policy runs them (media/link_policy.py): what the server sent a
participant between two checks, against their browser's estimate, pauses their video, and the
paused video probes the link; and the camera caps it sends publishers."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from media.adaptation import PROBE_MIN_PPS, PROBE_START_PPS, LinkReading
from media.backend import LinkReport, MediaEvent, MediaEventKind
from media.link_policy import BITRATE_CHANGE, DATA_SAVER_VIDEO_BPS, LinkPolicy
from media.sfu_room import Participant, Room, Subscribed


@dataclass
class Sink:
    stats: Any = field(default_factory=lambda: SimpleNamespace(bytes_sent=0))
    receiver_estimate_bps: int | None = None
    round_trip: tuple[float, float] | None = None
    holes_sent: int = 0
    paused: bool = False
    probing: float | None = None

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused, self.probing = False, None

    def probe(self, packets_per_second: float) -> None:
        self.probing = packets_per_second


def receiving(microphone: Sink, camera: Sink) -> Participant:
    patient = Participant("patient")
    for source, sink in (("microphone", microphone), ("camera", camera)):
        kind: Any = SimpleNamespace(kind="audio" if source == "microphone" else "video")
        patient.subscriptions[("nurse", source)] = Subscribed("nurse", source, kind, sink, None)
    return patient


async def test_video_that_overruns_the_link_pauses_within_a_second() -> None:
    events: list[MediaEvent] = []

    async def listen(event: MediaEvent) -> None:
        events.append(event)

    microphone, camera = Sink(), Sink(receiver_estimate_bps=330_000)
    patient = receiving(microphone, camera)
    policy, room = LinkPolicy(listen), Room("consult", forwarding=None)  # type: ignore[arg-type]
    room.participants["patient"] = patient
    now = 0.0
    for estimate in (330_000, 330_000, 121_000, 70_000):  # ~380 kbit/s sent every half second
        camera.receiver_estimate_bps = estimate
        microphone.stats.bytes_sent += 3_000
        camera.stats.bytes_sent += 20_750
        await policy.check_delivery(room, now)
        now += 0.5
    assert camera.paused and not microphone.paused
    assert camera.probing == PROBE_START_PPS and microphone.probing is None
    assert [(e.kind, e.data) for e in events] == [
        (MediaEventKind.VIDEO_PAUSED, {"paused": True, "reason": "weak_link"})
    ]


async def test_no_video_or_no_counters_is_no_check() -> None:
    patient = Participant("patient")
    policy, room = LinkPolicy(lambda _: _nothing()), Room("consult", forwarding=None)  # type: ignore[arg-type]
    room.participants["patient"] = patient
    for now in (0.0, 0.5, 1.0):
        await policy.check_delivery(room, now)
    assert not patient.video_gate.paused


async def _nothing() -> None: ...


async def test_a_pause_for_loss_sends_no_probes() -> None:
    # Probes tell a clean link from one that loses 2 %; a link losing 30 % needs no help to show it.
    microphone, camera = Sink(), Sink()
    patient = receiving(microphone, camera)
    policy, room = LinkPolicy(lambda _: _nothing()), Room("consult", forwarding=None)  # type: ignore[arg-type]
    room.participants["patient"] = patient
    lossy = LinkReading(loss_pct=40.0, rtt_ms=50.0)
    for _ in range(2):
        await policy.protect_audio(room, patient, lossy)
    assert camera.paused and camera.probing is None


async def test_the_probes_give_way_while_the_link_queues_and_come_back_when_it_does_not() -> None:
    # A 100 kbit/s link: audio fills most of it, so each report finds the probes queueing.
    microphone, camera = Sink(round_trip=(1.0, 0.05)), Sink(receiver_estimate_bps=330_000)
    patient = receiving(microphone, camera)
    policy, room = LinkPolicy(lambda _: _nothing()), Room("consult", forwarding=None)  # type: ignore[arg-type]
    room.participants["patient"] = patient
    await policy.hear(room, patient, LinkReport(50, 0))  # 50 ms with no queue: the link's own
    now = 0.0
    for estimate in (330_000, 330_000, 121_000, 70_000):
        camera.receiver_estimate_bps = estimate
        camera.stats.bytes_sent += 24_000
        await policy.check_delivery(room, now)
        now += 0.5
    assert camera.paused and camera.probing == PROBE_START_PPS
    rates = []
    for second in range(6):
        camera.round_trip = (2.0 + second, 0.45)  # the probes' reports: 400 ms of queue
        await policy.hear(room, patient, LinkReport(30, 20, 40, 10))
        rates.append(camera.probing)
    assert rates == [25.0, 12.5, PROBE_MIN_PPS, PROBE_MIN_PPS, PROBE_MIN_PPS, PROBE_MIN_PPS]
    camera.round_trip = (9.0, 0.06)  # the queue drained: back to half the rate that filled it
    await policy.hear(room, patient, LinkReport(50, 0, 10, 0))
    assert camera.probing == PROBE_START_PPS / 2 and camera.paused
    assert microphone.probing is None


@given(st.integers(DATA_SAVER_VIDEO_BPS + 1, int(DATA_SAVER_VIDEO_BPS * (1 + BITRATE_CHANGE))))
async def test_data_saver_caps_the_camera_even_when_the_estimate_was_just_above_its_figure(
    estimate: int,
) -> None:
    """The cap follows browser estimates only when they move by more than ``BITRATE_CHANGE`` (noise
    would renegotiate encodings all the time), but a participant who turns data saver on was
    promised ``DATA_SAVER_VIDEO_BPS`` at most: a cap a little above it must still come down (CI
    saw a nurse's camera stay at 155 kbit/s)."""
    caps: list[int] = []

    async def listen(event: MediaEvent) -> None:
        if event.kind is MediaEventKind.BITRATE:
            caps.append(int(str(event.data["max_bitrate_bps"])))

    policy, room = LinkPolicy(listen), Room("consult", forwarding=None)  # type: ignore[arg-type]
    nurse, patient = Participant("nurse"), receiving(Sink(), Sink(receiver_estimate_bps=estimate))
    room.participants.update(nurse=nurse, patient=patient)
    await policy.follow_weakest_subscriber(room, nurse)
    assert caps == [estimate]

    patient.data_saver = True
    await policy.follow_weakest_subscriber(room, nurse)
    assert caps == [estimate, DATA_SAVER_VIDEO_BPS]
    await policy.follow_weakest_subscriber(room, nurse)  # and once there, nothing more to say
    assert caps == [estimate, DATA_SAVER_VIDEO_BPS]
