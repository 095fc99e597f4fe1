from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from rooms import appointments as appts
from rooms.appointments import (
    Appointment,
    AppointmentCancelled,
    AppointmentKind,
    AppointmentStatus,
    BookingRules,
    CheckInClosed,
    CheckInNotOpen,
    CheckInPolicy,
    DoubleBooking,
    InvalidAppointmentState,
    LinkExpired,
    LinkNotYetValid,
    LinkRevoked,
    PastTime,
    SlotTaken,
    TimeWindow,
)
from rooms.hours import OutsideServiceHours, ServiceHours
from rooms.patients import Patient, register_patient
from rooms.slots import NotASlot, SlotPolicy, TooFarAhead, slots_for_local_day
from rooms.zones import resolve_zone

RULES = BookingRules()
MIN = timedelta(minutes=1)
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)  # Monday 06:00 in Mexico City, before opening
SLOT = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Monday 10:00 in Mexico City


def patient(nss: str = "92919084431", zone: str = "America/Mexico_City") -> Patient:
    return register_patient(
        nss=nss,
        name="Paciente",
        birth_date=date(1990, 1, 1),
        time_zone=zone,
        today=date(2026, 3, 2),
        phone="+525512345678",
    )


OTHER_NSS = "79927398713"


def book(
    start: datetime = SLOT,
    *,
    who: Patient | None = None,
    unit: str = "umf-1",
    existing: tuple[Appointment, ...] = (),
    rules: BookingRules = RULES,
    now: datetime = NOW,
    appointment_id: str = "a-1",
) -> Appointment:
    return appts.book(
        appointment_id=appointment_id,
        patient=who or patient(),
        unit=unit,
        kind=AppointmentKind.FIRST,
        start=start,
        rules=rules,
        existing=existing,
        now=now,
    )


def test_a_booking_keeps_the_instant_the_wall_clock_slot_and_the_windows() -> None:
    booked = book()
    assert booked.status is AppointmentStatus.BOOKED
    assert (booked.start, booked.end) == (SLOT, SLOT + 20 * MIN)
    assert booked.service_zone == "America/Mexico_City"
    assert booked.service_wall_start == datetime(2026, 3, 2, 10, 0)
    assert booked.check_in_window == TimeWindow(SLOT - 15 * MIN, SLOT + 30 * MIN)
    assert booked.join_window == booked.check_in_window
    assert booked.link_id == "a-1.0"
    assert booked.booked_at == NOW and booked.version == 0


def test_windows_are_clipped_to_service_hours() -> None:
    first = book(datetime(2026, 3, 2, 14, tzinfo=UTC))  # 08:00: nobody waits from 07:45
    assert first.check_in_window == TimeWindow(
        datetime(2026, 3, 2, 14, tzinfo=UTC), datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    )
    last = book(datetime(2026, 3, 3, 1, 40, tzinfo=UTC))  # 19:40: the grace ends at the 20:00 close
    assert last.check_in_window.not_after == datetime(2026, 3, 3, 2, tzinfo=UTC)


def test_a_round_the_clock_service_does_not_close_check_in_at_midnight() -> None:
    rules = replace(RULES, hours=ServiceHours.always_open())
    midnight = datetime(2026, 3, 3, 6, tzinfo=UTC)  # 00:00 in Mexico City
    last = book(midnight - 20 * MIN, rules=rules)
    assert last.check_in_window == TimeWindow(midnight - 35 * MIN, midnight + 10 * MIN)
    first = book(midnight, rules=rules, appointment_id="a-2")
    assert first.check_in_window == TimeWindow(midnight - 15 * MIN, midnight + 30 * MIN)
    arrived = appts.check_in(first, midnight - 10 * MIN)  # 23:50: waits for the 00:00 appointment
    assert arrived.status is AppointmentStatus.CHECKED_IN
    assert appts.check_in(last, midnight + 5 * MIN).status is AppointmentStatus.CHECKED_IN


@pytest.mark.parametrize(
    ("start", "now", "error"),
    [
        (NOW - 60 * MIN, NOW, PastTime),
        (SLOT, SLOT, PastTime),
        (datetime(2026, 3, 2, 13, 40, tzinfo=UTC), NOW, OutsideServiceHours),  # 07:40 on a weekday
        (datetime(2026, 3, 3, 2, tzinfo=UTC), NOW, OutsideServiceHours),  # 20:00
        (SLOT + 5 * MIN, NOW, NotASlot),
        (SLOT + timedelta(days=91), NOW, TooFarAhead),
    ],
)
def test_booking_errors(start: datetime, now: datetime, error: type[Exception]) -> None:
    with pytest.raises(error):
        book(start, now=now)


