"""Clinical notes and the FHIR API through real HTTP: drafts, conflicts, signing, reading, refusals.

The real server (in-process, as in the other integration tests) with the demo nurse and patient: the
patient checks in, the nurse admits her over socket.io (which gives the nurse a role in the patient's
care), then writes, signs and reads the record over HTTP. Every refused request leaves nothing changed.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from records.access import AccessContext
from records.facts import PatientFacts
from rooms import consult as consult_rules
from rooms import tokens
from rooms.nss import luhn_check_digit
from rooms.roles import Role
from rooms.staff import StaffMember
from tests.integration.conftest import Harness

FHIR_JSON = "application/fhir+json"
OTHER_NSS = "1234567890" + str(luhn_check_digit("1234567890"))

NOTE: dict[str, Any] = {
    "reason": {"reason": "Control de glucosa", "present_illness": "Sed y poliuria desde hace 2 semanas"},
    "allergies": {"none_known": True},
    "assessment": {"problems": ["Descontrol glucémico"]},
    "recommendations": {"recommendations": "Caminar 30 minutos diarios; glucosa < 130 en ayunas"},
    "follow-up-plan": {"plan": "Revisar glucosas", "next_contact": "2026-03-16", "modality": "teleconsult"},
    "referral": {
        "needed": True,
        "kind": "specialist",
        "urgency": "routine",
        "specialty": "Endocrinología",
        "destination": "HGZ 1A Los Venados",
        "reason": "Descontrol glucémico",
        "diagnostic_impression": "Diabetes tipo 2 descontrolada",
    },
}


@dataclass
class Client:
    """One browser's worth of HTTP: a base URL and optional staff cookie or patient token."""

    http: aiohttp.ClientSession
    url: str
    headers: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(
            method, self.url + path, json=body, headers=self.headers, **kwargs
        ) as response:
            data = await response.json(content_type=None)
            if path.startswith("/fhir"):
                assert response.content_type == FHIR_JSON, (path, response.content_type)
            return response.status, data


async def _login(harness: Harness, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{harness.url}/api/session", json={"username": username, "password": password}
        )
        assert response.status == 200
        return response.cookies["tc_session"].value


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def admitted(harness: Harness, http: aiohttp.ClientSession) -> AsyncIterator[Client]:
    """The demo patient checked in and admitted by the demo nurse, who is signed in over HTTP."""
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    cookie = await harness.login()
    yield Client(http, harness.url, {"Cookie": f"tc_session={cookie}"})
    for client in (patient, nurse):
        await client.disconnect()


async def _draft(nurse: Client, harness: Harness, content: dict[str, Any] = NOTE) -> dict[str, Any]:
    status, body = await nurse.call(
        "POST", f"/api/consults/{harness.consult_id}/note", {"template": "first-consult"}
    )
    assert status == 200, body
    note = body["note"]
    status, body = await nurse.call(
        "PUT", f"/api/notes/{note['note_id']}", {"base_version": note["version"], "content": content}
    )
    assert status == 200, body
    saved: dict[str, Any] = body["note"]
    return saved


async def _unchanged(nurse: Client, note: dict[str, Any]) -> None:
    status, body = await nurse.call("GET", f"/api/notes/{note['note_id']}")
    assert status == 200
    assert body["note"]["version"] == note["version"]
    assert body["note"]["content"] == note["content"]
    assert body["note"]["status"] == note["status"]


async def test_draft_autosave_conflict_and_reopen(harness: Harness, admitted: Client) -> None:
    nurse = admitted
    status, body = await nurse.call("GET", "/api/notes/templates")
    assert status == 200
    assert [t["code"] for t in body["templates"]] == ["first-consult", "follow-up", "inter-unit"]
    reason = body["templates"][0]["sections"][0]
    assert reason["code"] == "reason" and reason["fields"][0]["required"] is True

    status, body = await nurse.call("GET", f"/api/consults/{harness.consult_id}/note")
    assert (status, body["note"]) == (200, None)
    status, body = await nurse.call(
        "POST", f"/api/consults/{harness.consult_id}/note", {"template": "first-consult"}
    )
    assert status == 200 and body["note"]["version"] == 1
    note_id = body["note"]["note_id"]

    first = {"reason": {"reason": "Dolor de cabeza"}}
    status, body = await nurse.call("PUT", f"/api/notes/{note_id}", {"base_version": 1, "content": first})
    assert status == 200 and body["note"]["version"] == 2
    saved = body["note"]

    # A second tab still at version 1 cannot overwrite: 409 with the newer text.
    stale = {"reason": {"reason": "Otro texto"}}
    status, body = await nurse.call("PUT", f"/api/notes/{note_id}", {"base_version": 1, "content": stale})
    assert status == 409 and body["error"]["code"] == "stale_version"
    assert " / " in body["error"]["message"]
    assert body["note"]["version"] == 2 and body["note"]["content"] == first
    await _unchanged(nurse, saved)

    # Reopening the console finds the same draft.
    status, body = await nurse.call("GET", f"/api/consults/{harness.consult_id}/note")
    assert status == 200 and body["note"]["note_id"] == note_id and body["note"]["content"] == first
    status, body = await nurse.call(
        "POST", f"/api/consults/{harness.consult_id}/note", {"template": "first-consult"}
    )
    assert body["note"]["note_id"] == note_id and body["note"]["version"] == 2


