"""The authorization matrix, generated from the rule tables.

Every socket event that names a consult (from the server's own event table and payload schemas)
and every HTTP route (from ``web/access.py``'s route table) is tried by every kind of person:
the patient, a companion, an interpreter and a physician invited by link, a nurse of the
consult's unit and one of another unit, a coordinator of each, a supervisor of each (signed in,
hosting nothing), an administrator (signed in, provisioning accounts, hosting nothing), a physician
of the unit with no care relation to the patient, the host, and someone anonymous; before, during
and after the call. What each may do is computed from ``rooms.roles`` and the access rules,
independently of the handlers; then:

* someone allowed is never refused for who they are (the consult's state may still refuse them);
* someone not allowed is refused, nothing changes in the consult, its appointment or the queue,
  and an authorization refusal leaves a ``refused`` entry in the consult's session log.

A new event or route without a rule fails here first.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from sqlalchemy import func, select

from records.photos import PhotoRow
from records.tables import AuditRow, NoteRow
from rooms import tokens as join_tokens
from rooms.consult import Consult
from rooms.nss import is_valid_nss, luhn_check_digit
from rooms.roles import STAFF_ROLES, Action, Role, may
from rooms.session_log import EventKind
from rooms.staff import StaffMember, StaffSession
from signaling.guard import AUTHORIZATION_CODES
from tests.support.clients import ConnectionRefused, connect_client
from tests.support.services import SetClock
from web.access import ROUTE_ACCESS, UNLISTED_PREFIXES, Access
from web.app import SERVICES, Services, create_app
from web.config import Settings

NOW = datetime(2026, 3, 2, 15, 55, tzinfo=UTC)  # Monday 09:55 in Mexico City
SLOT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
LATER_SLOT = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
UNIT, OTHER_UNIT = "UMF-1", "UMF-2"
PHASES = ("before", "during", "after")


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role | None
    """``None``: anonymous."""
    via_link: bool = False
    unit: str = ""


STAFF = {
    "host": Principal("host", Role.NURSE, unit=UNIT),
    "nurse_same_unit": Principal("nurse_same_unit", Role.NURSE, unit=UNIT),
    "nurse_other_unit": Principal("nurse_other_unit", Role.NURSE, unit=OTHER_UNIT),
    "coordinator_same_unit": Principal("coordinator_same_unit", Role.COORDINATOR, unit=UNIT),
    "coordinator_other_unit": Principal("coordinator_other_unit", Role.COORDINATOR, unit=OTHER_UNIT),
    "supervisor_same_unit": Principal("supervisor_same_unit", Role.SUPERVISOR, unit=UNIT),
    "supervisor_other_unit": Principal("supervisor_other_unit", Role.SUPERVISOR, unit=OTHER_UNIT),
    "physician_no_care": Principal("physician_no_care", Role.PHYSICIAN, unit=UNIT),
    "admin": Principal("admin", Role.ADMIN, unit="TI"),
}
LINKS = {
    "patient": Principal("patient", Role.PATIENT, via_link=True),
    "companion": Principal("companion", Role.COMPANION, via_link=True),
    "interpreter": Principal("interpreter", Role.INTERPRETER, via_link=True),
    "physician_link": Principal("physician_link", Role.PHYSICIAN, via_link=True),
}
ANONYMOUS = Principal("anonymous", None)
EVERYONE = [*STAFF.values(), *LINKS.values(), ANONYMOUS]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


PHOTO = _jpeg()
"""The photo every scenario's patient shares, and every upload in the matrix sends."""


def nss_numbers() -> Iterator[str]:
    for number in itertools.count(1_000_000_001):
        payload = f"{number:010d}"
        candidate = payload + str(luhn_check_digit(payload))
        if is_valid_nss(candidate):
            yield candidate


