"""The life cycle of one consult as an explicit state machine.

    scheduled --check_in--> waiting --admit--> live --end--> ended
        \\__________________________end_________________________/

Each command is a pure function ``(consult, actor, at) -> Transition``: it either returns the
next consult (with a bumped version) and the session-log events it caused, or raises
:class:`RuleViolation` with a stable code and changes nothing. Callers persist a transition with
compare-and-set on ``version``, so two nurses acting at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from rooms.roles import STAFF_ROLES, Action, Role, may
from rooms.session_log import EventKind, SessionEvent


class ConsultState(StrEnum):
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    LIVE = "live"
    ENDED = "ended"


MAX_IN_CALL = 8
"""Participants in one call at most (inter-unit sessions join up to 8 sites)."""


class ViolationCode(StrEnum):
    ROOM_FULL = "room_full"
    FORBIDDEN = "forbidden"
    INVALID_STATE = "invalid_state"
    CONSULT_ENDED = "consult_ended"
    NOT_YOUR_CONSULT = "not_your_consult"


class RuleViolation(Exception):
    """A command that the rules do not allow; nothing was changed."""

    def __init__(self, code: ViolationCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issues a command: a participant identity, the role it holds, and its connection."""

    participant_id: str
    role: Role
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class Invitee:
    """Someone invited by link into the call: a companion, an interpreter, a specialist."""

    participant_id: str
    role: Role
    name: str


INVITABLE_ROLES = frozenset({Role.COMPANION, Role.INTERPRETER, Role.PHYSICIAN, Role.OBSERVER})


@dataclass(frozen=True, slots=True)
class Consult:
    consult_id: str
    patient_id: str
    patient_name: str
    appointment_start: datetime
    appointment_end: datetime
    state: ConsultState = ConsultState.SCHEDULED
    host_id: str | None = None
    host_name: str | None = None
    invitees: tuple[Invitee, ...] = ()
    in_call: frozenset[str] = frozenset()
    checked_in_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True, slots=True)
class Transition:
    consult: Consult
    events: tuple[SessionEvent, ...]


def create(
    *,
    consult_id: str,
    patient_id: str,
    patient_name: str,
    appointment_start: datetime,
    appointment_end: datetime,
    created_by: str,
    at: datetime,
) -> Transition:
    if appointment_end <= appointment_start:
        raise ValueError("an appointment must end after it starts")
    consult = Consult(
        consult_id=consult_id,
        patient_id=patient_id,
        patient_name=patient_name,
        appointment_start=appointment_start,
        appointment_end=appointment_end,
    )
    return Transition(consult, (SessionEvent(consult_id, EventKind.CREATED, at, created_by, None),))


def check_in(consult: Consult, actor: Actor, at: datetime) -> Transition:
    """The patient, having given consent, enters the waiting room.

    Checking in again while already waiting (a reload, a dropped connection) keeps the original
    check-in time so the patient keeps their place, and logs nothing new.
    """
    _require(actor, Action.CHECK_IN)
    _require_own(consult, actor)
    if consult.state is ConsultState.WAITING:
        return Transition(consult, ())
    _require_state(consult, ConsultState.SCHEDULED)
    return _advance(
        consult,
        replace(consult, state=ConsultState.WAITING, checked_in_at=at),
        _event(consult, EventKind.CHECKED_IN, actor, at),
    )


def admit(consult: Consult, actor: Actor, at: datetime, host_name: str = "") -> Transition:
    """A staff member takes the waiting patient into the call and becomes its host."""
    _require(actor, Action.ADMIT)
    _require_state(consult, ConsultState.WAITING)
    return _advance(
        consult,
        replace(consult, state=ConsultState.LIVE, host_id=actor.participant_id, host_name=host_name or None),
        _event(consult, EventKind.ADMITTED, actor, at, patient=consult.patient_id),
    )


def invite(consult: Consult, actor: Actor, invitee: Invitee, at: datetime) -> Transition:
    """The host invites someone by link, with a role; they may join once the call is live."""
    _require(actor, Action.INVITE)
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(ViolationCode.CONSULT_ENDED, "The consult has already ended.")
    if consult.host_id is not None and actor.participant_id != consult.host_id:
        raise RuleViolation(ViolationCode.NOT_YOUR_CONSULT, "Only the consult's host may invite.")
    if invitee.role not in INVITABLE_ROLES:
        raise RuleViolation(ViolationCode.FORBIDDEN, f"The role '{invitee.role}' cannot be invited by link.")
    if len(consult.invitees) >= MAX_IN_CALL - 2:
        raise RuleViolation(ViolationCode.ROOM_FULL, f"A consult holds at most {MAX_IN_CALL} participants.")
    if any(i.participant_id == invitee.participant_id for i in consult.invitees):
        raise RuleViolation(ViolationCode.INVALID_STATE, "That person is already invited.")
    return _advance(
        consult,
        replace(consult, invitees=(*consult.invitees, invitee)),
        _event(
            consult, EventKind.INVITED, actor, at, invitee=invitee.participant_id, role=invitee.role.value
        ),
    )