async def test_bad_content_is_refused_and_changes_nothing(harness: Harness, admitted: Client) -> None:
    nurse = admitted
    note = await _draft(nurse, harness)
    path = f"/api/notes/{note['note_id']}"

    # A control character or a bidirectional override is refused, naming the form field (codes and
    # both languages' labels), the character and where it is; the text itself is never echoed.
    for text, codepoint in (("Sed\x07 y poliuria", "U+0007"), ("ver \u202etxt.exe", "U+202E")):
        content = copy.deepcopy(NOTE)
        content["reason"]["present_illness"] = text
        status, body = await nurse.call("PUT", path, {"base_version": note["version"], "content": content})
        assert (status, body["error"]["code"]) == (422, "unsafe_text"), body
        assert text not in body["error"]["message"] and codepoint in body["error"]["message_es"]
        assert body["error"]["fields"] == [
            {
                "section": "reason",
                "key": "present_illness",
                "index": None,
                "path": "reason.present_illness",
                "label_es": "Motivo de consulta y padecimiento actual \u203a Padecimiento actual",
                "label_en": "Reason for consult and present illness \u203a Present illness",
            }
        ]
        assert body["error"]["message_es"].startswith(
            f"Dato no válido en «{body['error']['fields'][0]['label_es']}»"
        )
        assert body["error"]["message"] == f"{body['error']['message_es']} / {body['error']['message_en']}"
        await _unchanged(nurse, note)

    # Text that only looks like markup or code is ordinary clinical text, stored as written.
    assert "glucosa < 130" in note["content"]["recommendations"]["recommendations"]
    for text in ("<script>alert(1)</script>", "ver javascript:alert(1)", "Ondansetrón = 4 mg cada 8 h"):
        content = copy.deepcopy(note["content"])
        content["reason"]["present_illness"] = text
        status, body = await nurse.call("PUT", path, {"base_version": note["version"], "content": content})
        assert status == 200 and body["note"]["content"]["reason"]["present_illness"] == text, body
        note = body["note"]

    large = copy.deepcopy(NOTE)
    large["reason"]["present_illness"] = "x" * (70 * 1024)
    status, body = await nurse.call("PUT", path, {"base_version": note["version"], "content": large})
    assert (status, body["error"]["code"]) == (413, "note_too_large")
    await _unchanged(nurse, note)
    huge = copy.deepcopy(NOTE)
    huge["reason"]["present_illness"] = "x" * (200 * 1024)
    status, body = await nurse.call("PUT", path, {"base_version": note["version"], "content": huge})
    assert status == 413
    await _unchanged(nurse, note)

    for payload in (
        {"content": NOTE},
        {"base_version": "1", "content": NOTE},
        {"base_version": note["version"]},
    ):
        status, body = await nurse.call("PUT", path, payload)
        assert (status, body["error"]["code"]) == (400, "bad_payload")
    status, body = await nurse.call("PUT", path, {"base_version": note["version"], "content": {"nope": {}}})
    assert (status, body["error"]["code"]) == (422, "invalid_note")
    await _unchanged(nurse, note)


