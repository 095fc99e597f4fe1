"""The error codes a client can receive, in one place so docs/protocol.md can list them all."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    AUTH_REQUIRED = "auth_required"
    AUTH_INVALID = "auth_invalid"
    AUTH_EXPIRED = "auth_expired"
    AUTH_NOT_YET_VALID = "auth_not_yet_valid"
    AUTH_REVOKED = "auth_revoked"
    CONSULT_ENDED = "consult_ended"
    BAD_PAYLOAD = "bad_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_EVENT = "unknown_event"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    NOT_YOUR_CONSULT = "not_your_consult"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    BAD_SDP = "bad_sdp"
    BAD_CANDIDATE = "bad_candidate"
    NOT_PUBLISHING = "not_publishing"
    ROOM_FULL = "room_full"
    STALE_ANSWER = "stale_answer"
    MEDIA_UNAVAILABLE = "media_unavailable"
    CONFLICT = "conflict"
    SHUTTING_DOWN = "shutting_down"
    INTERNAL = "internal"


class SignalingError(Exception):
    """An event that was refused; the client gets ``code`` and ``message`` and nothing changed."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