@dataclass
class Scenario:
    """One consult, brought to a phase, with everyone's credentials for it."""

    consult: Consult
    tokens: dict[str, str]
    """Link principal -> their join token."""
    invite_token_id: str
    """The companion's invitation (what ``DELETE /api/invites/{token_id}`` names)."""
    host_cookie: str
    """A nurse of the unit of its own, who admits (and ends) this consult: a host hosts one call."""
    participant_ids: dict[str, str]
    """Link principal -> their participant id (who a refusal is logged against)."""
    photo_id: str
    """A photo the patient shared from the waiting room (what the photo routes name)."""

    def cookie(self, world: World, who: Principal) -> str | None:
        return self.host_cookie if who.name == "host" else world.cookies.get(who.name)

    def actor_id(self, who: Principal) -> str:
        if who.name == "host":
            return self.host_id
        if who.name in self.participant_ids:
            return self.participant_ids[who.name]
        return f"s-{who.name}" if who.role is not None and not who.via_link else "anonymous"

    host_id: str = ""


@dataclass
class World:
    url: str
    services: Services
    clock: SetClock
    cookies: dict[str, str]
    http: aiohttp.ClientSession
    nss: Iterator[str]
    router: web.UrlDispatcher

    async def rest(
        self,
        who: Principal,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
        cookie: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Origin": self.url}
        cookie = cookie or self.cookies.get(who.name)
        if cookie is not None:
            headers["Cookie"] = f"tc_session={cookie}"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, bytes):  # a photo: its bytes as the body
            sent: dict[str, Any] = {"data": body}
            headers["Content-Type"] = "image/jpeg"
        else:
            sent = {"json": body}
        async with self.http.request(method, self.url + path, headers=headers, **sent) as response:
            try:
                data = await response.json()
            except (aiohttp.ContentTypeError, ValueError):
                data = {}
            return response.status, data if isinstance(data, dict) else {"body": data}

    async def new_host(self) -> tuple[str, str]:
        """A nurse of the consult's unit, signed in: her staff id and session cookie."""
        staff_id = "s-host-" + secrets.token_hex(4)
        member = StaffMember(
            staff_id, staff_id, "Enfermera Anfitriona", Role.NURSE, UNIT, "no-password", "America/Mexico_City"
        )
        await self.services.stores.staff.add(member)
        session = StaffSession(secrets.token_urlsafe(16), staff_id, NOW, NOW + timedelta(days=2))
        await self.services.stores.sessions.add(session)
        return staff_id, session.session_id

    async def scenario(self, phase: str) -> Scenario:
        host = STAFF["host"]
        host_id, host_cookie = await self.new_host()
        self.cookies["host"] = host_cookie
        status, booked = await self.rest(
            host,
            "POST",
            "/api/appointments",
            {
                "unit": UNIT,
                "start": SLOT.isoformat(),
                "kind": "first",
                "patient": {
                    "nss": next(self.nss),
                    "name": "Paciente Matriz",
                    "birth_date": "1980-01-31",
                    "email": "p@example.org",
                    "time_zone": "America/Mexico_City",
                },
            },
        )
        assert status == 201, booked
        consult_id = booked["appointment"]["consult_id"]
        tokens = {"patient": booked["patient_link"].split("#t=", 1)[1]}
        invite_token_id = ""
        participant_ids: dict[str, str] = {}
        for name, role in (
            ("companion", "companion"),
            ("interpreter", "interpreter"),
            ("physician_link", "physician"),
        ):
            status, invited = await self.rest(
                host, "POST", f"/api/consults/{consult_id}/invites", {"role": role, "name": "Invitada Prueba"}
            )
            assert status == 201, invited
            tokens[name] = invited["token"]
            participant_ids[name] = invited["invitee"]["participant_id"]
            if name == "companion":
                invite_token_id = invited["token_id"]
        patient, _ = await connect_client(self.url, token=tokens["patient"])
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
        status, shared = await self.rest(
            LINKS["patient"], "POST", f"/api/consults/{consult_id}/photos", PHOTO, token=tokens["patient"]
        )
        assert status == 201, shared
        if phase != "before":
            nurse, _ = await connect_client(self.url, cookie=host_cookie)
            reply = await nurse.call("lobby:admit", {"consult_id": consult_id})
            assert reply["ok"], reply
            if phase == "after":
                assert (await nurse.call("consult:end", {"consult_id": consult_id}))["ok"]
            await nurse.disconnect()
        await patient.disconnect()
        if phase == "before":  # the server notices the patient left the waiting room: let it settle
            for _ in range(200):
                entry = (await self.services.scheduling.queues.snapshot(UNIT)).entry(consult_id)
                if entry is not None and not entry.connected:
                    break
                await asyncio.sleep(0.01)
        consult = await self.services.stores.consults.get(consult_id)
        assert consult is not None
        participant_ids["patient"] = consult.patient_id
        return Scenario(
            consult,
            tokens,
            invite_token_id,
            host_cookie,
            participant_ids,
            shared["photo"]["photo_id"],
            host_id,
        )

    async def state(self, consult_id: str) -> tuple[object, ...]:
        """What must not change when someone is refused (the log without its ``refused`` entries)."""
        consult = await self.services.stores.consults.get(consult_id)
        appointment = await self.services.scheduling.appointments.get(consult_id)
        queue = await self.services.scheduling.queues.snapshot(UNIT)
        log = await self.services.stores.consults.log(consult_id)
        kept = tuple(e for e in log if e.kind is not EventKind.REFUSED)
        entry = queue.entry(consult_id)
        if entry is not None:  # opening a link connects the page: that is not acting on the consult
            entry = replace(entry, connected=True, dropped_at=None)
        async with self.services.engine.connect() as connection:
            photos = tuple(
                await connection.execute(
                    select(PhotoRow.id, PhotoRow.kept_at, PhotoRow.consent_by)
                    .where(PhotoRow.consult_id == consult_id)
                    .order_by(PhotoRow.id)
                )
            )
        return consult, appointment, entry, dict(queue.nurses), kept, photos

    async def refused(self, consult_id: str, actor_id: str, action: str) -> bool:
        """Whether the consult's log holds a ``refused`` entry for this actor and action."""
        log = await self.services.stores.consults.log(consult_id)
        return any(
            e.kind is EventKind.REFUSED and e.actor_id == actor_id and e.detail.get("action") == action
            for e in log
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = SetClock(NOW)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=b"authorization-matrix-secret-key-0123456789",
        secret_key_is_ephemeral=False,
        media_workers=0,
        queue_sweep_seconds=0,
        slot_capacity=1000,
    )
    app = create_app(settings, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    services = app[SERVICES]
    cookies = {}
    for principal in STAFF.values():
        assert principal.role is not None
        staff_id = f"s-{principal.name}"
        member = StaffMember(
            staff_id,
            principal.name,
            principal.name.replace("_", " ").title(),
            principal.role,
            principal.unit,
            "no-password",
            licence="12345678",
            unit_clues="DFIMS000123",
        )
        await services.stores.staff.add(member)
        session = StaffSession(secrets.token_urlsafe(16), staff_id, NOW, NOW + timedelta(days=2))
        await services.stores.sessions.add(session)
        cookies[principal.name] = session.session_id
    async with aiohttp.ClientSession() as http:
        try:
            url = str(server.make_url("")).rstrip("/")
            yield World(url, services, clock, cookies, http, nss_numbers(), app.router)
        finally:
            await server.close()


# -- what the rules say, stated independently of the handlers ------------------------------------


def may_act_on_consult(who: Principal, action: Action, phase: str) -> bool:
    """Host decisions: before admission staff of the consult's unit, after it the host only."""
    if who.role is None or who.via_link or not may(who.role, action):
        return False
    if phase == "before":
        return who.unit == UNIT
    return who.name == "host"


def may_chat(who: Principal, action: Action, phase: str) -> bool:
    """The chat (rooms/chat.py): the patient from the waiting room on, link invitees in the call,
    and staff as for any host decision. A link stops opening anything once its consult ended."""
    if who.role is None or not may(who.role, action, via_link=who.via_link):
        return False
    if who.name == "patient":
        return phase != "after"
    if who.via_link:
        return phase == "during"
    return may_act_on_consult(who, action, phase)


EVENT_RULES: dict[Action, Callable[[Principal, Action, str], bool]] = {Action.CHAT: may_chat}
"""Events whose rule is not a host decision's (:func:`may_act_on_consult`), by their action."""
EVENT_FIELDS: dict[str, object] = {"text": "Hola, ¿me escucha?", "seq": 1}
"""A well-formed value for each required payload field besides the consult and the participant."""


def event_allows(who: Principal, action: Action, phase: str) -> bool:
    return EVENT_RULES.get(action, may_act_on_consult)(who, action, phase)


def route_allows(access: Access, who: Principal, phase: str) -> bool:
    signed_in = who.role is not None and not who.via_link
    staff = signed_in and who.role in STAFF_ROLES  # a supervisor is signed in but hosts nothing
    if access is Access.CONSULT_STAFF:
        return may_act_on_consult(who, Action.INVITE, phase)
    if access is Access.CONSULT_HOST:
        return staff and who.name == "host" and phase != "before"
    if access is Access.UNIT_STAFF:
        return staff and who.unit == UNIT
    if access is Access.UNIT_SUPERVISION:
        return (
            who.role is not None and signed_in and may(who.role, Action.VIEW_DASHBOARD) and who.unit == UNIT
        )
    if access is Access.STAFF:
        return staff
    if access is Access.PATIENT_LINK:
        return who.name == "patient"
    if access is Access.CARE_TEAM:
        return staff and who.name == "host" and phase != "before"  # care is granted on admission
    if access is Access.ADMIN:
        return signed_in and who.role is Role.ADMIN
    if access is Access.PUBLIC:
        return True
    raise AssertionError(f"no expectation for {access}")


# -- the route table is complete -----------------------------------------------------------------


def test_every_route_has_an_access_rule(world: World) -> None:
    served: set[tuple[str, str]] = set()
    for route in world.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or info.get("prefix") or "")
        if route.method == "HEAD" or path.startswith(UNLISTED_PREFIXES):
            continue
        served.add((route.method, path))
    assert served - set(ROUTE_ACCESS) == set(), "routes without an access rule in web/access.py"
    assert set(ROUTE_ACCESS) - served == set(), "access rules for routes that do not exist"


