"""What each participant's link allows: quality samples, audio first, and camera caps.

Every few seconds the SFU measures each participant (:class:`media.quality.QualityMeter`, fed by
the RTCP receiver reports of their connections) and tells signaling (``QUALITY``); every second
their page may report what it received itself (``media:link_report``, :meth:`LinkPolicy.hear`),
fresher evidence of their download. Then three levers:

- **camera caps** (``BITRATE``): forwarded packets reach no encoder, so a subscriber's REMB
  estimate would otherwise be ignored and its link flooded; each publisher is asked to cap its
  camera at the weakest of its subscribers' estimates (lowered in data-saver mode), within
  ``MIN_CAMERA_BPS`` and ``MAX_CAMERA_BPS``;
- **pausing** (``VIDEO_PAUSED``): a link that cannot carry video (its own download loss, round
  trip, and its browser's bandwidth estimate against what video costs) gets its incoming video
  paused while audio keeps flowing (:class:`media.adaptation.VideoGate`), and resumed once clean;
  between samples, every fraction of one, the estimate is checked against what the server sent
  (:meth:`LinkPolicy.check_delivery`), so video that overruns the link pauses within a second;
- **audio protection**: each publisher's audio encoder hears the worst loss its listeners' own
  links see (:func:`share_subscriber_loss`), so Opus adds in-band FEC where a listener needs it;
  and while a listener's link is congested (their video paused for it), the publisher's
  microphone is capped at ``WEAK_LINK_AUDIO_BPS`` (``BITRATE``, source ``microphone``).
"""

from __future__ import annotations

import logging

from media.adaptation import Delivery, LinkReading, PageEvidence, PauseCause, VideoDecision, VideoGate
from media.aiortc_seam import remote_inbound_stats_id
from media.backend import LinkReport, MediaEvent, MediaEventKind, MediaListener
from media.forwarding import Sink
from media.link_facts import link_facts
from media.quality import QualitySample, Upstream
from media.sfu_room import Participant, Room, Subscribed

logger = logging.getLogger(__name__)

MIN_CAMERA_BPS = 150_000
"""No publisher is asked below this: a subscriber weaker than that is better served by pausing its
video (audio first) than by degrading everyone's picture."""
MAX_CAMERA_BPS = 1_500_000
BITRATE_CHANGE = 0.1
"""A new cap is sent only when it differs from the last one by more than this fraction."""
AUDIO_BPS = 50_000
"""What a participant's incoming audio takes with its headers (Opus at up to ~40 kbit/s)."""
WEAK_LINK_AUDIO_BPS = 16_000
"""The microphone's cap while someone hears it over a congested link. Browsers send Opus at about
32 kbit/s, which with its redundant copy (RED) and headers comes to ~90 kbit/s: nearly all of a
100 kbit/s link, whose queue then stayed full with audio alone (12 % concealed, no room for the
probes). At 16 kbit/s speech stays wideband and the stream takes ~60 kbit/s."""
DATA_SAVER_VIDEO_BPS = MIN_CAMERA_BPS
"""The video a participant in data-saver mode receives: the lowest camera bitrate we ask for."""


