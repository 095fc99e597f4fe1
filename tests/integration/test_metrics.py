"""``GET /metrics`` after a real consult: the figures move, and nothing in them names anyone.

The integration harness runs media in worker processes (one per core), so the RTP figures here
crossed the workers' pipes; the consult is the demo's, with real aiortc media both ways.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from rooms.roles import Role
from tests.integration.conftest import NURSE_PASSWORD, Harness
from tests.support.clients import connect_client
from tests.support.metrics import Scrape, scrape
from tests.support.whole_consult import whole_consult


async def _until(harness: Harness, ready: object, timeout: float = 20) -> Scrape:
    """Scrape until ``ready(scrape)`` holds (worker figures arrive every second)."""
    assert callable(ready)
    deadline = time.monotonic() + timeout
    while True:
        current = await scrape(harness.url)
        if ready(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError("the metrics never got there:\n" + current.text)
        await asyncio.sleep(0.25)


async def test_a_consult_moves_the_metrics_and_names_nobody(harness: Harness) -> None:
    services = harness.services
    consult = await services.stores.consults.get(harness.consult_id)
    assert consult is not None
    nurse = await services.stores.staff.by_username("enfermera")
    assert nurse is not None
    async with aiohttp.ClientSession() as http:
        wrong = {"username": "enfermera", "password": "not-the-password"}
        async with http.post(f"{harness.url}/api/session", json=wrong) as response:
            assert response.status == 401
    cookie = await harness.login(NURSE_PASSWORD)
    seen: dict[str, Scrape] = {}

    async def waiting() -> None:
        seen["waiting"] = await _until(harness, lambda s: s.total("tc_unit_queue_length", unit="UMF-1") == 1)
        # A made-up event whose name carries the consult id: counted, but never as a label.
        other = await harness.staff_cookie("otra", Role.NURSE, "UMF-2", "Otra Enfermera")
        intruder, _ = await connect_client(harness.url, cookie=other)
        await intruder.call(f"evil:{harness.consult_id}", {}, timeout=10)
        await intruder.disconnect()

    async def in_call() -> None:
        seen["in_call"] = await _until(
            harness,
            lambda s: (
                s.total("tc_media_rooms") == 1
                and s.total("tc_media_participants") == 2
                and s.total("tc_rtp_packets_total", direction="out") > 0
            ),
        )

    await whole_consult(
        harness.url,
        consult_id=harness.consult_id,
        patient_token=harness.patient_token,
        nurse_cookie=cookie,
        waiting=waiting,
        in_call=in_call,
    )
    # Queues are read at most every 5 s, worker figures arrive every second.
    after = await _until(
        harness,
        lambda s: s.total("tc_media_rooms") == 0 and s.total("tc_unit_queue_length", unit="UMF-1") == 0,
    )

    during = seen["in_call"]
    assert during.total("tc_media_publishers") == 2
    assert during.total("tc_media_subscriptions") == 4  # each receives the other's camera and microphone
    assert during.total("tc_socketio_connections") >= 2
    workers = str(services.settings.media_workers)
    assert after.total("tc_media_workers_alive") == services.settings.media_workers, workers
    # Counters keep what the closed room forwarded.
    for name, labels in (
        ("tc_rtp_packets_total", {"direction": "in"}),
        ("tc_rtp_packets_total", {"direction": "out"}),
        ("tc_rtp_payload_bytes_received_total", {}),
        ("tc_rtp_bytes_sent_total", {}),
        ("tc_rtp_keyframe_waits_total", {}),
        ("tc_media_worker_cpu_seconds_total", {}),
    ):
        assert after.total(name, **labels) >= during.total(name, **labels) > 0, name
    assert after.total("tc_rtp_bytes_sent_total") > after.total("tc_rtp_packets_total", direction="out") * 12
    assert after.total("tc_socketio_events_total", event="media:offer") == 2
    assert after.total("tc_socketio_events_total", event="unknown") == 1
    assert after.total("tc_refusals_total", channel="socket", code="unknown_event") == 1
    assert after.total("tc_logins_total", outcome="failure") == 1
    assert after.total("tc_logins_total", outcome="success") >= 1
    assert after.total("tc_note_signing_seconds_count") == 1
    assert after.total("tc_db_query_seconds_count", operation="insert") > 0
    assert after.total("tc_event_loop_lag_seconds_count") > 0
    assert after.total("tc_http_requests_total", method="POST", route="/api/notes/{note_id}/sign") == 1

    # Nothing that names the consult, its people or their secrets, in any scrape.
    secrets = {
        "consult id": harness.consult_id,
        "patient id": consult.patient_id,
        "NSS": consult.record_nss,
        "patient name": "María",
        "patient surname": "Pérez",
        "nurse id": nurse.staff_id,
        "nurse name": "Laura",
        "join token": harness.patient_token,
        "session cookie": cookie,
    }
    for moment, text in (("waiting", seen["waiting"].text), ("in call", during.text), ("after", after.text)):
        found = [what for what, value in secrets.items() if value and value in text]
        assert not found, f"/metrics ({moment}) holds the {found}"


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
async def test_operator_routes_need_no_sign_in(harness: Harness, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{harness.url}{path}") as response:
        assert response.status == 200
