"""The life cycle of one consult as an explicit state machine.

    scheduled --check_in--> waiting --admit--> live --end--> ended
        \\__________________________end_________________________/

Lobby control on top of that: the host may *deny* a waiting person (their link stops working
until they are re-invited), *send back* someone in the call to the waiting room (``lobby``) and
admit them again, and *lock* the room, so nobody new checks in or joins while only people
already admitted may come back. Each decision is one command and one session-log event.

Each command is a pure function ``(consult, actor, at) -> Transition``: it either returns the
next consult (with a bumped version) and the session-log events it caused, or raises
:class:`RuleViolation` with a stable code and changes nothing. Callers persist a transition with
compare-and-set on ``version``, so two nurses acting at once cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from rooms.errors import DomainError
from rooms.roles import STAFF_ROLES, Action, Role, may
from rooms.session_log import EventKind, SessionEvent


class ConsultState(StrEnum):
    SCHEDULED = "scheduled"
    WAITING = "waiting"
    LIVE = "live"
    ENDED = "ended"


MAX_IN_CALL = 8
"""Participants in one call at most (inter-unit sessions join up to 8 sites)."""


class ConsultKind(StrEnum):
    CONSULT = "consult"
    """A patient's appointment."""
    INTERUNIT = "interunit"
    """An inter-unit session between hospital sites (see ``rooms/interunit.py``); no patient joins."""


class ViolationCode(StrEnum):
    ROOM_FULL = "room_full"
    ROOM_LOCKED = "room_locked"
    DENIED = "denied"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_STATE = "invalid_state"
    CONSULT_ENDED = "consult_ended"
    NOT_YOUR_CONSULT = "not_your_consult"
    WRONG_UNIT = "wrong_unit"


class RuleViolation(DomainError):
    r"""A command that the consult's rules do not allow; nothing was changed.

    One of the domain's :class:`~rooms.errors.DomainError`\ s: its ``code`` is a
    :class:`ViolationCode` and it explains itself in Spanish and English.
    """

    CODES: ClassVar[frozenset[str]] = frozenset(ViolationCode)

    def __init__(self, code: ViolationCode, message_es: str, message_en: str) -> None:
        super().__init__(code, message_es, message_en)