class LinkPolicy:
    def __init__(self, listener: MediaListener) -> None:
        self._listener = listener

    async def measure(self, room: Room) -> None:
        """Sample every participant's link and apply both levers."""
        for participant_id, participant in list(room.participants.items()):
            sample = await _sample(participant)
            if sample is not None:
                facts = link_facts(
                    participant.publisher,
                    participant.subscriber,
                    receive_video=participant.receive_video,
                    video_paused=participant.video_gate.paused,
                    codecs=participant.answer_codecs,
                )
                data = {**sample.to_json(), **facts}
                await self._listener(MediaEvent(room.room_id, participant_id, MediaEventKind.QUALITY, data))
                await self.protect_audio(room, participant, _download_reading(participant, sample))
            await self.follow_weakest_subscriber(room, participant)
        for participant in list(room.participants.values()):
            await self.spare_congested_listeners(room, participant)
        share_subscriber_loss(room)

    async def protect_audio(self, room: Room, participant: Participant, reading: LinkReading) -> None:
        """Pause the video a participant receives while their link cannot carry it; audio keeps flowing."""
        participant.video_gate, decision = participant.video_gate.observe(reading)
        await self._follow(room, participant, decision)

    async def check_delivery(self, room: Room, now: float) -> None:
        """Between samples: pause the video of anyone whose link delivers far less than the server
        sends it (:meth:`media.adaptation.VideoGate.check`). Reads counters only, no statistics."""
        for participant in list(room.participants.values()):
            delivery = _delivery(participant, now)
            if delivery is not None:
                participant.video_gate, decision = participant.video_gate.check(delivery)
                await self._follow(room, participant, decision)

    async def hear(self, room: Room, participant: Participant, report: LinkReport) -> None:
        """What the participant's page counted it received: fresh evidence of their download, which
        may resume their paused video at once (:meth:`media.adaptation.VideoGate.hear`). While it
        stays paused, the page is told how many clean packets would resume it, and reports as soon
        as it has them (``LINK_REPORT_WANTED``)."""
        evidence, rtt_ms = _page_evidence(participant, report), _latest_round_trip_ms(participant)
        before = participant.video_gate
        participant.video_gate, decision = before.hear(evidence, rtt_ms, report.queue_ms)
        gate = participant.video_gate
        if decision is VideoDecision.KEEP and gate.paused and gate.probe_pps != before.probe_pps:
            for subscription in participant.subscriptions.values():
                if subscription.transceiver.kind == "video":
                    _probe(subscription.sink, gate)  # already paused: the probes' new rate only
        await self._follow(room, participant, decision)
        if (wanted := gate.packets_to_resume) is not None:
            data = {"packets": wanted}
            kind = MediaEventKind.LINK_REPORT_WANTED
            await self._listener(MediaEvent(room.room_id, participant.participant_id, kind, data))

    async def _follow(self, room: Room, participant: Participant, decision: VideoDecision) -> None:
        if decision is VideoDecision.KEEP:
            return
        paused = decision is VideoDecision.PAUSE
        cause = participant.video_gate.cause
        if paused:
            logger.info("video to a participant of room %s paused (%s)", room.room_id, cause)
        else:
            logger.info("video to a participant of room %s resumed", room.room_id)
        for subscription in participant.subscriptions.values():
            if subscription.transceiver.kind == "video":
                if paused:
                    hold_back(subscription.sink, participant.video_gate)
                else:
                    subscription.sink.resume()
        for publisher_id in {key[0] for key in participant.subscriptions}:
            if (publisher := room.participants.get(publisher_id)) is not None:
                await self.spare_congested_listeners(room, publisher)
        await self._listener(
            MediaEvent(
                room.room_id,
                participant.participant_id,
                MediaEventKind.VIDEO_PAUSED,
                {"paused": paused, "reason": "weak_link"},
            )
        )

    async def follow_weakest_subscriber(self, room: Room, publisher: Participant) -> None:
        """Cap the publisher's camera at the lowest bandwidth its subscribers report (REMB).

        In a 1:1 consult the cap follows the other person exactly; in a multi-party room it
        follows the weakest subscriber, but never below ``MIN_CAMERA_BPS`` (below that, that
        subscriber's video is paused instead).
        """
        estimates = _camera_budgets(room, publisher)
        if not estimates and publisher.camera_cap_bps is None:
            return
        # Nobody left to limit it (the last weak subscriber left or turned data saver off): lift the cap.
        cap = max(MIN_CAMERA_BPS, min(MAX_CAMERA_BPS, min(estimates, default=MAX_CAMERA_BPS)))
        last = publisher.camera_cap_bps
        # A small change is estimate noise, unless the last cap breaks a data saver's promise.
        promised = DATA_SAVER_VIDEO_BPS if _watched_by_a_data_saver(room, publisher) else MAX_CAMERA_BPS
        if last is not None and abs(cap - last) <= BITRATE_CHANGE * last and last <= promised:
            return
        publisher.camera_cap_bps = cap
        await self._ask_bitrate(room, publisher, "camera", cap)

    async def spare_congested_listeners(self, room: Room, publisher: Participant) -> None:
        """Cap the publisher's microphone at ``WEAK_LINK_AUDIO_BPS`` while someone hears it over a
        congested link, and lift the cap once nobody does (``None``: the browser's own choice).

        Pausing video leaves a narrow link to the audio, but the audio a browser sends alone can
        fill 100 kbit/s; forwarded packets reach no encoder, so only the publisher can send less.
        Everyone else in the room hears the lower bitrate too, which speech bears well."""
        cap = WEAK_LINK_AUDIO_BPS if _heard_over_a_congested_link(room, publisher) else None
        if cap == publisher.microphone_cap_bps:
            return
        publisher.microphone_cap_bps = cap
        await self._ask_bitrate(room, publisher, "microphone", cap)

    async def _ask_bitrate(self, room: Room, publisher: Participant, source: str, cap: int | None) -> None:
        """Tell the publisher's page to cap one of its encoders (``media:bitrate``)."""
        data = {"source": source, "max_bitrate_bps": cap}
        await self._listener(MediaEvent(room.room_id, publisher.participant_id, MediaEventKind.BITRATE, data))


