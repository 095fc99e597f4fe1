"""The microphone cap (media/link_policy.py): a publisher's audio is capped while anyone hears it
over a congested link, and only then, whatever the order in which listeners come, go, pause and
resume; a cap is sent only when it changes."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from media.adaptation import PauseCause, VideoDecision, VideoGate
from media.backend import MediaEvent, MediaEventKind
from media.link_policy import WEAK_LINK_AUDIO_BPS, LinkPolicy
from media.sfu_room import Participant, Published, Room, Subscribed

GATES = {
    "flowing": VideoGate(),
    "paused for loss": replace(VideoGate(), paused=True, cause=PauseCause.LOSS),
    "paused for congestion": replace(VideoGate(), paused=True, cause=PauseCause.CONGESTION),
}
LISTENERS = ("patient", "specialist", "interpreter")


def publishing(participant_id: str) -> Participant:
    publisher = Participant(participant_id)
    for source, kind in (("microphone", "audio"), ("camera", "video")):
        publisher.published[source] = Published(source, kind, SimpleNamespace(kind=kind), None)
    return publisher


def listening(participant_id: str, sources: tuple[str, ...], gate: str) -> Participant:
    listener = Participant(participant_id)
    for source in sources:
        kind: Any = SimpleNamespace(kind="audio" if source == "microphone" else "video")
        sink = SimpleNamespace(pause=lambda: None, resume=lambda: None)
        listener.subscriptions[("nurse", source)] = Subscribed("nurse", source, kind, sink, None)
    listener.video_gate = GATES[gate]
    return listener


def recorder() -> tuple[LinkPolicy, list[object]]:
    caps: list[object] = []

    async def listen(event: MediaEvent) -> None:
        if event.kind is MediaEventKind.BITRATE and event.data["source"] == "microphone":
            assert event.participant_id == "nurse"
            caps.append(event.data["max_bitrate_bps"])

    return LinkPolicy(listen), caps


step = st.tuples(
    st.sampled_from(LISTENERS),
    st.one_of(
        st.none(),  # the listener leaves (or is not there)
        st.tuples(
            st.sampled_from([("microphone", "camera"), ("camera",), ("microphone",)]),
            st.sampled_from(sorted(GATES)),
        ),
    ),
)


@given(st.lists(step, max_size=25))
async def test_the_microphone_is_capped_exactly_while_a_congested_link_hears_it(
    steps: list[tuple[str, tuple[tuple[str, ...], str] | None]],
) -> None:
    policy, caps = recorder()
    room = Room("consult", forwarding=None)  # type: ignore[arg-type]
    nurse = room.participants["nurse"] = publishing("nurse")
    for listener_id, state in steps:
        if state is None:
            room.participants.pop(listener_id, None)
        else:
            room.participants[listener_id] = listening(listener_id, *state)
        await policy.spare_congested_listeners(room, nurse)
        congested_ear = any(
            other.video_gate.cause is PauseCause.CONGESTION and ("nurse", "microphone") in other.subscriptions
            for other in room.others(nurse)
        )
        expected = WEAK_LINK_AUDIO_BPS if congested_ear else None
        assert (caps[-1] if caps else None) == expected
        assert nurse.microphone_cap_bps == expected
    assert all(a != b for a, b in pairwise(caps)), "a cap is sent only when it changes"
    assert caps[:1] != [None], "nothing to lift before a cap was asked for"


async def test_a_congestion_pause_caps_the_microphone_it_hears_at_once_and_a_resume_lifts_it() -> None:
    policy, caps = recorder()
    room = Room("consult", forwarding=None)  # type: ignore[arg-type]
    room.participants["nurse"] = publishing("nurse")
    patient = room.participants["patient"] = listening(
        "patient", ("microphone", "camera"), "paused for congestion"
    )
    await policy._follow(room, patient, VideoDecision.PAUSE)
    assert caps == [WEAK_LINK_AUDIO_BPS]
    patient.video_gate = GATES["flowing"]
    await policy._follow(room, patient, VideoDecision.RESUME)
    assert caps == [WEAK_LINK_AUDIO_BPS, None]


async def test_a_new_page_session_is_asked_again() -> None:
    """A reload or reconnect starts a new page, which knows no cap: the next measure sends it again."""
    policy, caps = recorder()
    forwarding: Any = SimpleNamespace(unsubscribe=lambda sink: None, unpublish=lambda handle: None)
    room = Room("consult", forwarding=forwarding)
    nurse = room.participants["nurse"] = publishing("nurse")
    room.participants["patient"] = listening("patient", ("microphone",), "paused for congestion")
    await policy.spare_congested_listeners(room, nurse)
    await nurse.reset(room.forwarding)
    nurse.published.update(publishing("nurse").published)
    await policy.spare_congested_listeners(room, nurse)
    assert caps == [WEAK_LINK_AUDIO_BPS, WEAK_LINK_AUDIO_BPS]