_STATE_ES = {
    ConsultState.SCHEDULED: "programada",
    ConsultState.WAITING: "en espera",
    ConsultState.LIVE: "en curso",
    ConsultState.ENDED: "terminada",
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who issues a command: a participant identity, the role it holds, and its connection."""

    participant_id: str
    role: Role
    connection_id: str | None = None
    via_link: bool = False
    """The role comes from a join link, not a signed-in account (see ``roles.LINK_ACTIONS``)."""
    unit: str = ""
    """Signed-in staff: their unit (``StaffMember.unit``), which decides whose waiting consults they
    may act on before anyone hosts them. Empty for people who arrive by link."""


@dataclass(frozen=True, slots=True)
class Invitee:
    """Someone invited by link into the call: a companion, an interpreter, a specialist."""

    participant_id: str
    role: Role
    name: str
    token_id: str | None = None
    """The id of the link issued for this invitation, so it can be revoked."""
    unit_clues: str | None = None
    """Inter-unit sessions: the CLUES code of the invited unit."""
    unit_name: str | None = None


INVITABLE_ROLES = frozenset(
    {Role.COMPANION, Role.INTERPRETER, Role.PHYSICIAN, Role.OBSERVER, Role.COORDINATOR}
)


@dataclass(frozen=True, slots=True)
class Consult:
    consult_id: str
    patient_id: str
    """The patient's participant id in the room (in their join token and in every consult view):
    an opaque id, never their NSS. Consults stored before ``patient_nss`` existed used the NSS here."""
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
    kind: ConsultKind = ConsultKind.CONSULT
    locked: bool = False
    lobby: frozenset[str] = frozenset()
    """People sent back to the waiting room from a live call; they wait to be admitted again."""
    denied: frozenset[str] = frozenset()
    """People the host refused: their link is refused until they are re-invited."""
    admitted: frozenset[str] = frozenset()
    """Everyone ever admitted into the call (host, patient, joined invitees): the only people who
    may come back while the room is locked."""
    meta: tuple[tuple[str, str], ...] = ()
    """Small non-clinical facts about the room (inter-unit sessions: purpose, specialty, site)."""
    unit: str = ""
    """The unit whose staff list this consult (``StaffMember.unit``: the appointment's unit, or an
    inter-unit session's coordinator's); empty when it is tied to no unit. Set once, at creation."""
    patient_nss: str = ""
    """The patient's identity in the clinical record (their NSS); never shown to clients. Empty when
    the consult has no registered patient (and in consults stored before this field existed)."""
    receive_only: frozenset[str] = frozenset()
    """People who joined the call to watch and listen only (no camera or microphone), so pages show
    them without a picture. Meaningful for those in ``in_call``; each join sets it afresh."""

    def meta_value(self, key: str) -> str | None:
        return next((value for name, value in self.meta if name == key), None)

    @property
    def record_nss(self) -> str:
        """The NSS to find the patient by in the clinical record; ``""`` when there is none.

        The one place that knows older consults: stored before ``patient_nss`` existed, they used
        the NSS as the patient's participant id, so an empty ``patient_nss`` falls back to it.
        """
        if self.kind is not ConsultKind.CONSULT:
            return self.patient_nss  # an inter-unit session may be about one patient (or none)
        return self.patient_nss or self.patient_id

    @property
    def capacity(self) -> int:
        """How many invitees fit besides the host (and the patient of a patient consult)."""
        return MAX_IN_CALL - (1 if self.kind is ConsultKind.INTERUNIT else 2)


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
    unit: str = "",
    patient_nss: str = "",
) -> Transition:
    if appointment_end <= appointment_start:
        raise ValueError("an appointment must end after it starts")
    consult = Consult(
        consult_id=consult_id,
        patient_id=patient_id,
        patient_name=patient_name,
        appointment_start=appointment_start,
        appointment_end=appointment_end,
        unit=unit,
        patient_nss=patient_nss,
    )
    return Transition(consult, (SessionEvent(consult_id, EventKind.CREATED, at, created_by, None),))


def check_in(consult: Consult, actor: Actor, at: datetime) -> Transition:
    """The patient, having given consent, enters the waiting room.

    Checking in again while already waiting (a reload, a dropped connection) keeps the original
    check-in time so the patient keeps their place, and logs nothing new.
    """
    _require(actor, Action.CHECK_IN)
    _require_own(consult, actor)
    _require_not_denied(consult, actor)
    if consult.state is ConsultState.WAITING:
        return Transition(consult, ())
    _require_state(consult, ConsultState.SCHEDULED)
    if consult.locked:
        raise RuleViolation(
            ViolationCode.ROOM_LOCKED,
            "La sala está cerrada; espere a que quien la dirige la abra.",
            "The room is locked; wait for the host to unlock it.",
        )
    return _advance(
        consult,
        replace(consult, state=ConsultState.WAITING, checked_in_at=at),
        _event(consult, EventKind.CHECKED_IN, actor, at),
    )


def admit(
    consult: Consult, actor: Actor, at: datetime, host_name: str = "", participant_id: str | None = None
) -> Transition:
    """A staff member takes the waiting patient into the call and becomes its host.

    In a live call, the host admits again someone waiting in the lobby (``participant_id``).
    """
    _require(actor, Action.ADMIT)
    _require_open(consult)
    _require_host(consult, actor)
    if consult.state is ConsultState.LIVE and participant_id is not None:
        if participant_id not in consult.lobby:
            raise RuleViolation(
                ViolationCode.INVALID_STATE,
                "Esa persona no está en la sala de espera.",
                "That person is not in the waiting room.",
            )
        return _advance(
            consult,
            replace(consult, lobby=consult.lobby - {participant_id}),
            _event(consult, EventKind.READMITTED, actor, at, participant=participant_id),
        )
    _require_state(consult, ConsultState.WAITING)
    if participant_id not in (None, consult.patient_id):
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Esa persona no está en la sala de espera.",
            "That person is not in the waiting room.",
        )
    return _advance(
        consult,
        replace(
            consult,
            state=ConsultState.LIVE,
            host_id=actor.participant_id,
            host_name=host_name or None,
            admitted=consult.admitted | {actor.participant_id, consult.patient_id},
        ),
        _event(consult, EventKind.ADMITTED, actor, at, patient=consult.patient_id),
    )


def deny(consult: Consult, actor: Actor, target: str, at: datetime) -> Transition:
    """The host refuses someone who is not in the call: a waiting patient or a guest.

    Their link is refused from then on, until the host re-invites them (:func:`reinvite`). A
    waiting patient goes back to *scheduled*; someone in the lobby leaves it.
    """
    _require(actor, Action.DENY)
    _require_open(consult)
    _require_host(consult, actor)
    role = _target_role(consult, actor, target)
    if target in consult.denied:
        return Transition(consult, ())
    if target in consult.in_call:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Esa persona está en la llamada; primero envíela a la sala de espera.",
            "That person is in the call; send them to the waiting room first.",
        )
    after = replace(consult, denied=consult.denied | {target}, lobby=consult.lobby - {target})
    if target == consult.patient_id and consult.state is ConsultState.WAITING:
        after = replace(after, state=ConsultState.SCHEDULED, checked_in_at=None)
    return _advance(
        consult, after, _event(consult, EventKind.DENIED, actor, at, participant=target, role=role.value)
    )


def reinvite(consult: Consult, actor: Actor, target: str, at: datetime) -> Transition:
    """The host lifts a denial: the same link works again."""
    _require(actor, Action.DENY)
    _require_open(consult)
    _require_host(consult, actor)
    if target not in consult.denied:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "A esa persona no se le negó la entrada.",
            "That person was not denied.",
        )
    return _advance(
        consult,
        replace(consult, denied=consult.denied - {target}),
        _event(consult, EventKind.REINVITED, actor, at, participant=target),
    )


def send_back(consult: Consult, actor: Actor, target: str, at: datetime) -> Transition:
    """The host sends someone admitted back to the waiting room; their media stops until readmitted."""
    _require(actor, Action.SEND_BACK)
    _require_open(consult)
    _require_host(consult, actor)
    _require_state(consult, ConsultState.LIVE)
    role = _target_role(consult, actor, target)
    if target in consult.lobby:
        return Transition(consult, ())
    if target not in consult.in_call and target not in consult.admitted:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Esa persona no está en la llamada.",
            "That person is not in the call.",
        )
    return _advance(
        consult,
        replace(consult, in_call=consult.in_call - {target}, lobby=consult.lobby | {target}),
        _event(consult, EventKind.SENT_BACK, actor, at, participant=target, role=role.value),
    )


def lock(consult: Consult, actor: Actor, at: datetime, locked: bool = True) -> Transition:
    """The host locks (or unlocks) the live room; locking twice changes nothing."""
    _require(actor, Action.LOCK)
    _require_open(consult)
    _require_host(consult, actor)
    _require_state(consult, ConsultState.LIVE)
    if consult.locked is locked:
        return Transition(consult, ())
    kind = EventKind.LOCKED if locked else EventKind.UNLOCKED
    return _advance(consult, replace(consult, locked=locked), _event(consult, kind, actor, at))


def request_mute(consult: Consult, actor: Actor, target: str, at: datetime) -> SessionEvent:
    """The host asks someone's page to mute its microphone; the consult itself does not change."""
    _require(actor, Action.MUTE_OTHERS)
    _require_open(consult)
    _require_host(consult, actor)
    _require_state(consult, ConsultState.LIVE)
    _target_role(consult, actor, target)
    if target not in consult.in_call:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Esa persona no está en la llamada.",
            "That person is not in the call.",
        )
    return _event(consult, EventKind.MUTE_REQUESTED, actor, at, participant=target)


