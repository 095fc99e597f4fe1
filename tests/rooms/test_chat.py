"""The chat's rules: who may take part in which state, what a message may be, order and read marks."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms import chat
from rooms import consult as rules
from rooms.consult import Actor, Consult, ConsultState, Invitee, RuleViolation
from rooms.roles import Role
from rooms.store.memory import MemoryConsultStore

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PATIENT = Actor("p-1", Role.PATIENT, "sid-p", via_link=True)
NURSE = Actor("n-1", Role.NURSE, "sid-n", unit="UMF-1")
COLLEAGUE = Actor("n-2", Role.NURSE, "sid-c", unit="UMF-1")
OTHER_UNIT = Actor("n-3", Role.NURSE, "sid-o", unit="UMF-2")
SUPERVISOR = Actor("s-1", Role.SUPERVISOR, "sid-s", unit="UMF-1")
GUEST = Actor("g-1", Role.INTERPRETER, "sid-g", via_link=True)


def _consult(state: ConsultState = ConsultState.WAITING) -> Consult:
    created = rules.create(
        consult_id="c-1",
        patient_id="p-1",
        patient_name="Paciente",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0,
        unit="UMF-1",
    ).consult
    return replace(created, state=state, invitees=(Invitee("g-1", Role.INTERPRETER, "Intérprete"),))


def _code(consult: Consult, actor: Actor) -> str:
    try:
        chat.require_chat(consult, actor)
    except RuleViolation as error:
        return error.code
    return "ok"


def test_who_may_chat_in_each_state() -> None:
    waiting = _consult()
    assert [_code(waiting, a) for a in (PATIENT, NURSE, COLLEAGUE, OTHER_UNIT, SUPERVISOR, GUEST)] == [
        "ok",
        "ok",
        "ok",
        "wrong_unit",
        "forbidden",
        "invalid_state",
    ]
    assert _code(_consult(ConsultState.SCHEDULED), PATIENT) == "invalid_state"
    live = replace(_consult(ConsultState.LIVE), host_id="n-1", admitted=frozenset({"n-1", "p-1", "g-1"}))
    assert [_code(live, a) for a in (PATIENT, NURSE, COLLEAGUE, GUEST)] == [
        "ok",
        "ok",
        "not_your_consult",
        "ok",
    ]
    assert _code(replace(live, denied=frozenset({"g-1"})), GUEST) == "denied"
    assert _code(replace(live, state=ConsultState.ENDED), NURSE) == "consult_ended"
    stranger = Actor("x-9", Role.COMPANION, "sid-x", via_link=True)
    assert _code(live, stranger) == "not_your_consult"


def test_a_message_is_kept_as_plain_text_within_its_limits() -> None:
    assert chat.clean_text("  hola <3\u202e\u200b\n ") == "hola <3"
    with pytest.raises(chat.ChatMarkup):
        chat.clean_text("  <b>hola</b>\u202e\u200b\n ")
    assert chat.clean_text("línea 1\nlínea 2") == "línea 1\nlínea 2"
    with pytest.raises(chat.ChatEmpty):
        chat.clean_text("\u200b \t")
    with pytest.raises(chat.ChatTooLong):
        chat.clean_text("a" * (chat.MAX_TEXT + 1))
    assert chat.clean_text("a" * chat.MAX_TEXT) == "a" * chat.MAX_TEXT


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(["p-1", "n-1", "g-1"]), st.integers(0, 3)), min_size=1, max_size=25
    )
)
def test_messages_sent_in_any_interleaving_come_out_in_one_order(plan: list[tuple[str, int]]) -> None:
    """Senders race (each yields a random number of times before appending): every message gets
    one number, the numbers are 1..n without gaps, and each sender's messages keep their order."""
    store = MemoryConsultStore()
    consult = _consult(ConsultState.LIVE)
    actors = {"p-1": PATIENT, "n-1": NURSE, "g-1": GUEST}

    async def race() -> list[chat.ChatMessage]:
        await store.add(rules.Transition(consult, ()))

        async def send(index: int, sender: str, pauses: int) -> None:
            for _ in range(pauses):
                await asyncio.sleep(0)
            event = chat.message_event(consult, actors[sender], sender, f"{sender}:{index}", T0)
            assert await store.append_numbered("c-1", event, chat.MAX_MESSAGES) is not None

        per_sender: dict[str, list[tuple[int, int]]] = {}
        for index, (sender, pauses) in enumerate(plan):
            per_sender.setdefault(sender, []).append((index, pauses))

        async def sender_loop(sender: str, items: list[tuple[int, int]]) -> None:
            for index, pauses in items:  # one person sends one message after the other
                await send(index, sender, pauses)

        await asyncio.gather(*(sender_loop(s, items) for s, items in per_sender.items()))
        log = await store.log("c-1")
        # Whatever order the entries are read in, the numbers give the one order.
        half = len(plan) // 2
        assert [m.seq for m in chat.messages(reversed(log), after=half)] == list(
            range(half + 1, len(plan) + 1)
        )
        return chat.messages(log)

    found = asyncio.run(race())
    assert [m.seq for m in found] == list(range(1, len(plan) + 1))
    for sender in {s for s, _ in plan}:
        own = [int(m.text.split(":")[1]) for m in found if m.sender_id == sender]
        assert own == sorted(own)


def test_read_marks_only_move_forward() -> None:
    marks = {"p-1": 3}
    assert chat.advances_read(marks, "p-1", 2, newest=5) is None
    assert chat.advances_read(marks, "p-1", 9, newest=5) == 5
    assert chat.advances_read(marks, "n-1", 1, newest=5) == 1
    assert chat.advances_read({}, "n-1", 1, newest=0) is None