def test_a_slot_is_taken_up_to_its_capacity_in_its_unit() -> None:
    first = book()
    with pytest.raises(SlotTaken) as caught:
        book(who=patient(OTHER_NSS), existing=(first,), appointment_id="a-2")
    assert caught.value.code == "slot_taken"
    assert book(who=patient(OTHER_NSS), existing=(first,), unit="umf-2", appointment_id="a-2")  # other unit
    two_nurses = replace(RULES, slots=SlotPolicy(capacity=2))
    assert book(who=patient(OTHER_NSS), existing=(first,), rules=two_nurses, appointment_id="a-2")
    cancelled = appts.cancel(first, NOW)
    assert book(who=patient(OTHER_NSS), existing=(cancelled,), appointment_id="a-2")


def test_a_patient_cannot_be_in_two_places_at_once() -> None:
    first = book()
    with pytest.raises(DoubleBooking) as caught:
        book(unit="umf-2", existing=(first,), appointment_id="a-2")  # any unit
    assert caught.value.code == "double_booking"
    longer = replace(RULES, slots=SlotPolicy(length=timedelta(minutes=30)))
    with pytest.raises(DoubleBooking):  # overlapping, not only the same start
        book(
            SLOT - 30 * MIN + 30 * MIN,
            existing=(replace(first, end=SLOT + 30 * MIN),),
            rules=longer,
            appointment_id="a-2",
        )
    assert book(SLOT + 20 * MIN, existing=(first,), appointment_id="a-2")  # back to back is fine


def test_double_booking_is_reported_before_a_taken_slot() -> None:
    first = book()
    with pytest.raises(DoubleBooking):
        book(existing=(first,), appointment_id="a-2")


def test_reschedule_moves_the_slot_and_invalidates_the_old_link() -> None:
    booked = book()
    moved = appts.reschedule(booked, start=SLOT + 40 * MIN, rules=RULES, existing=(booked,), now=NOW)
    assert (moved.start, moved.end, moved.reschedules, moved.version) == (
        SLOT + 40 * MIN,
        SLOT + 60 * MIN,
        1,
        1,
    )
    assert moved.service_wall_start == datetime(2026, 3, 2, 10, 40)
    assert moved.link_id == "a-1.1"
    with pytest.raises(LinkRevoked):
        appts.verify_link(moved, booked.link_id, SLOT + 30 * MIN)
    # Its own old slot does not count against it:
    assert appts.reschedule(booked, start=SLOT + 20 * MIN, rules=RULES, existing=(booked,), now=NOW)


def test_reschedule_is_checked_like_a_booking() -> None:
    booked = book()
    other = book(SLOT + 40 * MIN, who=patient(OTHER_NSS), appointment_id="a-2")
    with pytest.raises(SlotTaken):
        appts.reschedule(booked, start=other.start, rules=RULES, existing=(booked, other), now=NOW)
    with pytest.raises(PastTime):
        appts.reschedule(booked, start=NOW - 20 * MIN, rules=RULES, existing=(), now=NOW)


def test_reschedule_after_an_unserved_check_in_starts_over() -> None:
    waiting = appts.check_in(book(), SLOT)
    again = appts.reschedule(
        waiting, start=SLOT + timedelta(days=1), rules=RULES, existing=(), now=SLOT + 60 * MIN
    )
    assert again.status is AppointmentStatus.BOOKED and again.checked_in_at is None


def test_reschedule_refused_when_over_or_gone() -> None:
    booked = book()
    with pytest.raises(CheckInClosed):
        appts.reschedule(
            booked, start=SLOT + timedelta(days=1), rules=RULES, existing=(), now=SLOT + 30 * MIN
        )
    for done in (appts.cancel(booked, NOW), appts.admit(appts.check_in(booked, SLOT), SLOT)):
        with pytest.raises(InvalidAppointmentState) as caught:
            appts.reschedule(done, start=SLOT + timedelta(days=1), rules=RULES, existing=(), now=NOW)
        assert caught.value.code == "invalid_appointment_state"


