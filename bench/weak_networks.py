"""The patient on weak links: what reaches each side, who is told their link is weak, and how video
pauses and comes back. Real Chromium for both; the patient's runs in its own network namespace,
whose link is shaped (``tc``) and loses packets (``nft``) as each scenario says, for a while,
then is clean again: it stops losing and gets fast, and what its queue held drains (seconds to
steady video count from that moment).

Per scenario it prints the link's loss towards the patient; the patient's and the nurse's audio
as received during the bad period (RTP packets lost, and the share of samples their browser
concealed: what was lost *after* FEC, retransmission and jitter buffering); the concealed samples
in the patient's page; the seconds the patient had moving video; the pauses; the seconds until
steady video after the link was clean; and the seconds the nurse (whose own link is always clean)
was told her link was weak. ``--timeline`` also prints, for each second of the bad period, what
the patient's page received of audio and concealed, and whether its video was paused (to stderr),
to see *when* the audio was lost. ``--quick`` runs three short scenarios and ends with one JSON line:
``audio_loss_ratio_worst`` (patient's concealed audio ÷ the link's loss, worst scenario),
``pause_flaps`` (pauses beyond one per bad period) and ``misattributed_s``. Beside the random
loss configured, each scenario also gives what the link actually dropped of the UDP sent to the
patient (nftables counters on both ends: a shaped link's queue drops too), and the JSON line
``audio_loss_ratio_dropped_worst``, the concealed audio ÷ that.

Needs root (network namespaces), iproute2, nftables and Debian's Chromium.

    sudo python -m bench.weak_networks [--quick] [--scenario NAME ...] [--timeline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from bench.support import CHROMIUM, CHROMIUM_FLAGS, COUNT_VIDEO_PAUSES
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import create_appointment_link, seed_demo

NAMESPACE = f"tcweak{os.getpid() % 10000}"
HOST_ADDRESS, GUEST_ADDRESS = "198.51.100.9", "198.51.100.10"  # TEST-NET-2, a /30 of our own
HOST_DEVICE, GUEST_DEVICE = f"{NAMESPACE[:9]}h", f"{NAMESPACE[:9]}g"


@dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float
    """How long the link stays bad."""
    down_kbit: int | None = None
    """The rate towards the patient (None: not shaped)."""
    up_kbit: int | None = None
    down_loss: int = 0
    up_loss: int = 0
    burst: tuple[float, float] | None = None
    """Loss comes in bursts: (seconds lossy, seconds clean), repeated."""

    @property
    def link_loss_pct(self) -> float:
        """The average random loss towards the patient (tail drops of a shaped link come on top)."""
        if self.burst is None:
            return float(self.down_loss)
        lossy, clean = self.burst
        return self.down_loss * lossy / (lossy + clean)


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("150k-2pct", 30, down_kbit=150, up_kbit=150, down_loss=2, up_loss=2),
        Scenario("bursty-30pct", 30, down_loss=30, up_loss=30, burst=(2, 3)),
        Scenario("300k-5pct", 60, down_kbit=300, up_kbit=300, down_loss=5, up_loss=5),
        Scenario("random-15pct", 30, down_loss=15, up_loss=15),
        Scenario("asymmetric-up", 30, down_kbit=2000, up_kbit=120, up_loss=10),
        Scenario("long-100k-3pct", 90, down_kbit=100, up_kbit=100, down_loss=3, up_loss=3),
    )
}
QUICK = (
    Scenario("150k-2pct", 20, down_kbit=150, up_kbit=150, down_loss=2, up_loss=2),
    Scenario("bursty-30pct", 20, down_loss=30, up_loss=30, burst=(2, 3)),
    Scenario("random-15pct", 20, down_loss=15, up_loss=15),
)
RECOVERY_LIMIT_S = 30.0

# -- the patient's network namespace ----------------------------------------------------------


def _run(*command: str, stdin: str | None = None, check: bool = True) -> None:
    subprocess.run(command, input=stdin, text=True, check=check, capture_output=True, timeout=20)


def _in_namespace(*command: str, stdin: str | None = None, check: bool = True) -> None:
    _run("ip", "netns", "exec", NAMESPACE, *command, stdin=stdin, check=check)


@contextmanager
def patient_namespace() -> Iterator[None]:
    """A namespace joined to this machine by a veth pair; removed again whatever happens."""
    _run("ip", "netns", "add", NAMESPACE)
    try:
        _in_namespace("ip", "link", "set", "lo", "up")
        _run("ip", "link", "add", HOST_DEVICE, "type", "veth", "peer", "name", GUEST_DEVICE)
        _run("ip", "link", "set", GUEST_DEVICE, "netns", NAMESPACE)
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_DEVICE)
        _run("ip", "link", "set", HOST_DEVICE, "up")
        _in_namespace("ip", "addr", "add", f"{GUEST_ADDRESS}/30", "dev", GUEST_DEVICE)
        _in_namespace("ip", "link", "set", GUEST_DEVICE, "up")
        yield
    finally:
        _run("nft", "delete", "table", "inet", NAMESPACE, check=False)
        _run("nft", "delete", "table", "ip", COUNTING, check=False)
        _run("ip", "link", "del", HOST_DEVICE, check=False)
        _run("ip", "netns", "del", NAMESPACE, check=False)


OPEN_KBIT = 1_000_000
"""A rate no consult comes near: the link as fast as if it were not shaped."""


def shape(down_kbit: int | None, up_kbit: int | None) -> None:
    """Token-bucket limits: the host side's egress is the patient's download, the guest's its upload."""
    for device, rate, inside in ((HOST_DEVICE, down_kbit, False), (GUEST_DEVICE, up_kbit, True)):
        run = _in_namespace if inside else _run
        if rate is None:
            run("tc", "qdisc", "del", "dev", device, "root", check=False)
        else:
            burst = "16kbit" if rate < OPEN_KBIT else "1mbit"
            bucket = ("rate", f"{rate}kbit", "burst", burst, "latency", "300ms")
            run("tc", "qdisc", "replace", "dev", device, "root", "tbf", *bucket)


