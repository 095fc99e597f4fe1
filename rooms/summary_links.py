"""Lasting links to a patient's after-visit summary: a token kind of its own, never a join token.

A join link dies soon after its slot; the summary must stay readable for weeks. A summary link is
``s1.<payload>.<signature>``: base64url JSON claims and an HMAC-SHA256 under a key derived from the
server's secret for this purpose alone (:func:`derive_key`), so it differs from a join token
(``v1.``, signed with another key) in both prefix and key. :func:`rooms.tokens.verify` refuses it by
its prefix (and its signature), and :func:`verify` here refuses a join token the same way, so a
summary link can read the summary and never join a call, and a join link never lasts a month.

Each consult has one summary link (:func:`link_id`), whose expiry is fixed from when the summary
became readable (:func:`expiry`), so issuing it again gives the same lifetime, never a longer one.
Revoking it is the store's business (the revoked-token set, keyed by :func:`link_id`). Pure: the
caller passes the clock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from rooms.tokens import TokenError, TokenErrorCode, claim_text, seal, unseal

PREFIX = "s1"
SUMMARY_CLAIM_LENGTH = 160
"""A summary link's id is ``summary.<consult id>``, longer than a join token's claims."""
_KEY_LABEL = b"summary-link"
MAX_DAYS = 30
"""The longest a summary link may last: revocations are kept 30 days (rooms/store/redis.py), and a
revocation must outlive the link it revokes."""


@dataclass(frozen=True, slots=True)
class SummaryClaims:
    consult_id: str
    link_id: str
    readable_since: int
    """When the summary was first signed (epoch seconds): the link's lifetime counts from here, so a
    link issued again is the same link."""
    expires_at: int


def derive_key(secret: bytes) -> bytes:
    """The summary-link signing key: derived from the server secret, never the join-token key."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def link_id(consult_id: str) -> str:
    """The one summary link of a consult (what revocation names); never a join token's id."""
    return f"summary.{consult_id}"


def expiry(readable_since: datetime, days: int) -> int:
    """When a summary readable since ``readable_since`` stops being reachable by link (epoch seconds)."""
    return int((readable_since + timedelta(days=days)).timestamp())


def issue(key: bytes, claims: SummaryClaims) -> str:
    claimed: dict[str, object] = {
        "c": claims.consult_id,
        "jti": claims.link_id,
        "iat": claims.readable_since,
        "exp": claims.expires_at,
    }
    return seal(key, PREFIX, claimed)


def is_summary_token(token: str) -> bool:
    """Whether ``token`` claims to be a summary link (its prefix); :func:`verify` decides if it is one."""
    return token.startswith(f"{PREFIX}.")


def verify(key: bytes, token: str, now: float) -> SummaryClaims:
    """The claims of a genuine, unexpired summary link, or :class:`~rooms.tokens.TokenError`.

    A join token (any other prefix, another key) is refused as invalid.
    """
    data = unseal(key, PREFIX, token)
    try:
        claims = SummaryClaims(
            consult_id=claim_text(data["c"], SUMMARY_CLAIM_LENGTH),
            link_id=claim_text(data["jti"], SUMMARY_CLAIM_LENGTH),
            readable_since=int(data["iat"]),
            expires_at=int(data["exp"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise TokenError(
            TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid."
        ) from error
    if claims.link_id != link_id(claims.consult_id):
        raise TokenError(TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid.")
    if now >= claims.expires_at:
        raise TokenError(TokenErrorCode.EXPIRED, "El enlace venció.", "The link has expired.")
    return claims