# -- socket events that name a consult ------------------------------------------------------------


def consult_events(world: World) -> list[tuple[str, Action]]:
    """Every event whose payload names a consult, with the action the role table must allow."""
    server = world.services.signaling
    found = []
    for event, action in server.event_actions.items():
        schema = server.event_schemas[event]
        if "consult_id" in schema.model_fields and action is not None:
            found.append((event, action))
    return sorted(found)


def payload_for(event: str, scenario: Scenario, world: World) -> dict[str, Any]:
    schema = world.services.signaling.event_schemas[event]
    payload: dict[str, Any] = {"consult_id": scenario.consult.consult_id}
    if "participant_id" in schema.model_fields and event != "lobby:admit":
        payload["participant_id"] = scenario.consult.patient_id
    for name, field in schema.model_fields.items():
        if field.is_required() and name not in payload:
            payload[name] = EVENT_FIELDS[name]
    return payload


async def socket_attempt(world: World, who: Principal, event: str, scenario: Scenario) -> str:
    """The code the server answers ``who`` with (``ok`` when it accepts)."""
    try:
        cookie = scenario.cookie(world, who)
        if cookie is not None:
            client, _ = await connect_client(world.url, cookie=cookie)
        elif who.name in scenario.tokens:
            client, _ = await connect_client(world.url, token=scenario.tokens[who.name])
        else:
            client, _ = await connect_client(world.url)
    except ConnectionRefused as refused:
        return "connection:" + str(refused.errors[0]["data"]["code"])
    try:
        reply = await client.call(event, payload_for(event, scenario, world), timeout=10)
    finally:
        await client.disconnect()
    return "ok" if reply["ok"] else str(reply["error"]["code"])