def revoke_invite(consult: Consult, actor: Actor, target: str, at: datetime) -> Transition:
    """The host withdraws an invitation: the invitee leaves the call and their link stops working."""
    _require(actor, Action.INVITE)
    _require_open(consult)
    _require_host(consult, actor)
    invitee = find_invitee(consult, target)
    if invitee is None:
        raise RuleViolation(ViolationCode.NOT_FOUND, "No existe esa invitación.", "No such invitation.")
    events = []
    if target in consult.in_call:
        left = {"reason": "revoked"}
        events.append(SessionEvent(consult.consult_id, EventKind.LEFT, at, target, invitee.role, None, left))
    events.append(_event(consult, EventKind.INVITE_REVOKED, actor, at, participant=target))
    after = replace(
        consult,
        invitees=tuple(i for i in consult.invitees if i.participant_id != target),
        in_call=consult.in_call - {target},
        lobby=consult.lobby - {target},
        admitted=consult.admitted - {target},
        denied=consult.denied - {target},
        version=consult.version + 1,
    )
    return Transition(after, tuple(events))


def invite(
    consult: Consult,
    actor: Actor,
    invitee: Invitee,
    at: datetime,
    roles: frozenset[Role] = INVITABLE_ROLES,
) -> Transition:
    """The host invites someone by link, with a role; they may join once the call is live."""
    _require(actor, Action.INVITE)
    _require_open(consult)
    _require_host(consult, actor)
    if invitee.role not in roles:
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            f"No se puede invitar por enlace con el rol «{invitee.role}».",
            f"The role '{invitee.role}' cannot be invited by link.",
        )
    if len(consult.invitees) >= consult.capacity:
        raise RuleViolation(
            ViolationCode.ROOM_FULL,
            f"Una consulta admite como máximo {MAX_IN_CALL} participantes.",
            f"A consult holds at most {MAX_IN_CALL} participants.",
        )
    if any(i.participant_id == invitee.participant_id for i in consult.invitees):
        raise RuleViolation(
            ViolationCode.INVALID_STATE, "Esa persona ya está invitada.", "That person is already invited."
        )
    return _advance(
        consult,
        replace(consult, invitees=(*consult.invitees, invitee)),
        _event(
            consult, EventKind.INVITED, actor, at, invitee=invitee.participant_id, role=invitee.role.value
        ),
    )


