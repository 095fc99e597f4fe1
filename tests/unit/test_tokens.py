from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms import tokens
from rooms.roles import Role
from rooms.tokens import JoinClaims, TokenError, TokenErrorCode

KEY = b"k" * 32
CLAIMS = JoinClaims("c-1", "p-1", Role.PATIENT, not_before=1_000, expires_at=2_000, token_id="jti-1")


def test_round_trip_within_validity() -> None:
    assert tokens.verify(KEY, tokens.issue(KEY, CLAIMS), now=1_500) == CLAIMS


@pytest.mark.parametrize(
    ("now", "code"), [(999, TokenErrorCode.NOT_YET_VALID), (2_000, TokenErrorCode.EXPIRED)]
)
def test_outside_the_window(now: float, code: TokenErrorCode) -> None:
    with pytest.raises(TokenError) as caught:
        tokens.verify(KEY, tokens.issue(KEY, CLAIMS), now=now)
    assert caught.value.code is code


def test_another_key_or_a_changed_payload_is_invalid() -> None:
    token = tokens.issue(KEY, CLAIMS)
    with pytest.raises(TokenError) as caught:
        tokens.verify(b"x" * 32, token, now=1_500)
    assert caught.value.code is TokenErrorCode.INVALID
    version, _payload, signature = token.split(".")
    other = tokens.issue(KEY, JoinClaims("c-2", "p-1", Role.NURSE, 1_000, 2_000, "jti-1")).split(".")[1]
    with pytest.raises(TokenError):
        tokens.verify(KEY, f"{version}.{other}.{signature}", now=1_500)


@given(st.text(max_size=2000))
def test_arbitrary_text_is_never_accepted_and_never_crashes(text: str) -> None:
    with pytest.raises(TokenError) as caught:
        tokens.verify(KEY, text, now=1_500)
    assert caught.value.code is TokenErrorCode.INVALID


@given(st.binary(min_size=1, max_size=300))
def test_well_formed_but_unsigned_payloads_are_invalid(raw: bytes) -> None:
    import base64

    body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        tokens.verify(KEY, f"v1.{body}.AAAA", now=1_500)
