"""One suite for every store implementation: in memory, and Redis against a real redis-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from records.db import create_engine
from records.migrate import migrate
from records.staff import StaffDirectory
from rooms import consult as rules
from rooms.consult import Actor, ConsultState, Invitee
from rooms.roles import Role
from rooms.session_log import EventKind, SessionEvent
from rooms.staff import StaffMember, StaffSession
from rooms.store.base import ConsultStore, Stores, VersionConflict
from rooms.store.codec import decode_consult, encode_consult
from rooms.store.commands import execute
from rooms.store.memory import MemoryConsultStore, memory_stores
from rooms.store.redis import RedisConsultStore, RedisStaffCache, redis_stores
from tests.support.redis_server import redis_server

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("p-1", Role.PATIENT, "sid-1")
NURSE = Actor("n-1", Role.NURSE, "sid-2")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """Consults and sessions in memory or Redis; accounts in a record database (cached in Redis)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}")
    await migrate(engine)
    if request.param == "memory":
        yield memory_stores(StaffDirectory(engine, clock=lambda: T0))
        await engine.dispose()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    await client.flushdb()
    try:
        yield redis_stores(client, StaffDirectory(engine, clock=lambda: T0, cache=RedisStaffCache(client)))
    finally:
        await client.aclose()
        await engine.dispose()


