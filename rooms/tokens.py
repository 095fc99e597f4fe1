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
from typing import ClassVar

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
    payload = json.dumps(
        {
            "c": claims.consult_id,
            "p": claims.participant_id,
            "r": claims.role.value,
            "nbf": claims.not_before,
            "exp": claims.expires_at,
            "jti": claims.token_id,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    body = f"{_VERSION}.{_b64encode(payload)}"
    return f"{body}.{_b64encode(_sign(key, body))}"


def verify(key: bytes, token: str, now: float) -> JoinClaims:
    """Return the claims of a genuine, currently valid token, or raise :class:`TokenError`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError(TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid.")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise TokenError(TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid.")
    body = f"{parts[0]}.{parts[1]}"
    try:
        signature = _b64decode(parts[2])
        expected = _sign(key, body)
        if not hmac.compare_digest(signature, expected):
            raise TokenError(TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid.")
        data = json.loads(_b64decode(parts[1]))
        claims = JoinClaims(
            consult_id=_text(data["c"]),
            participant_id=_text(data["p"]),
            role=Role(data["r"]),
            not_before=int(data["nbf"]),
            expires_at=int(data["exp"]),
            token_id=_text(data["jti"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise TokenError(
            TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid."
        ) from error
    if now >= claims.expires_at:
        raise TokenError(TokenErrorCode.EXPIRED, "El enlace venció.", "The link has expired.")
    if now < claims.not_before:
        raise TokenError(
            TokenErrorCode.NOT_YET_VALID, "El enlace aún no es válido.", "The link is not valid yet."
        )
    return claims


def _text(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 128:
        raise ValueError("bad claim")
    return value


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