async def test_sign_is_idempotent_and_a_signed_note_never_changes(harness: Harness, admitted: Client) -> None:
    nurse = admitted
    note = await _draft(nurse, harness)
    path = f"/api/notes/{note['note_id']}"

    # Incomplete: refused, nothing signed.
    status, body = await nurse.call(
        "POST", f"{path}/sign", {"version": note["version"] + 5, "request_id": "sign-0"}
    )
    assert (status, body["error"]["code"]) == (409, "stale_version")
    await _unchanged(nurse, note)

    # Signed while the call is still live: the session log so far becomes the Encounter.
    status, first = await nurse.call(
        "POST", f"{path}/sign", {"version": note["version"], "request_id": "sign-1"}
    )
    assert status == 201, first
    assert first["note"]["status"] == "signed" and first["replayed"] is False
    status, again = await nurse.call(
        "POST", f"{path}/sign", {"version": note["version"], "request_id": "sign-1"}
    )
    assert status == 200 and again["replayed"] is True and again["bundle_id"] == first["bundle_id"]
    signed = first["note"]

    # No edit of a signed note, by save or by signing again with another request id.
    status, body = await nurse.call("PUT", path, {"base_version": signed["version"], "content": {}})
    assert (status, body["error"]["code"]) == (409, "note_signed")
    status, body = await nurse.call(
        "POST", f"{path}/sign", {"version": signed["version"], "request_id": "sign-2"}
    )
    assert status == 409
    await _unchanged(nurse, signed)

    # Corrections are addenda, idempotent too.
    addendum = {"text": "Corrige: la glucosa referida fue en ayunas.", "request_id": "add-1"}
    status, body = await nurse.call("POST", f"{path}/addenda", addendum)
    assert status == 201 and body["note"]["amends"] == signed["note_id"]
    status, replay = await nurse.call("POST", f"{path}/addenda", addendum)
    assert status == 200 and replay["replayed"] is True
    await _unchanged(nurse, signed)

    status, body = await nurse.call("GET", f"/api/consults/{harness.consult_id}/note")
    assert body["note"]["status"] == "signed" and len(body["addenda"]) == 1

    # The Encounter's period starts at the admission in the session log; the call is still live.
    log = await harness.services.stores.consults.log(harness.consult_id)
    admitted_at = next(e.at for e in log if e.kind.value == "admitted")
    status, encounter = await nurse.call("GET", f"/fhir/Encounter/{first['encounter_id']}")
    assert status == 200
    assert encounter["status"] == "in-progress" and "end" not in encounter["period"]
    assert encounter["period"]["start"].startswith(admitted_at.isoformat(timespec="seconds")[:19])

    # The consult ends: the record follows it (the on_consult_ended hook), the Encounter is finished
    # at the consult's end as a new version; the signed note and its Bundle stay as they were.
    host, _ = await harness.nurse()
    try:
        assert (await host.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
    finally:
        await host.disconnect()
    log = await harness.services.stores.consults.log(harness.consult_id)
    ended_at = next(e.at for e in log if e.kind.value == "ended")
    deadline = asyncio.get_running_loop().time() + 10
    while encounter["status"] != "finished" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)  # the hook runs as the end is handled: wait for it, bounded
        status, encounter = await nurse.call("GET", f"/fhir/Encounter/{first['encounter_id']}")
    assert encounter["status"] == "finished", encounter
    assert encounter["period"]["end"] == ended_at.isoformat(timespec="seconds")
    assert encounter["meta"]["versionId"] == "2"
    await _unchanged(nurse, signed)


