"""``TC_LOG_FORMAT=json``: a whole consult's logs are JSON lines that hold nothing about anyone.

The server runs as the CLI a user starts (``teleconsulta serve --demo``, two media workers, debug
level, so every logger that would write does), with its logs in a file apart from what it prints.
A patient is booked over REST with a known name and NSS, checks in with her link, is admitted,
both sides send real media, the nurse signs a note; then the server stops on SIGTERM. Every log
line must parse as JSON with the documented fields, and none may hold the patient's name or NSS,
a token, the nurse's password or session, SDP, or the note's text.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.integration.test_scheduling_api import booking, token_of
from tests.support.services import start_demo_server
from tests.support.whole_consult import NOTE_PHRASE, whole_consult

NSS = "79927398713"
NAME = "Rigoberta Menchaca Quintanilla"
NODE = "nodo-prueba-7"
FIELDS = {"time", "level", "event", "logger", "node", "worker"}


async def _login(url: str, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/session", json={"username": username, "password": password})
        assert response.status == 200
        return response.cookies["tc_session"].value


async def _book(url: str, cookie: str) -> dict[str, Any]:
    """Book the next free slot today (the demo's hours are always open) for the known patient."""
    headers = {"Cookie": f"tc_session={cookie}"}
    now = datetime.now(UTC)
    async with aiohttp.ClientSession(headers=headers) as http:
        for day in (now.date(), (now + timedelta(days=1)).date()):
            async with http.get(f"{url}/api/slots?unit=UMF-1&date={day}&zone=UTC") as response:
                slots = (await response.json())["slots"]
            future = [s for s in slots if datetime.fromisoformat(s["start"]) > now + timedelta(seconds=30)]
            if future:
                break
        body = booking(NSS, start=datetime.fromisoformat(future[0]["start"]), name=NAME)
        async with http.post(f"{url}/api/appointments", json=body) as response:
            booked: dict[str, Any] = await response.json()
            assert response.status == 201, booked
    return booked


async def test_a_consult_logs_json_lines_without_personal_data(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    server = start_demo_server(
        tmp_path,
        {
            "TC_LOG_FORMAT": "json",
            "TC_LOG_LEVEL": "DEBUG",
            "TC_MEDIA_WORKERS": "2",
            "TC_NODE_ID": NODE,
            "TC_CHECK_IN_OPENS_MINUTES": "60",  # the next slot may start up to 20 minutes from now
        },
        log_path=log_path,
    )
    try:
        cookie = await _login(server.base_url, server.username, server.password)
        booked = await _book(server.base_url, cookie)
        consult_id = booked["appointment"]["consult_id"]
        token = token_of(booked["patient_link"])
        trace = await whole_consult(
            server.base_url, consult_id=consult_id, patient_token=token, nurse_cookie=cookie
        )
    finally:
        server.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.process.wait, 30)
        server.close()
    assert code == 0

    lines = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert isinstance(entry, dict) and FIELDS <= set(entry), line
        assert entry["node"] == NODE and isinstance(entry["worker"], int), line
        entries.append(entry)
    main = server.process.pid
    assert {e["worker"] for e in entries} - {main}, "the media workers' logs are JSON lines too"
    assert any(e["logger"] == "aiohttp.access" and '"POST /api/appointments"' in e["event"] for e in entries)
    assert any(e.get("consult_id") == consult_id for e in entries), "the consult's end is logged with its id"

    # What the consult carried, searched for in every line.
    sdp_values = {
        value
        for sdp in trace.sdps
        for value in re.findall(r"^a=(?:ice-ufrag|ice-pwd|fingerprint):(.+?)\r?$", sdp, re.MULTILINE)
    }
    assert trace.sdps and sdp_values
    forbidden = {
        "patient name": NAME,
        "patient surname": "Menchaca",
        "NSS": NSS,
        "join token": token,
        "nurse password": server.password,
        "session cookie": cookie,
        "note text": NOTE_PHRASE,
        "SDP": "a=fingerprint",
        "SDP candidate": "a=candidate",
        "SDP session": "v=0",
        **{f"SDP value {value[:12]}": value for value in sdp_values},
    }
    text = log_path.read_text(encoding="utf-8")
    found = [what for what, value in forbidden.items() if value in text]
    assert not found, f"the logs hold the {found}"
