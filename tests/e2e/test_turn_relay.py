"""A consult where both browsers may only use TURN relays, through a real coturn on loopback."""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.consults import archived_log, end_consult
from tests.e2e.pages import (
    media_path,
    nurse_admits_next,
    nurse_signs_in,
    patient_enters_waiting_room,
    poll,
    wait_for_media_growth,
)
from tests.support.services import DemoServer, require_or_skip, start_demo_server

LOCAL_CANDIDATE_TYPE = """
async () => {
  const pc = window.teleconsultaDebug.peerConnection();
  const stats = await pc.getStats();
  let type = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId) {
      type = stats.get(stats.get(r.selectedCandidatePairId).localCandidateId).candidateType;
    }
  });
  return type;
}
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    binary = shutil.which("turnserver")
    require_or_skip(binary is not None, "coturn (turnserver)")
    assert binary is not None
    port, secret = _free_udp_port(), secrets.token_hex(16)
    log = tmp_path / "coturn.log"
    process = subprocess.Popen(
        [
            binary,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=teleconsulta.test",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--fingerprint",
            "--min-port=49160",
            "--max-port=49400",
            f"--log-file={log}",
            "--simple-log",
            f"--pidfile={tmp_path / 'coturn.pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield port, secret
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def relay_server(tmp_path: Path, coturn: tuple[int, str]) -> Iterator[DemoServer]:
    port, secret = coturn
    server = start_demo_server(
        tmp_path,
        {
            "TC_TURN_URLS": f"turn:127.0.0.1:{port}?transport=udp",
            "TC_TURN_SECRET": secret,
            "TC_ICE_TRANSPORT_POLICY": "relay",
        },
    )
    try:
        yield server
    finally:
        server.stop()


async def test_relay_only_consult_through_coturn(relay_server: DemoServer, browser: Browser) -> None:
    patient = await (await browser.new_context()).new_page()
    nurse = await (await browser.new_context()).new_page()
    await patient_enters_waiting_room(patient, relay_server.patient_link)
    await nurse_signs_in(nurse, relay_server)
    consult_id = await nurse_admits_next(nurse)
    for page in (patient, nurse):
        await wait_for_media_growth(page)
        assert await poll(page, LOCAL_CANDIDATE_TYPE, lambda t: t is not None) == "relay"
        await media_path(page)

    # The server saw the relay in the ICE pairs it selected: the call's summary says TURN.
    await expect(nurse.locator("#participants .call-quality").first).to_have_text(
        re.compile(r"^Calidad: "), timeout=20_000
    )
    await end_consult(nurse, patient)
    events = await archived_log(nurse, relay_server.base_url, consult_id)
    summary = next(e["detail"] for e in events if e["kind"] == "call_summary")
    assert summary["media_path"] == "turn"
    paths = {e["detail"]["path"] for e in events if e["kind"] == "media_quality"}
    assert paths == {"turn"}