@pytest.mark.parametrize("phase", PHASES)
async def test_every_consult_event_by_everyone(world: World, phase: str) -> None:
    events = consult_events(world)
    assert {"lobby:admit", "lobby:deny", "consult:end"} <= {e for e, _ in events}
    problems = []
    for event, action in events:
        shared = await world.scenario(phase)
        refused_first = sorted(EVERYONE, key=lambda who: event_allows(who, action, phase))
        for who in refused_first:
            allowed = event_allows(who, action, phase)
            # Refusals change nothing, so they share one consult; each allowed attempt gets its own.
            scenario = await world.scenario(phase) if allowed else shared
            consult_id = scenario.consult.consult_id
            before = await world.state(consult_id)
            code = await socket_attempt(world, who, event, scenario)
            label = f"{phase} {event} {who.name}"
            if allowed:
                if code in AUTHORIZATION_CODES or code.startswith("connection:"):
                    problems.append(f"{label}: allowed but refused with {code}")
                continue
            if code == "ok":
                problems.append(f"{label}: accepted but not allowed")
            if await world.state(consult_id) != before:
                problems.append(f"{label}: refused ({code}) but something changed")
            logged = await world.refused(consult_id, scenario.actor_id(who), event)
            if code in AUTHORIZATION_CODES and not logged:
                problems.append(f"{label}: refused ({code}) without a session-log entry")
    assert problems == []


