"""The socket.io server: authenticates connections, validates events, and hands them to the use cases.

Every client event goes through one guard that enforces, in order: an authenticated connection,
the per-connection rate limit, the payload size limit, the payload schema and the role table.
A refused event produces an ``error`` event (and a failed acknowledgement) with a stable code,
and changes nothing. Decisions are made by ``services`` (with ``rooms``' rules); this module
routes events to them, and to the media plane for what is only media.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import socketio
from aiohttp import web
from pydantic import BaseModel

from media.backend import (
    IceCandidate,
    LinkReport,
    MediaBackend,
    MediaError,
    MediaEvent,
    SessionDescription,
)
from rooms import consult as rules
from rooms.consult import ConsultState
from rooms.errors import DomainError
from rooms.roles import Action, Role, may
from rooms.store.base import Stores, VersionConflict
from services.chat import ChatService
from services.consults import ConsultService
from services.invitations import Invitations
from services.lifecycle import NodeLifecycle
from signaling import views
from signaling.authentication import Authenticator
from signaling.chat import ChatEvents
from signaling.connections import (
    Connection,
    Registry,
    consult_room,
    participant_room,
    staff_room,
    supervision_room,
)
from signaling.errors import ErrorCode, SignalingError
from signaling.guard import (
    OUTAGE_CODES,
    LogThrottle,
    NoOverload,
    Overload,
    RefusalLog,
    busy,
    check_capacity,
    check_rate,
    outage_refusal,
    validate,
)
from signaling.live import SocketLiveRooms
from signaling.messages import (
    MAX_MESSAGE_BYTES,
    Admit,
    ChatHistoryRequest,
    ChatRead,
    ChatSend,
    CheckIn,
    ConsultRef,
    Empty,
    Invite,
    MediaCandidate,
    MediaLinkReport,
    MediaOffer,
    MediaReceive,
    MediaState,
    ParticipantDevices,
    ParticipantRef,
    SubscriberAnswer,
)
from signaling.node_state import NodeState
from signaling.observer import NoObserver, SignalingObserver
from signaling.presence import Presence
from signaling.rate_limit import TokenBucket
from signaling.roster import LocalRoster, Roster, RosterEntry

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)
Reply = dict[str, Any]
IceServersFor = Callable[[str], list[dict[str, object]]]


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
    connections_per_second: float = 300.0
    connection_burst: float = 600.0
    """New connections this node admits (a token bucket): a reconnection storm after another node
    dies is taken at this rate, the rest refused with ``server_busy`` and a retry time, so clients
    back off (with jitter) instead of queueing up on the event loop."""


RETRY_AFTER_SECONDS = 2
"""What a refused connection is told to wait before trying again (clients add jitter)."""


def socket_server(
    settings: SignalingSettings, client_manager: socketio.AsyncManager | None = None
) -> socketio.AsyncServer:
    """The python-socketio server every part of signaling emits through."""
    return socketio.AsyncServer(
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


class SignalingServer:
    def __init__(
        self,
        *,
        sio: socketio.AsyncServer,
        live: SocketLiveRooms,
        registry: Registry,
        state: NodeState,
        stores: Stores,
        consults: ConsultService,
        invitations: Invitations,
        chat: ChatService,
        media: MediaBackend,
        settings: SignalingSettings,
        ice_servers_for: IceServersFor,
        clock: Callable[[], datetime],
        observer: SignalingObserver | None = None,
        lifecycle: NodeLifecycle | None = None,
        roster: Roster | None = None,
        overload: Overload | None = None,
    ) -> None:
        self.sio = sio
        self._roster = roster or LocalRoster()
        self._lifecycle = lifecycle or NodeLifecycle()
        self._admission = TokenBucket.full(
            settings.connection_burst, settings.connections_per_second, time.monotonic()
        )
        self._overload = overload or NoOverload()
        self._error_log = LogThrottle()
        self._observer = observer or NoObserver()
        self.live = live
        self._registry = registry
        self._state = state
        self._stores = stores
        self._consults = consults
        self._invitations = invitations
        self._media = media
        self._settings = settings
        self._ice_servers_for = ice_servers_for
        self._clock = clock
        self._refusals = RefusalLog(stores.consults, clock)
        self._closing = False
        self._authenticator = Authenticator(
            stores,
            token_key=settings.token_key,
            clock=clock,
            event_burst=settings.event_burst,
            events_per_second=settings.events_per_second,
        )
        self._presence = Presence(
            sio,
            consults,
            stores.consults,
            state,
            grace_seconds=settings.reconnect_grace_seconds,
            clock=clock,
            on_gone=lambda connection: self._leave_call(connection, "connection_lost"),
            on_returned=self._observer.reconnected,
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
        self._handle("media:link_report", MediaLinkReport, self._media_link_report, Action.JOIN_MEDIA)
        self._handle("media:candidate", MediaCandidate, self._media_candidate, Action.JOIN_MEDIA)
        self._handle("media:state", MediaState, self._media_state, Action.JOIN_MEDIA)
        self._handle("consult:invite", Invite, self._invite, Action.INVITE)
        self._handle("consult:leave", Empty, self._leave, Action.LEAVE)
        self._handle("consult:end", ConsultRef, self._end, Action.END)
        self._handle("participant:devices", ParticipantDevices, self._participant_devices, Action.JOIN_MEDIA)
        chat_events = ChatEvents(chat)
        self._handle("chat:send", ChatSend, chat_events.send, Action.CHAT)
        self._handle("chat:read", ChatRead, chat_events.read, Action.CHAT)
        self._handle("chat:history", ChatHistoryRequest, chat_events.history, Action.CHAT)

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)
        app.cleanup_ctx.append(self._roster_running)

    async def _roster_running(self, _: web.Application) -> AsyncIterator[None]:
        """While the node runs it says so in the shared roster, and sweeps the people of dead nodes."""
        async with self._roster.running(self._presence.lost):
            yield

    async def shutdown(self) -> None:
        """Refuse new connections, tell every client the server is going away, then drop them."""
        self._closing = True
        self._state.forget_all()
        await self.sio.emit("server:shutdown", {"retry_after_s": 2})
        for sid in list(self._registry.by_sid):
            await self.sio.disconnect(sid)

    async def live_calls(self) -> int:
        """How many live consults have a participant in the call connected to this node (draining
        waits for them to end)."""
        consult_ids = {c.consult_id for c in self._registry.by_sid.values() if c.consult_id is not None}
        count = 0
        for consult_id in consult_ids:
            consult = await self._stores.consults.get(consult_id)
            if consult is not None and consult.state is ConsultState.LIVE:
                connected = self._registry.in_consult(consult_id)
                count += any(c.participant_id in consult.in_call for c in connected)
        return count

    async def on_media_event(self, event: MediaEvent) -> None:
        await self.live.media_event(event)

    # -- connection life cycle -------------------------------------------------------------

    async def _connect(self, sid: str, environ: Mapping[str, Any], auth: object) -> None:
        if self._closing:
            error = SignalingError(ErrorCode.SHUTTING_DOWN, "The server is restarting; try again shortly.")
            raise _retry_later(error)
        if self._overload.refuse_connection():  # first to go: the sockets held keep their service
            self._observer.refused(str(ErrorCode.BUSY))
            overloaded = busy()
            raise socketio.exceptions.ConnectionRefusedError(overloaded.message, overloaded.to_json())
        if not self._admission.take(time.monotonic()):
            # Before authentication, which reads the stores: a refusal here costs almost nothing.
            self._observer.refused(str(ErrorCode.SERVER_BUSY))
            raise _retry_later(
                SignalingError(ErrorCode.SERVER_BUSY, "The server is busy; try again shortly.")
            )
        try:
            connection = await self._authenticator.connection(sid, environ, auth)
        except Exception as caught:
            refusal = caught if isinstance(caught, SignalingError) else outage_refusal(caught)
            if refusal is None:
                raise
            self._observer.refused(str(refusal.code))
            raise socketio.exceptions.ConnectionRefusedError(refusal.message, refusal.to_json()) from None
        self._observer.connected()
        previous = self._registry.add(connection)
        if previous is not None:
            # The same person opened the link or console again: the newest connection wins.
            previous.superseded = True
            await self.sio.emit("session:replaced", {}, to=previous.sid)
            await self.sio.disconnect(previous.sid)
        await self.sio.enter_room(sid, participant_room(connection.participant_id))
        if connection.views_dashboard and connection.unit:
            await self.sio.enter_room(sid, supervision_room(connection.unit))
        if connection.is_staff:
            if connection.unit:
                await self.sio.enter_room(sid, staff_room(connection.unit))
            for consult in await self._stores.consults.open_hosted_by(connection.participant_id):
                await self._enter(connection, consult.consult_id)
        elif connection.consult_id is not None:
            await self.sio.enter_room(sid, consult_room(connection.consult_id))
            await self._on_roster(connection)
        await self._presence.connected(connection)

    async def _disconnect(self, sid: str, reason: object = None) -> None:
        connection = self._registry.remove(sid)
        if connection is None or self._closing:
            return  # closing: left on the roster, so another node marks them dropped unless they return
        if connection.consult_id is not None:
            await self._roster.remove(sid, connection.participant_id)
        if not connection.superseded:
            await self._presence.disconnected(connection)

    async def _enter(self, connection: Connection, consult_id: str) -> None:
        """A staff connection follows the consult it hosts, and sees at once what each page last
        said about its devices (not a black tile until the next change)."""
        connection.consult_id = consult_id
        await self.sio.enter_room(connection.sid, consult_room(consult_id))
        await self._on_roster(connection)
        for status in list(self._state.devices.get(consult_id, {}).values()):
            await self.sio.emit("participant:devices", status, to=connection.sid)

    async def _on_roster(self, connection: Connection) -> None:
        assert connection.consult_id is not None
        entry = RosterEntry(
            connection.sid,
            connection.consult_id,
            connection.participant_id,
            connection.role,
            connection.via_link,
            connection.unit,
        )
        await self._roster.add(entry)

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
            self._observer.event(event)
            connection = self._registry.by_sid.get(sid)
            consult_id: str | None = None
            try:
                if connection is None:
                    raise SignalingError(ErrorCode.AUTH_REQUIRED, "Not connected.")
                check_capacity(self._overload)
                check_rate(connection)
                payload = validate(schema, args, self._settings.max_message_bytes)
                consult_id = getattr(payload, "consult_id", None) or connection.consult_id
                if action is not None and not may(connection.role, action, via_link=connection.via_link):
                    raise SignalingError(ErrorCode.FORBIDDEN, _forbidden_message(connection, action))
                reply = await handler(connection, payload)
                return {"ok": True, **reply}
            except Exception as error:  # every failure becomes a documented error, never silence
                refusal = await self._refuse(sid, event, error)
                if connection is not None and consult_id is not None:
                    await self._refusals.record(connection, consult_id, event, refusal["error"]["code"])
                return refusal

        self.sio.on(event, guarded)

    async def _unknown_event(self, event: str, sid: str, *args: object) -> Reply:
        self._observer.event("unknown")  # never the client's own name for it: labels stay bounded
        connection = self._registry.by_sid.get(sid)
        try:
            if connection is not None:
                check_rate(connection)
            raise SignalingError(ErrorCode.UNKNOWN_EVENT, "This event does not exist.")
        except SignalingError as error:
            return await self._refuse(sid, event[:64], error)

    async def _refuse(self, sid: str, event: str, error: Exception) -> Reply:
        refusal = _as_signaling_error(error)
        self._observer.refused(str(refusal.code))
        if refusal.code in OUTAGE_CODES:  # one line, no traceback: an outage makes many of these
            logger.warning("event %s answered %s (%s)", event, refusal.code, type(error).__name__)
        elif refusal.code is ErrorCode.INTERNAL and self._error_log.allow(time.monotonic()):
            logger.error(
                "event %s failed: %s (%d more not logged)",
                event,
                type(error).__name__,
                self._error_log.take_suppressed(),
                exc_info=error,
                extra={"error_code": str(refusal.code)},
            )
        # The socket is this node's: no trip through the Redis manager (which may be what is down).
        await self.sio.emit("error", {**refusal.to_json(), "event": event}, to=sid, ignore_queue=True)
        return {"ok": False, "error": refusal.to_json()}

    # -- the waiting room and the host's decisions (services.consults) -----------------------

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
            reply["queue"] = await self.live.staff_list(connection.unit, connection.participant_id)
        return reply

    async def _check_in(self, connection: Connection, _: CheckIn) -> Reply:
        consult_id = _current_consult(connection)
        if self._lifecycle.draining:
            raise SignalingError(
                ErrorCode.DRAINING,
                "This server is closing; reconnect to check in on another.",
                {"retry_after_s": str(RETRY_AFTER_SECONDS)},
                message_es="Este servidor está cerrando; vuelva a conectarse para registrarse en otro.",
            )
        consult = await self._consults.check_in(connection.actor(), consult_id, connection.token_id)
        return {"consult": views.consult(consult)}

    async def _admit(self, connection: Connection, payload: Admit) -> Reply:
        room = consult_room(payload.consult_id)
        already_in = connection.consult_id == payload.consult_id
        await self.sio.enter_room(connection.sid, room)  # so she hears the state her admission sends
        try:
            consult = await self._consults.admit(
                connection.actor(),
                payload.consult_id,
                host_name=connection.display_name,
                participant_id=payload.participant_id,
                hosting=connection.consult_id,
                address=self._address(connection.sid),
            )
        except Exception:
            if not already_in:
                await self.sio.leave_room(connection.sid, room)
            raise
        await self._enter(connection, payload.consult_id)
        return {"consult": views.consult(consult)}

    async def _deny(self, connection: Connection, payload: ParticipantRef) -> Reply:
        consult = await self._consults.deny(connection.actor(), payload.consult_id, payload.participant_id)
        return {"consult": views.consult(consult)}

    async def _reinvite(self, connection: Connection, payload: ParticipantRef) -> Reply:
        consult = await self._consults.reinvite(
            connection.actor(), payload.consult_id, payload.participant_id
        )
        return {"consult": views.consult(consult)}

    async def _send_back(self, connection: Connection, payload: ParticipantRef) -> Reply:
        consult = await self._consults.send_back(
            connection.actor(), payload.consult_id, payload.participant_id
        )
        return {"consult": views.consult(consult)}

    async def _lock(self, connection: Connection, payload: ConsultRef) -> Reply:
        consult = await self._consults.set_lock(connection.actor(), payload.consult_id, locked=True)
        return {"consult": views.consult(consult)}

    async def _unlock(self, connection: Connection, payload: ConsultRef) -> Reply:
        consult = await self._consults.set_lock(connection.actor(), payload.consult_id, locked=False)
        return {"consult": views.consult(consult)}

    async def _mute(self, connection: Connection, payload: ParticipantRef) -> Reply:
        await self._consults.request_mute(connection.actor(), payload.consult_id, payload.participant_id)
        return {}

    async def _invite(self, connection: Connection, payload: Invite) -> Reply:
        consult_id = _current_consult(connection)
        guest, token = await self._invitations.invite(
            connection.actor(), consult_id, Role(payload.role), payload.name
        )
        return {"invitee": views.participant(guest), "token": token, "token_id": guest.token_id}

    async def _end(self, connection: Connection, payload: ConsultRef) -> Reply:
        consult = await self._consults.end(connection.actor(), payload.consult_id)
        return {"consult": views.consult(consult)}

    # -- media: joining, leaving, and what only the media plane needs -------------------------

    async def _media_offer(self, connection: Connection, payload: MediaOffer) -> Reply:
        consult_id = _current_consult(connection)
        actor = connection.actor()
        before = await self._consults.may_join(actor, consult_id, receive_only=False)
        offer = SessionDescription(sdp=payload.sdp, type="offer")
        answer = await self._media.connect(consult_id, connection.participant_id, offer, payload.sources)
        await self._join(connection, before, receive_only=False)
        return {"answer": {"type": answer.type, "sdp": answer.sdp}}

    async def _media_subscribe(self, connection: Connection, _: Empty) -> Reply:
        """Join the call receive-only (no camera or microphone): the server then offers the page
        everyone else's media with ``media:subscriber_offer``, as it does to a publishing page."""
        consult_id = _current_consult(connection)
        before = await self._consults.may_join(connection.actor(), consult_id, receive_only=True)
        await self._media.subscribe(consult_id, connection.participant_id)
        await self._join(connection, before, receive_only=True)
        return {}

    async def _join(self, connection: Connection, before: rules.Consult, *, receive_only: bool) -> None:
        """Record that the participant's media joined; their media closes if the consult refuses it."""
        try:
            await self._consults.join(connection.actor(), before, receive_only=receive_only)
        except Exception:
            await self._media.disconnect(before.consult_id, connection.participant_id)
            raise

    async def _leave(self, connection: Connection, _: Empty) -> Reply:
        _current_consult(connection)
        await self._leave_call(connection, "hang_up")
        return {}

    async def _leave_call(self, connection: Connection, reason: str) -> None:
        consult_id = connection.consult_id
        if consult_id is None:
            return
        await self._consults.leave(connection.actor(), consult_id, reason)
        await self._media.disconnect(consult_id, connection.participant_id)

    async def _subscriber_answer(self, connection: Connection, payload: SubscriberAnswer) -> Reply:
        consult_id = _current_consult(connection)
        answer = SessionDescription(sdp=payload.sdp, type="answer")
        await self._media.subscriber_answer(consult_id, connection.participant_id, answer, payload.revision)
        return {}

    async def _media_receive(self, connection: Connection, payload: MediaReceive) -> Reply:
        consult_id = _current_consult(connection)
        await self._media.set_receive(
            consult_id, connection.participant_id, video=payload.video, data_saver=payload.data_saver
        )
        return {}

    async def _media_link_report(self, connection: Connection, payload: MediaLinkReport) -> Reply:
        """The page's own count of what it received: the freshest evidence of this participant's
        download the media plane gets (``media/adaptation.py``); a page sends one a second."""
        if not connection.link_reports.take(time.monotonic()):
            raise SignalingError(ErrorCode.RATE_LIMITED, "Too many link reports; one a second is enough.")
        consult_id = _current_consult(connection)
        report = LinkReport(
            payload.audio_received,
            payload.audio_lost,
            payload.video_received,
            payload.video_lost,
            payload.queue_ms,
        )
        await self._media.link_report(consult_id, connection.participant_id, report)
        return {}

    async def _media_candidate(self, connection: Connection, payload: MediaCandidate) -> Reply:
        consult_id = _current_consult(connection)
        candidate = IceCandidate(payload.candidate, payload.sdpMid, payload.sdpMLineIndex)
        await self._media.add_candidate(consult_id, connection.participant_id, candidate, payload.target)
        return {}

    async def _media_state(self, connection: Connection, payload: MediaState) -> Reply:
        if payload.screen and not may(connection.role, Action.SHARE_SCREEN, via_link=connection.via_link):
            raise SignalingError(ErrorCode.FORBIDDEN, _forbidden_message(connection, Action.SHARE_SCREEN))
        consult = await self._consults.get(_current_consult(connection))
        if connection.participant_id not in consult.in_call:
            raise SignalingError(ErrorCode.INVALID_STATE, "You are not in the call.")
        await self._media.set_sharing(consult.consult_id, connection.participant_id, screen=payload.screen)
        state = {
            "participant_id": connection.participant_id,
            "audio": payload.audio,
            "video": payload.video,
            "screen": payload.screen,
        }
        room = consult_room(consult.consult_id)
        await self.sio.emit("participant:media", state, room=room, skip_sid=connection.sid)
        return {}

    async def _participant_devices(self, connection: Connection, payload: ParticipantDevices) -> Reply:
        """A page says where it is and which devices work; the consult's other pages (the host's
        tile) show why that person is not (fully) in the call. The last status is kept for staff
        who enter the consult later (:meth:`_enter`)."""
        consult_id = _current_consult(connection)
        status = {"participant_id": connection.participant_id, **payload.model_dump()}
        self._state.devices.setdefault(consult_id, {})[connection.participant_id] = status
        room = consult_room(consult_id)
        await self.sio.emit("participant:devices", status, room=room, skip_sid=connection.sid)
        return {}

    def _address(self, sid: str) -> str:
        request = (self.sio.get_environ(sid) or {}).get("aiohttp.request")
        return getattr(request, "remote", None) or "unknown"


