"""Secrets and origins (docs/operations.md, docs/api.md), against the real server.

- Outside ``--demo`` the CLI refuses to start without ``TC_SECRET_KEY``.
- Record seals stay verifiable across a key rotation and a restart; a seal by a key the server does
  not hold is reported as unverifiable.
- Links come from ``TC_PUBLIC_URL`` or the listen address, never from the ``Host`` header.
- HSTS behind a TLS proxy; cookie-authenticated writes from another origin get ``403 bad_origin``.
- A long-polling POST over socket.io's limit gets ``413`` at once instead of hanging.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from records.notes import content_digest
from records.seal import SealStatus, key_id, seal_key
from records.tables import BundleRow
from rooms.roles import Role
from rooms.staff import StaffMember
from tests.integration.conftest import Harness
from tests.records.helpers import NURSE, Clock, prepare_draft, sign_request, staff_ctx
from tests.support.services import ROOT, start_demo_server
from web.app import SERVICES, Services, create_app
from web.config import Settings
from web.demo import demo_nss, seed_demo

KEY_A = "key-a-" + "a" * 40
KEY_B = "key-b-" + "b" * 40
FOREIGN = "https://evil.example"


def _env_without_keys(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TC_")}
    return {
        **env,
        "TC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        "TC_MEDIA_WORKERS": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


# -- the secret key ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({}, ["falta TC_SECRET_KEY", "TC_SECRET_KEY is not set", "--demo"]),
        ({"TC_OLD_SECRET_KEYS": KEY_A}, ["TC_OLD_SECRET_KEYS needs TC_SECRET_KEY"]),
        ({"TC_SECRET_KEY": "short"}, ["TC_SECRET_KEY must be at least 32 characters"]),
        ({"TC_SECRET_KEY": KEY_A, "TC_OLD_SECRET_KEYS": "short"}, ["TC_OLD_SECRET_KEYS"]),
        ({"TC_SECRET_KEY": KEY_A, "TC_PUBLIC_URL": "https://tc.example.org/app"}, ["TC_PUBLIC_URL"]),
        ({"TC_SECRET_KEY": KEY_A, "TC_PUBLIC_URL": "javascript:alert(1)"}, ["TC_PUBLIC_URL"]),
    ],
)
def test_serve_refuses_to_start_without_a_usable_key(
    tmp_path: Path, extra: dict[str, str], says: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "web", "serve", "--port", "0"],
        cwd=ROOT,
        env=_env_without_keys(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    for text in says:
        assert text in result.stderr
    assert "listening" not in result.stdout
    assert not (tmp_path / "records.sqlite3").exists()  # nothing was started


def test_serve_with_a_key_starts_and_says_where_links_point(tmp_path: Path) -> None:
    env = _env_without_keys(tmp_path, TC_SECRET_KEY=KEY_A, TC_OLD_SECRET_KEYS=KEY_B)
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "listening on" in line:
                break
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        rest = process.stdout.read()  # what was printed after that line (some of it already buffered)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "listening on http://127.0.0.1:" in output
    assert "TC_PUBLIC_URL" in output  # links use the listen address; the operator is told so
    assert "TC_SECRET_KEY" not in output


def test_the_demo_still_runs_without_a_key(tmp_path: Path) -> None:
    server = start_demo_server(tmp_path, {"TC_SECRET_KEY": "", "TC_PUBLIC_URL": "", "TC_MEDIA_WORKERS": "0"})
    try:
        assert server.patient_link.startswith(f"{server.base_url}/paciente#t=")
    finally:
        assert server.stop() == 0
    assert any("TC_SECRET_KEY" in line for line in server.output)  # warned, not refused


# -- record seals across a key rotation -----------------------------------------------------------


@dataclass
class Running:
    services: Services
    url: str

    async def seal_over_http(self, note_id: str) -> dict[str, Any]:
        """``GET /api/notes/{id}/seal`` as the nurse who signed (tests/records/helpers.py's NURSE)."""
        if await self.services.stores.staff.by_username("ana") is None:
            password = self.services.auth.hash_password("pw-ana-123456")
            await self.services.stores.staff.add(
                StaffMember(NURSE.staff_id, "ana", NURSE.full_name, Role.NURSE, "UMF-1", password)
            )
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = {"username": "ana", "password": "pw-ana-123456"}
            async with http.post(f"{self.url}/api/session", json=login) as response:
                assert response.status == 200
            async with http.get(f"{self.url}/api/notes/{note_id}/seal") as response:
                assert response.status == 200
                return dict(await response.json())


@asynccontextmanager
async def running(tmp_path: Path, **env: str) -> AsyncIterator[Running]:
    """The server built from environment variables as the CLI builds it, started and then stopped."""
    settings = Settings.from_env(
        {
            "TC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
            "TC_MEDIA_WORKERS": "0",
            **env,
        }
    )
    app = create_app(settings, clock=Clock())
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield Running(app[SERVICES], str(server.make_url("")).rstrip("/"))
    finally:
        await server.close()


async def test_a_seal_made_with_key_a_verifies_after_a_restart_with_key_b(tmp_path: Path) -> None:
    key_a, key_b = key_id(seal_key(KEY_A.encode())).hex(), key_id(seal_key(KEY_B.encode())).hex()
    async with running(tmp_path, TC_SECRET_KEY=KEY_A) as first:
        setup = await prepare_draft(first.services.records, first.services.engine)
        await first.services.records.sign(sign_request(setup), staff_ctx())
        made = await first.services.records.check_seal(setup.note_id, staff_ctx())
        assert made.status is SealStatus.VALID and made.key_id == key_a
        assert await first.seal_over_http(setup.note_id) == {
            "note_id": setup.note_id,
            "status": "valid",
            "key_id": key_a,
        }

    async with running(tmp_path, TC_SECRET_KEY=KEY_B, TC_OLD_SECRET_KEYS=KEY_A) as rotated:
        assert (await rotated.seal_over_http(setup.note_id))["status"] == "valid"
        # New notes are sealed with the new key.
        records, engine = rotated.services.records, rotated.services.engine
        second = await prepare_draft(records, engine, consult_id="consult-2")
        await records.sign(sign_request(second, request_id="req-2"), staff_ctx())
        new = await rotated.seal_over_http(second.note_id)
        assert new["status"] == "valid" and new["key_id"] == key_b

    async with running(tmp_path, TC_SECRET_KEY=KEY_B) as forgot:  # key A dropped from the old keys
        lost = await forgot.seal_over_http(setup.note_id)
        assert lost["status"] == "unverifiable" and lost["key_id"] == key_a
        assert (await forgot.seal_over_http(second.note_id))["status"] == "valid"


async def test_seals_from_before_key_ids_still_verify(tmp_path: Path) -> None:
    async with running(tmp_path, TC_SECRET_KEY=KEY_A) as server:
        records = server.services.records
        setup = await prepare_draft(records, server.services.engine)
        await records.sign(sign_request(setup), staff_ctx())
        note = await records.get_note(setup.note_id, staff_ctx())
        # What the server stored before key ids: base64(HMAC-SHA256(HMAC(secret, "records-seal"), digest)).
        old_key = hmac.new(KEY_A.encode(), b"records-seal", hashlib.sha256).digest()
        old_seal = base64.b64encode(hmac.new(old_key, content_digest(note).encode(), hashlib.sha256).digest())
        await _replace_stored_seal(server.services, setup.note_id, old_seal.decode())
        assert (await records.check_seal(setup.note_id, staff_ctx())).status is SealStatus.VALID
    async with running(tmp_path, TC_SECRET_KEY=KEY_B, TC_OLD_SECRET_KEYS=KEY_A) as rotated:
        checked = await rotated.seal_over_http(setup.note_id)
        assert checked == {"note_id": setup.note_id, "status": "valid", "key_id": None}
        await _replace_stored_seal(rotated.services, setup.note_id, base64.b64encode(bytes(32)).decode())
        forged = await rotated.services.records.check_seal(setup.note_id, staff_ctx())
        assert forged.status is SealStatus.UNVERIFIABLE and forged.key_id is None


async def _replace_stored_seal(services: Services, note_id: str, value: str) -> None:
    async with services.engine.begin() as connection:
        content = await connection.scalar(select(BundleRow.content).where(BundleRow.note_id == note_id))
        assert content is not None
        for entry in content["entry"]:
            if entry["resource"]["resourceType"] == "Provenance":
                entry["resource"]["signature"][0]["data"] = value
        await connection.execute(
            update(BundleRow).where(BundleRow.note_id == note_id).values(content=content)
        )


# -- links come from configuration ---------------------------------------------------------------


async def _call(
    url: str,
    method: str,
    path: str,
    cookie: str | None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    sent = {**(headers or {}), **({"Cookie": f"tc_session={cookie}"} if cookie else {})}
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{url}{path}", json=body, headers=sent) as response:
            return response.status, await response.json(content_type=None), dict(response.headers)


async def _links_made_with(
    url: str, services: Services, consult_id: str, headers: dict[str, str], cookie: str
) -> list[str]:
    """Every kind of link the server hands out, asked for with ``headers``."""
    status, invite, _ = await _call(
        url,
        "POST",
        f"/api/consults/{consult_id}/invites",
        cookie,
        {"role": "companion", "name": "Luis"},
        headers,
    )
    assert status == 201, invite
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    status, slots, _ = await _call(
        url, "GET", f"/api/slots?unit=UMF-1&date={tomorrow}&zone=UTC", None, None, headers
    )
    assert status == 200 and slots["slots"], slots
    patient = {"nss": demo_nss(), "name": "Eva Ruiz", "birth_date": "1990-01-01", "time_zone": "UTC"}
    booking = {
        "unit": "UMF-1",
        "start": slots["slots"][0]["start"],
        "patient": {**patient, "email": "e@x.org"},
    }
    status, booked, _ = await _call(url, "POST", "/api/appointments", cookie, booking, headers)
    assert status == 201, booked
    status, metadata, _ = await _call(url, "GET", "/fhir/metadata", None, None, headers)
    assert status == 200
    coordinator = await _coordinator(services, url)
    session = {
        "purpose": "second_opinion",
        "specialty": "Neurología",
        "scheduled_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "clues": "DFIMS000123",
        "unit_name": "Hospital General de Zona 1",
    }
    status, created, _ = await _call(url, "POST", "/api/interunit-sessions", coordinator, session, headers)
    assert status == 201, created
    site = {"clues": "DFIMS000034", "unit_name": "HGZ 1A", "name": "Dr. Ruiz", "role": "physician"}
    path = f"/api/interunit-sessions/{created['session_id']}/sites"
    status, added, _ = await _call(url, "POST", path, coordinator, site, headers)
    assert status == 201, added
    return [invite["link"], booked["patient_link"], metadata["implementation"]["url"], added["link"]]


async def _coordinator(services: Services, url: str) -> str:
    if await services.stores.staff.by_username("coord") is None:
        await services.stores.staff.add(
            StaffMember(
                "s-coord",
                "coord",
                "Dra. Coordinadora",
                Role.COORDINATOR,
                "HGZ-1",
                services.auth.hash_password("pw-coord-123"),
            )
        )
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/session", json={"username": "coord", "password": "pw-coord-123"}
        )
        assert response.status == 200
        return response.cookies["tc_session"].value


async def test_links_use_the_listen_address_whatever_the_host_header_says(harness: Harness) -> None:
    cookie = await harness.login()
    links = await _links_made_with(
        harness.url, harness.services, harness.consult_id, {"Host": "evil.example"}, cookie
    )
    assert all(link.startswith(f"{harness.url}/") for link in links), links
    assert not any("evil.example" in link for link in links)


async def test_links_use_the_configured_public_url(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
        secret_key=KEY_A.encode(),
        secret_key_is_ephemeral=False,
        public_url="https://tc.example.org",
        media_workers=0,
    )
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        demo = await seed_demo(app[SERVICES], settings.public_url, password="demo-password-123")
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{url}/api/session", json={"username": "enfermera", "password": "demo-password-123"}
            )
            cookie = response.cookies["tc_session"].value
        # Through the proxy: the browser's origin is the public one, the Host header anything.
        headers = {"Host": "evil.example", "Origin": "https://tc.example.org"}
        links = await _links_made_with(url, app[SERVICES], demo.consult_id, headers, cookie)
        assert all(link.startswith("https://tc.example.org/") for link in links), links
    finally:
        await server.close()