def _heard_over_a_congested_link(room: Room, publisher: Participant) -> bool:
    """Whether anyone receives the publisher's audio while their video is paused for congestion."""
    audio = {
        (publisher.participant_id, source)
        for source, published in publisher.published.items()
        if published.kind == "audio"
    }
    return any(
        other.video_gate.paused
        and other.video_gate.cause is PauseCause.CONGESTION
        and not audio.isdisjoint(other.subscriptions)
        for other in room.others(publisher)
    )


def hold_back(sink: Sink, gate: VideoGate) -> None:
    """Pause one video sink of a participant whose video is paused, probing their link when the
    pause is for congestion. Also for a sink made during the pause (their page reconnected, or
    the publisher came back): without probes, a link that cleared took ~25 s to be judged clean
    on audio alone (bench.weak_networks, 30 s at 150 kbit/s)."""
    sink.pause()
    _probe(sink, gate)


def _probe(sink: Sink, gate: VideoGate) -> None:
    """Probe a paused video sink at the gate's rate when the pause is for congestion."""
    probe = getattr(sink, "probe", None)
    if gate.cause is PauseCause.CONGESTION and probe is not None:
        probe(gate.probe_pps)


def share_subscriber_loss(room: Room) -> None:
    """Tell each publisher's audio encoder the worst loss its listeners' own links see.

    Our receiver reports to a publisher cover only the leg to the server; without this a nurse on
    a clean link would never hear that the patient's downlink loses 10 %, and her browser would
    send Opus without in-band FEC (:meth:`media.aiortc_seam.ReceiverTap.report_downstream_loss`).
    """
    for publisher in room.participants.values():
        for source, published in publisher.published.items():
            if published.kind != "audio":
                continue
            listeners = [
                other.meter.download_loss_pct
                for other in room.others(publisher)
                if (publisher.participant_id, source) in other.subscriptions
            ]
            report = getattr(published.handle, "report_downstream_loss", None)
            if report is not None:
                report(max(listeners, default=0.0) / 100.0)


def _download_reading(participant: Participant, sample: QualitySample) -> LinkReading:
    """What the direction towards the participant says of video: their own download loss, the
    round trip, and while video flows their browser's estimate against what video costs."""
    videos = [s for s in participant.subscriptions.values() if s.transceiver.kind == "video"]
    estimates = [
        estimate for s in videos if (estimate := getattr(s.sink, "receiver_estimate_bps", None)) is not None
    ]
    flowing = bool(videos) and not participant.video_gate.paused
    return LinkReading(
        loss_pct=sample.download.loss_pct if sample.download else None,
        rtt_ms=sample.rtt_ms,
        capacity_bps=max(estimates) if flowing and estimates else None,
        needed_bps=len(videos) * MIN_CAMERA_BPS + AUDIO_BPS if videos else 0,
    )


