from __future__ import annotations

import base64
import hashlib
import hmac

from media.turn import TurnSettings, turn_credentials


def test_credentials_follow_coturns_rest_scheme_and_expire() -> None:
    settings = TurnSettings(("turn:127.0.0.1:3478",), b"shared-secret", ttl_seconds=600)
    server = turn_credentials(settings, "p-1", now=1_000_000)
    assert server.username == "1000600:p-1"
    expected = base64.b64encode(hmac.new(b"shared-secret", b"1000600:p-1", hashlib.sha1).digest()).decode()
    assert server.credential == expected
    assert server.to_browser() == {
        "urls": ["turn:127.0.0.1:3478"],
        "username": "1000600:p-1",
        "credential": expected,
    }
    assert turn_credentials(settings, "p-2", now=1_000_000).credential != expected
