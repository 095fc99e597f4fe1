"""The page's counts as the video gate hears them (media/link_policy.py): the holes another
participant's uplink left in what the server forwarded are not this link's loss, and audio is
what speaks for the link when any arrived."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

from media.adaptation import PageEvidence
from media.backend import LinkReport, MediaEvent
from media.link_policy import LinkPolicy
from media.sfu_room import Participant, Room, Subscribed


@dataclass
class Sink:
    holes_sent: int = 0
    round_trip: tuple[float, float] | None = None

    def pause(self) -> None: ...

    def resume(self) -> None: ...


async def ignore(_: MediaEvent) -> None: ...


def receiving(**sinks: Sink) -> Participant:
    """A patient receiving the nurse's sources, one sink each (``microphone``, ``camera``)."""
    patient = Participant("patient")
    for source, sink in sinks.items():
        kind: Any = SimpleNamespace(kind="audio" if source == "microphone" else "video")
        patient.subscriptions[("nurse", source)] = Subscribed("nurse", source, kind, sink, None)
    return patient


async def heard(patient: Participant, *reports: LinkReport) -> PageEvidence:
    policy, room = LinkPolicy(ignore), Room("consult", forwarding=None)  # type: ignore[arg-type]
    for report in reports:
        await policy.hear(room, patient, report)
    return patient.video_gate.heard


async def test_holes_the_senders_uplink_left_are_not_this_links_loss() -> None:
    microphone = Sink(holes_sent=10)  # what the nurse's uplink lost before the patient's first report
    patient = receiving(microphone=microphone, camera=Sink())
    assert await heard(patient, LinkReport(45, 5)) == PageEvidence(50, 5)
    microphone.holes_sent = 14  # 4 more the nurse's uplink lost
    assert await heard(patient, LinkReport(45, 5)) == PageEvidence(50 + 46, 5 + 1)
    microphone.holes_sent = 30  # every loss the page saw was upstream
    assert await heard(patient, LinkReport(40, 10)) == PageEvidence(50 + 46 + 40, 6)


async def test_audio_speaks_for_the_link_and_video_only_without_it() -> None:
    patient = receiving(microphone=Sink(), camera=Sink())
    assert await heard(patient, LinkReport(50, 0, 120, 12)) == PageEvidence(50, 0)
    camera_only = receiving(camera=Sink())
    assert await heard(camera_only, LinkReport(0, 0, 120, 12)) == PageEvidence(132, 12)


async def test_a_stream_new_since_the_last_report_adds_no_holes() -> None:
    patient = receiving(microphone=Sink(holes_sent=3))
    await heard(patient, LinkReport(50, 0))
    patient.subscriptions[("nurse", "microphone")].sink = Sink(holes_sent=0)  # published again
    patient.reported_holes[("companion", "microphone")] = 99  # someone who left
    assert await heard(patient, LinkReport(48, 2)) == PageEvidence(100, 2)


async def test_while_video_is_paused_the_probes_count_with_the_audio() -> None:
    camera = Sink(holes_sent=2)
    patient = receiving(microphone=Sink(), camera=camera)
    await heard(patient, LinkReport(50, 0, 0, 0))  # the holes so far are counted from here
    patient.video_gate = replace(patient.video_gate, paused=True)
    camera.holes_sent = 3  # one hole the nurse's uplink left before the pause
    # 97 received, 3 lost of which one upstream: 99 packets, 2 lost on this link.
    assert await heard(patient, LinkReport(49, 1, 48, 2)) == PageEvidence(50 + 99, 2)


async def test_a_report_goes_with_the_round_trip_measured_last_on_any_stream() -> None:
    # Audio's report (every ~5 s) measured the full queue; the probes' newer one, the drained link.
    patient = receiving(microphone=Sink(round_trip=(10.0, 0.6)), camera=Sink(round_trip=(12.5, 0.002)))
    await heard(patient, LinkReport(50, 0))
    assert patient.video_gate.rtt_ms == 2.0
    patient.subscriptions[("nurse", "microphone")].sink = Sink(round_trip=(13.0, 0.3))
    await heard(patient, LinkReport(50, 0))
    assert patient.video_gate.rtt_ms == 300.0
    nothing_measured = receiving(microphone=Sink(), camera=Sink())
    await heard(nothing_measured, LinkReport(50, 0))
    assert nothing_measured.video_gate.rtt_ms is None