def open_up(scenario: Scenario) -> None:
    """The shaped link gets fast, as a link that clears does: what its queue holds drains at once.
    Deleting the token bucket would throw the queue away instead, tens of packets lost in the
    first second after the link was clean (an existing bucket given a new rate keeps its queue)."""
    shape(scenario.down_kbit and OPEN_KBIT, scenario.up_kbit and OPEN_KBIT)


def lose(down_pct: int, up_pct: int) -> None:
    """Random loss on the link: ``down_pct`` of what reaches the patient, ``up_pct`` of what it sends
    (0 and 0 remove the rules). Both are dropped at the receiving end of the veth pair, as a lossy
    link would: a drop in the sender's own output hook fails its ``sendto``, which Chromium
    answers by sending again, so most of such "loss" never happens."""
    _in_namespace("nft", "delete", "table", "inet", "tcweak", check=False)
    _run("nft", "delete", "table", "inet", NAMESPACE, check=False)
    if down_pct > 0:
        _in_namespace("nft", "-f", "-", stdin=_dropping("tcweak", "input", "", down_pct))
    if up_pct > 0:
        _run("nft", "-f", "-", stdin=_dropping(NAMESPACE, "prerouting", f'iifname "{HOST_DEVICE}" ', up_pct))


COUNTING = f"{NAMESPACE}count"
"""The nftables tables that count UDP towards the patient: sent (this machine's output) and
received (the namespace's input, after the lossy chain)."""