def _created(consult_id: str = "c-1", unit: str = "") -> rules.Transition:
    return rules.create(
        consult_id=consult_id,
        patient_id="p-1",
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0 - timedelta(days=1),
        unit=unit,
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


async def test_open_consults_by_unit_and_by_host(stores: Stores) -> None:
    for consult_id, unit in (("a-1", "UMF-1"), ("a-2", "UMF-1"), ("b-1", "UMF-2"), ("x-1", "")):
        await stores.consults.add(_created(consult_id, unit))
    consults = stores.consults
    assert sorted(c.consult_id for c in await consults.open_in_unit("UMF-1")) == ["a-1", "a-2"]
    assert [c.consult_id for c in await consults.open_in_unit("UMF-2")] == ["b-1"]
    assert await consults.open_in_unit("") == []  # a consult without a unit is on no unit's list
    assert await consults.open_in_unit("UMF-9") == []
    assert len(await consults.open_consults()) == 4
    stored = await consults.get("b-1")
    assert stored is not None and stored.unit == "UMF-2"

    # A host lists what they host, whatever its unit; an ended consult leaves every list.
    nurse = Actor(NURSE.participant_id, Role.NURSE, "sid-2", unit="UMF-2")
    for consult_id in ("b-1", "x-1"):
        await execute(consults, consult_id, lambda c: rules.check_in(c, PATIENT, T0))
        await execute(consults, consult_id, lambda c: rules.admit(c, nurse, T0))
    assert sorted(c.consult_id for c in await consults.open_hosted_by(NURSE.participant_id)) == ["b-1", "x-1"]
    assert await consults.open_hosted_by("someone-else") == []
    await execute(consults, "b-1", lambda c: rules.end(c, nurse, T0))
    unit_1_nurse = Actor("n-7", Role.NURSE, "sid-7", unit="UMF-1")
    await execute(consults, "a-2", lambda c: rules.end(c, unit_1_nurse, T0))
    assert await consults.open_in_unit("UMF-2") == []
    assert [c.consult_id for c in await consults.open_in_unit("UMF-1")] == ["a-1"]
    assert [c.consult_id for c in await consults.open_hosted_by(NURSE.participant_id)] == ["x-1"]


def test_the_codec_keeps_the_unit_and_reads_older_records_as_unit_less() -> None:
    consult = _created("c-1", "UMF-3").consult
    assert decode_consult(encode_consult(consult)) == consult
    older = json.loads(encode_consult(consult))
    del older["unit"]  # stored before consults had a unit
    assert decode_consult(json.dumps(older)).unit == ""


async def test_the_patients_nss_is_stored_with_the_consult(stores: Stores) -> None:
    """Kept for the clinical record (``Consult.record_nss``) through every change, in every store."""
    created = rules.create(
        consult_id="c-nss",
        patient_id="p-1",
        patient_nss="92919084431",
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0,
    )
    await stores.consults.add(created)
    await execute(stores.consults, "c-nss", lambda c: rules.check_in(c, PATIENT, T0))
    consult = await stores.consults.get("c-nss")
    assert consult is not None and consult.state is ConsultState.WAITING
    assert (consult.patient_id, consult.patient_nss, consult.record_nss) == (
        "p-1",
        "92919084431",
        "92919084431",
    )


async def test_redis_indexes_consults_stored_before_the_unit_and_host_sets(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        store = RedisConsultStore(client)
        await store.add(_created("c-1", "UMF-1"))
        await execute(store, "c-1", lambda c: rules.check_in(c, PATIENT, T0))
        nurse = Actor(NURSE.participant_id, Role.NURSE, "sid-2", unit="UMF-1")
        await execute(store, "c-1", lambda c: rules.admit(c, nurse, T0))
        await store.add(_created("c-2", "UMF-1"))
        await execute(store, "c-2", lambda c: rules.end(c, nurse, T0))
        # An older version kept only the open set: drop the unit and host sets it did not have.
        await client.delete("tc:consults:open:unit:UMF-1", f"tc:consults:open:host:{NURSE.participant_id}")
        assert await store.open_in_unit("UMF-1") == []
        assert await store.index_open_consults() == 1
        assert await store.index_open_consults() == 1  # idempotent
        assert [c.consult_id for c in await store.open_in_unit("UMF-1")] == ["c-1"]
        assert [c.consult_id for c in await store.open_hosted_by(NURSE.participant_id)] == ["c-1"]
    finally:
        await client.aclose()


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
    for n in range(3):
        await stores.sessions.add(StaffSession(f"sess-{n}", "s-1", now, now + timedelta(hours=1)))
    await stores.sessions.add(StaffSession("other", "s-9", now, now + timedelta(hours=1)))
    assert await stores.sessions.remove_staff("s-1") == 3
    assert await stores.sessions.get("sess-2") is None
    assert await stores.sessions.get("other") is not None
    assert await stores.sessions.remove_staff("s-1") == 0


def _chat(text: str, sender: Actor = PATIENT) -> SessionEvent:
    return SessionEvent(
        "c-1", EventKind.CHAT_MESSAGE, T0, sender.participant_id, sender.role, None, {"text": text}
    )


async def test_chat_messages_sent_at_once_get_one_order_and_a_cap(stores: Stores) -> None:
    await stores.consults.add(_created())
    # Interleaved with other log writes, from many coroutines at once: numbers 1..n, each once.
    numbers = await asyncio.gather(
        *(stores.consults.append_numbered("c-1", _chat(f"m{n}"), cap=30) for n in range(40)),
        *(stores.consults.append_log("c-1", [_chat("not numbered")]) for _ in range(5)),
    )
    given = [n for n in numbers[:40] if n is not None]
    assert sorted(given) == list(range(1, 31)) and numbers[:40].count(None) == 10
    log = await stores.consults.log("c-1")
    seqs = [int(e.detail["seq"]) for e in log if "seq" in e.detail]
    assert seqs == list(range(1, 31))  # stored in the order they were numbered
    by_seq = {int(e.detail["seq"]): e.detail["text"] for e in log if "seq" in e.detail}
    assert len(set(by_seq.values())) == 30
    assert await stores.consults.append_numbered("missing", _chat("x"), cap=30) is None


async def test_a_numbered_entry_keeps_its_text_exactly(stores: Stores) -> None:
    await stores.consults.add(_created())
    text = 'ñ «<script>» "/\\ \n 😀'
    assert await stores.consults.append_numbered("c-1", _chat(text), cap=5) == 1
    (entry,) = [e for e in await stores.consults.log("c-1") if e.kind is EventKind.CHAT_MESSAGE]
    assert entry.detail == {"text": text, "seq": "1"} and entry.at == T0


async def test_an_invitation_link_finds_its_open_consult_by_index(stores: Stores) -> None:
    await stores.consults.add(_created())
    await stores.consults.add(_created("c-2"))
    guest = Invitee("i-1", Role.COMPANION, "Acompañante", "link-1")
    await execute(stores.consults, "c-1", lambda c: rules.invite(c, NURSE, guest, T0))
    found = await stores.consults.invited_to("link-1")
    assert found is not None and found.consult_id == "c-1"
    assert await stores.consults.invited_to("link-2") is None
    await execute(stores.consults, "c-1", lambda c: rules.revoke_invite(c, NURSE, "i-1", T0))
    assert await stores.consults.invited_to("link-1") is None  # revoked: its link names no consult
    other = Invitee("i-2", Role.COMPANION, "Otra", "link-3")
    await execute(stores.consults, "c-2", lambda c: rules.invite(c, NURSE, other, T0))
    await execute(stores.consults, "c-2", lambda c: rules.end(c, NURSE, T0))
    assert await stores.consults.invited_to("link-3") is None  # ended: no longer open


async def test_open_consults_are_listed_by_unit_and_host_from_indexes(stores: Stores) -> None:
    nurse = Actor("n-1", Role.NURSE, "sid-2", unit="umf-1")
    await stores.consults.add(_created("c-1", unit="umf-1"))
    await stores.consults.add(_created("c-2", unit="umf-2"))
    await execute(stores.consults, "c-1", lambda c: rules.check_in(c, PATIENT, T0))
    await execute(stores.consults, "c-1", lambda c: rules.admit(c, nurse, T0, "Enf. Uno"))
    assert [c.consult_id for c in await stores.consults.open_in_unit("umf-1")] == ["c-1"]
    assert [c.consult_id for c in await stores.consults.open_hosted_by(NURSE.participant_id)] == ["c-1"]
    await execute(stores.consults, "c-1", lambda c: rules.end(c, nurse, T0))
    assert await stores.consults.open_in_unit("umf-1") == []
    assert await stores.consults.open_hosted_by(NURSE.participant_id) == []
    assert [c.consult_id for c in await stores.consults.open_consults()] == ["c-2"]


async def _ended_with_chat(consults: ConsultStore) -> None:
    await consults.add(_created())
    await consults.append_numbered("c-1", _chat("antes"), cap=5)
    await execute(consults, "c-1", lambda c: rules.check_in(c, PATIENT, T0))
    await execute(consults, "c-1", lambda c: rules.admit(c, NURSE, T0, "Enf. Uno"))
    await execute(consults, "c-1", lambda c: rules.end(c, NURSE, T0))


async def test_redis_forgets_an_ended_consult_and_its_chat_after_the_retention(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    consults = RedisConsultStore(client, ended_ttl_seconds=2)
    try:
        await consults.add(_created("c-open"))
        await _ended_with_chat(consults)
        await consults.append_log("c-1", [_chat("after the end: a refusal, say")])
        keys = ["tc:consult:c-1", "tc:consult:c-1:log", "tc:consult:c-1:chat_seq"]
        assert all(0 < left <= 2000 for left in [await client.pttl(key) for key in keys])
        assert await client.ttl("tc:consult:c-open") == -1 and await client.ttl("tc:consult:c-open:log") == -1

        async def gone() -> None:
            while await client.exists(*keys):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(gone(), 5)
        assert await consults.get("c-1") is None and await consults.log("c-1") == []
        await consults.append_log("c-1", [_chat("too late")])  # writes nothing to a forgotten consult
        assert not await client.exists("tc:consult:c-1:log")
        assert await consults.get("c-open") is not None
    finally:
        await client.aclose()


async def test_memory_forgets_an_ended_consult_after_the_retention() -> None:
    now = [0.0]
    consults = MemoryConsultStore(ended_ttl_seconds=60, clock=lambda: now[0])
    await consults.add(_created("c-open"))
    await _ended_with_chat(consults)
    now[0] = 59.0
    await execute(consults, "c-open", lambda c: rules.check_in(c, PATIENT, T0))
    assert await consults.get("c-1") is not None  # not yet
    now[0] = 61.0
    await execute(consults, "c-open", lambda c: rules.admit(c, NURSE, T0, "Enf. Uno"))
    assert await consults.get("c-1") is None and await consults.log("c-1") == []
    assert await consults.append_numbered("c-1", _chat("x"), cap=5) is None
    assert (await consults.get("c-open")) is not None