# -- HTTP routes ----------------------------------------------------------------------------------


def request_for(method: str, template: str, scenario: Scenario) -> tuple[str, object]:
    """A well-formed request on ``scenario``'s consult for one route of the table."""
    consult_id = scenario.consult.consult_id
    path = template.replace("{consult_id}", consult_id).replace("{appointment_id}", consult_id)
    path = path.replace("{token_id}", scenario.invite_token_id).replace("{unit}", UNIT)
    path = path.replace("{photo_id}", scenario.photo_id)
    bodies: dict[tuple[str, str], object] = {
        ("POST", "/api/consults/{consult_id}/photos"): PHOTO,
        ("POST", "/api/consults/{consult_id}/invites"): {"role": "companion", "name": "Otra Persona"},
        ("POST", "/api/consults/{consult_id}/note"): {"template": "first-consult"},
        ("POST", "/api/consults/{consult_id}/follow-up"): {"start": LATER_SLOT.isoformat()},
        ("POST", "/api/consults/{consult_id}/photos/{photo_id}/keep"): {"consent": True},
        ("PATCH", "/api/appointments/{appointment_id}"): {"start": LATER_SLOT.isoformat()},
    }
    return path, bodies.get((method, template))


CONSULT_SCOPED = (Access.CONSULT_STAFF, Access.CONSULT_HOST, Access.UNIT_STAFF, Access.UNIT_SUPERVISION)
PROVEN = {
    ("POST", "/api/consults/{consult_id}/photos"): 201,
    ("GET", "/api/consults/{consult_id}/photos/{photo_id}"): 200,
    ("POST", "/api/consults/{consult_id}/photos/{photo_id}/keep"): 200,
}
"""Routes whose allowed attempts must succeed, not merely pass the door: they name a real photo
(or upload one), so "allowed" is proven by the answer. An upload after the end is refused by the
consult's state (``409 consult_ended``), which is no authorization refusal."""


def names_a_consult(path: str) -> bool:
    return "{consult_id}" in path or "{appointment_id}" in path


def consult_routes() -> list[tuple[str, str, Access]]:
    """Routes on one consult: staff decisions, and a patient link's routes that name its consult."""
    return sorted(
        (method, path, access)
        for (method, path), access in ROUTE_ACCESS.items()
        if ("{" in path and access in CONSULT_SCOPED)
        or (access is Access.PATIENT_LINK and names_a_consult(path))
    )


