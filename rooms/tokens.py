"""Signed, expiring join tokens for people without an account (patients, invitees).

A token is ``v1.<payload>.<signature>``: base64url JSON claims and an HMAC-SHA256 over them with
the server's secret. It binds one participant identity and role to one consult. It is verified
with the caller's clock, so the functions stay pure; revocation is the store's business (a
revoked token id, or an ended consult).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from rooms.errors import DomainError
from rooms.roles import Role

MAX_TOKEN_LENGTH = 1024
_VERSION = "v1"


class TokenErrorCode(StrEnum):
    INVALID = "auth_invalid"
    EXPIRED = "auth_expired"
    NOT_YET_VALID = "auth_not_yet_valid"


class TokenError(DomainError):
    """A link that is not genuine, or not valid now (a :class:`DomainError`)."""

    CODES: ClassVar[frozenset[str]] = frozenset(TokenErrorCode)

    def __init__(self, code: TokenErrorCode, message_es: str, message_en: str) -> None:
        super().__init__(code, message_es, message_en)
        self.token_code = code


@dataclass(frozen=True, slots=True)
class JoinClaims:
    consult_id: str
    participant_id: str
    role: Role
    not_before: int
    expires_at: int
    token_id: str


def new_token_id() -> str:
    return secrets.token_urlsafe(12)


def issue(key: bytes, claims: JoinClaims) -> str:
    return seal(
        key,
        _VERSION,
        {
            "c": claims.consult_id,
            "p": claims.participant_id,
            "r": claims.role.value,
            "nbf": claims.not_before,
            "exp": claims.expires_at,
            "jti": claims.token_id,
        },
    )


def verify(key: bytes, token: str, now: float) -> JoinClaims:
    """Return the claims of a genuine, currently valid token, or raise :class:`TokenError`."""
    data = unseal(key, _VERSION, token)
    try:
        claims = JoinClaims(
            consult_id=claim_text(data["c"]),
            participant_id=claim_text(data["p"]),
            role=Role(data["r"]),
            not_before=int(data["nbf"]),
            expires_at=int(data["exp"]),
            token_id=claim_text(data["jti"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise _invalid() from error
    if now >= claims.expires_at:
        raise TokenError(TokenErrorCode.EXPIRED, "El enlace venció.", "The link has expired.")
    if now < claims.not_before:
        raise TokenError(
            TokenErrorCode.NOT_YET_VALID, "El enlace aún no es válido.", "The link is not valid yet."
        )
    return claims


def seal(key: bytes, prefix: str, claims: dict[str, object]) -> str:
    """``<prefix>.<claims>.<signature>``: base64url compact JSON and its HMAC-SHA256 under ``key``.

    The envelope every token kind shares (join links here, summary links in
    :mod:`rooms.summary_links`); each kind has its own prefix and key, so one never opens as another.
    """
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    body = f"{prefix}.{_b64encode(payload)}"
    return f"{body}.{_b64encode(_sign(key, body))}"


def unseal(key: bytes, prefix: str, token: object) -> dict[str, Any]:
    """The claims of a genuine ``prefix`` token sealed with ``key``, or ``auth_invalid``."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise _invalid()
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != prefix:
        raise _invalid()
    body = f"{parts[0]}.{parts[1]}"
    try:
        if not hmac.compare_digest(_b64decode(parts[2]), _sign(key, body)):
            raise _invalid()
        data = json.loads(_b64decode(parts[1]))
    except (ValueError, binascii.Error) as error:
        raise _invalid() from error
    if not isinstance(data, dict):
        raise _invalid()
    return data


def stated_expiry(token: str) -> int | None:
    """The ``exp`` claim a sealed token states (epoch seconds), read WITHOUT checking its signature.

    Bookkeeping only, about a token this server issued and kept itself (a short link to it must
    not outlive it); never a reason to trust a token. ``None`` when it states none.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        data = json.loads(_b64decode(parts[1]))
    except (ValueError, binascii.Error):
        return None
    expiry = data.get("exp") if isinstance(data, dict) else None
    return expiry if isinstance(expiry, int) and not isinstance(expiry, bool) else None


def claim_text(value: object, max_length: int = 128) -> str:
    """A text claim: a non-empty string of bounded length (else ``ValueError``)."""
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValueError("bad claim")
    return value


def _invalid() -> TokenError:
    return TokenError(TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid.")


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