def count_link() -> None:
    """Count the UDP datagrams sent to the patient and those that got through: the link's own
    loss, its queue's tail drops included, which ``Scenario.link_loss_pct`` (the random loss
    configured) leaves out."""
    for run, hook, match in (
        (_run, "output", f"ip daddr {GUEST_ADDRESS}"),
        (_in_namespace, "input", f"ip saddr {HOST_ADDRESS}"),
    ):
        table = (
            f"table ip {COUNTING} {{\n  chain datagrams {{\n    type filter hook {hook} priority 10;\n"
            f"    {match} meta l4proto udp counter\n  }}\n}}\n"
        )
        run("nft", "-f", "-", stdin=table)


def link_counts() -> tuple[int, int]:
    """UDP datagrams sent to the patient so far, and those that reached the patient's namespace."""
    counts = []
    for command in (("nft",), ("ip", "netns", "exec", NAMESPACE, "nft")):
        listing = subprocess.run(
            (*command, "-j", "list", "table", "ip", COUNTING), text=True, check=True, capture_output=True
        ).stdout
        counts.append(
            sum(
                expression["counter"]["packets"]
                for item in json.loads(listing)["nftables"]
                for expression in item.get("rule", {}).get("expr", [])
                if "counter" in expression
            )
        )
    return counts[0], counts[1]


def _dropping(table: str, hook: str, match: str, percent: int) -> str:
    """An nftables table that drops ``percent`` % of the packets ``match`` selects at ``hook``."""
    return (
        f"table inet {table} {{\n"
        f"  chain lossy {{\n    type filter hook {hook} priority 0;\n"
        f"    {match}numgen random mod 100 < {percent} drop\n  }}\n}}\n"
    )


async def apply_loss(scenario: Scenario, until: float) -> None:
    """Hold the scenario's loss until ``until`` (monotonic), toggling it on a schedule for bursts."""
    if scenario.burst is None:
        lose(scenario.down_loss, scenario.up_loss)
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        return
    lossy, clean = scenario.burst
    while time.monotonic() < until:
        lose(scenario.down_loss, scenario.up_loss)
        await asyncio.sleep(min(lossy, max(0.0, until - time.monotonic())))
        lose(0, 0)
        await asyncio.sleep(min(clean, max(0.0, until - time.monotonic())))


# -- what the browsers say ---------------------------------------------------------------------


def speech_like_wav(path: Path, seconds: float = 8.0, rate: int = 48_000) -> Path:
    """A voice-like test signal: a glottal pulse train (100-220 Hz) through three vowel formants,
    in syllables of ~200 ms with pauses between phrases.

    Chromium's own fake microphone plays a beep and silence, which Opus's voice activity detector
    does not take for speech, and Opus adds its in-band FEC only to frames it codes as speech: with
    the beep, FEC would be measured on almost nothing. A consult carries speech."""
    rng = np.random.default_rng(17)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 160 + 60 * np.sin(2 * np.pi * 0.7 * t)
    pulses = (np.diff(np.floor(np.cumsum(f0) / rate), prepend=0.0) > 0).astype(np.float64)
    voiced = pulses + 0.02 * rng.standard_normal(t.size)
    signal = np.zeros_like(t)
    for formant, bandwidth, gain in ((700, 110, 1.0), (1220, 120, 0.6), (2600, 160, 0.3)):
        r = np.exp(-np.pi * bandwidth / rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * formant / rate), r * r
        out = np.zeros_like(t)
        for i in range(2, t.size):
            out[i] = voiced[i] - a1 * out[i - 1] - a2 * out[i - 2]
        signal += gain * out
    syllables = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    phrases = (np.sin(2 * np.pi * t / 4.0) > -0.6).astype(np.float64)  # a pause every 4 s
    signal *= syllables * phrases
    samples = (0.5 * 32767 * signal / np.max(np.abs(signal))).astype("<i2")
    with wave.open(str(path), "wb") as out_file:
        out_file.setnchannels(1)
        out_file.setsampwidth(2)
        out_file.setframerate(rate)
        out_file.writeframes(samples.tobytes())
    return path


# -- what the pages show ----------------------------------------------------------------------

