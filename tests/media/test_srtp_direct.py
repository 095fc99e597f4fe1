"""media/srtp_direct.py calls libsrtp as pylibsrtp's own methods do: same bytes out, same errors."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pylibsrtp import Error as SrtpError
from pylibsrtp import Policy, Session

from media.srtp_direct import SrtpCall, direct_call, srtp_direct_problems

PROFILES = {
    "aes128-cm-sha1-80": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "aead-aes128-gcm": (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
}


def sessions(profile_name: str) -> tuple[Session, Session, Session, Session]:
    """Two senders and two receivers with one key: one of each for pylibsrtp, one for the direct
    calls, so both see the same packets in the same order from the same state."""
    profile, key_length = PROFILES[profile_name]
    key = os.urandom(key_length)

    def session(direction: int) -> Session:
        return Session(Policy(key=key, ssrc_type=direction, srtp_profile=profile))

    return (
        session(Policy.SSRC_ANY_OUTBOUND),
        session(Policy.SSRC_ANY_OUTBOUND),
        session(Policy.SSRC_ANY_INBOUND),
        session(Policy.SSRC_ANY_INBOUND),
    )


def rtp(sequence: int, payload: bytes, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, sequence & 0xFFFF, sequence * 3000, ssrc) + payload


def rtcp_receiver_report(ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def test_the_internals_it_needs_are_there() -> None:
    assert srtp_direct_problems() == []
    assert isinstance(direct_call(Session(), "protect"), SrtpCall)


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
@settings(max_examples=25, deadline=None)
@given(payloads=st.lists(st.binary(min_size=0, max_size=1300), min_size=1, max_size=20))
def test_protect_and_unprotect_give_pylibsrtps_bytes(profile_name: str, payloads: list[bytes]) -> None:
    theirs_out, ours_out, theirs_in, ours_in = sessions(profile_name)
    protect, unprotect = SrtpCall(ours_out, "protect"), SrtpCall(ours_in, "unprotect")
    for sequence, payload in enumerate(payloads):
        packet = rtp(sequence, payload)
        protected = protect(packet)
        assert protected == theirs_out.protect(packet)
        assert unprotect(protected) == packet
        assert theirs_in.unprotect(protected) == packet


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
def test_rtcp_calls_give_pylibsrtps_bytes(profile_name: str) -> None:
    theirs_out, ours_out, _, ours_in = sessions(profile_name)
    report = rtcp_receiver_report()
    protected = SrtpCall(ours_out, "protect_rtcp")(report)
    assert protected == theirs_out.protect_rtcp(report)
    assert SrtpCall(ours_in, "unprotect_rtcp")(protected) == report


def test_a_damaged_or_replayed_packet_raises_pylibsrtps_error_and_the_next_one_still_works() -> None:
    _, sender, _, receiver = sessions("aead-aes128-gcm")
    protect, unprotect = SrtpCall(sender, "protect"), SrtpCall(receiver, "unprotect")
    first = protect(rtp(1, b"voice"))
    damaged = bytearray(protect(rtp(2, b"more voice")))
    damaged[-1] ^= 0xFF
    assert unprotect(first) == rtp(1, b"voice")
    with pytest.raises(SrtpError, match="authentication failure"):
        unprotect(bytes(damaged))
    with pytest.raises(SrtpError, match="replay"):
        unprotect(first)
    assert unprotect(protect(rtp(3, b"still here"))) == rtp(3, b"still here")


def test_a_packet_too_long_for_the_buffer_is_refused_before_libsrtp_sees_it() -> None:
    _, sender, _, _ = sessions("aead-aes128-gcm")
    protect = SrtpCall(sender, "protect")
    longest = 1500 - 144  # pylibsrtp's buffer less the largest trailer libsrtp may add
    assert len(protect(rtp(1, bytes(longest - 12)))) > longest
    with pytest.raises(ValueError, match="too long"):
        protect(rtp(2, bytes(longest - 11)))
    assert protect(rtp(3, b"fine"))  # nothing was written past the buffer: the session still works


def test_each_call_returns_its_own_bytes_not_a_view_of_the_shared_buffer() -> None:
    _, sender, _, _ = sessions("aead-aes128-gcm")
    protect = SrtpCall(sender, "protect")
    first = protect(rtp(1, b"a" * 100))
    kept = bytes(first)
    protect(rtp(2, b"b" * 100))
    assert first == kept
