"""The CLI a user runs: it prints what the README promises and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.services import start_demo_server


def test_demo_prints_working_access_and_sigterm_stops_it(tmp_path: Path) -> None:
    server = start_demo_server(tmp_path)
    try:
        with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=5) as response:
            assert json.load(response)["status"] == "ok"
        assert server.console_url == f"{server.base_url}/consola"
        assert server.patient_link.startswith(f"{server.base_url}/paciente#t=v1.")
        request = urllib.request.Request(
            f"{server.base_url}/api/session",
            data=json.dumps({"username": server.username, "password": server.password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["role"] == "nurse"
    finally:
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=20)
        server.close()
    assert code == 0
    output = "".join(server.output)
    assert "Shutting down" in output
    # When the link stops working, on this machine's clock, at least an hour and a half from now.
    until = re.search(r"The link works until: (\d{4}-\d\d-\d\d \d\d:\d\d) \(UTC([+-]\d{4})\)", output)
    assert until is not None, output
    shown = datetime.strptime(f"{until[1]} {until[2]}", "%Y-%m-%d %H:%M %z")
    assert shown.utcoffset() == datetime.now().astimezone().utcoffset()
    assert shown - datetime.now(UTC) > timedelta(minutes=90)
    # Neither the token nor the password ever reaches the log lines.
    token = server.patient_link.split("#t=")[1]
    log_lines = [
        line for line in server.output if " INFO " in line or " WARNING " in line or " ERROR " in line
    ]
    assert log_lines, "the access log should have recorded the requests"
    assert not any(token in line or server.password in line for line in log_lines)


def _running(pid: int) -> bool:
    """Whether a process still runs (an exited one not yet reaped by init is a zombie, ``Z``)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


async def test_sigterm_during_a_live_call_tells_clients_and_stops_workers(tmp_path: Path) -> None:
    import asyncio
    from urllib.parse import parse_qs, urlsplit

    import aiohttp

    from tests.support.clients import MediaClient, connect_client, join_call

    server = start_demo_server(tmp_path, {"TC_MEDIA_WORKERS": "2", "TC_DRAIN_SECONDS": "0"})
    workers = [
        int(pid)
        for pid in Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    ]
    token = parse_qs(urlsplit(server.patient_link).fragment)["t"][0]
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.base_url}/api/session", json={"username": server.username, "password": server.password}
        )
        cookie = response.cookies["tc_session"].value
    patient, patient_events = await connect_client(server.base_url, token=token)
    nurse, _ = await connect_client(server.base_url, cookie=cookie)
    consult_id = (await patient.call("hello", {}))["consult"]["consult_id"]
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": consult_id})
    patient_media, nurse_media = MediaClient((1, 2, 3)), MediaClient((3, 2, 1))
    assert (await join_call(patient, patient_media))["ok"] and (await join_call(nurse, nurse_media))["ok"]
    await patient_media.wait_for_media(video_frames=5, audio_frames=5)

    server.process.send_signal(signal.SIGTERM)
    await patient_events.wait_for("server:shutdown")
    code = await asyncio.to_thread(server.process.wait, 20)
    server.close()
    assert code == 0
    assert len(workers) >= 2
    # multiprocessing's resource tracker leaves a moment after its parent; wait for that, bounded.
    deadline = time.monotonic() + 10
    while [pid for pid in workers if _running(pid)] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not [pid for pid in workers if _running(pid)], "media workers outlived the server"
    for client in (patient_media, nurse_media):
        await client.close()
    for sio in (patient, nurse):
        await sio.disconnect()
