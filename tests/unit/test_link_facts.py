"""What a quality sample says besides RTCP figures: codec, media path, video (media/link_facts.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from media.aiortc_seam import selected_candidate_types
from media.link_facts import audio_codec, link_facts

ANSWER = "\r\n".join(
    [
        "v=0",
        "m=video 9 UDP/TLS/RTP/SAVPF 97 98",
        "a=rtpmap:97 VP8/90000",
        "m=audio 0 UDP/TLS/RTP/SAVPF 0",
        "a=rtpmap:0 PCMU/8000",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:111 opus/48000/2",
    ]
)


def test_the_codec_is_the_first_payload_of_the_first_live_audio_line() -> None:
    # The rejected (port 0) line is skipped; of the live one, the first payload type is in use.
    assert audio_codec(ANSWER) == "opus"
    assert audio_codec(ANSWER.replace(" 111 0", " 0 111")) == "pcmu"
    assert audio_codec("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 VP8/90000") is None


def test_red_first_names_the_codec_it_carries() -> None:
    red_first = ANSWER.replace(" 111 0", " 63 111 0") + "\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111"
    assert audio_codec(red_first) == "opus"


def test_video_state_and_no_connection() -> None:
    assert link_facts(None, None, receive_video=True, video_paused=False) == {
        "codec": None,
        "path": "unknown",
        "video": "on",
    }
    assert link_facts(None, None, receive_video=True, video_paused=True)["video"] == "paused"
    assert link_facts(None, None, receive_video=False, video_paused=True)["video"] == "off"


def _candidate(kind: str, host: str = "198.51.100.7", port: int = 3478) -> Any:
    return SimpleNamespace(type=kind, host=host, port=port)


def _connection(local: Any, remote: Any | None, trickled: list[Any], sdp: str | None = None) -> Any:
    """An RTCPeerConnection as far as the seam reads it: transceiver → DTLS → ICE → aioice, and the
    remote description."""
    nominated = {1: SimpleNamespace(local_candidate=local, remote_candidate=remote)} if remote else {}
    agent = SimpleNamespace(_nominated=nominated, remote_candidates=trickled)
    ice = SimpleNamespace(_connection=agent)
    transceiver = SimpleNamespace(receiver=SimpleNamespace(transport=SimpleNamespace(transport=ice)))
    description = SimpleNamespace(sdp=sdp, type="offer") if sdp else None
    return SimpleNamespace(getTransceivers=lambda: [transceiver], remoteDescription=description)


def test_the_selected_pair_names_a_relay() -> None:
    direct = _connection(_candidate("host"), _candidate("srflx"), [])
    assert selected_candidate_types(direct) == ("host", "srflx")
    # A check through the browser's relay arrived before its relay candidate: learnt as prflx.
    relayed = _connection(_candidate("host"), _candidate("prflx"), [_candidate("prflx"), _candidate("relay")])
    assert selected_candidate_types(relayed) == ("host", "relay")
    # Or it was only in the browser's description, which aiortc did not hand to aioice (max-bundle).
    described = _connection(
        _candidate("host"),
        _candidate("prflx"),
        [_candidate("prflx")],
        sdp="m=audio 3478 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:1 1 udp 58466303 198.51.100.7 3478 typ relay raddr 0.0.0.0 rport 0\r\n",
    )
    assert selected_candidate_types(described) == ("host", "relay")
    # Learnt from a check and signalled nowhere: the participant's own NAT mapping, not a relay.
    assert selected_candidate_types(_connection(_candidate("host"), _candidate("prflx"), [])) == (
        "host",
        "prflx",
    )
    assert selected_candidate_types(_connection(_candidate("host"), None, [])) is None
    moved = SimpleNamespace(
        getTransceivers=lambda: [SimpleNamespace(receiver=SimpleNamespace())], remoteDescription=None
    )
    assert selected_candidate_types(moved) is None  # internals gone: no answer, no failure