PAGE_STATE = """
async () => {
  const out = { audioReceived: 0, audioLost: 0, concealed: 0, samples: 0, frames: 0, fec: 0, videoReceived: 0,
                paused: document.body.dataset.videoPaused === "true",
                pauses: window.teleconsultaVideoPauses ?? 0,
                level: null, peerWeak: document.body.dataset.peerLink ?? null };
  const badge = document.getElementById("quality");
  if (badge && !badge.hidden) out.level = badge.dataset.level ?? null;
  const publisher = window.teleconsultaDebug?.publisher();
  out.fecAnswered = /useinbandfec=1/.test(publisher?.remoteDescription?.sdp ?? "");
  out.reportedLoss = 0;
  if (publisher) {
    (await publisher.getStats()).forEach((r) => {
      if (r.type === "remote-inbound-rtp" && r.kind === "audio") {
        out.reportedLoss = Math.max(out.reportedLoss, r.fractionLost ?? 0);
      }
    });
  }
  const pc = window.teleconsultaDebug?.peerConnection();
  out.connections = `${publisher?.connectionState ?? "-"}/${pc?.connectionState ?? "-"}`;
  if (!pc) return out;
  (await pc.getStats()).forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    if (r.kind === "audio") {
      out.audioReceived += r.packetsReceived ?? 0;
      out.audioLost += r.packetsLost ?? 0;
      out.concealed += r.concealedSamples ?? 0;
      out.samples += r.totalSamplesReceived ?? 0;
      out.fec += r.fecPacketsReceived ?? 0;
    } else {
      out.frames += r.framesDecoded ?? 0;
      out.videoReceived += r.packetsReceived ?? 0;
    }
  });
  return out;
}
"""


@dataclass
class Reading:
    audio_received: int
    audio_lost: int
    concealed: int
    samples: int
    frames: int
    video_received: int
    """RTP packets of video, padding included (what a paused link's probes add)."""
    paused: bool
    level: str | None
    pauses: int
    """Pauses the page has shown since it was admitted, each counted as it happened."""
    connections: str
    """The states of the page's sending and receiving connections."""


async def read(page: Page) -> Reading:
    state = await page.evaluate(PAGE_STATE)
    return Reading(
        state["audioReceived"],
        state["audioLost"],
        state["concealed"],
        state["samples"],
        state["frames"],
        state["videoReceived"],
        state["paused"],
        state["level"],
        state["pauses"],
        state.get("connections", "-/-"),
    )


@dataclass
class AudioTally:
    """A page's audio counters summed over readings about a second apart.

    They are its receiving connection's: when the page connects again (its link gave up), the new
    connection's counters start from zero. Taken between the first and the last reading alone,
    that run would count nothing at all; here a reading whose counters went back starts a new
    stretch, counted from zero, and only the old connection's last second is missed (``restarts``
    says how often)."""

    received: int = 0
    lost: int = 0
    concealed: int = 0
    samples: int = 0
    restarts: int = 0

    def add(self, before: Reading, after: Reading) -> None:
        if after.samples < before.samples or after.audio_received < before.audio_received:
            self.restarts += 1
            before = replace(before, audio_received=0, audio_lost=0, concealed=0, samples=0)
        self.received += max(0, after.audio_received - before.audio_received)
        self.lost += max(0, after.audio_lost - before.audio_lost)
        self.concealed += max(0, after.concealed - before.concealed)
        self.samples += max(0, after.samples - before.samples)


@dataclass
class AudioDamage:
    lost_pct: float
    concealed_pct: float
    concealed_samples: int
    restarts: int = 0
    """Times the page's receiving connection started again during the period."""

    @classmethod
    def of(cls, tally: AudioTally) -> AudioDamage:
        expected = tally.lost + tally.received
        return cls(
            100.0 * tally.lost / expected if expected else 0.0,
            100.0 * tally.concealed / max(1, tally.samples),
            tally.concealed,
            tally.restarts,
        )


