"""Inter-unit sessions: who creates them, the purposes and specialties, and at most 8 sites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms import consult as rules
from rooms import interunit
from rooms.consult import Actor, ConsultKind, ConsultState, RuleViolation, ViolationCode
from rooms.interunit import InterunitError, InterunitErrorCode, Purpose
from rooms.roles import Role
from rooms.store.codec import decode_consult, encode_consult

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
COORDINATOR = Actor("coord-1", Role.COORDINATOR, "sid-c")


def new_session(**overrides: object) -> rules.Consult:
    arguments: dict[str, object] = {
        "session_id": "s-1",
        "coordinator": COORDINATOR,
        "coordinator_name": "Dra. Coordinadora",
        "purpose": Purpose.SURGICAL_PLANNING,
        "specialty": "Cardiología",
        "specialties": interunit.DEFAULT_SPECIALTIES,
        "scheduled_at": T0,
        "duration": timedelta(hours=1),
        "host_clues": "dfims000123",
        "host_unit": "HGZ 1",
        "at": T0,
    }
    arguments.update(overrides)
    return interunit.create(**arguments).consult  # type: ignore[arg-type]


def site(n: int, role: Role = Role.PHYSICIAN) -> rules.Invitee:
    return interunit.site_invitee(
        f"site-{n}", f"tok-{n}", role=role, name=f"Dr. {n}", clues=f"MCSSA{n:06d}", unit=f"Hospital {n}"
    )


def test_a_coordinator_creates_a_live_session_she_hosts() -> None:
    session = new_session()
    assert session.unit == ""
    assert new_session(unit="HGZ-1").unit == "HGZ-1"  # the coordinator's unit lists the session
    assert session.kind is ConsultKind.INTERUNIT and session.state is ConsultState.LIVE
    assert session.host_id == COORDINATOR.participant_id
    view = interunit.to_json(session)
    assert view["purpose"] == "surgical_planning"
    assert view["purpose_label"] == {"es": "Planeación quirúrgica", "en": "Surgical planning"}
    assert view["sites"] == [
        {
            "site_id": "coord-1",
            "clues": "DFIMS000123",
            "unit_name": "HGZ 1",
            "name": "Dra. Coordinadora",
            "role": "coordinator",
            "host": True,
            "in_call": False,
            "token_id": None,
        }
    ]
    assert rules.join(session, COORDINATOR, T0).consult.in_call == {"coord-1"}
    assert decode_consult(encode_consult(session)) == session


def test_every_purpose_has_spanish_and_english_labels() -> None:
    for purpose in Purpose:
        assert set(interunit.PURPOSE_LABELS[purpose]) == {"es", "en"}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.COORDINATOR])
def test_only_a_coordinator_creates_sessions(role: Role) -> None:
    with pytest.raises(RuleViolation) as caught:
        new_session(coordinator=Actor("x", role))
    assert caught.value.code is ViolationCode.FORBIDDEN
    with pytest.raises(RuleViolation):
        new_session(coordinator=Actor("x", Role.COORDINATOR, via_link=True))


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"specialty": "Astrología"}, InterunitErrorCode.UNKNOWN_SPECIALTY),
        ({"host_clues": "123"}, InterunitErrorCode.BAD_INPUT),
        ({"duration": timedelta(minutes=5)}, InterunitErrorCode.BAD_INPUT),
        ({"scheduled_at": datetime(2026, 11, 23, 15, 0)}, InterunitErrorCode.BAD_INPUT),
    ],
)
def test_bad_session_input_is_refused(overrides: dict[str, object], code: InterunitErrorCode) -> None:
    with pytest.raises(InterunitError) as caught:
        new_session(**overrides)
    assert caught.value.code is code


def test_up_to_eight_sites_then_a_clear_refusal() -> None:
    session = new_session()
    for n in range(1, interunit.MAX_SITES):
        session = interunit.add_site(session, COORDINATOR, site(n), T0).consult
    assert len(interunit.sites(session)) == interunit.MAX_SITES == 8
    with pytest.raises(InterunitError) as caught:
        interunit.add_site(session, COORDINATOR, site(99), T0)
    assert caught.value.code is InterunitErrorCode.TOO_MANY_SITES
    # Everyone fits in the call: the coordinator and the 7 invited sites.
    session = rules.join(session, COORDINATOR, T0).consult
    for n in range(1, interunit.MAX_SITES):
        session = rules.join(session, Actor(f"site-{n}", Role.PHYSICIAN, via_link=True), T0).consult
    assert len(session.in_call) == 8
    # Removing a site frees its place.
    session = interunit.remove_site(session, COORDINATOR, "site-3", T0).consult
    assert "site-3" not in session.in_call
    assert interunit.add_site(session, COORDINATOR, site(99), T0).consult.invitees[-1].unit_clues == (
        "MCSSA000099"
    )


def test_site_rules() -> None:
    session = new_session()
    with pytest.raises(RuleViolation) as caught:
        interunit.add_site(session, COORDINATOR, site(1, Role.COMPANION), T0)
    assert caught.value.code is ViolationCode.FORBIDDEN
    with pytest.raises(RuleViolation) as caught:
        interunit.add_site(session, Actor("coord-2", Role.COORDINATOR), site(1), T0)
    assert caught.value.code is ViolationCode.NOT_YOUR_CONSULT
    with pytest.raises(InterunitError):
        interunit.site_invitee("s", "t", role=Role.NURSE, name="n", clues="bad", unit="u")
    a_consult = rules.create(
        consult_id="c",
        patient_id="p",
        patient_name="n",
        appointment_start=T0,
        appointment_end=T0 + timedelta(minutes=20),
        created_by="x",
        at=T0,
    ).consult
    with pytest.raises(InterunitError) as not_found:
        interunit.add_site(a_consult, COORDINATOR, site(1), T0)
    assert not_found.value.code is InterunitErrorCode.NOT_FOUND


@given(st.from_regex(r"[A-Za-z]{5}[0-9]{6}", fullmatch=True))
def test_clues_codes_are_normalised_to_upper_case(code: str) -> None:
    assert interunit.normalize_clues(f" {code} ") == code.upper()
