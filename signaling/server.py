"""The socket.io server: authenticates connections, validates events, and applies them to the domain.

Every client event goes through one guard that enforces, in order: an authenticated connection,
the per-connection rate limit, the payload size limit and the payload schema. A refused event
produces an ``error`` event (and a failed acknowledgement) with a stable code, and changes
nothing. The rules themselves live in ``rooms``; this module only routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar

import socketio
from aiohttp import web
from pydantic import BaseModel, ValidationError

from media.backend import (
    IceCandidate,
    MediaBackend,
    MediaError,
    MediaEvent,
    MediaEventKind,
    SessionDescription,
)
from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultKind, ConsultState, RuleViolation, Transition
from rooms.errors import DomainError
from rooms.roles import STAFF_ROLES, Action, Role, may
from rooms.session_log import EventKind, SessionEvent
from rooms.store.base import Stores, VersionConflict
from rooms.store.commands import ConsultNotFound, execute
from rooms.tokens import JoinClaims, TokenError, issue, new_token_id, verify
from signaling import views
from signaling.errors import ErrorCode, SignalingError
from signaling.lobby import Lobby, NoLobby
from signaling.messages import (
    MAX_MESSAGE_BYTES,
    Admit,
    CheckIn,
    ConsultRef,
    Empty,
    Invite,
    MediaCandidate,
    MediaOffer,
    MediaReceive,
    MediaState,
    ParticipantDevices,
    ParticipantRef,
    SubscriberAnswer,
)
from signaling.rate_limit import TokenBucket

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)
Reply = dict[str, Any]
ConsultEndedHook = Callable[[str, list[SessionEvent]], Awaitable[None]]
AdmittedHook = Callable[[Consult, str], Awaitable[None]]
"""Called with the admitted consult (its host set) and the admitting connection's network address."""
IceServersFor = Callable[[str], list[dict[str, object]]]

INVITE_GRACE = timedelta(hours=2)
"""Invitation links stay valid this long after the appointment's planned end."""
QUALITY_LOG_SECONDS = 30.0
AUTHORIZATION_CODES = frozenset(
    {
        ErrorCode.FORBIDDEN.value,
        ErrorCode.NOT_YOUR_CONSULT.value,
        ErrorCode.WRONG_UNIT.value,
        ErrorCode.DENIED.value,
    }
)
"""Refusals that say who may act on a consult (not what state it is in): logged in its session log."""
MAX_REFUSALS_LOGGED = 5
SESSION_COOKIE = "tc_session"


def consult_room(consult_id: str) -> str:
    return f"consult:{consult_id}"


def participant_room(participant_id: str) -> str:
    """Every connection of one participant, on whichever node it is."""
    return f"participant:{participant_id}"


def staff_room(unit: str) -> str:
    """Every signed-in staff connection of one unit, on whichever node it is: they hear
    ``queue:update`` with that unit's consults only."""
    return f"staff:{unit}"


@dataclass(frozen=True, slots=True)
class SignalingSettings:
    token_key: bytes
    events_per_second: float = 20.0
    event_burst: float = 60.0
    max_message_bytes: int = MAX_MESSAGE_BYTES
    reconnect_grace_seconds: float = rules.RECONNECT_GRACE.total_seconds()
    """How long a participant who dropped out of a live call keeps their place in it."""
    ice_transport_policy: str = "all"
    """``relay`` makes browsers use TURN only (for sites that must hide client addresses)."""
    cors_allowed_origins: list[str] | None = None
    """``None`` accepts only same-origin browser connections (python-socketio's default check)."""


@dataclass(slots=True)
class Connection:
    sid: str
    participant_id: str
    role: Role
    display_name: str
    consult_id: str | None
    token_id: str | None
    bucket: TokenBucket
    superseded: bool = False
    unit: str = ""
    """Staff: their unit (``StaffMember.unit``), whose consults their queue lists."""
    refusals_logged: dict[str, int] = field(default_factory=dict)
    """Consult id -> how many refused attempts on it this connection left in its log."""

    @property
    def via_link(self) -> bool:
        """Patients and invitees arrive by link; a link never makes its holder staff."""
        return self.token_id is not None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES and not self.via_link

    def actor(self) -> Actor:
        return Actor(self.participant_id, self.role, self.sid, via_link=self.via_link, unit=self.unit)


@dataclass
class _Registry:
    """This node's live connections, by socket id and by participant."""

    by_sid: dict[str, Connection] = field(default_factory=dict)
    by_participant: dict[str, str] = field(default_factory=dict)