def test_check_in_window() -> None:
    booked = book()
    with pytest.raises(CheckInNotOpen) as early:
        appts.check_in(booked, SLOT - 15 * MIN - timedelta(microseconds=1))
    assert early.value.opens == SLOT - 15 * MIN
    arrived = appts.check_in(booked, SLOT - 15 * MIN)
    assert arrived.status is AppointmentStatus.CHECKED_IN and arrived.checked_in_at == SLOT - 15 * MIN
    assert appts.check_in(arrived, SLOT) is arrived  # a reload keeps the first check-in time
    with pytest.raises(CheckInClosed):
        appts.check_in(arrived, SLOT + 30 * MIN)  # after the window a waiting patient uses rejoin
    late = appts.check_in(booked, SLOT + 30 * MIN - timedelta(microseconds=1))
    assert late.status is AppointmentStatus.CHECKED_IN
    with pytest.raises(CheckInClosed):
        appts.check_in(booked, SLOT + 30 * MIN)


def test_check_in_refused_for_cancelled_no_show_and_admitted() -> None:
    booked = book()
    with pytest.raises(AppointmentCancelled):
        appts.check_in(appts.cancel(booked, NOW), SLOT)
    with pytest.raises(CheckInClosed):
        appts.check_in(appts.mark_no_show(booked, SLOT + 30 * MIN), SLOT + 31 * MIN)
    with pytest.raises(InvalidAppointmentState):
        appts.check_in(appts.admit(appts.check_in(booked, SLOT), SLOT), SLOT)


def test_no_show_only_after_the_window_closes() -> None:
    booked = book()
    assert not appts.no_show_due(booked, SLOT + 30 * MIN - timedelta(microseconds=1))
    with pytest.raises(InvalidAppointmentState):
        appts.mark_no_show(booked, SLOT + 29 * MIN)
    gone = appts.mark_no_show(booked, SLOT + 30 * MIN)
    assert gone.status is AppointmentStatus.NO_SHOW and gone.closed_at == SLOT + 30 * MIN
    assert not appts.no_show_due(appts.check_in(booked, SLOT), SLOT + timedelta(hours=2))


def test_cancel_and_admit() -> None:
    booked = book()
    cancelled = appts.cancel(booked, NOW)
    assert cancelled.status is AppointmentStatus.CANCELLED and cancelled.link_generation == 1
    assert appts.cancel(cancelled, NOW) is cancelled
    assert appts.cancel(appts.check_in(booked, SLOT), SLOT).status is AppointmentStatus.CANCELLED
    admitted = appts.admit(appts.check_in(booked, SLOT), SLOT + MIN)
    assert admitted.admitted_at == SLOT + MIN
    with pytest.raises(InvalidAppointmentState):
        appts.cancel(admitted, SLOT)
    with pytest.raises(InvalidAppointmentState):
        appts.admit(booked, SLOT)


def test_the_join_link() -> None:
    booked = book()
    with pytest.raises(LinkNotYetValid):
        appts.verify_link(booked, booked.link_id, SLOT - 16 * MIN)
    appts.verify_link(booked, booked.link_id, SLOT - 15 * MIN)
    with pytest.raises(LinkExpired):
        appts.verify_link(booked, booked.link_id, SLOT + 30 * MIN)
    revoked = appts.revoke_link(booked)
    with pytest.raises(LinkRevoked):
        appts.verify_link(revoked, booked.link_id, SLOT)
    appts.verify_link(revoked, revoked.link_id, SLOT)
    waiting = appts.check_in(booked, SLOT)
    appts.verify_link(waiting, waiting.link_id, SLOT + timedelta(hours=3))  # still waiting: comes back
    in_call = appts.admit(waiting, SLOT + timedelta(hours=3))
    appts.verify_link(in_call, in_call.link_id, SLOT + timedelta(hours=4))  # the consult decides now
    with pytest.raises(AppointmentCancelled):
        appts.verify_link(appts.cancel(booked, NOW), booked.link_id, SLOT)
    no_show = appts.mark_no_show(booked, SLOT + 30 * MIN)
    with pytest.raises(LinkExpired):
        appts.verify_link(no_show, no_show.link_id, SLOT)


def test_window_as_token_seconds_never_widens_it() -> None:
    window = TimeWindow(
        datetime(2026, 3, 2, 16, 0, 0, 500, tzinfo=UTC), datetime(2026, 3, 2, 16, 30, 0, 999, tzinfo=UTC)
    )
    first, last = window.epoch_seconds
    assert first == int(datetime(2026, 3, 2, 16, 0, 1, tzinfo=UTC).timestamp())
    assert last == int(datetime(2026, 3, 2, 16, 30, tzinfo=UTC).timestamp())


def test_check_in_policy_refuses_negative_offsets() -> None:
    with pytest.raises(ValueError):
        CheckInPolicy(opens_before=-MIN)


