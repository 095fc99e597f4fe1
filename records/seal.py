"""The server's seal on a signed note: HMAC-SHA256 of the note's canonical digest with a seal key.

NOM-004 5.10 asks every note for the author's autograph, electronic or digital signature. The staff
member's act of signing is their authenticated request (logged-in session, recorded in the
``Provenance`` and an ``AuditEvent``); this seal binds that act to the exact content, date and author,
so any later change to a stored note is detectable with :func:`check`. It is not an advanced
electronic signature (e.firma): a deployment that requires one adds it beside this seal.

Records outlive keys, so a seal names the key that made it: the stored value (``Provenance.signature.
data``, base64) is ``0x02 || key id (8 bytes) || HMAC (32 bytes)``, where the key id is derived from
the key itself (:func:`key_id`), so operators rotate keys without numbering them. The server seals
with its current key and verifies with the current one and every old one it is given
(:class:`SealKeys`). Seals made before key ids existed are the bare 32-byte HMAC; they are checked
against every key, current first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from records.notes import Note, content_digest

_VERSION = b"\x02"
_KEY_ID_BYTES = 8
_MAC_BYTES = 32


def seal_key(secret: bytes) -> bytes:
    """The seal key derived from a server secret (``TC_SECRET_KEY`` or an old one).

    Derived, so the secret that signs join links never signs records directly and a value made
    for one purpose can never pass for the other.
    """
    return hmac.new(secret, b"records-seal", hashlib.sha256).digest()


def key_id(key: bytes) -> bytes:
    """8 bytes that name a seal key without revealing it."""
    return hmac.new(key, b"records-seal-key-id", hashlib.sha256).digest()[:_KEY_ID_BYTES]


@dataclass(frozen=True, slots=True)
class SealKeys:
    """The key that seals now and the old keys that still verify what they sealed."""

    current: bytes
    old: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if any(len(key) < 16 for key in (self.current, *self.old)):
            raise ValueError("seal keys need at least 16 bytes")

    @property
    def all(self) -> tuple[bytes, ...]:
        return (self.current, *self.old)

    def by_id(self, wanted: bytes) -> bytes | None:
        return next((key for key in self.all if hmac.compare_digest(key_id(key), wanted)), None)


class SealStatus(StrEnum):
    VALID = "valid"
    """The note is exactly what was sealed, by a key this server holds."""
    INVALID = "invalid"
    """The seal names a key this server holds and the note does not match it (or the seal is malformed):
    the stored note changed after it was signed."""
    UNVERIFIABLE = "unverifiable"
    """The seal names a key this server does not hold (add it to ``TC_OLD_SECRET_KEYS``), or, for a seal
    made before key ids existed, no key this server holds matches it."""


@dataclass(frozen=True, slots=True)
class SealCheck:
    status: SealStatus
    key_id: str | None
    """Hex id of the key named on the seal; ``None`` for seals made before key ids existed."""

    def to_json(self) -> dict[str, str | None]:
        return {"status": self.status.value, "key_id": self.key_id}


def _mac(note: Note, key: bytes) -> bytes:
    return hmac.new(key, content_digest(note).encode(), hashlib.sha256).digest()


def seal(note: Note, keys: SealKeys) -> str:
    """Base64 of version, key id and HMAC-SHA256(current key, digest): ``Provenance.signature.data``."""
    return base64.b64encode(_VERSION + key_id(keys.current) + _mac(note, keys.current)).decode()


def check(note: Note, keys: SealKeys, sealed: str) -> SealCheck:
    """Whether ``sealed`` is this note's seal, and by which key (see :class:`SealStatus`)."""
    try:
        raw = base64.b64decode(sealed.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return SealCheck(SealStatus.INVALID, None)
    if len(raw) == _MAC_BYTES:  # sealed before key ids existed: try every key, the current one first
        matched = any(hmac.compare_digest(_mac(note, key), raw) for key in keys.all)
        return SealCheck(SealStatus.VALID if matched else SealStatus.UNVERIFIABLE, None)
    if len(raw) != 1 + _KEY_ID_BYTES + _MAC_BYTES or raw[:1] != _VERSION:
        return SealCheck(SealStatus.INVALID, None)
    wanted, mac = raw[1 : 1 + _KEY_ID_BYTES], raw[1 + _KEY_ID_BYTES :]
    key = keys.by_id(wanted)
    if key is None:
        return SealCheck(SealStatus.UNVERIFIABLE, wanted.hex())
    valid = hmac.compare_digest(_mac(note, key), mac)
    return SealCheck(SealStatus.VALID if valid else SealStatus.INVALID, wanted.hex())


def verify(note: Note, keys: SealKeys, sealed: str) -> bool:
    return check(note, keys, sealed).status is SealStatus.VALID