async def test_fhir_read_search_everything_and_outcomes(harness: Harness, admitted: Client) -> None:
    nurse = admitted
    note = await _draft(nurse, harness)
    status, signed = await nurse.call(
        "POST", f"/api/notes/{note['note_id']}/sign", {"version": note["version"], "request_id": "s-1"}
    )
    assert status == 201

    status, capability = await nurse.call("GET", "/fhir/metadata")
    assert status == 200 and capability["resourceType"] == "CapabilityStatement"
    assert capability["fhirVersion"] == "4.0.1"

    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None
    nss = consult.patient_nss  # the record's identifier; the participant id is opaque
    assert nss and consult.patient_id != nss
    status, found = await nurse.call("GET", f"/fhir/Patient?identifier={nss}")
    assert status == 200 and found["type"] == "searchset" and found["total"] == 1
    patient_id = found["entry"][0]["resource"]["id"]
    assert found["entry"][0]["fullUrl"] == f"{harness.url}/fhir/Patient/{patient_id}"

    status, encounters = await nurse.call("GET", f"/fhir/Encounter?patient={patient_id}&date=ge2020-01-01")
    assert status == 200 and [e["resource"]["id"] for e in encounters["entry"]] == [signed["encounter_id"]]
    status, compositions = await nurse.call("GET", f"/fhir/Composition?encounter={signed['encounter_id']}")
    assert status == 200 and compositions["total"] == 1
    composition = compositions["entry"][0]["resource"]
    assert composition["id"] == signed["composition_id"]
    assert any("Caminar 30 minutos" in s["text"]["div"] for s in composition["section"])
    # Text with "<" is escaped in the narrative, never markup.
    assert "glucosa &lt; 130" in str(composition)

    status, read = await nurse.call("GET", f"/fhir/Composition/{signed['composition_id']}")
    assert status == 200 and read["id"] == signed["composition_id"]
    status, everything = await nurse.call("GET", f"/fhir/Patient/{patient_id}/$everything")
    assert status == 200
    types = {e["resource"]["resourceType"] for e in everything["entry"]}
    assert {"Patient", "Encounter", "Composition", "Practitioner", "CarePlan", "ServiceRequest"} <= types

    def issue(body: dict[str, Any]) -> dict[str, Any]:
        assert body["resourceType"] == "OperationOutcome"
        first: dict[str, Any] = body["issue"][0]
        return first

    cases = [
        ("GET", "/fhir/Encounter?color=blue", 400, "invalid"),
        ("GET", "/fhir/Encounter?date=2026-01-01", 400, "invalid"),
        ("GET", "/fhir/Encounter?patient=x&date=yesterday", 400, "invalid"),
        ("GET", "/fhir/Medication?code=1", 400, "invalid"),
        ("GET", "/fhir/Patient/00000000-0000-0000-0000-000000000000", 404, "not-found"),
        ("GET", "/fhir/Patient/not%20an%20id", 400, "invalid"),
        ("GET", "/fhir/Patient/a/b/c", 404, "not-found"),
        ("POST", "/fhir/Patient", 405, "not-supported"),
        ("DELETE", f"/fhir/Composition/{signed['composition_id']}", 405, "not-supported"),
    ]
    for method, path, expected_status, code in cases:
        status, body = await nurse.call(method, path)
        assert (status, issue(body)["code"]) == (expected_status, code), (method, path, body)

    # Nothing changed: the composition is as it was signed.
    status, again = await nurse.call("GET", f"/fhir/Composition/{signed['composition_id']}")
    assert again == read


async def test_only_the_care_team_reads_and_only_the_host_writes(
    harness: Harness, admitted: Client, http: aiohttp.ClientSession
) -> None:
    nurse = admitted
    note = await _draft(nurse, harness)
    status, signed = await nurse.call(
        "POST", f"/api/notes/{note['note_id']}/sign", {"version": note["version"], "request_id": "s-1"}
    )
    assert status == 201
    encounter = f"/fhir/Encounter/{signed['encounter_id']}"

    anonymous = Client(http, harness.url, {})
    status, body = await anonymous.call("GET", encounter)
    assert (status, body["issue"][0]["code"]) == (401, "login")
    status, body = await anonymous.call("GET", f"/api/notes/{note['note_id']}")
    assert (status, body["error"]["code"]) == (401, "auth_required")
    status, body = await anonymous.call("GET", "/fhir/metadata")
    assert status == 200  # the CapabilityStatement is public

    await harness.services.stores.staff.add(
        StaffMember(
            "staff-2",
            "otra",
            "Enf. Otra Persona",
            Role.NURSE,
            "UMF-1",
            harness.services.auth.hash_password("pw-otra-123"),
            licence="7654321",
            unit_clues="DFIMS000652",
        )
    )
    other = Client(
        http, harness.url, {"Cookie": f"tc_session={await _login(harness, 'otra', 'pw-otra-123')}"}
    )
    status, body = await other.call("GET", encounter)
    assert (status, body["issue"][0]["code"]) == (403, "forbidden")
    status, body = await other.call("GET", f"/fhir/Patient/{signed['note']['patient_id']}/$everything")
    assert status == 403
    status, body = await other.call("GET", f"/api/notes/{note['note_id']}")
    assert status == 403
    status, body = await other.call("GET", f"/api/consults/{harness.consult_id}/note")
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = await other.call(
        "POST", f"/api/consults/{harness.consult_id}/note", {"template": "follow-up"}
    )
    assert status == 403
    status, body = await other.call(
        "POST", f"/api/notes/{note['note_id']}/addenda", {"text": "No es mía", "request_id": "x-1"}
    )
    assert status == 403
    await _unchanged(nurse, signed["note"])
    status, body = await nurse.call("GET", f"/api/consults/{harness.consult_id}/note")
    assert body["addenda"] == []