def find_invitee(consult: Consult, participant_id: str) -> Invitee | None:
    return next((i for i in consult.invitees if i.participant_id == participant_id), None)


def join(consult: Consult, actor: Actor, at: datetime, *, receive_only: bool = False) -> Transition:
    """A participant's media joins the live call; joining twice (a reconnect) logs nothing.

    ``receive_only``: they only watch and listen (no camera or microphone). Someone already in the
    call who starts or stops publishing changes only that (a new version, nothing logged).
    """
    _require(actor, Action.JOIN_MEDIA)
    _require_state(consult, ConsultState.LIVE)
    _require_not_denied(consult, actor)
    invited = find_invitee(consult, actor.participant_id)
    if invited is not None:
        if invited.role is not actor.role:
            raise RuleViolation(
                ViolationCode.FORBIDDEN,
                "La invitación era para otro rol.",
                "The invitation was for another role.",
            )
    elif actor.role is Role.PATIENT:
        _require_own(consult, actor)
    elif actor.role not in STAFF_ROLES or actor.participant_id != consult.host_id:
        raise RuleViolation(
            ViolationCode.NOT_YOUR_CONSULT,
            "Solo quien dirige la consulta y sus invitados pueden entrar.",
            "Only the consult's host and invitees may join it.",
        )
    if actor.participant_id in consult.lobby:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Está en la sala de espera; quien dirige la consulta le dará entrada de nuevo.",
            "You are in the waiting room; the host will admit you again.",
        )
    others = consult.receive_only - {actor.participant_id}
    watching = others | {actor.participant_id} if receive_only else others
    if actor.participant_id in consult.in_call:
        if watching == consult.receive_only:
            return Transition(consult, ())
        return Transition(replace(consult, receive_only=watching, version=consult.version + 1), ())
    if consult.locked and actor.participant_id not in consult.admitted:
        raise RuleViolation(
            ViolationCode.ROOM_LOCKED,
            "La sala está cerrada; espere a que quien la dirige la abra.",
            "The room is locked; wait for the host to unlock it.",
        )
    if len(consult.in_call) >= MAX_IN_CALL:
        raise RuleViolation(
            ViolationCode.ROOM_FULL,
            f"Una llamada admite como máximo {MAX_IN_CALL} participantes.",
            f"A call holds at most {MAX_IN_CALL} participants.",
        )
    return _advance(
        consult,
        replace(
            consult,
            in_call=consult.in_call | {actor.participant_id},
            admitted=consult.admitted | {actor.participant_id},
            receive_only=watching,
        ),
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


def dropped(consult: Consult, actor: Actor, at: datetime, reason: str | None = None) -> SessionEvent:
    """A participant's connection was lost mid-call; they stay in the call for the grace period.
    ``reason``: ``node_lost`` when the node holding their connection died (nobody saw it close)."""
    return _event(consult, EventKind.DROPPED, actor, at, **({"reason": reason} if reason else {}))


def returned(consult: Consult, actor: Actor, at: datetime, gap: timedelta) -> SessionEvent:
    """The participant came back within the grace period; the log keeps the length of the gap."""
    return _event(consult, EventKind.RETURNED, actor, at, gap_seconds=f"{gap.total_seconds():.1f}")


def end(consult: Consult, actor: Actor, at: datetime) -> Transition:
    """The host (or, before admission, staff of the consult's unit) ends the consult for everyone."""
    _require(actor, Action.END)
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(
            ViolationCode.CONSULT_ENDED, "La consulta ya terminó.", "The consult has already ended."
        )
    _require_host(consult, actor)
    left = tuple(
        SessionEvent(consult.consult_id, EventKind.LEFT, at, participant, None, None, {"reason": "ended"})
        for participant in sorted(consult.in_call)
    )
    ended = _event(consult, EventKind.ENDED, actor, at, previous_state=consult.state.value)
    next_consult = replace(
        consult,
        state=ConsultState.ENDED,
        in_call=frozenset(),
        lobby=frozenset(),
        locked=False,
        version=consult.version + 1,
    )
    return Transition(next_consult, (*left, ended))


def _require(actor: Actor, action: Action) -> None:
    if not may(actor.role, action, via_link=actor.via_link):
        how = " by link" if actor.via_link and may(actor.role, action) else ""
        como = " por enlace" if how else ""
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            f"El rol «{actor.role}»{como} no permite esta acción ({action.value}).",
            f"The role '{actor.role}'{how} may not {action.value.replace('_', ' ')}.",
        )


