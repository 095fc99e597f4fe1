"""Unsubscribe links: one per message, opened without signing in, that turn its channel off.

The token is the shared signed envelope (:func:`rooms.tokens.seal`) under a key derived from the
server secret for this purpose alone, naming only the message id: it cannot join a call or read a
summary, and the patient and channel are looked up from the message. It does not expire: turning
messages off must keep working for as long as messages arrive.
"""

from __future__ import annotations

import hashlib
import hmac

from rooms.tokens import TokenError, TokenErrorCode, claim_text, seal, unseal

PREFIX = "u1"
_KEY_LABEL = b"unsubscribe-link"


def derive_key(secret: bytes) -> bytes:
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def issue(key: bytes, message_id: str) -> str:
    return seal(key, PREFIX, {"m": message_id})


def message_of(key: bytes, token: str) -> str:
    """The message id of a genuine unsubscribe token, or :class:`~rooms.tokens.TokenError`."""
    data = unseal(key, PREFIX, token)
    try:
        return claim_text(data.get("m"), 64)
    except ValueError:
        raise TokenError(
            TokenErrorCode.INVALID, "El enlace no es válido.", "The link is not valid."
        ) from None