async def _other_patient(harness: Harness) -> str:
    """A second consult for another (registered) patient, and that patient's join token."""
    now = harness.services.clock()
    transition = consult_rules.create(
        consult_id="c-other",
        patient_id="p-other",
        patient_nss=OTHER_NSS,
        patient_name="Otro Paciente",
        appointment_start=now,
        appointment_end=now + timedelta(minutes=30),
        created_by="test",
        at=now,
    )
    await harness.services.stores.consults.add(transition)
    member = await harness.services.stores.staff.by_username("enfermera")
    assert member is not None
    ctx = AccessContext.staff(member.staff_id, member.full_name, member.role, "127.0.0.1")
    await harness.services.records.ensure_patient(
        PatientFacts(OTHER_NSS, "Otro Paciente", date(1990, 1, 2)), ctx
    )
    claims = tokens.JoinClaims(
        "c-other",
        "p-other",
        Role.PATIENT,
        int(now.timestamp()) - 60,
        int(now.timestamp()) + 3600,
        "jti-other",
    )
    return tokens.issue(harness.services.settings.secret_key, claims)


async def _invite(harness: Harness) -> str:
    now = harness.services.clock()
    claims = tokens.JoinClaims(
        harness.consult_id,
        "i-companion",
        Role.COMPANION,
        int(now.timestamp()) - 60,
        int(now.timestamp()) + 600,
        "jti-i",
    )
    return tokens.issue(harness.services.settings.secret_key, claims)


async def test_patient_reads_only_their_own_summary(
    harness: Harness, admitted: Client, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the server's level; below it, web/logs.py keeps SQL drivers quiet
    nurse = admitted
    patient = Client(http, harness.url, {"Authorization": f"Bearer {harness.patient_token}"})
    status, body = await patient.call("GET", "/api/summary")
    assert (status, body["error"]["code"]) == (404, "summary_not_ready")

    note = await _draft(nurse, harness)
    status, _ = await nurse.call(
        "POST", f"/api/notes/{note['note_id']}/sign", {"version": note["version"], "request_id": "s-1"}
    )
    assert status == 201
    status, summary = await patient.call("GET", "/api/summary")
    assert status == 200, summary
    assert summary["patient"]["name"] == "María Pérez (demo)"
    [written] = summary["notes"]
    sections = {s["code"]: s for s in written["sections"]}
    assert set(sections) == {"reason", "assessment", "recommendations"}
    assert sections["recommendations"]["items"][0]["value_es"].startswith("Caminar 30 minutos")
    assert sections["recommendations"]["title_en"] == "Recommendations and instructions"
    assert summary["follow_up"] == [
        {
            "plan": "Revisar glucosas",
            "date": "2026-03-16",
            "modality_es": "Teleconsulta",
            "modality_en": "Teleconsultation",
        }
    ]
    [referral] = summary["referrals"]
    assert referral["destination"] == "HGZ 1A Los Venados" and referral["urgency_en"] == "Routine"

    # Another patient's link reads nothing of this one.
    stranger = Client(http, harness.url, {"Authorization": f"Bearer {await _other_patient(harness)}"})
    status, body = await stranger.call("GET", "/api/summary")
    assert (status, body["error"]["code"]) == (404, "summary_not_ready")
    assert "María" not in str(body)

    # An invitation link (a companion) is not the patient's.
    status, body = await Client(
        http, harness.url, {"Authorization": f"Bearer {await _invite(harness)}"}
    ).call("GET", "/api/summary")
    assert (status, body["error"]["code"]) == (403, "forbidden")

    # No token, a forged one, a token in the query string: refused.
    for headers in (
        {},
        {"Authorization": "Bearer v1.forged.token"},
        {"Authorization": harness.patient_token},
    ):
        status, body = await Client(http, harness.url, headers).call("GET", "/api/summary")
        assert status == 401 and "María" not in str(body)
    status, body = await Client(http, harness.url, {}).call(
        "GET", "/api/summary", params={"t": harness.patient_token}
    )
    assert status == 401

    # A staff cookie is not a patient link, and a patient link cannot read the FHIR API.
    status, body = await nurse.call("GET", "/api/summary")
    assert status == 401
    status, body = await patient.call("GET", f"/fhir/Patient?identifier={harness.consult_id}")
    assert status == 401

    # The application's logs never hold tokens or clinical content. (The test server's own access log
    # shows the query string sent above; the real server logs paths only, see web/logs.py.)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "/api/summary" not in logged or "t=" not in logged
    for secret in (harness.patient_token, "Caminar 30 minutos", "Control de glucosa", "María Pérez"):
        assert secret not in logged