@dataclass
class Outcome:
    scenario: Scenario
    patient_audio: AudioDamage
    nurse_audio: AudioDamage
    video_s: int
    pauses: int
    recovery_s: float | None
    misattributed_s: float
    link_drop_pct: float = 0.0
    """What the link towards the patient actually dropped of the UDP sent over it during the bad
    period: the random loss and its queue's tail drops."""
    notes: list[str] = field(default_factory=list)

    @property
    def audio_loss_ratio(self) -> float | None:
        link = self.scenario.link_loss_pct
        return self.patient_audio.concealed_pct / link if link > 0 else None

    @property
    def audio_loss_ratio_dropped(self) -> float | None:
        """The patient's concealed audio ÷ what the link dropped (an extra figure: the issue's
        ratio stays the one over the configured random loss)."""
        return self.patient_audio.concealed_pct / self.link_drop_pct if self.link_drop_pct > 0 else None


def print_moment(scenario: Scenario, what: str) -> None:
    """A line of ``--timeline`` in the server log's clock, to read the two side by side."""
    print(f"  {scenario.name} {what} {datetime.now(UTC):%H:%M:%S.%f}", file=sys.stderr)


def print_second(scenario: Scenario, left_s: float, before: Reading, after: Reading) -> None:
    """One line of ``--timeline``: the patient's audio and video since the last line."""
    samples = after.samples - before.samples
    concealed_pct = 100.0 * (after.concealed - before.concealed) / samples if samples else 0.0
    received = after.audio_received - before.audio_received
    print(
        f"  {scenario.seconds - left_s:5.1f} s  audio received {received:3d}"
        f" lost {after.audio_lost - before.audio_lost:3d} concealed {concealed_pct:5.1f} %"
        f" video packets {after.video_received - before.video_received:3d}"
        f" frames {after.frames - before.frames:3d}  {after.connections}  {'paused' if after.paused else ''}",
        file=sys.stderr,
    )


def told_weak(reading: Reading) -> bool:
    """Whether a page tells its own user that their link is weak (badge, or their video paused)."""
    return reading.paused or reading.level in ("poor", "bad")


async def run_scenario(scenario: Scenario, patient: Page, nurse: Page, *, timeline: bool = False) -> Outcome:
    patient_before, nurse_before = await read(patient), await read(nurse)
    sent_before, through_before = link_counts()
    shape(scenario.down_kbit, scenario.up_kbit)
    if timeline:
        print_moment(scenario, "bad from")
    ends = time.monotonic() + scenario.seconds
    loss = asyncio.create_task(apply_loss(scenario, ends))
    video_s = 0
    misattributed_s = 0.0
    last_frames = patient_before.frames
    patient_audio, nurse_audio = AudioTally(), AudioTally()
    last, last_nurse = patient_before, nurse_before
    try:
        while time.monotonic() < ends:
            await asyncio.sleep(1)
            p, n = await read(patient), await read(nurse)
            if timeline:
                print_second(scenario, ends - time.monotonic(), last, p)
            patient_audio.add(last, p)
            nurse_audio.add(last_nurse, n)
            last, last_nurse = p, n
            video_s += p.frames - last_frames >= 5
            last_frames = p.frames
            misattributed_s += told_weak(n)
        await loss
    finally:
        lose(0, 0)
        open_up(scenario)
    cleared = time.monotonic()
    patient_after, nurse_after = await read(patient), await read(nurse)
    patient_audio.add(last, patient_after)
    nurse_audio.add(last_nurse, nurse_after)
    sent_after, through_after = link_counts()
    sent = sent_after - sent_before
    link_drop_pct = 100.0 * max(0, sent - (through_after - through_before)) / sent if sent else 0.0
    if timeline:
        print_moment(scenario, "clean from")
    recovery_s: float | None = None
    steady = 0
    last = patient_after
    try:
        while time.monotonic() - cleared < RECOVERY_LIMIT_S:
            await asyncio.sleep(0.5)
            p, n = await read(patient), await read(nurse)
            if timeline:
                print_second(scenario, ends - time.monotonic(), last, p)
                last = p
            misattributed_s += 0.5 * told_weak(n)
            moving = not p.paused and p.frames - last_frames >= 4  # >= 8 fps over half a second
            last_frames = p.frames
            steady = steady + 1 if moving else 0
            if steady >= 4:  # two seconds of moving video in a row
                recovery_s = time.monotonic() - cleared - 2.0
                break
    finally:
        shape(None, None)
    pauses = (await read(patient)).pauses - patient_before.pauses
    return Outcome(
        scenario,
        AudioDamage.of(patient_audio),
        AudioDamage.of(nurse_audio),
        video_s,
        pauses,
        recovery_s,
        misattributed_s,
        link_drop_pct,
    )


