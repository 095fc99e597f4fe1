"""An overloaded node refuses new connections and events with ``busy`` and does nothing else: the
consult is untouched, the refusal goes to the requester only (docs/operations.md, "Overload")."""

from __future__ import annotations

import time

import pytest

from rooms.consult import ConsultState
from tests.integration.conftest import Harness
from tests.support.clients import ConnectionRefused, connect_client
from web.backpressure import PRESSURE


@pytest.fixture
def overload_lag_seconds() -> float:
    return 0.25


def overload(harness: Harness, lag: float) -> None:
    """Late ticks for a second, dated an hour ahead so the refusal outlasts the test."""
    pressure = harness.app[PRESSURE]
    later = time.monotonic() + 3600
    pressure.observe(lag, later)
    pressure.observe(lag, later + 1.0)


async def test_a_slow_node_refuses_new_connections_but_serves_the_ones_it_holds(harness: Harness) -> None:
    patient, _ = await harness.patient()
    try:
        overload(harness, 0.3)
        with pytest.raises(ConnectionRefused) as refused:
            await connect_client(harness.url, cookie=await harness.login())
        error = refused.value.errors[0]["data"]
        assert error["code"] == "busy" and error["retry_after_s"] == "2"
        assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    finally:
        await patient.disconnect()


async def test_a_saturated_node_refuses_events_and_changes_nothing(harness: Harness) -> None:
    patient, events = await harness.patient()
    try:
        overload(harness, 0.6)
        reply = await patient.call("lobby:check_in", {"consent": True})
        assert reply["ok"] is False and reply["error"]["code"] == "busy"
        assert "ocupado" in reply["error"]["message_es"]
        error = await events.wait_for("error")
        assert error["code"] == "busy" and error["event"] == "lobby:check_in"
        consult = await harness.services.stores.consults.get(harness.consult_id)
        assert consult is not None and consult.state is ConsultState.SCHEDULED
    finally:
        await patient.disconnect()