def _retry_later(error: SignalingError) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection the client should retry, after ``retry_after_s`` plus jitter."""
    return socketio.exceptions.ConnectionRefusedError(
        error.message, {**error.to_json(), "retry_after_s": RETRY_AFTER_SECONDS}
    )


def _current_consult(connection: Connection) -> str:
    if connection.consult_id is None:
        raise SignalingError(ErrorCode.INVALID_STATE, "You are not in a consult.")
    return connection.consult_id


def _forbidden_message(connection: Connection, action: Action) -> str:
    how = " by link" if connection.via_link and may(connection.role, action) else ""
    return f"The role '{connection.role.value}'{how} may not {action.value.replace('_', ' ')}."


def _as_signaling_error(error: Exception) -> SignalingError:
    if isinstance(error, SignalingError):
        return error
    if isinstance(error, DomainError):  # every rule's refusal: its own code, words and details
        return SignalingError(error.code, error.message_en, error.detail(), message_es=error.message_es)
    if isinstance(error, MediaError):
        return SignalingError(ErrorCode(error.code.value), error.message)
    if isinstance(error, VersionConflict):
        return SignalingError(ErrorCode.CONFLICT, "The consult changed at the same time; try again.")
    if (unavailable := outage_refusal(error)) is not None:
        return unavailable
    return SignalingError(ErrorCode.INTERNAL, "Something went wrong on the server.")