@pytest.mark.parametrize("phase", PHASES)
async def test_every_consult_route_by_everyone(world: World, phase: str) -> None:
    routes = consult_routes()
    assert ("POST", "/api/consults/{consult_id}/invites", Access.CONSULT_STAFF) in routes
    assert ("POST", "/api/consults/{consult_id}/photos", Access.PATIENT_LINK) in routes
    problems = []
    for method, template, access in routes:
        shared = await world.scenario(phase)
        refused_first = sorted(EVERYONE, key=lambda who: route_allows(access, who, phase))
        for who in refused_first:
            allowed = route_allows(access, who, phase)
            scenario = await world.scenario(phase) if allowed and method != "GET" else shared
            consult_id = scenario.consult.consult_id
            path, body = request_for(method, template, scenario)
            before = await world.state(consult_id)
            token, cookie = scenario.tokens.get(who.name), scenario.cookie(world, who)
            status, answer = await world.rest(who, method, path, body, token=token, cookie=cookie)
            error = answer.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            label = f"{phase} {method} {template} {who.name}"
            if allowed:
                if status in (401, 403):
                    problems.append(f"{label}: allowed but refused {status} {code}")
                expected = PROVEN.get((method, template))
                if (
                    expected is not None
                    and status != expected
                    and not (phase, code) == ("after", "consult_ended")
                ):
                    problems.append(f"{label}: allowed but answered {status} {code}, not {expected}")
                continue
            if status < 400:
                problems.append(f"{label}: answered {status} but not allowed")
                continue
            if phase != "after" and status not in (401, 403):
                problems.append(f"{label}: refused with {status} {code}, not as unauthorized")
            if await world.state(consult_id) != before:
                problems.append(f"{label}: refused ({status}) but something changed")
            names_consult = names_a_consult(template)
            actor = scenario.actor_id(who) if who.name in ("host", *STAFF) else "anonymous"
            logged = await world.refused(consult_id, actor, f"{method} {template}")
            if status in (401, 403) and names_consult and not logged:
                problems.append(f"{label}: refused ({status}) without a session-log entry")
    assert problems == []


def own_routes() -> list[tuple[str, str, Access]]:
    """Routes about oneself (staff, reading) or one's own appointment (a patient link, any method)
    that name no consult: the link's token says which."""
    return sorted(
        (method, path, access)
        for (method, path), access in ROUTE_ACCESS.items()
        if (access is Access.STAFF and method == "GET")
        or (access is Access.PATIENT_LINK and not names_a_consult(path))
    )


def test_every_patient_link_route_is_in_the_matrix() -> None:
    """A patient link's routes, whatever their method, are tried by everyone in one test or the other."""
    link_routes = {(m, p) for (m, p), access in ROUTE_ACCESS.items() if access is Access.PATIENT_LINK}
    tried = {(m, p) for m, p, _ in [*consult_routes(), *own_routes()]}
    assert link_routes <= tried


async def test_staff_and_link_routes_by_everyone(world: World) -> None:
    """Routes about oneself (staff) or one's own appointment (patient link), by every principal."""
    scenario = await world.scenario("before")
    problems = []
    for method, template, access in own_routes():
        for who in EVERYONE:
            status, _ = await world.rest(who, method, template, token=scenario.tokens.get(who.name))
            allowed = route_allows(access, who, "before")
            refused = status in (401, 403)
            if allowed == refused:
                problems.append(f"GET {template} {who.name}: {status} (allowed: {allowed})")
    assert problems == []


async def test_a_patient_link_opens_only_its_own_consult(world: World) -> None:
    """A join token is checked against the consult it names and the participant it names."""
    first, second = await world.scenario("before"), await world.scenario("before")
    tokens = world.services.settings.secret_key
    claims = join_tokens.verify(tokens, second.tokens["patient"], world.clock.now.timestamp())
    # A genuine signature over someone else's participant id in this consult is refused.
    forged = join_tokens.issue(tokens, replace(claims, consult_id=first.consult.consult_id))
    with pytest.raises(ConnectionRefused) as caught:
        await connect_client(world.url, token=forged)
    assert caught.value.errors[0]["data"]["code"] == "auth_invalid"
    # A patient link used with another role is refused too.
    as_companion = join_tokens.issue(tokens, replace(claims, role=Role.COMPANION))
    with pytest.raises(ConnectionRefused):
        await connect_client(world.url, token=as_companion)