# --- daylight-saving time and zone rule changes ----------------------------------------------------


def test_a_madrid_booking_made_before_the_eu_change_does_not_move_after_it() -> None:
    madrid = resolve_zone("Europe/Madrid")
    before_change = datetime(2026, 10, 20, 9, tzinfo=UTC)  # Madrid is on CEST (+2)
    offered = slots_for_local_day(RULES.hours, RULES.slots, date(2026, 10, 26), madrid)
    chosen = next(s for s in offered if s.start.hour == 17)  # "17:00" on the Monday, CET (+1)
    booked = book(chosen.slot.start, who=patient(zone="Europe/Madrid"), now=before_change)
    assert booked.start == datetime(2026, 10, 26, 16, tzinfo=UTC)
    assert booked.service_wall_start == datetime(2026, 10, 26, 10, 0)  # 10:00 at the clinic
    assert booked.shown_in()[0].isoformat() == "2026-10-26T17:00:00+01:00"  # what the patient chose
    assert appts.follow_zone_rules(booked, RULES) is booked  # nothing to re-anchor


def test_a_chicago_booking_across_the_us_change() -> None:
    chicago = resolve_zone("America/Chicago")
    booked = book(
        datetime(2026, 11, 2, 16, tzinfo=UTC),
        who=patient(zone="America/Chicago"),
        now=datetime(2026, 10, 20, tzinfo=UTC),
    )
    assert booked.shown_in(chicago)[0].strftime("%H:%M %z") == "10:00 -0600"
    assert booked.shown_in(RULES.hours.zone)[0].strftime("%H:%M") == "10:00"
    # The same wall-clock slot a week earlier is an hour later on the Chicago wall, not the clinic's.
    earlier = book(
        datetime(2026, 10, 26, 16, tzinfo=UTC),
        who=patient(zone="America/Chicago"),
        now=datetime(2026, 10, 20, tzinfo=UTC),
    )
    assert earlier.shown_in(chicago)[0].strftime("%H:%M %z") == "11:00 -0500"


def test_mexicos_2022_abolition_re_anchors_bookings_made_under_the_old_rules() -> None:
    # Booked in September 2022 for Monday 2023-04-03 at 08:00 clinic time. Under the rules then in
    # force that date would have been CDT (UTC-5): the instant stored was 13:00 UTC.
    booked_under_old_rules = Appointment(
        appointment_id="old-1",
        patient_id="92919084431",
        unit="umf-1",
        kind=AppointmentKind.FOLLOW_UP,
        start=datetime(2023, 4, 3, 13, tzinfo=UTC),
        end=datetime(2023, 4, 3, 13, 20, tzinfo=UTC),
        service_zone="America/Mexico_City",
        service_wall_start=datetime(2023, 4, 3, 8, 0),
        patient_zone="America/Chicago",
        check_in_window=TimeWindow(
            datetime(2023, 4, 3, 13, tzinfo=UTC), datetime(2023, 4, 3, 13, 30, tzinfo=UTC)
        ),
        booked_at=datetime(2022, 9, 1, tzinfo=UTC),
    )
    moved = appts.follow_zone_rules(booked_under_old_rules, RULES)
    assert moved.start == datetime(2023, 4, 3, 14, tzinfo=UTC)  # 08:00 CST, the law since 2022-10-30
    assert moved.end == datetime(2023, 4, 3, 14, 20, tzinfo=UTC)
    assert moved.check_in_window == TimeWindow(
        datetime(2023, 4, 3, 14, tzinfo=UTC), datetime(2023, 4, 3, 14, 30, tzinfo=UTC)
    )
    assert moved.link_generation == 1 and moved.version == 1  # the patient must get a new link
    assert moved.start.astimezone(RULES.hours.zone).strftime("%H:%M") == "08:00"
    assert appts.follow_zone_rules(moved, RULES) is moved
    # A wall-clock time the service no longer opens at still moves, window and all.
    closed_rules = replace(RULES, hours=replace(RULES.hours, exceptions={date(2023, 4, 3): ()}))
    shifted = appts.follow_zone_rules(booked_under_old_rules, closed_rules)
    assert shifted.check_in_window.not_before == datetime(2023, 4, 3, 14, tzinfo=UTC)
    cancelled = appts.cancel(booked_under_old_rules, datetime(2022, 9, 2, tzinfo=UTC))
    assert appts.follow_zone_rules(cancelled, RULES) is cancelled