class SignalingServer:
    def __init__(
        self,
        *,
        stores: Stores,
        media: MediaBackend,
        settings: SignalingSettings,
        ice_servers_for: IceServersFor,
        on_consult_ended: ConsultEndedHook,
        clock: Callable[[], datetime],
        client_manager: socketio.AsyncManager | None = None,
        on_admitted: AdmittedHook | None = None,
        lobby: Lobby | None = None,
    ) -> None:
        self._stores = stores
        self._media = media
        self._settings = settings
        self._ice_servers_for = ice_servers_for
        self._on_consult_ended = on_consult_ended
        self._on_admitted = on_admitted
        self._lobby: Lobby = lobby or NoLobby()
        """Appointments and the unit queue behind the waiting room (web/scheduling.py)."""
        self._clock = clock
        self._registry = _Registry()
        self._quality_logged: dict[tuple[str, str], tuple[str, datetime]] = {}
        self._drops: dict[tuple[str, str], tuple[datetime, asyncio.Task[None]]] = {}
        self._devices: dict[str, dict[str, dict[str, str]]] = {}
        """Consult id -> participant id -> their page's last ``participant:devices`` (this node)."""
        self._closing = False
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp",
            client_manager=client_manager,
            cors_allowed_origins=settings.cors_allowed_origins,
            max_http_buffer_size=4 * settings.max_message_bytes,
            # A dead connection is noticed within 15 s, well inside the reconnection grace.
            ping_interval=10,
            ping_timeout=5,
            logger=False,
            engineio_logger=False,
        )
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._unknown_event)
        # Every event names the action the role table (rooms/roles.py) must allow.
        self.event_actions: dict[str, Action | None] = {}
        self.event_schemas: dict[str, type[BaseModel]] = {}
        """Every event's payload schema (the authorization matrix test finds the consult events by it)."""
        self._handle("hello", Empty, self._hello, None)
        self._handle("lobby:check_in", CheckIn, self._check_in, Action.CHECK_IN)
        self._handle("lobby:admit", Admit, self._admit, Action.ADMIT)
        self._handle("lobby:deny", ParticipantRef, self._deny, Action.DENY)
        self._handle("lobby:reinvite", ParticipantRef, self._reinvite, Action.DENY)
        self._handle("lobby:send_back", ParticipantRef, self._send_back, Action.SEND_BACK)
        self._handle("room:lock", ConsultRef, self._lock, Action.LOCK)
        self._handle("room:unlock", ConsultRef, self._unlock, Action.LOCK)
        self._handle("participant:mute", ParticipantRef, self._mute, Action.MUTE_OTHERS)
        self._handle("media:offer", MediaOffer, self._media_offer, Action.JOIN_MEDIA)
        self._handle("media:subscribe", Empty, self._media_subscribe, Action.JOIN_MEDIA)
        self._handle("media:subscriber_answer", SubscriberAnswer, self._subscriber_answer, Action.JOIN_MEDIA)
        self._handle("media:receive", MediaReceive, self._media_receive, Action.JOIN_MEDIA)
        self._handle("media:candidate", MediaCandidate, self._media_candidate, Action.JOIN_MEDIA)
        self._handle("media:state", MediaState, self._media_state, Action.JOIN_MEDIA)
        self._handle("consult:invite", Invite, self._invite, Action.INVITE)
        self._handle("consult:leave", Empty, self._leave, Action.LEAVE)
        self._handle("consult:end", ConsultRef, self._end, Action.END)
        self._handle("participant:devices", ParticipantDevices, self._participant_devices, Action.JOIN_MEDIA)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def shutdown(self) -> None:
        """Refuse new connections, tell every client the server is going away, then drop them."""
        self._closing = True
        for _, task in self._drops.values():
            task.cancel()
        self._drops.clear()
        await self.sio.emit("server:shutdown", {"retry_after_s": 2})
        for sid in list(self._registry.by_sid):
            await self.sio.disconnect(sid)

    async def on_media_event(self, event: MediaEvent) -> None:
        """Pass what the media plane noticed to the consult's pages."""
        room = consult_room(event.room_id)
        if event.kind is MediaEventKind.CONNECTION:
            await self.sio.emit(
                "media:connection",
                {"participant_id": event.participant_id, "state": event.data.get("state")},
                room=room,
            )
        elif event.kind is MediaEventKind.VIDEO_PAUSED:
            await self.sio.emit(
                "media:video_paused", dict(event.data), room=participant_room(event.participant_id)
            )
        elif event.kind is MediaEventKind.BITRATE:
            await self.sio.emit(
                "media:bitrate", dict(event.data), room=participant_room(event.participant_id)
            )
        elif event.kind is MediaEventKind.SUBSCRIBER_OFFER:
            await self.sio.emit(
                "media:subscriber_offer", dict(event.data), room=participant_room(event.participant_id)
            )
        elif event.kind is MediaEventKind.QUALITY:
            await self.sio.emit(
                "media:quality", {"participant_id": event.participant_id, **event.data}, room=room
            )
            await self._log_quality(event)

    async def _log_quality(self, event: MediaEvent) -> None:
        """Keep a quality sample in the session log when the level changes, or every 30 s."""
        now = self._clock()
        key = (event.room_id, event.participant_id)
        level = str(event.data.get("level"))
        last = self._quality_logged.get(key)
        if last is not None and last[0] == level and (now - last[1]).total_seconds() < QUALITY_LOG_SECONDS:
            return
        self._quality_logged[key] = (level, now)
        detail = {name: str(value) for name, value in event.data.items()}
        sample = SessionEvent(
            event.room_id, EventKind.MEDIA_QUALITY, now, event.participant_id, None, None, detail
        )
        await self._stores.consults.append_log(event.room_id, [sample])

    # -- connection life cycle -------------------------------------------------------------

    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: object) -> None:
        if self._closing:
            error = SignalingError(ErrorCode.SHUTTING_DOWN, "The server is restarting; try again shortly.")
            raise socketio.exceptions.ConnectionRefusedError(error.message, error.to_json())
        try:
            connection = await self._authenticate(sid, environ, auth)
        except SignalingError as error:
            raise socketio.exceptions.ConnectionRefusedError(error.message, error.to_json()) from None
        previous_sid = self._registry.by_participant.get(connection.participant_id)
        self._registry.by_sid[sid] = connection
        self._registry.by_participant[connection.participant_id] = sid
        if previous_sid is not None and previous_sid in self._registry.by_sid:
            # The same person opened the link or console again: the newest connection wins.
            self._registry.by_sid[previous_sid].superseded = True
            await self.sio.emit("session:replaced", {}, to=previous_sid)
            await self.sio.disconnect(previous_sid)
        await self.sio.enter_room(sid, participant_room(connection.participant_id))
        if connection.is_staff:
            if connection.unit:
                await self.sio.enter_room(sid, staff_room(connection.unit))
            for consult in await self._stores.consults.open_hosted_by(connection.participant_id):
                connection.consult_id = consult.consult_id
                await self.sio.enter_room(sid, consult_room(consult.consult_id))
                await self._send_devices(sid, consult.consult_id)
        elif connection.consult_id is not None:
            await self.sio.enter_room(sid, consult_room(connection.consult_id))
        if connection.role is Role.PATIENT and connection.consult_id is not None:
            await self._quietly(self._lobby.returned(connection.consult_id))
        await self._welcome_back(connection)

    async def _authenticate(self, sid: str, environ: Mapping[str, Any], auth: object) -> Connection:
        bucket = TokenBucket.full(
            self._settings.event_burst, self._settings.events_per_second, time.monotonic()
        )
        if isinstance(auth, dict) and "token" in auth:
            token = auth["token"]
            if not isinstance(token, str):
                raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
            try:
                claims = verify(self._settings.token_key, token, self._clock().timestamp())
            except TokenError as error:
                raise SignalingError(ErrorCode(error.code), error.message_en) from None
            if await self._stores.consults.is_token_revoked(claims.token_id):
                raise SignalingError(ErrorCode.AUTH_REVOKED, "This link has been revoked.")
            consult = await self._stores.consults.get(claims.consult_id)
            if consult is None:
                raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
            if consult.state is ConsultState.ENDED:
                raise SignalingError(ErrorCode.CONSULT_ENDED, "This consult has ended.")
            if claims.participant_id in consult.denied:
                raise SignalingError(ErrorCode.DENIED, "The host did not admit you with this link.")
            if claims.role is Role.PATIENT:
                if claims.participant_id != consult.patient_id or consult.kind is not ConsultKind.CONSULT:
                    # Signed, but for someone who is not this consult's patient: never let it in.
                    raise SignalingError(ErrorCode.AUTH_INVALID, "The link is not valid.")
                name = consult.patient_name
            else:
                invited = rules.find_invitee(consult, claims.participant_id)
                if invited is None or invited.role is not claims.role:
                    raise SignalingError(ErrorCode.AUTH_REVOKED, "This invitation is no longer valid.")
                name = invited.name
            return Connection(
                sid, claims.participant_id, claims.role, name, consult.consult_id, claims.token_id, bucket
            )
        session_id = _session_cookie(environ)
        if session_id is None:
            raise SignalingError(ErrorCode.AUTH_REQUIRED, "Sign in or open your consult link.")
        session = await self._stores.sessions.get(session_id)
        if session is None:  # forged, or signed out: never a session of ours
            raise SignalingError(ErrorCode.AUTH_INVALID, "This session is not valid; sign in again.")
        if session.expires_at <= self._clock():
            raise SignalingError(ErrorCode.AUTH_EXPIRED, "Your session has expired; sign in again.")
        member = await self._stores.staff.by_id(session.staff_id)
        if member is None:
            raise SignalingError(ErrorCode.AUTH_INVALID, "Unknown account.")
        return Connection(
            sid, member.staff_id, member.role, member.full_name, None, None, bucket, unit=member.unit
        )

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        connection = self._registry.by_sid.pop(sid, None)
        if connection is None:
            return
        if self._registry.by_participant.get(connection.participant_id) == sid:
            del self._registry.by_participant[connection.participant_id]
        if connection.superseded or connection.consult_id is None or self._closing:
            return
        consult = await self._stores.consults.get(connection.consult_id)
        if consult is None or connection.participant_id not in consult.in_call:
            waiting = consult is not None and consult.state is ConsultState.WAITING
            if consult is not None and waiting and connection.role is Role.PATIENT:
                await self._quietly(self._lobby.dropped(consult.consult_id, self._clock()))
            return  # e.g. a patient in the waiting room: their place is kept as it is
        await self._hold_place(connection, consult)

    async def _hold_place(self, connection: Connection, consult: Consult) -> None:
        """Keep a dropped participant in the call for the grace period; the others see them reconnecting."""
        now = self._clock()
        key = (consult.consult_id, connection.participant_id)
        await self._stores.consults.append_log(
            consult.consult_id, [rules.dropped(consult, connection.actor(), now)]
        )
        await self._emit_connection(consult.consult_id, connection.participant_id, "reconnecting")

        async def give_up() -> None:
            await asyncio.sleep(self._settings.reconnect_grace_seconds)
            if self._drops.get(key, (None, None))[1] is not asyncio.current_task():
                return
            del self._drops[key]
            if await self._returned_elsewhere(consult.consult_id, connection.participant_id, now):
                return
            try:
                await self._leave_call(connection, "connection_lost")
            except (RuleViolation, ConsultNotFound, VersionConflict, SignalingError):
                return
            await self._emit_connection(consult.consult_id, connection.participant_id, "left")

        self._drops[key] = (now, asyncio.get_running_loop().create_task(give_up()))

    async def _returned_elsewhere(self, consult_id: str, participant_id: str, since: datetime) -> bool:
        """Whether the participant came back on another node (the shared log says so)."""
        return any(
            event.kind is EventKind.RETURNED and event.actor_id == participant_id and event.at >= since
            for event in await self._stores.consults.log(consult_id)
        )

    async def _welcome_back(self, connection: Connection) -> None:
        if connection.consult_id is None:
            return
        key = (connection.consult_id, connection.participant_id)
        drop = self._drops.pop(key, None)
        consult = await self._stores.consults.get(connection.consult_id)
        if consult is None or connection.participant_id not in consult.in_call:
            return
        now = self._clock()
        if drop is not None:
            drop[1].cancel()
        since = (
            drop[0]
            if drop is not None
            else self._last_drop(
                await self._stores.consults.log(consult.consult_id), connection.participant_id
            )
        )
        if since is None:
            return
        returned = rules.returned(consult, connection.actor(), now, now - since)
        await self._stores.consults.append_log(consult.consult_id, [returned])
        await self._emit_connection(consult.consult_id, connection.participant_id, "reconnected")

    @staticmethod
    def _last_drop(log: list[SessionEvent], participant_id: str) -> datetime | None:
        """The time of the participant's last drop that no return followed yet."""
        since = None
        for event in log:
            if event.actor_id == participant_id and event.kind is EventKind.DROPPED:
                since = event.at
            elif event.actor_id == participant_id and event.kind in (EventKind.RETURNED, EventKind.LEFT):
                since = None
        return since

    async def _emit_connection(self, consult_id: str, participant_id: str, state: str) -> None:
        await self.sio.emit(
            "participant:connection",
            {"participant_id": participant_id, "state": state},
            room=consult_room(consult_id),
        )

    # -- the guard every event goes through ------------------------------------------------

    def _handle(
        self,
        event: str,
        schema: type[P],
        handler: Callable[[Connection, P], Awaitable[Reply]],
        action: Action | None,
    ) -> None:
        self.event_actions[event] = action
        self.event_schemas[event] = schema

        async def guarded(sid: str, *args: object) -> Reply:
            connection = self._registry.by_sid.get(sid)
            consult_id: str | None = None
            try:
                if connection is None:
                    raise SignalingError(ErrorCode.AUTH_REQUIRED, "Not connected.")
                self._check_rate(connection)
                payload = self._validate(schema, args)
                consult_id = getattr(payload, "consult_id", None) or connection.consult_id
                if action is not None and not may(connection.role, action, via_link=connection.via_link):
                    raise SignalingError(ErrorCode.FORBIDDEN, _forbidden_message(connection, action))
                reply = await handler(connection, payload)
                return {"ok": True, **reply}
            except Exception as error:  # every failure becomes a documented error, never silence
                refusal = await self._refuse(sid, event, error)
                if connection is not None and consult_id is not None:
                    await self._log_refusal(connection, consult_id, event, refusal["error"]["code"])
                return refusal

        self.sio.on(event, guarded)

    async def _log_refusal(self, connection: Connection, consult_id: str, event: str, code: str) -> None:
        """An attempt on a consult that the actor's role, unit or relation does not allow leaves a
        ``refused`` entry in that consult's log (at most a few per connection and consult, so a
        flood cannot grow the log)."""
        if code not in AUTHORIZATION_CODES:
            return
        key = consult_id[:64]
        count = connection.refusals_logged.get(key, 0)
        if count >= MAX_REFUSALS_LOGGED:
            return
        connection.refusals_logged[key] = count + 1
        event_detail = {"action": event[:64], "code": code}
        entry = SessionEvent(
            key,
            EventKind.REFUSED,
            self._clock(),
            connection.participant_id,
            connection.role,
            connection.sid,
            event_detail,
        )
        await self._quietly(self._stores.consults.append_log(key, [entry]))

    async def _unknown_event(self, event: str, sid: str, *args: object) -> Reply:
        connection = self._registry.by_sid.get(sid)
        try:
            if connection is not None:
                self._check_rate(connection)
            raise SignalingError(ErrorCode.UNKNOWN_EVENT, "This event does not exist.")
        except SignalingError as error:
            return await self._refuse(sid, event[:64], error)

    def _check_rate(self, connection: Connection) -> None:
        if not connection.bucket.take(time.monotonic()):
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many messages; slow down.")

    def _validate(self, schema: type[P], args: tuple[object, ...]) -> P:
        if len(args) > 1:
            raise SignalingError(ErrorCode.BAD_PAYLOAD, "Send one payload object per event.")
        data = args[0] if args else {}
        try:
            size = len(json.dumps(data, separators=(",", ":")).encode())
        except (TypeError, ValueError):
            raise SignalingError(ErrorCode.BAD_PAYLOAD, "The payload must be JSON.") from None
        if size > self._settings.max_message_bytes:
            raise SignalingError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"The payload exceeds {self._settings.max_message_bytes} bytes."
            )
        try:
            return schema.model_validate(data)
        except ValidationError as error:
            # Name the fields and the problem, never echo the values (they may be clinical).
            problems = "; ".join(
                f"{'.'.join(str(part) for part in issue['loc']) or 'payload'}: {issue['type']}"
                for issue in error.errors()[:5]
            )
            raise SignalingError(ErrorCode.BAD_PAYLOAD, f"Invalid payload ({problems}).") from None

    async def _refuse(self, sid: str, event: str, error: Exception) -> Reply:
        refusal = _as_signaling_error(error)
        if refusal.code is ErrorCode.INTERNAL:
            logger.error("event %s failed: %s", event, type(error).__name__, exc_info=error)
        await self.sio.emit("error", {**refusal.to_json(), "event": event}, to=sid)
        return {"ok": False, "error": refusal.to_json()}

    # -- events ----------------------------------------------------------------------------

    async def _hello(self, connection: Connection, _: Empty) -> Reply:
        reply: Reply = {
            "participant_id": connection.participant_id,
            "role": connection.role.value,
            "display_name": connection.display_name,
            "ice_servers": self._ice_servers_for(connection.participant_id),
            "ice_transport_policy": self._settings.ice_transport_policy,
            "server_time": self._clock().isoformat(),
            "consult": None,
        }
        if connection.consult_id is not None:
            consult = await self._stores.consults.get(connection.consult_id)
            reply["consult"] = views.consult(consult) if consult else None
        if connection.is_staff:
            reply["queue"] = await self._queue(connection.unit, connection.participant_id)
        return reply

    async def _check_in(self, connection: Connection, _: CheckIn) -> Reply:
        consult_id = self._current_consult(connection)
        now = self._clock()
        # The room's rules first, then the appointment's window and the service hours.
        rules.check_in(await self._require_consult(consult_id), connection.actor(), now)
        await self._lobby.check_in(consult_id, connection.token_id, now)
        transition = await self._execute(consult_id, lambda c: rules.check_in(c, connection.actor(), now))
        await self._publish(transition)
        return {"consult": views.consult(transition.consult)}

    async def _admit(self, connection: Connection, payload: Admit) -> Reply:
        if not may(connection.role, Action.ADMIT):
            raise SignalingError(ErrorCode.FORBIDDEN, "Your role may not admit patients.")
        if connection.consult_id not in (None, payload.consult_id):
            current = await self._stores.consults.get(connection.consult_id)
            if current is not None and current.state is not ConsultState.ENDED:
                raise SignalingError(ErrorCode.INVALID_STATE, "End your current consult first.")
        now = self._clock()
        transition = await self._execute(
            payload.consult_id,
            lambda c: rules.admit(
                c,
                connection.actor(),
                now,
                host_name=connection.display_name,
                participant_id=payload.participant_id,
            ),
        )
        connection.consult_id = payload.consult_id
        await self.sio.enter_room(connection.sid, consult_room(payload.consult_id))
        await self._send_devices(connection.sid, payload.consult_id)
        await self._publish(transition)
        if payload.participant_id in (None, transition.consult.patient_id):
            await self._lobby.admitted(payload.consult_id, connection.participant_id, now)
        if any(event.kind is EventKind.ADMITTED for event in transition.events):  # not a re-admission
            await self._admitted(transition.consult, connection.sid)
        return {"consult": views.consult(transition.consult)}

    async def _media_offer(self, connection: Connection, payload: MediaOffer) -> Reply:
        consult_id = self._current_consult(connection)
        consult = await self._require_consult(consult_id)
        now = self._clock()
        rules.join(consult, connection.actor(), now)  # check the rules before touching media
        answer = await self._media.connect(
            consult_id,
            connection.participant_id,
            SessionDescription(sdp=payload.sdp, type="offer"),
            payload.sources,
        )
        await self._join_call(connection, consult, now, receive_only=False)
        return {"answer": {"type": answer.type, "sdp": answer.sdp}}

    async def _media_subscribe(self, connection: Connection, _: Empty) -> Reply:
        """Join the call receive-only (no camera or microphone): the server then offers the page
        everyone else's media with ``media:subscriber_offer``, as it does to a publishing page."""
        consult_id = self._current_consult(connection)
        consult = await self._require_consult(consult_id)
        now = self._clock()
        rules.join(consult, connection.actor(), now, receive_only=True)  # the rules before the media
        await self._media.subscribe(consult_id, connection.participant_id)
        await self._join_call(connection, consult, now, receive_only=True)
        return {}

    async def _join_call(
        self, connection: Connection, before: Consult, now: datetime, *, receive_only: bool
    ) -> None:
        """Record that the participant's media joined (their media is closed again if the consult
        refuses it after all). Starting or stopping to publish while in the call logs nothing, but
        the others' consult view still changes (``receive_only``)."""
        me = connection.participant_id
        try:
            transition = await self._execute(
                before.consult_id, lambda c: rules.join(c, connection.actor(), now, receive_only=receive_only)
            )
        except Exception:
            await self._media.disconnect(before.consult_id, me)
            raise
        if transition.events:
            await self._publish(transition)
        elif me in before.in_call and (me in before.receive_only) != receive_only:
            consult = transition.consult
            await self.sio.emit(
                "consult:state", {"consult": views.consult(consult)}, room=consult_room(consult.consult_id)
            )
            await self._emit_queue(consult)

    async def _subscriber_answer(self, connection: Connection, payload: SubscriberAnswer) -> Reply:
        consult_id = self._current_consult(connection)
        answer = SessionDescription(sdp=payload.sdp, type="answer")
        await self._media.subscriber_answer(consult_id, connection.participant_id, answer, payload.revision)
        return {}

    async def _media_receive(self, connection: Connection, payload: MediaReceive) -> Reply:
        consult_id = self._current_consult(connection)
        await self._media.set_receive(
            consult_id, connection.participant_id, video=payload.video, data_saver=payload.data_saver
        )
        return {}

    async def _media_candidate(self, connection: Connection, payload: MediaCandidate) -> Reply:
        consult_id = self._current_consult(connection)
        candidate = IceCandidate(payload.candidate, payload.sdpMid, payload.sdpMLineIndex)
        await self._media.add_candidate(consult_id, connection.participant_id, candidate, payload.target)
        return {}

    async def _media_state(self, connection: Connection, payload: MediaState) -> Reply:
        if payload.screen and not may(connection.role, Action.SHARE_SCREEN, via_link=connection.via_link):
            raise SignalingError(ErrorCode.FORBIDDEN, _forbidden_message(connection, Action.SHARE_SCREEN))
        consult = await self._require_consult(self._current_consult(connection))
        if connection.participant_id not in consult.in_call:
            raise SignalingError(ErrorCode.INVALID_STATE, "You are not in the call.")
        await self._media.set_sharing(consult.consult_id, connection.participant_id, screen=payload.screen)
        await self.sio.emit(
            "participant:media",
            {
                "participant_id": connection.participant_id,
                "audio": payload.audio,
                "video": payload.video,
                "screen": payload.screen,
            },
            room=consult_room(consult.consult_id),
            skip_sid=connection.sid,
        )
        return {}

    async def _participant_devices(self, connection: Connection, payload: ParticipantDevices) -> Reply:
        """A page says where it is and which devices work; the consult's other pages (the host's
        tile) show why that person is not (fully) in the call. The last status is kept for staff
        who enter the consult later (:meth:`_send_devices`)."""
        consult_id = self._current_consult(connection)
        status = {"participant_id": connection.participant_id, **payload.model_dump()}
        self._devices.setdefault(consult_id, {})[connection.participant_id] = status
        await self.sio.emit(
            "participant:devices", status, room=consult_room(consult_id), skip_sid=connection.sid
        )
        return {}

    async def _send_devices(self, sid: str, consult_id: str) -> None:
        """Staff entering a consult (admission, a console that reconnects) see at once what each
        page last said about its devices, not a black tile until the next change."""
        for status in list(self._devices.get(consult_id, {}).values()):
            await self.sio.emit("participant:devices", status, to=sid)

    async def _invite(self, connection: Connection, payload: Invite) -> Reply:
        consult_id = self._current_consult(connection)
        guest, token = await self.invite(connection.actor(), consult_id, Role(payload.role), payload.name)
        return {"invitee": views.participant(guest), "token": token, "token_id": guest.token_id}

    async def _deny(self, connection: Connection, payload: ParticipantRef) -> Reply:
        now = self._clock()
        target = payload.participant_id
        transition = await self._execute(
            payload.consult_id, lambda c: rules.deny(c, connection.actor(), target, now)
        )
        await self._turn_away(payload.consult_id, target, "denied")
        await self._quietly(self._lobby.denied(payload.consult_id, target))
        await self._publish(transition)
        return {"consult": views.consult(transition.consult)}

    async def _reinvite(self, connection: Connection, payload: ParticipantRef) -> Reply:
        now = self._clock()
        transition = await self._execute(
            payload.consult_id, lambda c: rules.reinvite(c, connection.actor(), payload.participant_id, now)
        )
        await self._quietly(self._lobby.reinvited(payload.consult_id, payload.participant_id))
        await self._publish(transition)
        return {"consult": views.consult(transition.consult)}

    async def _send_back(self, connection: Connection, payload: ParticipantRef) -> Reply:
        now = self._clock()
        target = payload.participant_id
        transition = await self._execute(
            payload.consult_id, lambda c: rules.send_back(c, connection.actor(), target, now)
        )
        if transition.events:
            drop = self._drops.pop((payload.consult_id, target), None)
            if drop is not None:
                drop[1].cancel()
            await self._media.disconnect(payload.consult_id, target)
            await self.sio.emit(
                "lobby:sent_back", {"consult_id": payload.consult_id}, room=participant_room(target)
            )
        await self._publish(transition)
        return {"consult": views.consult(transition.consult)}

    async def _lock(self, connection: Connection, payload: ConsultRef) -> Reply:
        return await self._set_lock(connection, payload.consult_id, locked=True)

    async def _unlock(self, connection: Connection, payload: ConsultRef) -> Reply:
        return await self._set_lock(connection, payload.consult_id, locked=False)

    async def _set_lock(self, connection: Connection, consult_id: str, *, locked: bool) -> Reply:
        now = self._clock()
        transition = await self._execute(
            consult_id, lambda c: rules.lock(c, connection.actor(), now, locked=locked)
        )
        await self._publish(transition)
        return {"consult": views.consult(transition.consult)}

    async def _mute(self, connection: Connection, payload: ParticipantRef) -> Reply:
        consult = await self._require_consult(payload.consult_id)
        event = rules.request_mute(consult, connection.actor(), payload.participant_id, self._clock())
        await self._stores.consults.append_log(consult.consult_id, [event])
        await self.sio.emit(
            "participant:mute_requested",
            {"consult_id": consult.consult_id, "by": connection.participant_id},
            room=participant_room(payload.participant_id),
        )
        return {}

    async def _leave(self, connection: Connection, _: Empty) -> Reply:
        self._current_consult(connection)
        await self._leave_call(connection, "hang_up")
        return {}

    async def _end(self, connection: Connection, payload: ConsultRef) -> Reply:
        if not may(connection.role, Action.END):
            raise SignalingError(ErrorCode.FORBIDDEN, "Your role may not end the consult.")
        now = self._clock()
        transition = await self._execute(payload.consult_id, lambda c: rules.end(c, connection.actor(), now))
        consult_id = payload.consult_id
        await self.consult_closed(consult_id, now, "ended_by_host")
        return {"consult": views.consult(transition.consult)}

    async def consult_closed(self, consult_id: str, at: datetime, reason: str) -> None:
        """After a consult ended (by its host, or a cancelled appointment or a no-show over REST or the
        sweep): tell its pages why, close its media, let its people go and archive its session log."""
        await self.sio.emit(
            "consult:ended",
            {"consult_id": consult_id, "ended_at": at.isoformat(), "reason": reason},
            room=consult_room(consult_id),
        )
        await self._media.close_room(consult_id)
        for key in [key for key in self._quality_logged if key[0] == consult_id]:
            del self._quality_logged[key]
        self._devices.pop(consult_id, None)
        for key in [key for key in self._drops if key[0] == consult_id]:
            self._drops.pop(key)[1].cancel()
        ended = await self._stores.consults.get(consult_id)
        if ended is not None:
            # The appointment, the unit queue and the nurses follow the consult, whoever ended it.
            await self._quietly(self._lobby.ended(consult_id, ended.host_id, at))
            await self._emit_queue(ended)
        for other in list(self._registry.by_sid.values()):
            if other.consult_id == consult_id:
                other.consult_id = None
                await self.sio.leave_room(other.sid, consult_room(consult_id))
                if not other.is_staff:
                    await self.sio.disconnect(other.sid)
        await self._archive(consult_id)

    async def tell_participant(self, participant_id: str, event: str, payload: dict[str, object]) -> None:
        """Send a server event to every connection of one participant, on whichever node it is."""
        await self.sio.emit(event, payload, room=participant_room(participant_id))

    # -- invitations, shared with the REST API (web/sessions_api.py) ----------------------------

    @staticmethod
    def new_invitee(
        role: Role, name: str, *, unit_clues: str | None = None, unit_name: str | None = None
    ) -> rules.Invitee:
        """A new invitee with a fresh identity and the id of the link about to be issued."""
        return rules.Invitee("i-" + new_token_id(), role, name, new_token_id(), unit_clues, unit_name)

    async def invite(self, actor: Actor, consult_id: str, role: Role, name: str) -> tuple[rules.Invitee, str]:
        """The host invites someone into ``consult_id`` by link: the invitee and the link's token."""
        guest = self.new_invitee(role, name)
        now = self._clock()
        token = await self.issue_invite(consult_id, guest, lambda c: rules.invite(c, actor, guest, now))
        return guest, token

    async def issue_invite(
        self, consult_id: str, guest: rules.Invitee, command: Callable[[Consult], Transition]
    ) -> str:
        """Apply an inviting ``command`` for ``guest`` and sign their link (valid until 2 h after the end)."""
        now = self._clock()
        transition = await self._execute(consult_id, command)
        assert guest.token_id is not None
        claims = JoinClaims(
            consult_id=consult_id,
            participant_id=guest.participant_id,
            role=guest.role,
            not_before=int(now.timestamp()) - 60,
            expires_at=int((transition.consult.appointment_end + INVITE_GRACE).timestamp()),
            token_id=guest.token_id,
        )
        await self._publish(transition)
        return issue(self._settings.token_key, claims)

    async def revoke_invite(self, actor: Actor, consult_id: str, participant_id: str) -> Consult:
        """Withdraw an invitation: its link is revoked and the invitee leaves the call and the room."""
        now = self._clock()
        current = await self._require_consult(consult_id)
        invitee = rules.find_invitee(current, participant_id)
        transition = await self._execute(
            consult_id, lambda c: rules.revoke_invite(c, actor, participant_id, now)
        )
        if invitee is not None and invitee.token_id is not None:
            await self._stores.consults.revoke_token(invitee.token_id)
        drop = self._drops.pop((consult_id, participant_id), None)
        if drop is not None:
            drop[1].cancel()
        await self._media.disconnect(consult_id, participant_id)
        await self._turn_away(consult_id, participant_id, "revoked")
        await self._publish(transition)
        return transition.consult

    async def announce_room(self, consult: Consult) -> None:
        """A room opened outside signaling (an inter-unit session): its host's consoles on this
        node enter it, and its unit's staff queues (and its host's) show it."""
        for connection in list(self._registry.by_sid.values()):
            if connection.participant_id == consult.host_id and connection.is_staff:
                if connection.consult_id is None:
                    connection.consult_id = consult.consult_id
                    await self.sio.enter_room(connection.sid, consult_room(consult.consult_id))
        await self._emit_queue(consult)

    async def _turn_away(self, consult_id: str, participant_id: str, reason: str) -> None:
        """Tell a denied or revoked participant why, then close their connection on this node.

        Pages on other nodes close themselves on ``lobby:denied``; their link is refused from now on.
        """
        await self.sio.emit(
            "lobby:denied",
            {"consult_id": consult_id, "reason": reason},
            room=participant_room(participant_id),
        )
        sid = self._registry.by_participant.get(participant_id)
        connection = self._registry.by_sid.get(sid) if sid is not None else None
        if connection is not None and connection.via_link:
            connection.superseded = True  # nothing to hold: they are out of the call
            await self.sio.disconnect(connection.sid)

    # -- helpers -----------------------------------------------------------------------------

    async def _leave_call(self, connection: Connection, reason: str) -> None:
        consult_id = connection.consult_id
        if consult_id is None:
            return
        now = self._clock()
        transition = await self._execute(
            consult_id, lambda c: rules.leave(c, connection.actor(), now, reason)
        )
        await self._media.disconnect(consult_id, connection.participant_id)
        await self._publish(transition)

    def _current_consult(self, connection: Connection) -> str:
        if connection.consult_id is None:
            raise SignalingError(ErrorCode.INVALID_STATE, "You are not in a consult.")
        return connection.consult_id

    async def _require_consult(self, consult_id: str) -> Consult:
        consult = await self._stores.consults.get(consult_id)
        if consult is None:
            raise SignalingError(ErrorCode.NOT_FOUND, "No such consult.")
        return consult

    async def _execute(self, consult_id: str, command: Callable[[Consult], Transition]) -> Transition:
        try:
            return await execute(self._stores.consults, consult_id, command)
        except ConsultNotFound:
            raise SignalingError(ErrorCode.NOT_FOUND, "No such consult.") from None

    async def _publish(self, transition: Transition) -> None:
        if not transition.events:
            return
        consult = transition.consult
        await self.sio.emit(
            "consult:state", {"consult": views.consult(consult)}, room=consult_room(consult.consult_id)
        )
        await self._emit_queue(consult)

    async def publish_queue(self, unit: str) -> None:
        """Tell ``unit``'s staff consoles that its consults or its queue changed (e.g. booked over REST)."""
        if unit:
            await self._send_unit_queue(unit)

    @staticmethod
    async def _quietly(step: Awaitable[None]) -> None:
        """Bookkeeping that must not break a connection's life cycle if it fails (it is logged)."""
        try:
            await step
        except Exception as error:
            logger.error("lobby bookkeeping failed: %s", type(error).__name__, exc_info=error)

    async def _emit_queue(self, consult: Consult) -> None:
        """``consult`` changed: its unit's staff hear their list again, and so does its host when
        the host belongs to another unit (or none), so every list that shows it is current."""
        if consult.unit:
            await self._send_unit_queue(consult.unit)
        if consult.host_id is None:
            return
        sid = self._registry.by_participant.get(consult.host_id)
        here = self._registry.by_sid.get(sid) if sid is not None else None
        if here is not None and here.is_staff:
            host_unit = here.unit
        else:
            host = await self._stores.staff.by_id(consult.host_id)
            host_unit = host.unit if host is not None else ""
        if not host_unit or host_unit != consult.unit:
            await self.sio.emit(
                "queue:update",
                {"consults": await self._queue(host_unit, consult.host_id)},
                room=participant_room(consult.host_id),
            )

    async def _send_unit_queue(self, unit: str) -> None:
        await self.sio.emit("queue:update", {"consults": await self._queue(unit)}, room=staff_room(unit))

    async def _queue(self, unit: str, host_id: str | None = None) -> list[dict[str, object]]:
        """What one staff member's list shows: the open consults of their unit, and those they host
        (a consult tied to no unit is on no unit's list: only its host sees it)."""
        consults = {c.consult_id: c for c in await self._stores.consults.open_in_unit(unit)} if unit else {}
        if host_id is not None:
            for hosted in await self._stores.consults.open_hosted_by(host_id):
                consults.setdefault(hosted.consult_id, hosted)
        return [views.consult(c) for c in sorted(consults.values(), key=views.queue_order)]

    async def _admitted(self, consult: Consult, sid: str) -> None:
        if self._on_admitted is None:
            return
        request = (self.sio.get_environ(sid) or {}).get("aiohttp.request")
        address = getattr(request, "remote", None) or "unknown"
        try:
            await self._on_admitted(consult, address)
        except Exception as error:  # the admission stands; the record refuses her until care is granted
            logger.error("admission hook for consult %s failed: %s", consult.consult_id, type(error).__name__)

    async def _archive(self, consult_id: str) -> None:
        events = await self._stores.consults.log(consult_id)
        try:
            await self._on_consult_ended(consult_id, events)
        except Exception as error:  # the live log stays in the room store; archiving can be retried
            logger.error(
                "archiving the session log of consult %s failed: %s", consult_id, type(error).__name__
            )


def _forbidden_message(connection: Connection, action: Action) -> str:
    how = " by link" if connection.via_link and may(connection.role, action) else ""
    return f"The role '{connection.role.value}'{how} may not {action.value.replace('_', ' ')}."


def _session_cookie(environ: Mapping[str, Any]) -> str | None:
    header = environ.get("HTTP_COOKIE")
    if not isinstance(header, str) or len(header) > 8192:
        return None
    try:
        cookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _as_signaling_error(error: Exception) -> SignalingError:
    if isinstance(error, SignalingError):
        return error
    if isinstance(error, DomainError):  # every rule's refusal: its own code and words
        return SignalingError(error.code, error.message_en, message_es=error.message_es)
    if isinstance(error, MediaError):
        return SignalingError(ErrorCode(error.code.value), error.message)
    if isinstance(error, VersionConflict):
        return SignalingError(ErrorCode.CONFLICT, "The consult changed at the same time; try again.")
    return SignalingError(ErrorCode.INTERNAL, "Something went wrong on the server.")