# -- the clinical record and inter-unit sessions --------------------------------------------------


async def refused_audits(world: World, agent_id: str) -> int:
    """AuditEvents recording a refused access by ``agent_id`` (outcome other than success)."""
    async with world.services.engine.connect() as connection:
        count = await connection.scalar(
            select(func.count())
            .select_from(AuditRow)
            .where(AuditRow.agent_id == agent_id, AuditRow.outcome != "0")
        )
    return int(count or 0)


async def note_version(world: World, note_id: str) -> tuple[int, int]:
    """The note's version and how many notes (addenda included) the record holds."""
    async with world.services.engine.connect() as connection:
        version = await connection.scalar(select(NoteRow.version).where(NoteRow.id == note_id))
        count = await connection.scalar(select(func.count()).select_from(NoteRow))
    return int(version or 0), int(count or 0)


async def test_the_record_by_everyone(world: World) -> None:
    """Notes and FHIR reads: only staff caring for the patient (the host, after admission)."""
    scenario = await world.scenario("during")
    host = STAFF["host"]
    status, opened = await world.rest(
        host,
        "POST",
        f"/api/consults/{scenario.consult.consult_id}/note",
        {"template": "first-consult"},
        cookie=scenario.host_cookie,
    )
    assert status == 200, opened
    note_id = opened["note"]["note_id"]
    patient_id = await world.services.records.patient_id(scenario.consult.record_nss)
    assert patient_id is not None
    bodies: dict[tuple[str, str], object] = {
        ("PUT", "/api/notes/{note_id}"): {"base_version": 1, "content": {}},
        ("POST", "/api/notes/{note_id}/sign"): {"version": 1, "request_id": "matrix-sign"},
        ("POST", "/api/notes/{note_id}/addenda"): {"text": "Nota", "request_id": "matrix-addendum"},
    }
    paths = {
        "/fhir/{type}": f"/fhir/Encounter?patient={patient_id}",
        "/fhir/{type}/{id}": f"/fhir/Patient/{patient_id}",
        "/fhir/Patient/{id}/$everything": f"/fhir/Patient/{patient_id}/$everything",
    }
    routes = sorted(key for key, access in ROUTE_ACCESS.items() if access is Access.CARE_TEAM)
    assert len(routes) >= 7
    problems = []
    for method, template in routes:
        path = paths.get(template, template.replace("{note_id}", note_id))
        for who in sorted(EVERYONE, key=lambda w: route_allows(Access.CARE_TEAM, w, "during")):
            if route_allows(Access.CARE_TEAM, who, "during"):
                if method == "GET":  # the host reads; writing is tested with the notes themselves
                    status, _ = await world.rest(who, method, path, cookie=scenario.host_cookie)
                    if status in (401, 403):
                        problems.append(f"{method} {template} host: refused {status}")
                continue
            note_before = await note_version(world, note_id)
            audits = await refused_audits(world, f"s-{who.name}")
            status, _ = await world.rest(
                who, method, path, bodies.get((method, template)), token=scenario.tokens.get(who.name)
            )
            if status not in (401, 403):
                problems.append(f"{method} {template} {who.name}: {status}, not refused")
            if await note_version(world, note_id) != note_before:
                problems.append(f"{method} {template} {who.name}: refused but the note changed")
            # A supervisor holds no staff role: refused at the door, the record never sees it.
            staff = who.role in STAFF_ROLES and not who.via_link
            if staff and await refused_audits(world, f"s-{who.name}") <= audits:
                problems.append(f"{method} {template} {who.name}: refused without an AuditEvent")
    assert problems == []


