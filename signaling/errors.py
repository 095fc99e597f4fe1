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
    WRONG_UNIT = "wrong_unit"
    INVALID_STATE = "invalid_state"
    NOT_FOUND = "not_found"
    BAD_SDP = "bad_sdp"
    BAD_CANDIDATE = "bad_candidate"
    NOT_PUBLISHING = "not_publishing"
    ROOM_FULL = "room_full"
    ROOM_LOCKED = "room_locked"
    DENIED = "denied"
    STALE_ANSWER = "stale_answer"
    MEDIA_UNAVAILABLE = "media_unavailable"
    CONFLICT = "conflict"
    SHUTTING_DOWN = "shutting_down"
    DRAINING = "draining"
    SERVER_BUSY = "server_busy"
    BUSY = "busy"
    OUTSIDE_SERVICE_HOURS = "outside_service_hours"
    CHECK_IN_NOT_OPEN = "check_in_not_open"
    CHECK_IN_CLOSED = "check_in_closed"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    LINK_REVOKED = "link_revoked"
    DATABASE_UNAVAILABLE = "database_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    INTERNAL = "internal"


class SignalingError(Exception):
    """An event that was refused; the client gets ``code`` and ``message`` and nothing changed.

    The socket edge's form of a refusal: transport problems (a bad payload, a flood) are made here;
    a domain rule's refusal (:class:`rooms.errors.DomainError`) keeps its own code and its Spanish
    text rides along as ``message_es`` (``message`` stays English, as documented).
    """

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        detail: dict[str, str] | None = None,
        *,
        message_es: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_es = message_es
        self.detail = detail or {}
        """Extra fields for the client, e.g. ``opens_at`` (ISO UTC) for ``outside_service_hours``."""

    def to_json(self) -> dict[str, str]:
        spanish = {"message_es": self.message_es} if self.message_es else {}
        return {**self.detail, **spanish, "code": str(self.code), "message": self.message}
