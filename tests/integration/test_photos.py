"""Photos through the real server: the patient's upload reaches the nurse clean, and every bad
upload is refused with its code and nothing stored."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from PIL import Image
from sqlalchemy import func, select

from records.photos import PhotoArchive, PhotoRow
from rooms import chat as chat_rules
from rooms import photos as photo_rules
from rooms import tokens
from rooms.consult import Actor
from rooms.photos import CONSENT_STATEMENT, MAX_PHOTO_BYTES, Photo
from rooms.roles import Role
from rooms.session_log import EventKind
from tests.integration.conftest import Harness
from web.upload_limit import UploadPolicy

GPS_LATITUDE = 2  # EXIF GPS IFD tag


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (200, 60, 40))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90°
    exif.get_ifd(0x8825)[GPS_LATITUDE] = (19.0, 25.0, 42.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def image_bytes(kind: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (64, 48), (10, 120, 200)).save(out, kind)
    return out.getvalue()


async def _upload(
    harness: Harness,
    data: bytes,
    *,
    token: str | None = None,
    consult_id: str | None = None,
    kind: str = "image/jpeg",
) -> tuple[int, dict[str, Any]]:
    return (await _upload_answer(harness, data, token=token, consult_id=consult_id, kind=kind))[:2]


async def _upload_answer(
    harness: Harness,
    data: bytes,
    *,
    token: str | None = None,
    consult_id: str | None = None,
    kind: str = "image/jpeg",
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The upload's status, JSON body and headers."""
    headers = {"Content-Type": kind, "Origin": harness.url}
    if token != "":
        headers["Authorization"] = f"Bearer {token or harness.patient_token}"
    url = f"{harness.url}/api/consults/{consult_id or harness.consult_id}/photos"
    async with aiohttp.ClientSession() as http, http.post(url, data=data, headers=headers) as response:
        return response.status, await response.json(), dict(response.headers)


async def _stored(harness: Harness) -> tuple[int, int]:
    async with harness.services.engine.connect() as connection:
        photos = int(await connection.scalar(select(func.count()).select_from(PhotoRow)) or 0)
    log = await harness.services.stores.consults.log(harness.consult_id)
    return photos, sum(1 for e in log if e.kind is EventKind.CHAT_MESSAGE)


async def _get(harness: Harness, cookie: str, photo_id: str) -> tuple[int, dict[str, str], bytes]:
    url = f"{harness.url}/api/consults/{harness.consult_id}/photos/{photo_id}"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Cookie": f"tc_session={cookie}"}) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_a_photo_reaches_the_nurse_upright_without_exif_and_served_only_as_an_image(
    harness: Harness,
) -> None:
    patient, _ = await harness.patient()
    nurse, nurse_events = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    status, shared = await _upload(harness, jpeg_with_gps())
    assert status == 201, shared
    photo = shared["photo"]
    assert photo["content_type"] == "image/jpeg" and (photo["width"], photo["height"]) == (480, 640)
    heard = await nurse_events.wait_for("chat:message", lambda m: m["photo_id"] == photo["photo_id"])
    assert heard["from"]["role"] == "patient"

    cookie = await harness.login()
    status, headers, body = await _get(harness, cookie, photo["photo_id"])
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert headers["Content-Disposition"] == "inline"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    served = Image.open(io.BytesIO(body))
    assert served.format == "JPEG" and served.size == (480, 640)
    assert len(served.getexif()) == 0 and "exif" not in served.info
    assert b"CameraMaker" not in body
    # The host keeps it, the patient's consent noted.
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    url = f"{harness.url}/api/consults/{harness.consult_id}/photos/{photo['photo_id']}/keep"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url, json={"consent": True}, headers={"Cookie": f"tc_session={cookie}", "Origin": harness.url}
        ) as r,
    ):
        assert r.status == 200 and (await r.json())["photo"]["kept"] is True