# -- HSTS and the origin of writes ---------------------------------------------------------------


async def test_hsts_is_sent_behind_a_tls_proxy_only(harness: Harness) -> None:
    _, _, plain = await _call(harness.url, "GET", "/healthz", None)
    assert "Strict-Transport-Security" not in plain
    _, _, proxied = await _call(harness.url, "GET", "/healthz", None, None, {"X-Forwarded-Proto": "https"})
    assert proxied["Strict-Transport-Security"] == "max-age=31536000"


async def _waiting_patient(harness: Harness, cookie: str) -> Any:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    status, _, _ = await _call(harness.url, "PUT", "/api/nurses/me/state", cookie, {"state": "available"})
    assert status == 200
    return patient


async def _queue(harness: Harness, cookie: str) -> tuple[list[str], str]:
    status, queue, _ = await _call(harness.url, "GET", "/api/units/UMF-1/queue", cookie)
    assert status == 200
    _, state, _ = await _call(harness.url, "GET", "/api/nurses/me/state", cookie)
    return [e["consult_id"] for e in queue["entries"]], state["state"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": FOREIGN},
        {"Origin": "null"},  # sandboxed frames and no-referrer forms
        {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
        {"Referer": f"{FOREIGN}/form.html"},  # no Origin: the Referer decides
        {"Origin": FOREIGN, "Referer": "http://127.0.0.1/"},  # Origin wins over Referer
    ],
)
async def test_a_write_from_another_origin_is_refused_and_changes_nothing(
    harness: Harness, headers: dict[str, str]
) -> None:
    cookie = await harness.login()
    patient = await _waiting_patient(harness, cookie)
    try:
        before = await _queue(harness, cookie)
        assert before[0] == [harness.consult_id]
        status, body, _ = await _call(harness.url, "POST", "/api/units/UMF-1/next", cookie, None, headers)
        assert status == 403 and body["error"]["code"] == "bad_origin"
        assert " / " in body["error"]["message"]  # Spanish / English
        status, _, _ = await _call(
            harness.url, "PUT", "/api/nurses/me/state", cookie, {"state": "away"}, headers
        )
        assert status == 403
        status, _, _ = await _call(harness.url, "DELETE", "/api/session", cookie, None, headers)
        assert status == 403
        assert await _queue(harness, cookie) == before  # still waiting, nurse still available, signed in
    finally:
        await patient.disconnect()


