"""One whole consult against a running server, as the pages would run it, for tests that look at
what the server leaves behind (metrics, logs): the patient checks in, the nurse admits her, both
are in the call with real aiortc media both ways, the nurse writes and signs the note, and ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.clients import MediaClient, connect_client, join_call

NOTE_PHRASE = "Cefalea punzante tras caída en bicicleta"
"""Free text written in the note, searched for where it must never be."""
NOTE: dict[str, Any] = {
    "reason": {"reason": NOTE_PHRASE, "present_illness": "Dolor desde hace 3 días, sin vómito"},
    "allergies": {"none_known": True},
    "assessment": {"problems": ["Traumatismo craneal leve"]},
    "recommendations": {"recommendations": "Reposo relativo y vigilar signos de alarma"},
    "follow-up-plan": {"plan": "Llamar en 48 horas", "next_contact": "2026-03-16", "modality": "teleconsult"},
    "referral": {"needed": False},
}

Step = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass
class ConsultTrace:
    """What the consult exchanged that must never reach logs or metrics."""

    sdps: list[str] = field(default_factory=list)
    note_id: str = ""


async def whole_consult(
    url: str,
    *,
    consult_id: str,
    patient_token: str,
    nurse_cookie: str,
    waiting: Step = _nothing,
    in_call: Step = _nothing,
) -> ConsultTrace:
    """Run the consult; ``waiting`` runs while the patient waits, ``in_call`` while media flows."""
    trace = ConsultTrace()
    patient, patient_events = await connect_client(url, token=patient_token)
    nurse, _ = await connect_client(url, cookie=nurse_cookie)
    patient_media, nurse_media = MediaClient((200, 40, 40)), MediaClient((40, 40, 200))
    headers = {"Cookie": f"tc_session={nurse_cookie}"}

    async def rest(http: aiohttp.ClientSession, method: str, path: str, body: Any) -> Any:
        async with http.request(method, f"{url}{path}", json=body, headers=headers) as response:
            answer = await response.json()
            assert response.status in (200, 201), (path, response.status, answer)
            return answer

    try:
        assert (await patient.call("hello", {}, timeout=20))["ok"]
        assert (await patient.call("lobby:check_in", {"consent": True}, timeout=20))["ok"]
        await waiting()
        assert (await nurse.call("hello", {}, timeout=20))["ok"]
        assert (await nurse.call("lobby:admit", {"consult_id": consult_id}, timeout=20))["ok"]
        assert (await join_call(patient, patient_media))["ok"]
        assert (await join_call(nurse, nurse_media))["ok"]
        # A bound for a hang, not a timing: niced beside the weak-link browser tests in CI, the
        # first frames once took over 30 s (they take half a second on an idle machine).
        await patient_media.wait_for_media(video_frames=10, audio_frames=10, timeout=90)
        await nurse_media.wait_for_media(video_frames=10, audio_frames=10, timeout=90)
        await in_call()
        async with aiohttp.ClientSession() as http:
            draft = await rest(
                http, "POST", f"/api/consults/{consult_id}/note", {"template": "first-consult"}
            )
            note = draft["note"]
            trace.note_id = note["note_id"]
            saved = await rest(
                http,
                "PUT",
                f"/api/notes/{note['note_id']}",
                {"base_version": note["version"], "content": NOTE},
            )
            version = saved["note"]["version"]
            await rest(
                http, "POST", f"/api/notes/{note['note_id']}/sign", {"version": version, "request_id": "s1"}
            )
        assert (await nurse.call("consult:end", {"consult_id": consult_id}, timeout=20))["ok"]
        await patient_events.wait_for("consult:ended")
    finally:
        for media in (patient_media, nurse_media):
            for connection in (media.publisher, media.subscriber):
                if connection is not None and connection.localDescription is not None:
                    trace.sdps.append(connection.localDescription.sdp)
            trace.sdps.extend(offer["sdp"] for offer in media.offers)
            await media.close()
        for client in (patient, nurse):
            await client.disconnect()
    return trace
