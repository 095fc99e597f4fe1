"""Message texts, calendar invites and the messaging settings: short, clinical-free, well formed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import icalendar
import pytest

from notifications import gsm7, unsubscribe
from notifications.channels import HttpChannel, HttpSettings, Outgoing
from notifications.invites import invite
from notifications.texts import Text, render
from rooms.patients import register_patient
from rooms.tokens import TokenError, seal, stated_expiry
from services.notifications import MessageKind, first_name, reachable
from web.config import ConfigError, Settings
from web.logs import logged_path

START = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
SHORT_LINK = "https://tc.example.org/l/AbCdEfGhIjKl"
"""A real short link's length (``records.short_links``: 12 characters of code)."""


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_sms_fits_one_part_and_names_only_the_first_name(kind: MessageKind, language: str) -> None:
    text = render(
        kind.value,
        language,
        first_name="Guadalupe",
        starts_at=START,
        zone="America/Los_Angeles",
        link=SHORT_LINK,
        opt_out=SHORT_LINK,
        short=True,
    )
    sms = gsm7.transliterate(text.body)
    assert gsm7.is_gsm7(sms) and gsm7.parts(sms) == 1, (gsm7.septets(sms), sms)
    assert "Guadalupe" in text.body
    assert text.subject and "\n" not in text.subject
    if kind is not MessageKind.NURSE_READY and kind is not MessageKind.SUMMARY_READY:
        assert "02/11/2026 08:00 PST" in text.body  # Los Angeles left summer time the day before


def test_an_email_keeps_its_whole_sentences_and_accents() -> None:
    email = render(
        "confirmation", "es", first_name="María", starts_at=START, zone="Europe/Madrid", link="L", opt_out="U"
    )
    assert email.body == (
        "Hola María: su teleconsulta es el 02/11/2026 17:00 CET. Entre desde su teléfono: L\n"
        "Para no recibir más avisos: U"
    )


def test_sms_text_is_written_in_the_gsm7_alphabet() -> None:
    spanish = "Hola María José: ¿está lista? Mañana, Ángel Núñez (güero) — €5 “ya”… 日本"
    sms = gsm7.transliterate(spanish)
    assert sms == 'Hola Maria José: ¿esta lista? Mañana, Angel Nuñez (güero) - €5 "ya"... ??'
    assert gsm7.is_gsm7(sms) and not gsm7.is_gsm7(spanish)
    assert gsm7.septets("a€") == 3  # the euro sign is in the extension table: an escape and itself
    assert [gsm7.parts("x" * n) for n in (160, 161, 306, 307)] == [1, 2, 2, 3]


def test_a_tokens_stated_expiry_is_read_without_its_key() -> None:
    sealed = seal(b"k" * 32, "s1", {"c": "c-1", "exp": 1_800_000_000})
    assert stated_expiry(sealed) == 1_800_000_000
    assert stated_expiry(seal(b"k" * 32, "u1", {"m": "m-1"})) is None
    assert stated_expiry("not.a.token") is None and stated_expiry("x") is None


def test_the_access_log_never_writes_a_short_links_code() -> None:
    assert logged_path("/l/AbCdEfGhIjKl") == "/l/{code}"
    assert logged_path("/paciente") == "/paciente"


def test_a_message_shows_the_time_in_the_patients_zone_and_language() -> None:
    spanish = render(
        "reminder_1h", "es", first_name="Ana", starts_at=START, zone="Europe/Madrid", link="L", opt_out="U"
    )
    english = render(
        "reminder_1h", "en", first_name="Ana", starts_at=START, zone="Asia/Tokyo", link="L", opt_out="U"
    )
    assert "02/11/2026 17:00 CET" in spanish.body and spanish.body.startswith("Hola Ana")
    assert "03/11/2026 01:00 JST" in english.body and english.body.startswith("Hello Ana")
    assert english.body.endswith("To stop these messages: U")


def test_only_the_first_given_name_and_reachable_channels() -> None:
    patient = register_patient(
        nss="92919084431",
        name="María José Pérez López",
        birth_date=date(1990, 5, 1),
        time_zone="America/Tijuana",
        today=date(2026, 3, 1),
        email="m@example.org",
    )
    assert first_name(patient.name) == "María"
    assert [c.value for c in reachable(patient)] == ["email"]