@pytest.mark.parametrize("sent", ["origin", "referer", "neither", "proxy"])
async def test_a_write_from_our_own_origin_works(harness: Harness, sent: str) -> None:
    cookie = await harness.login()
    patient = await _waiting_patient(harness, cookie)
    headers = {
        "origin": {"Origin": harness.url},
        "referer": {"Referer": f"{harness.url}/consola"},
        "neither": {},  # curl, scripts: no browser made this request
        "proxy": {"Origin": "https://tc.example.org", "Host": "tc.example.org", "X-Forwarded-Proto": "https"},
    }[sent]
    try:
        status, body, _ = await _call(harness.url, "POST", "/api/units/UMF-1/next", cookie, None, headers)
        assert status == 200, body
        assert body["consult_id"] == harness.consult_id
    finally:
        await patient.disconnect()


async def test_writes_without_the_staff_cookie_are_not_origin_checked(harness: Harness) -> None:
    # Signing in carries no session yet; its body must be JSON, which a cross-site form cannot send.
    status, body, _ = await _call(
        harness.url,
        "POST",
        "/api/session",
        None,
        {"username": "enfermera", "password": "x" * 12},
        {"Origin": FOREIGN},
    )
    assert (status, body["error"]["code"]) == (401, "auth_invalid")


# -- socket.io long-polling body limit -----------------------------------------------------------


