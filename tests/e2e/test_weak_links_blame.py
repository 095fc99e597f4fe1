"""Links the other namespace scenarios do not cover: under 300 kbit/s, loss in bursts, a weak uplink
only. What is asserted is behaviour: how often video pauses, whom each page calls weak, and that
the consult goes on; never how fast (figures are in bench/weak_networks.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Page, expect

from bench.support import COUNT_VIDEO_PAUSES
from media.link_policy import WEAK_LINK_AUDIO_BPS
from tests.e2e.netns import Link
from tests.e2e.test_weak_networks import Setup, _flowing, host, setup

# Judged over tens of seconds of media: scripts/test.sh runs these with nothing beside them.
pytestmark = pytest.mark.link_timing

__all__ = ["host", "setup"]  # the fixtures, shared with the other namespace scenarios

WEAK = ("poor", "bad")

LINK_STATE = """
() => {
  const badge = document.getElementById("quality");
  const note = document.getElementById("link-notice");
  return {
    level: badge && !badge.hidden ? badge.dataset.level ?? null : null,
    paused: document.body.dataset.videoPaused === "true",
    pauses: window.teleconsultaVideoPauses ?? 0,
    notice: document.body.dataset.linkNotice ?? "",
    microphoneCap: window.teleconsultaDebug?.publisher()?.getSenders()
      .find((sender) => sender.track?.kind === "audio")?.getParameters().encodings?.[0]?.maxBitrate ?? null,
    noticeText: note && !note.hidden ? note.textContent : "",
    state: document.body.dataset.state,
  };
}
"""


@dataclass
class Watched:
    """What both pages showed, once a second, while the patient's link was bad and just after
    (the patient's pauses counted by the page as each happened, so none is missed between reads)."""

    patient_pauses: int = 0
    nurse_told_weak: list[str] = field(default_factory=list)
    nurse_notices: set[str] = field(default_factory=set)
    nurse_notice_texts: set[str] = field(default_factory=set)
    nurse_microphone_caps: set[int | None] = field(default_factory=set)
    states: set[str] = field(default_factory=set)


async def watch(setup: Setup, seconds: int, watched: Watched) -> Watched:
    await setup.patient.evaluate(COUNT_VIDEO_PAUSES)
    pauses_before = (await setup.patient.evaluate(LINK_STATE))["pauses"]
    for second in range(seconds):
        await asyncio.sleep(1)
        patient, nurse = await setup.patient.evaluate(LINK_STATE), await setup.nurse.evaluate(LINK_STATE)
        if nurse["level"] in WEAK or nurse["paused"]:
            watched.nurse_told_weak.append(
                f"{second} s: level {nurse['level']}, video paused {nurse['paused']}"
            )
        watched.nurse_notices.add(nurse["notice"])
        watched.nurse_notice_texts.add(nurse["noticeText"])
        watched.nurse_microphone_caps.add(nurse["microphoneCap"])
        watched.states |= {patient["state"], nurse["state"]}
    watched.patient_pauses += (await setup.patient.evaluate(LINK_STATE))["pauses"] - pauses_before
    return watched


async def bursts(setup: Setup, link: Link, seconds: int) -> None:
    """30 % loss both ways for 2 s, then 3 s clean, for ``seconds``."""
    for _ in range(seconds // 5):
        setup.host.lose_on_link(link, down=30, up=30)
        await asyncio.sleep(2)
        setup.host.lose_on_link(link, down=0, up=0)
        await asyncio.sleep(3)


async def resumes(page: Page) -> None:
    await expect(page.locator("body")).not_to_have_attribute("data-video-paused", "true", timeout=60_000)
    await _flowing(page)


async def test_under_300_kbits_video_pauses_once_and_the_nurse_is_not_blamed(setup: Setup) -> None:
    await _flowing(setup.nurse)
    link = setup.host.links[0]
    setup.host.shape_each_way(link, down_kbit=150, up_kbit=150)
    setup.host.lose_on_link(link, down=2, up=2)
    watched = await watch(setup, 40, Watched())  # a long bad period: 40 s
    setup.host.lose_on_link(link, down=0, up=0)
    setup.host.unshape(link)
    print(f"150 kbit/s, 2 % loss for 40 s: {watched}")
    assert watched.patient_pauses == 1, "video must pause once, and stay paused while the link is bad"
    assert watched.nurse_told_weak == [], "the nurse's own link is clean"
    assert "peer" in watched.nurse_notices, "the nurse is told that the patient's link is weak"
    assert any("débil" in text for text in watched.nurse_notice_texts)
    assert watched.states == {"call"}
    assert WEAK_LINK_AUDIO_BPS in watched.nurse_microphone_caps, "the nurse's microphone spares the link"
    await resumes(setup.patient)
    # Video flows again: the nurse's microphone is no longer held down.
    uncapped = f"() => ({LINK_STATE})().microphoneCap === null"
    await setup.nurse.wait_for_function(uncapped, timeout=10_000)


async def test_loss_in_bursts_never_pauses_video(setup: Setup) -> None:
    await _flowing(setup.patient)
    link = setup.host.links[0]
    watched = Watched()
    await asyncio.gather(bursts(setup, link, 30), watch(setup, 30, watched))
    setup.host.lose_on_link(link, down=0, up=0)
    print(f"30 % loss in 2 s bursts every 5 s for 30 s: {watched}")
    assert watched.patient_pauses == 0, "between the bursts video plays"
    assert watched.nurse_told_weak == []
    assert watched.nurse_microphone_caps == {None}, "no link is congested: the nurse's audio is whole"
    assert watched.states == {"call"}
    await resumes(setup.patient)


async def test_a_weak_uplink_is_the_patients_and_their_incoming_video_goes_on(setup: Setup) -> None:
    await _flowing(setup.patient)
    link = setup.host.links[0]
    # The patient sends through 200 kbit/s losing 10 %, and receives through a clean link.
    setup.host.shape_each_way(link, down_kbit=4000, up_kbit=200)
    setup.host.lose_on_link(link, down=0, up=10)
    watched = await watch(setup, 25, Watched())
    setup.host.lose_on_link(link, down=0, up=0)
    setup.host.unshape(link)
    print(f"200 kbit/s up losing 10 %, clean down, for 25 s: {watched}")
    assert watched.patient_pauses == 0, "pausing what the patient receives would not help their uplink"
    assert watched.nurse_told_weak == []
    assert watched.nurse_microphone_caps == {None}, "nobody's download is congested"
    assert "peer" in watched.nurse_notices
    assert watched.states == {"call"}
    await _flowing(setup.patient)