def _require_open(consult: Consult) -> None:
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(
            ViolationCode.CONSULT_ENDED, "La consulta ya terminó.", "The consult has already ended."
        )


def _require_host(consult: Consult, actor: Actor) -> None:
    """Who decides about a consult: once someone hosts it, only its host; before that, signed-in
    staff of the consult's unit (a consult tied to no unit: any signed-in staff member).

    The consult id travels in every patient link, so knowing it must never be enough: staff of
    another unit are refused with ``wrong_unit``, and a link never makes its holder a host.
    """
    if consult.host_id is not None:
        if actor.participant_id != consult.host_id:
            raise RuleViolation(
                ViolationCode.NOT_YOUR_CONSULT,
                "Solo quien dirige la consulta puede hacer esto.",
                "Only the consult's host may do this.",
            )
        return
    if actor.via_link or actor.role not in STAFF_ROLES:
        raise RuleViolation(
            ViolationCode.FORBIDDEN,
            "Solo el personal de la consulta puede hacer esto.",
            "Only the consult's staff may do this.",
        )
    if consult.unit and actor.unit != consult.unit:
        raise RuleViolation(
            ViolationCode.WRONG_UNIT,
            "Esta consulta pertenece a otra unidad.",
            "This consult belongs to another unit.",
        )


def _require_not_denied(consult: Consult, actor: Actor) -> None:
    if actor.participant_id in consult.denied:
        raise RuleViolation(
            ViolationCode.DENIED,
            "No se le dio entrada con este enlace.",
            "The host did not admit you with this link.",
        )


def _target_role(consult: Consult, actor: Actor, target: str) -> Role:
    """The role of the patient or invitee ``target``; the host cannot target themself."""
    if target == actor.participant_id or target == consult.host_id:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            "Quien dirige la consulta no puede hacerse esto a sí misma.",
            "The host cannot do this to themself.",
        )
    if target == consult.patient_id and consult.kind is ConsultKind.CONSULT:
        return Role.PATIENT
    invitee = find_invitee(consult, target)
    if invitee is None:
        raise RuleViolation(
            ViolationCode.NOT_FOUND,
            "No hay tal participante en esta consulta.",
            "No such participant in this consult.",
        )
    return invitee.role


def _require_own(consult: Consult, actor: Actor) -> None:
    if actor.participant_id != consult.patient_id:
        raise RuleViolation(
            ViolationCode.NOT_YOUR_CONSULT,
            "Esta consulta es de otro paciente.",
            "This consult belongs to another patient.",
        )


def _require_state(consult: Consult, expected: ConsultState) -> None:
    if consult.state is ConsultState.ENDED:
        raise RuleViolation(
            ViolationCode.CONSULT_ENDED, "La consulta ya terminó.", "The consult has already ended."
        )
    if consult.state is not expected:
        raise RuleViolation(
            ViolationCode.INVALID_STATE,
            f"La consulta está «{_STATE_ES[consult.state]}»; esto requiere «{_STATE_ES[expected]}».",
            f"The consult is {consult.state.value}; this needs it {expected.value}.",
        )


def _event(consult: Consult, kind: EventKind, actor: Actor, at: datetime, **detail: str) -> SessionEvent:
    return SessionEvent(
        consult.consult_id, kind, at, actor.participant_id, actor.role, actor.connection_id, detail
    )


def _advance(before: Consult, after: Consult, event: SessionEvent) -> Transition:
    return Transition(replace(after, version=before.version + 1), (event,))