# -- the consult ------------------------------------------------------------------------------


@asynccontextmanager
async def server() -> AsyncIterator[tuple[str, web.AppRunner]]:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            host="0.0.0.0",
            port=0,
            database_url=f"sqlite+aiosqlite:///{Path(data) / 'records.sqlite3'}",
            media_host_addresses=("127.0.0.1", HOST_ADDRESS),
            secret_key=b"benchmark-secret-key-0123456789abcdef",
            secret_key_is_ephemeral=False,
            slot_capacity=20,
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "0.0.0.0", 0)
        await site.start()
        try:
            yield f"http://{HOST_ADDRESS}:{runner.addresses[0][1]}", runner
        finally:
            await runner.cleanup()


async def admitted(patient_browser: Browser, nurse: Page, link: str, consult_id: str) -> Page:
    patient = await (await patient_browser.new_context()).new_page()
    await patient.goto(link)
    await patient.check("#consent")
    await patient.click("#enter")
    await patient.wait_for_selector("body[data-state=waiting]")
    row = f"#queue-rows tr[data-consult-id='{consult_id}'][data-state=waiting] button"
    await nurse.click(row)
    for page in (patient, nurse):
        await page.wait_for_selector("body[data-state=call]")
    await flowing(patient)
    await flowing(nurse)
    await patient.evaluate(COUNT_VIDEO_PAUSES)
    return patient


async def flowing(page: Page) -> None:
    deadline = time.monotonic() + 45
    first = await read(page)
    while (
        now := await read(page)
    ).frames < first.frames + 20 or now.audio_received < first.audio_received + 50:
        if time.monotonic() > deadline:
            raise RuntimeError(f"media did not flow: {now}")
        await asyncio.sleep(0.5)


