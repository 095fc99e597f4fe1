"""Short-lived TURN credentials in the shared-secret scheme coturn's ``use-auth-secret`` accepts.

The username is ``<expiry unix time>:<participant>``, the password is base64(HMAC-SHA1(secret,
username)). The TURN server recomputes the password from its copy of the secret and refuses the
username once its time has passed, so no credential database is shared and a leaked credential
dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from media.ice import IceServer


@dataclass(frozen=True, slots=True)
class TurnSettings:
    urls: tuple[str, ...]
    secret: bytes
    ttl_seconds: int = 900


def turn_credentials(settings: TurnSettings, participant_id: str, now: float) -> IceServer:
    expiry = int(now) + settings.ttl_seconds
    username = f"{expiry}:{participant_id}"
    password = base64.b64encode(hmac.new(settings.secret, username.encode(), hashlib.sha1).digest()).decode()
    return IceServer(urls=settings.urls, username=username, credential=password)
