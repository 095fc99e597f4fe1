"""One suite for every store implementation: in memory, and Redis against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from rooms import consult as rules
from rooms.consult import Actor, ConsultState, Invitee
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember, StaffSession
from rooms.store.base import Stores, VersionConflict
from rooms.store.commands import execute
from rooms.store.memory import memory_stores
from rooms.store.redis import redis_stores
from tests.support.redis_server import redis_server

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("p-1", Role.PATIENT, "sid-1")
NURSE = Actor("n-1", Role.NURSE, "sid-2")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    if request.param == "memory":
        yield memory_stores()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield redis_stores(client)
    finally:
        await client.aclose()


def _created(consult_id: str = "c-1") -> rules.Transition:
    return rules.create(
        consult_id=consult_id,
        patient_id="p-1",
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0 - timedelta(days=1),
    )


async def test_a_consult_round_trips_with_its_log(stores: Stores) -> None:
    await stores.consults.add(_created())
    with pytest.raises(VersionConflict):
        await stores.consults.add(_created())
    await execute(stores.consults, "c-1", lambda c: rules.check_in(c, PATIENT, T0))
    await execute(stores.consults, "c-1", lambda c: rules.admit(c, NURSE, T0, "Enf. Uno"))
    guest = Invitee("i-1", Role.INTERPRETER, "Intérprete")
    await execute(stores.consults, "c-1", lambda c: rules.invite(c, NURSE, guest, T0))
    await execute(stores.consults, "c-1", lambda c: rules.join(c, PATIENT, T0))
    consult = await stores.consults.get("c-1")
    assert consult is not None
    assert (consult.state, consult.host_name, consult.invitees, consult.in_call) == (
        ConsultState.LIVE,
        "Enf. Uno",
        (guest,),
        frozenset({"p-1"}),
    )
    assert consult.version == 4
    kinds = [e.kind for e in await stores.consults.log("c-1")]
    assert kinds == [
        EventKind.CREATED,
        EventKind.CHECKED_IN,
        EventKind.ADMITTED,
        EventKind.INVITED,
        EventKind.JOINED,
    ]
    assert [c.consult_id for c in await stores.consults.open_consults()] == ["c-1"]
    await execute(stores.consults, "c-1", lambda c: rules.end(c, NURSE, T0))
    assert await stores.consults.open_consults() == []
    assert await stores.consults.get("missing") is None


async def test_a_stale_version_is_refused_and_changes_nothing(stores: Stores) -> None:
    await stores.consults.add(_created())
    consult = await stores.consults.get("c-1")
    assert consult is not None
    first = rules.check_in(consult, PATIENT, T0)
    await stores.consults.commit(first, consult.version)
    with pytest.raises(VersionConflict):
        await stores.consults.commit(rules.end(consult, NURSE, T0), consult.version)
    after = await stores.consults.get("c-1")
    assert after is not None and after.state is ConsultState.WAITING
    assert len(await stores.consults.log("c-1")) == 2


async def test_concurrent_admissions_admit_once(stores: Stores) -> None:
    await stores.consults.add(_created())
    await execute(stores.consults, "c-1", lambda c: rules.check_in(c, PATIENT, T0))
    nurses = [Actor(f"n-{i}", Role.NURSE) for i in range(8)]

    async def admit(nurse: Actor) -> str:
        try:
            await execute(stores.consults, "c-1", lambda c: rules.admit(c, nurse, T0))
            return nurse.participant_id
        except rules.RuleViolation:
            return ""

    winners = [w for w in await asyncio.gather(*(admit(n) for n in nurses)) if w]
    assert len(winners) == 1
    consult = await stores.consults.get("c-1")
    assert consult is not None and consult.host_id == winners[0]
    assert [e.kind for e in await stores.consults.log("c-1")].count(EventKind.ADMITTED) == 1


async def test_observations_append_and_tokens_revoke(stores: Stores) -> None:
    await stores.consults.add(_created())
    sample = SessionEvent("c-1", EventKind.MEDIA_QUALITY, T0, "p-1", None, None, {"level": "good"})
    await stores.consults.append_log("c-1", [sample])
    await stores.consults.append_log("nope", [sample])
    assert (await stores.consults.log("c-1"))[-1] == sample
    assert await stores.consults.log("nope") == []
    assert not await stores.consults.is_token_revoked("t-1")
    await stores.consults.revoke_token("t-1")
    assert await stores.consults.is_token_revoked("t-1")


async def test_staff_and_login_sessions(stores: Stores) -> None:
    member = StaffMember("s-1", "laura", "Laura", Role.NURSE, "UMF-1", "$argon2id$hash")
    await stores.staff.add(member)
    with pytest.raises(ValueError):
        await stores.staff.add(StaffMember("s-2", "laura", "Otra", Role.NURSE, "UMF-2", "x"))
    assert await stores.staff.by_username("laura") == member
    assert await stores.staff.by_id("s-1") == member
    assert await stores.staff.by_username("nobody") is None
    now = datetime.now(UTC)
    session = StaffSession("sess-1", "s-1", now, now + timedelta(hours=1))
    await stores.sessions.add(session)
    assert await stores.sessions.get("sess-1") == session
    await stores.sessions.remove("sess-1")
    assert await stores.sessions.get("sess-1") is None