async def test_png_and_webp_pass_and_keep_their_type(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    for kind, data in (("image/png", image_bytes("PNG", "RGBA")), ("image/webp", image_bytes("WEBP"))):
        status, shared = await _upload(harness, data, kind="application/octet-stream")
        assert status == 201 and shared["photo"]["content_type"] == kind


async def test_bad_uploads_are_refused_and_nothing_is_stored(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    html = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
    gif_polyglot = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(1)//" + b"\x00" * 32
    truncated = jpeg_with_gps()[:600]
    cases: list[tuple[bytes, str, int, str]] = [
        (svg, "image/svg+xml", 415, "photo_type"),
        (html, "image/jpeg", 415, "photo_type"),  # HTML renamed .jpg
        (gif_polyglot, "image/jpeg", 415, "photo_type"),
        (image_bytes("GIF"), "image/gif", 415, "photo_type"),
        (truncated, "image/jpeg", 415, "photo_type"),
        (b"", "image/jpeg", 415, "photo_type"),
        (b"\xff\xd8" + b"\x00" * (MAX_PHOTO_BYTES + 1), "image/jpeg", 413, "photo_too_large"),
    ]
    for data, kind, status, code in cases:
        harness.clock.advance(timedelta(seconds=UploadPolicy().seconds_per_photo))  # not a flood
        got, answer = await _upload(harness, data, kind=kind)
        assert (got, answer["error"]["code"]) == (status, code), (kind, len(data), answer)
    assert await _stored(harness) == (0, 0)


async def test_a_polyglot_jpeg_is_stored_without_what_it_carried(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    polyglot = image_bytes("JPEG") + b"<html><script>alert(1)</script></html>PK\x03\x04"
    status, shared = await _upload(harness, polyglot)
    assert status == 201
    _, headers, body = await _get(harness, await harness.login(), shared["photo"]["photo_id"])
    assert headers["Content-Type"] == "image/jpeg" and b"<script>" not in body and b"PK\x03\x04" not in body


async def test_photos_to_or_from_a_consult_one_is_not_in_are_refused(harness: Harness) -> None:
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    good = image_bytes("JPEG")
    claims = tokens.verify(
        harness.services.settings.secret_key, harness.patient_token, harness.clock().timestamp()
    )
    elsewhere = tokens.issue(harness.services.settings.secret_key, replace(claims, consult_id="c-elsewhere"))
    status, answer = await _upload(harness, good, token=elsewhere)
    assert (status, answer["error"]["code"]) == (403, "not_your_consult")
    assert (await _upload(harness, good, token=""))[0] == 401
    assert (await _upload(harness, good, token="forged.token"))[0] == 401
    nurse, _ = await harness.nurse()
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    invited = await nurse.call("consult:invite", {"role": "companion", "name": "Acompañante Uno"})
    status, answer = await _upload(harness, good, token=invited["token"])
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    assert await _stored(harness) == (0, 0)
    # Staff of another unit do not see a stored photo; nor does anyone without a session.
    status, shared = await _upload(harness, good)
    assert status == 201
    other = await harness.staff_cookie("otra", Role.NURSE, "UMF-9", "Enfermera Otra")
    assert (await _get(harness, other, shared["photo"]["photo_id"]))[0] == 403
    assert (await _get(harness, "no-such-session", shared["photo"]["photo_id"]))[0] == 401


async def _fill_chat(harness: Harness, patient: socketio.AsyncClient) -> None:
    """The consult's chat at :data:`rooms.chat.MAX_MESSAGES`, written straight into the store."""
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None
    hello = await patient.call("hello", {})
    actor = Actor(hello["participant_id"], Role.PATIENT, via_link=True)
    store = harness.services.stores.consults
    for _ in range(chat_rules.MAX_MESSAGES - await _chat_count(harness)):
        event = chat_rules.message_event(consult, actor, "P", "x", harness.clock())
        assert await store.append_numbered(harness.consult_id, event, chat_rules.MAX_MESSAGES) is not None


async def _chat_count(harness: Harness) -> int:
    return (await _stored(harness))[1]


async def _photo_count(harness: Harness) -> int:
    return (await _stored(harness))[0]


async def test_every_refused_upload_leaves_no_photo(harness: Harness) -> None:
    """Before checking in, or with the chat full: refused, and no photo in the database."""
    patient, _ = await harness.patient()
    good = image_bytes("JPEG")
    status, answer = await _upload(harness, good)
    assert (status, answer["error"]["code"]) == (409, "invalid_state")
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    await _fill_chat(harness, patient)
    status, answer = await _upload(harness, good)
    assert (status, answer["error"]["code"]) == (409, "chat_full")
    assert await _photo_count(harness) == 0


async def test_an_upload_to_an_ended_consult_leaves_no_photo(harness: Harness) -> None:
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    assert (await nurse.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
    status, answer = await _upload(harness, image_bytes("JPEG"))
    assert (status, answer["error"]["code"]) == (409, "consult_ended")
    assert await _stored(harness) == (0, 0)


@pytest.mark.parametrize("race", ["chat_full", "consult_ended"])
async def test_a_refusal_after_the_photo_was_stored_removes_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, race: str
) -> None:
    """The chat fills up, or the nurse ends the consult, while the photo is being stored: the
    upload is refused and the stored photo removed again (nothing is stored when refused)."""
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    store = PhotoArchive.add

    async def meanwhile(archive: PhotoArchive, *args: Any, **kwargs: Any) -> Photo | None:
        photo = await store(archive, *args, **kwargs)
        assert await _photo_count(harness) == 1  # stored, before the chat refuses
        if race == "chat_full":
            await _fill_chat(harness, patient)
        else:
            assert (await nurse.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
        return photo

    monkeypatch.setattr(PhotoArchive, "add", meanwhile)
    status, answer = await _upload(harness, image_bytes("JPEG"))
    assert (status, answer["error"]["code"]) == (409, race)
    assert await _photo_count(harness) == 0


async def test_a_flood_of_uploads_is_rate_limited_and_stores_nothing(harness: Harness) -> None:
    """A few photos at once, then one every so often: beyond that ``429 rate_limited`` with the
    wait, and the refused upload stores nothing (no photo, no message)."""
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    policy, good = UploadPolicy(), image_bytes("JPEG")
    for _ in range(policy.burst):
        assert (await _upload(harness, good))[0] == 201
    status, answer, headers = await _upload_answer(harness, good)
    assert (status, answer["error"]["code"]) == (429, "rate_limited")
    assert 1 <= answer["error"]["retry_after"] <= policy.seconds_per_photo
    assert headers["Retry-After"] == str(answer["error"]["retry_after"])
    assert "espere" in answer["error"]["message"] and "wait" in answer["error"]["message"]
    assert await _stored(harness) == (policy.burst, policy.burst)
    # After the wait one more goes through, and the next waits again.
    harness.clock.advance(timedelta(seconds=policy.seconds_per_photo))
    assert (await _upload(harness, good))[0] == 201
    assert (await _upload(harness, good))[0] == 429


async def test_a_consult_stores_a_bounded_number_of_photos(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(photo_rules, "MAX_PHOTOS_PER_CONSULT", 2)
    patient, _ = await harness.patient()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    for _ in range(2):
        assert (await _upload(harness, image_bytes("JPEG")))[0] == 201
    status, answer = await _upload(harness, image_bytes("JPEG"))
    assert (status, answer["error"]["code"]) == (409, "photos_full")
    assert await _stored(harness) == (2, 2)


async def _keep(harness: Harness, cookie: str, photo_id: str, body: object) -> tuple[int, dict[str, Any]]:
    url = f"{harness.url}/api/consults/{harness.consult_id}/photos/{photo_id}/keep"
    headers = {"Cookie": f"tc_session={cookie}", "Origin": harness.url}
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def _row(harness: Harness, photo_id: str) -> tuple[object, ...]:
    async with harness.services.engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    PhotoRow.kept_at,
                    PhotoRow.kept_by,
                    PhotoRow.consent_by,
                    PhotoRow.consent_at,
                    PhotoRow.consent_statement,
                ).where(PhotoRow.id == photo_id)
            )
        ).one()
    return tuple(row)


async def test_keeping_a_photo_stores_the_consent_and_is_refused_without_it(harness: Harness) -> None:
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
    status, shared = await _upload(harness, image_bytes("JPEG"))
    assert status == 201 and shared["photo"]["consent"] is None
    photo_id = shared["photo"]["photo_id"]
    assert (await nurse.call("lobby:admit", {"consult_id": harness.consult_id}))["ok"]
    cookie = await harness.login()

    status, answer = await _keep(harness, cookie, photo_id, {"consent": False})
    assert (status, answer["error"]["code"]) == (409, "consent_missing")
    assert "consentimiento" in answer["error"]["message"] and "consent" in answer["error"]["message"]
    status, answer = await _keep(harness, cookie, photo_id, {})
    assert (status, answer["error"]["code"]) == (400, "bad_payload")
    assert await _row(harness, photo_id) == (None, None, None, None, None)

    status, kept = await _keep(harness, cookie, photo_id, {"consent": True})
    assert status == 200 and kept["photo"]["kept"] is True
    consent, nurse_id = kept["photo"]["consent"], (await nurse.call("hello", {}))["participant_id"]
    assert consent["noted_by"] == nurse_id and consent["statement"] == CONSENT_STATEMENT
    kept_at, kept_by, by, at, statement = await _row(harness, photo_id)
    assert (by, statement) == (nurse_id, CONSENT_STATEMENT) and at == kept_at
    assert kept_by == by and isinstance(at, datetime) and at.isoformat() == consent["noted_at"]