def _delivery(participant: Participant, now: float) -> Delivery | None:
    """What the server sent the participant since the last check (``now``, monotonic seconds),
    against their browser's estimate; None without video to them or a previous check to count from."""
    subscriptions = participant.subscriptions.values()
    videos = [s for s in subscriptions if s.transceiver.kind == "video"]
    counters = [stats for s in subscriptions if (stats := getattr(s.sink, "stats", None)) is not None]
    sent = sum(stats.bytes_sent for stats in counters)
    previous, participant.sent_mark = participant.sent_mark, (now, sent)
    if not videos or previous is None or now <= previous[0]:
        return None
    estimates = [e for s in videos if (e := getattr(s.sink, "receiver_estimate_bps", None)) is not None]
    return Delivery(
        sent_bps=int(8 * max(0, sent - previous[1]) / (now - previous[0])),
        estimate_bps=max(estimates) if estimates else None,
        needed_bps=len(videos) * MIN_CAMERA_BPS + AUDIO_BPS,
    )


def _latest_round_trip_ms(participant: Participant) -> float | None:
    """The round trip that the newest receiver report measured on any stream sent to the
    participant (video probes bring one a second while video is paused, audio one every ~5 s)."""
    measured = [
        round_trip
        for subscription in participant.subscriptions.values()
        if (round_trip := getattr(subscription.sink, "round_trip", None)) is not None
    ]
    return 1000.0 * max(measured)[1] if measured else None


def _page_evidence(participant: Participant, report: LinkReport) -> PageEvidence:
    """The page's audio counts (its video's when no audio reached it; both while its video is
    paused, when what video it receives are the probes), less the holes the senders' uplinks left
    in what the server forwarded of those kinds since the page's last report: the page counts
    those as lost, but they were lost before the server, not on this link."""
    holes = {key: getattr(s.sink, "holes_sent", 0) for key, s in participant.subscriptions.items()}
    previous, participant.reported_holes = participant.reported_holes, holes
    audio = report.audio_received + report.audio_lost
    kinds: tuple[str, ...]
    if participant.video_gate.paused:
        kinds = ("audio", "video")
        received, lost = report.audio_received + report.video_received, report.audio_lost + report.video_lost
    elif audio:
        kinds, received, lost = ("audio",), report.audio_received, report.audio_lost
    else:
        kinds, received, lost = ("video",), report.video_received, report.video_lost
    upstream = sum(
        max(0, count - previous.get(key, count))  # a stream new since the last report: none yet
        for key, count in holes.items()
        if participant.subscriptions[key].transceiver.kind in kinds
    )
    own_lost = max(0, lost - upstream)
    return PageEvidence(received + own_lost, own_lost)


async def _sample(participant: Participant) -> QualitySample | None:
    """This interval's sample from the statistics of the participant's connected connections."""
    report: dict[str, object] = {}
    for connection in (participant.publisher, participant.subscriber):
        if connection is not None and connection.connectionState == "connected":
            report.update(await connection.getStats())
    return participant.meter.update(report, _upstream(participant)) if report else None


def _upstream(participant: Participant) -> dict[str, Upstream]:
    """Per outgoing stream's receiver-report stats id: what its publisher's link did to it (packets
    lost, jitter), which the participant's reports count although their own link did none of it."""
    return {
        remote_inbound_stats_id(subscription.transceiver.sender): Upstream(
            getattr(subscription.sink, "upstream_holes", 0),
            getattr(subscription.sink, "upstream_jitter_ms", 0.0),
        )
        for subscription in participant.subscriptions.values()
    }


def _camera_budgets(room: Room, publisher: Participant) -> list[int]:
    """What each subscriber of the publisher's camera can take, where it says."""
    return [
        budget
        for other in room.others(publisher)
        for (publisher_id, source), subscription in other.subscriptions.items()
        if publisher_id == publisher.participant_id and source == "camera"
        if (budget := _subscriber_budget(other, subscription))
    ]


def _watched_by_a_data_saver(room: Room, publisher: Participant) -> bool:
    """Whether a subscriber in data-saver mode receives the publisher's camera."""
    return any(
        other.data_saver and (publisher.participant_id, "camera") in other.subscriptions
        for other in room.others(publisher)
    )


def _subscriber_budget(subscriber: Participant, subscription: Subscribed) -> int | None:
    """What one subscriber can take of a camera: its REMB estimate, lowered in data-saver mode."""
    estimate: int | None = getattr(subscription.sink, "receiver_estimate_bps", None)
    if subscriber.data_saver:
        return min(estimate or DATA_SAVER_VIDEO_BPS, DATA_SAVER_VIDEO_BPS)
    return estimate