async def test_an_oversized_long_polling_post_gets_413_at_once(tmp_path: Path) -> None:
    server = start_demo_server(tmp_path, {"TC_MEDIA_WORKERS": "0"})
    try:
        endpoint = f"{server.base_url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http:
            async with http.get(endpoint) as response:
                handshake = json.loads((await response.text())[1:])
            limit = handshake["maxPayload"]
            session = f"{endpoint}&sid={handshake['sid']}"
            for size in (limit + 1, 1_000_000, 4_000_000):
                # Bounded only so that a hang fails the test instead of stalling the suite.
                response = await asyncio.wait_for(http.post(session, data=b"4" + b"x" * size), timeout=30)
                body = await response.json()
                assert response.status == 413 and body["error"]["code"] == "payload_too_large"
            async with http.post(session, data=b"3") as response:  # the session is still usable
                assert response.status == 200 and await response.text() == "OK"
    finally:
        assert server.stop() == 0
    assert not any("Traceback" in line for line in server.output)


@pytest.mark.parametrize("packet", [b"6", b"0"])  # noop and open: packets no client may send
async def test_a_refused_long_polling_post_is_answered_not_left_hanging(
    harness: Harness, packet: bytes
) -> None:
    endpoint = f"{harness.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(endpoint) as response:
            session = f"{endpoint}&sid={json.loads((await response.text())[1:])['sid']}"
        # engine.io closes the session and waits for a poll that never comes; the server answers anyway.
        response = await asyncio.wait_for(http.post(session, data=packet), timeout=60)
        assert response.status == 400 and (await response.json())["error"]["code"] == "bad_payload"
        async with http.get(session) as response:  # the session is gone
            assert response.status == 400