async def run(scenarios: list[Scenario], *, timeline: bool = False) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with patient_namespace():
        count_link()
        async with server() as (base, runner), async_playwright() as playwright:
            services = runner.app[SERVICES]
            demo = await seed_demo(services, base, password="bench-password-1")
            origin = f"--unsafely-treat-insecure-origin-as-secure={base}"
            voice = speech_like_wav(Path(tempfile.mkdtemp()) / "voice.wav")
            flags = [*CHROMIUM_FLAGS, origin, f"--use-file-for-fake-audio-capture={voice}"]
            wrapper = Path(tempfile.mkdtemp()) / "chromium-in-namespace"
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {NAMESPACE} {CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            nurse_browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
            patient_browser = await playwright.chromium.launch(executable_path=str(wrapper), args=flags)
            nurse = await (await nurse_browser.new_context()).new_page()
            await nurse.goto(demo.console_url)
            await nurse.fill("#username", demo.username)
            await nurse.fill("#password", demo.password)
            await nurse.click("#login button[type=submit]")
            await nurse.wait_for_selector("body[data-state=queue]")
            for index, scenario in enumerate(scenarios):
                consult_id, link = (
                    (demo.consult_id, demo.patient_link)
                    if index == 0
                    else await create_appointment_link(services, base, f"Paciente {index}")
                )
                patient = await admitted(patient_browser, nurse, link, consult_id)
                await asyncio.sleep(5)  # let the bandwidth estimates settle on the clean link
                outcome = await run_scenario(scenario, patient, nurse, timeline=timeline)
                outcomes.append(outcome)
                print_outcome(outcome)
                await nurse.click("#end")
                with suppress(Exception):
                    await patient.wait_for_selector("body[data-state=ended]", timeout=15_000)
                await patient.context.close()
                await nurse.wait_for_selector("body[data-state=queue]")
            await patient_browser.close()
            await nurse_browser.close()
    return outcomes


def _restarts(o: Outcome) -> str:
    """A line when a page's receiving connection started again: its audio figures then miss the
    old connection's last second."""
    pages = {"patient": o.patient_audio.restarts, "nurse": o.nurse_audio.restarts}
    said = [f"{page} {count} time{'s' if count > 1 else ''}" for page, count in pages.items() if count]
    return f"    receiving connection started again: {', '.join(said)}\n" if said else ""


def print_outcome(o: Outcome) -> None:
    s = o.scenario
    link = f"{s.down_kbit or '-'}/{s.up_kbit or '-'} kbit/s down/up, loss {s.down_loss}/{s.up_loss} %"
    if s.burst:
        link += f" in bursts ({s.burst[0]:g} s on, {s.burst[1]:g} s off)"
    recovery = "not within 30 s" if o.recovery_s is None else f"{o.recovery_s:.1f} s"
    print(
        f"{s.name:15s} {link}, {s.seconds:g} s (link loss to patient {s.link_loss_pct:.1f} %, "
        f"dropped {o.link_drop_pct:.1f} % of the UDP sent to the patient)\n"
        f"    patient audio: {o.patient_audio.lost_pct:.1f} % packets lost, "
        f"{o.patient_audio.concealed_pct:.1f} % concealed "
        f"({o.patient_audio.concealed_samples} samples concealed)\n"
        f"    nurse audio:   {o.nurse_audio.lost_pct:.1f} % packets lost, "
        f"{o.nurse_audio.concealed_pct:.1f} % concealed\n"
        f"{_restarts(o)}"
        f"    patient video {o.video_s} s of {s.seconds:g} s, pauses {o.pauses}, steady video {recovery} "
        f"after the link was clean; nurse told her link was weak {o.misattributed_s:g} s",
        flush=True,
    )


def summary(outcomes: list[Outcome]) -> dict[str, object]:
    ratios = [r for o in outcomes if (r := o.audio_loss_ratio) is not None]
    dropped = [r for o in outcomes if (r := o.audio_loss_ratio_dropped) is not None]
    recoveries = [o.recovery_s for o in outcomes]
    return {
        "scenarios": [o.scenario.name for o in outcomes],
        "audio_loss_ratio_worst": round(max(ratios), 3) if ratios else None,
        "pause_flaps": sum(max(0, o.pauses - 1) for o in outcomes),
        "misattributed_s": sum(o.misattributed_s for o in outcomes),
        "recovery_worst_s": None if None in recoveries else round(max(r or 0.0 for r in recoveries), 1),
        "patient_concealed_pct": {o.scenario.name: round(o.patient_audio.concealed_pct, 2) for o in outcomes},
        "link_drop_pct": {o.scenario.name: round(o.link_drop_pct, 2) for o in outcomes},
        "audio_loss_ratio_dropped_worst": round(max(dropped), 3) if dropped else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="three 20 s scenarios, then one JSON line")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="run only these")
    parser.add_argument("--timeline", action="store_true", help="each second's audio, to stderr")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("network namespaces need root")
    chosen = list(QUICK) if args.quick else [SCENARIOS[name] for name in (args.scenario or SCENARIOS)]
    outcomes = asyncio.run(run(chosen, timeline=args.timeline))
    print(json.dumps(summary(outcomes)))


if __name__ == "__main__":
    main()