async def test_inter_unit_sessions_by_everyone(world: World) -> None:
    """Only the coordinator who hosts a session sees it and changes its sites."""
    coordinator = STAFF["coordinator_same_unit"]
    status, created = await world.rest(
        coordinator,
        "POST",
        "/api/interunit-sessions",
        {
            "purpose": "second_opinion",
            "specialty": "Cardiología",
            "scheduled_at": LATER_SLOT.isoformat(),
            "clues": "DFIMS000123",
            "unit_name": "Hospital General",
        },
    )
    assert status == 201, created
    session_id = created["session"]["session_id"] if "session" in created else created["session_id"]
    status, site = await world.rest(
        coordinator,
        "POST",
        f"/api/interunit-sessions/{session_id}/sites",
        {"clues": "JCIMS000456", "unit_name": "Hospital Regional", "name": "Dra. Ruiz", "role": "physician"},
    )
    assert status == 201, site
    site_id = site["site"]["site_id"]
    bodies: dict[tuple[str, str], object] = {
        ("POST", "/api/interunit-sessions/{session_id}/sites"): {
            "clues": "JCIMS000789",
            "unit_name": "Otro Hospital",
            "name": "Dr. Paz",
            "role": "physician",
        },
    }
    routes = sorted(key for key, access in ROUTE_ACCESS.items() if access is Access.SESSION_HOST)
    problems = []
    for method, template in routes:
        path = template.replace("{session_id}", session_id).replace("{site_id}", site_id)
        for who in EVERYONE:
            if who.name == coordinator.name:
                continue
            before = await world.services.stores.consults.get(session_id)
            status, _ = await world.rest(who, method, path, bodies.get((method, template)))
            if status not in (401, 403):
                problems.append(f"{method} {template} {who.name}: {status}, not refused")
            if await world.services.stores.consults.get(session_id) != before:
                problems.append(f"{method} {template} {who.name}: refused but the session changed")
            if status == 403 and not await world.refused(session_id, f"s-{who.name}", f"{method} {template}"):
                problems.append(f"{method} {template} {who.name}: refused without a session-log entry")
        status, _ = await world.rest(coordinator, "GET", f"/api/interunit-sessions/{session_id}")
        if status != 200:
            problems.append(f"the hosting coordinator cannot read the session: {status}")
    assert problems == []


async def test_administration_by_everyone(world: World) -> None:
    """Units and accounts: only an administrator reads or changes them; a refusal changes nothing."""
    directory = world.services.accounts.directory
    await world.services.stores.staff.add(
        StaffMember("s-target", "target", "Cuenta Objetivo", Role.NURSE, UNIT, "no-password")
    )
    bodies: dict[tuple[str, str], object] = {
        ("PUT", "/api/admin/units/{unit}"): {"clues": "DFIMS000999", "name": "Nueva", "time_zone": "UTC"},
        ("POST", "/api/admin/staff"): {
            "username": "nuevo",
            "full_name": "Nuevo",
            "role": "nurse",
            "unit": UNIT,
        },
        ("PUT", "/api/admin/staff/{username}/unit"): {"unit": OTHER_UNIT},
    }
    routes = sorted(key for key, access in ROUTE_ACCESS.items() if access is Access.ADMIN)
    assert len(routes) >= 9
    problems = []
    for method, template in routes:
        path = template.replace("{unit}", "UMF-9").replace("{username}", "target")
        for who in sorted(EVERYONE, key=lambda w: route_allows(Access.ADMIN, w, "before")):
            before = (await directory.units(), await directory.accounts())
            status, _ = await world.rest(who, method, path, bodies.get((method, template)))
            if route_allows(Access.ADMIN, who, "before"):
                if status in (401, 403):
                    problems.append(f"{method} {template} admin: refused {status}")
                continue
            if status not in (401, 403):
                problems.append(f"{method} {template} {who.name}: {status}, not refused")
            if (await directory.units(), await directory.accounts()) != before:
                problems.append(f"{method} {template} {who.name}: refused but accounts or units changed")
    assert problems == []