def find_invitee(consult: Consult, participant_id: str) -> Invitee | None:
    return next((i for i in consult.invitees if i.participant_id == participant_id), None)


def join(consult: Consult, actor: Actor, at: datetime) -> Transition:
    """A participant's media joins the live call; joining twice (a reconnect) logs nothing."""
    _require(actor, Action.JOIN_MEDIA)
    _require_state(consult, ConsultState.LIVE)
    invited = find_invitee(consult, actor.participant_id)
    if invited is not None:
        if invited.role is not actor.role:
            raise RuleViolation(ViolationCode.FORBIDDEN, "The invitation was for another role.")
    elif actor.role is Role.PATIENT:
        _require_own(consult, actor)
    elif actor.role not in STAFF_ROLES or actor.participant_id != consult.host_id:
        raise RuleViolation(
            ViolationCode.NOT_YOUR_CONSULT, "Only the consult's host and invitees may join it."
        )
    if actor.participant_id in consult.in_call:
        return Transition(consult, ())
    if len(consult.in_call) >= MAX_IN_CALL:
        raise RuleViolation(ViolationCode.ROOM_FULL, f"A call holds at most {MAX_IN_CALL} participants.")
    return _advance(
        consult,
        replace(consult, in_call=consult.in_call | {actor.participant_id}),
        _event(consult, EventKind.JOINED, actor, at),
    )


def leave(consult: Consult, actor: Actor, at: datetime, reason: str = "hang_up") -> Transition:
    """A participant leaves the call; the consult stays live until its host ends it."""
    _require(actor, Action.LEAVE)
    if actor.participant_id not in consult.in_call:
        return Transition(consult, ())
    return _advance(
        consult,
        replace(consult, in_call=consult.in_call - {actor.participant_id}),
        _event(consult, EventKind.LEFT, actor, at, reason=reason),
    )


RECONNECT_GRACE = timedelta(seconds=30)
"""How long a participant who dropped out of a live call keeps their place in it."""


def dropped(consult: Consult, actor: Actor, at: datetime) -> SessionEvent:
    """A participant's connection was lost mid-call; they stay in the call for the grace period."""
    return _event(consult, EventKind.DROPPED, actor, at)


def returned(consult: Consult, actor: Actor, at: datetime, gap: timedelta) -> SessionEvent:
    """The participant came back within the grace period; the log keeps the length of the gap."""
    return _event(consult, EventKind.RETURNED, actor, at, gap_seconds=f"{gap.total_seconds():.1f}")


def end(consult: Consult, actor: Actor, at: datetime) -> Transition:
    """The host (or, before admission, any staff member) ends the consult for everyone."""
    _require(actor, Action.END)
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(ViolationCode.CONSULT_ENDED, "The consult has already ended.")
    if consult.host_id is not None and actor.participant_id != consult.host_id:
        raise RuleViolation(ViolationCode.NOT_YOUR_CONSULT, "Only the consult's host may end it.")
    left = tuple(
        SessionEvent(consult.consult_id, EventKind.LEFT, at, participant, None, None, {"reason": "ended"})
        for participant in sorted(consult.in_call)
    )
    ended = _event(consult, EventKind.ENDED, actor, at, previous_state=consult.state.value)
    next_consult = replace(
        consult, state=ConsultState.ENDED, in_call=frozenset(), version=consult.version + 1
    )
    return Transition(next_consult, (*left, ended))


def _require(actor: Actor, action: Action) -> None:
    if not may(actor.role, action):
        raise RuleViolation(ViolationCode.FORBIDDEN, f"The role '{actor.role}' may not {action.value}.")


def _require_own(consult: Consult, actor: Actor) -> None:
    if actor.participant_id != consult.patient_id:
        raise RuleViolation(ViolationCode.NOT_YOUR_CONSULT, "This consult belongs to another patient.")


def _require_state(consult: Consult, expected: ConsultState) -> None:
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(ViolationCode.CONSULT_ENDED, "The consult has already ended.")
    if consult.state is not expected:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            f"The consult is {consult.state.value}; this needs it {expected.value}.",
        )


def _event(consult: Consult, kind: EventKind, actor: Actor, at: datetime, **detail: str) -> SessionEvent:
    return SessionEvent(
        consult.consult_id, kind, at, actor.participant_id, actor.role, actor.connection_id, detail
    )


def _advance(before: Consult, after: Consult, event: SessionEvent) -> Transition:
    return Transition(replace(after, version=before.version + 1), (event,))