def test_the_invite_is_valid_icalendar_and_a_cancellation_cancels_the_same_event() -> None:
    long_link = "https://tc.example.org/paciente#t=" + "x" * 300
    now = START - timedelta(days=3)
    request = invite(
        appointment_id="c-1",
        sequence=0,
        start=START,
        end=START + timedelta(minutes=20),
        now=now,
        organizer="avisos@tc.example.org",
        attendee="m@example.org",
        summary="Teleconsulta",
        link=long_link,
    )
    assert all(len(line.encode()) <= 75 for line in request.split("\r\n"))
    parsed = icalendar.Calendar.from_ical(request)
    (event,) = parsed.walk("VEVENT")
    assert parsed["METHOD"] == "REQUEST" and str(event["URL"]) == long_link
    assert (event.decoded("DTSTART"), event.decoded("DTSTAMP")) == (START, now)
    cancel = icalendar.Calendar.from_ical(
        invite(
            appointment_id="c-1",
            sequence=2,
            start=START,
            end=START + timedelta(minutes=20),
            now=now,
            organizer="avisos@tc.example.org",
            attendee="m@example.org",
            summary="Teleconsulta",
            link=None,
            cancelled=True,
        )
    )
    (cancelled,) = cancel.walk("VEVENT")
    assert cancel["METHOD"] == "CANCEL" and str(cancelled["UID"]) == str(event["UID"])
    assert (str(cancelled["STATUS"]), int(cancelled["SEQUENCE"])) == ("CANCELLED", 2)


def test_an_unsubscribe_token_opens_nothing_else() -> None:
    key = unsubscribe.derive_key(b"s" * 32)
    token = unsubscribe.issue(key, "m-1")
    assert unsubscribe.message_of(key, token) == "m-1"
    with pytest.raises(TokenError):
        unsubscribe.message_of(unsubscribe.derive_key(b"t" * 32), token)
    with pytest.raises(TokenError):
        unsubscribe.message_of(key, "v1." + token[3:])


@pytest.mark.parametrize(
    "env",
    [
        {"TC_SMTP_HOST": "mail.example.org"},  # no sender
        {"TC_SMTP_TLS": "ssl"},
        {"TC_SMS_URL": "ftp://provider"},
        {"TC_SMS_AUTH_HEADER": "Bearer abc"},
        {"TC_SMS_CHANNELS": "sms,pigeon"},
        {"TC_NOTIFICATIONS": "maybe"},
        {"TC_NOTIFY_INTERVAL_SECONDS": "0"},
    ],
)
def test_bad_messaging_settings_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_messaging_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            "TC_SMTP_HOST": "mail.example.org",
            "TC_SMTP_PORT": "465",
            "TC_SMTP_TLS": "tls",
            "TC_SMTP_FROM": "avisos@example.org",
            "TC_SMS_URL": "https://sms.example.org/v1/messages",
            "TC_SMS_AUTH_HEADER": "Authorization: Bearer abc",
            "TC_SMS_CHANNELS": "whatsapp",
            "TC_NOTIFICATIONS": "off",
        }
    )
    assert (settings.smtp_port, settings.smtp_security, settings.sms_channels) == (465, "tls", ("whatsapp",))
    assert not settings.notifications
    assert "abc" not in repr(settings)
    assert Settings.from_env({}).sms_url == "" and Settings.from_env({}).notifications


def test_the_provider_body_is_filled_in_once_and_json_escaped() -> None:
    channel = HttpChannel(
        HttpSettings(url="https://sms.example.org", body_template='{"to":"{to}","msg":"{text}","k":"{key}"}'),
        session=None,  # type: ignore[arg-type]  # building the body sends nothing
    )
    body = channel.body(
        Outgoing(
            key="c-1/0:confirmation:sms",
            channel="sms",
            to="+525512345678",
            text=Text("s", 'Di "{to}"\nya'),
            opt_out_url="u",
        )
    )
    assert json.loads(body) == {"to": "+525512345678", "msg": 'Di "{to}"\nya', "k": "c-1/0:confirmation:sms"}
