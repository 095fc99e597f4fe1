"""The server's seal on a signed note: HMAC-SHA256 of the note's canonical digest with the server key.

NOM-004 5.10 asks every note for the author's autograph, electronic or digital signature. The staff
member's act of signing is their authenticated request (logged-in session, recorded in the
``Provenance`` and an ``AuditEvent``); this seal binds that act to the exact content, date and author,
so any later change to a stored note is detectable with :func:`verify`. It is not an advanced
electronic signature (e.firma): a deployment that requires one adds it beside this seal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from records.notes import Note, content_digest


def seal(note: Note, key: bytes) -> str:
    """Base64 of HMAC-SHA256(key, digest): what goes into ``Provenance.signature.data``."""
    mac = hmac.new(key, content_digest(note).encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(note: Note, key: bytes, sealed: str) -> bool:
    return hmac.compare_digest(seal(note, key), sealed)
