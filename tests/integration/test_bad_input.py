"""Every bad input gets its documented error code and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms import tokens
from rooms.consult import ConsultState
from rooms.roles import Role
from rooms.session_log import EventKind
from tests.integration.conftest import Harness
from tests.support.clients import ConnectionRefused, MediaClient, connect_client


async def _refused(harness: Harness, **auth: str) -> dict[str, str]:
    with pytest.raises(ConnectionRefused) as caught:
        await connect_client(harness.url, **auth)
    [data] = caught.value.errors
    assert isinstance(data, dict) and isinstance(data.get("message"), str), data
    detail: dict[str, str] = data["data"]
    assert detail["message"] == data["message"]
    return detail


async def _snapshot(harness: Harness) -> tuple[object, int]:
    consult = await harness.services.stores.consults.get(harness.consult_id)
    # Refusals add ``refused`` entries to the log; everything else must stay as it was.
    log = await harness.services.stores.consults.log(harness.consult_id)
    return consult, sum(1 for e in log if e.kind is not EventKind.REFUSED)


async def test_a_forged_token_is_refused(harness: Harness) -> None:
    body, signature = harness.patient_token.rsplit(".", 1)
    forged = f"{body}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert (await _refused(harness, token=forged))["code"] == "auth_invalid"
    other_key = tokens.issue(
        b"another-server-key-that-is-not-ours!!",
        tokens.JoinClaims(harness.consult_id, "p-x", Role.PATIENT, 0, 4_000_000_000, "jti"),
    )
    assert (await _refused(harness, token=other_key))["code"] == "auth_invalid"
    assert (await _refused(harness, token="not a token"))["code"] == "auth_invalid"
    assert (await _refused(harness, token="x" * 5000))["code"] == "auth_invalid"


async def test_an_expired_token_is_refused(harness: Harness) -> None:
    harness.clock.advance(timedelta(hours=4))
    assert (await _refused(harness, token=harness.patient_token))["code"] == "auth_expired"


async def test_no_credentials_a_forged_and_an_expired_session_cookie_are_refused(harness: Harness) -> None:
    assert (await _refused(harness))["code"] == "auth_required"
    # A session id the server never issued is not valid; one it issued that ran out has expired.
    assert (await _refused(harness, cookie="made-up-session-id"))["code"] == "auth_invalid"
    cookie = await harness.login()
    harness.clock.advance(timedelta(hours=harness.services.settings.session_hours, minutes=1))
    assert (await _refused(harness, cookie=cookie))["code"] == "auth_expired"


async def test_a_token_is_single_use_once_the_consult_has_ended(harness: Harness) -> None:
    nurse, _ = await harness.nurse()
    patient, _ = await harness.patient()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    assert (await nurse.call("consult:end", {"consult_id": harness.consult_id}))["ok"]
    await nurse.disconnect()
    assert (await _refused(harness, token=harness.patient_token))["code"] == "consult_ended"


async def test_a_revoked_token_is_refused(harness: Harness) -> None:
    claims = tokens.verify(
        harness.services.settings.secret_key, harness.patient_token, harness.clock().timestamp()
    )
    await harness.services.stores.consults.revoke_token(claims.token_id)
    assert (await _refused(harness, token=harness.patient_token))["code"] == "auth_revoked"


async def test_a_patient_may_not_admit_or_end(harness: Harness) -> None:
    patient, events = await harness.patient()
    await patient.call("lobby:check_in", {"consent": True})
    before = await _snapshot(harness)
    admit = await patient.call("lobby:admit", {"consult_id": harness.consult_id})
    end = await patient.call("consult:end", {"consult_id": harness.consult_id})
    assert admit["error"]["code"] == "forbidden"
    assert end["error"]["code"] == "forbidden"
    assert [e["code"] for e in events.named("error")] == ["forbidden", "forbidden"]
    assert await _snapshot(harness) == before
    await patient.disconnect()


async def test_another_nurse_may_not_end_a_consult_she_does_not_host(harness: Harness) -> None:
    from rooms.staff import StaffMember

    await harness.services.stores.staff.add(
        StaffMember(
            "staff-2",
            "otra",
            "Enf. Otra",
            Role.NURSE,
            "UMF-1",
            harness.services.auth.hash_password("pw-otra-123"),
        )
    )
    nurse, _ = await harness.nurse()
    patient, _ = await harness.patient()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    import aiohttp

    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{harness.url}/api/session", json={"username": "otra", "password": "pw-otra-123"}
        )
        cookie = response.cookies["tc_session"].value
    other, _ = await connect_client(harness.url, cookie=cookie)
    before = await _snapshot(harness)
    reply = await other.call("consult:end", {"consult_id": harness.consult_id})
    assert reply["error"]["code"] == "not_your_consult"
    assert await _snapshot(harness) == before
    for client in (nurse, patient, other):
        await client.disconnect()


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("lobby:check_in", {"consent": False}, "bad_payload"),
        ("lobby:check_in", {"consent": "yes"}, "bad_payload"),
        ("lobby:check_in", {"consent": True, "extra": 1}, "bad_payload"),
        ("lobby:check_in", ["consent"], "bad_payload"),
        ("lobby:check_in", "text", "bad_payload"),
        ("media:state", {"audio": 1, "video": True}, "bad_payload"),
        ("media:link_report", {"audio_received": -1, "audio_lost": 0}, "bad_payload"),
        ("media:link_report", {"audio_received": 50, "audio_lost": 10**9}, "bad_payload"),
        ("media:link_report", {"audio_received": 50.5, "audio_lost": 0}, "bad_payload"),
        ("media:link_report", {"audio_received": 50, "audio_lost": 0, "queue_ms": -1}, "bad_payload"),
        ("media:link_report", {"audio_received": 50, "audio_lost": 0, "queue_ms": 10**6}, "bad_payload"),
        ("media:link_report", {"audio_received": 50, "audio_lost": 0, "queue_ms": "long"}, "bad_payload"),
        ("lobby:admit", {"consult_id": "../../etc"}, "bad_payload"),
        ("media:offer", {"type": "offer", "sdp": "x" * 70_000}, "payload_too_large"),
        ("hello", {"padding": "x" * 100_000}, "payload_too_large"),
        ("no:such:event", {}, "unknown_event"),
    ],
)
async def test_malformed_and_oversized_payloads_get_their_error(
    harness: Harness, event: str, payload: object, code: str
) -> None:
    patient, events = await harness.patient()
    before = await _snapshot(harness)
    reply = await patient.call(event, payload)
    assert reply["ok"] is False and reply["error"]["code"] == code
    error = await events.wait_for("error")
    assert error["code"] == code and error["event"] == event
    # The message names the problem but never echoes what was sent.
    assert "x" * 20 not in error["message"]
    assert await _snapshot(harness) == before
    assert (await patient.call("hello", {}))["ok"], "the connection stays usable"
    await patient.disconnect()


async def test_a_bad_sdp_is_refused_and_the_call_is_unchanged(harness: Harness) -> None:
    patient, _ = await harness.patient()
    nurse, _ = await harness.nurse()
    await patient.call("lobby:check_in", {"consent": True})
    await nurse.call("lobby:admit", {"consult_id": harness.consult_id})
    before = await _snapshot(harness)
    for sdp in ("v=0\r\nthis is not sdp\r\n", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"):
        reply = await patient.call("media:offer", {"type": "offer", "sdp": sdp})
        assert reply["error"]["code"] == "bad_sdp"
    assert await _snapshot(harness) == before
    # A good offer still works afterwards.
    media = MediaClient((200, 200, 200))
    reply = await patient.call("media:offer", await media.offer())
    assert reply["ok"]
    consult = await harness.services.stores.consults.get(harness.consult_id)
    assert consult is not None and consult.state is ConsultState.LIVE and consult.in_call
    await media.close()
    await patient.disconnect()
    await nurse.disconnect()


async def test_a_flood_is_rate_limited_and_changes_nothing(harness: Harness) -> None:
    patient, events = await harness.patient()
    before = await _snapshot(harness)
    replies = [await patient.call("media:state", {"audio": True, "video": True}) for _ in range(80)]
    codes = {r["error"]["code"] for r in replies if not r["ok"]}
    assert "rate_limited" in codes
    assert await _snapshot(harness) == before
    assert any(e["code"] == "rate_limited" for e in events.named("error"))
    await patient.disconnect()


async def test_login_refuses_wrong_passwords_and_throttles_guessing(harness: Harness) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        statuses: list[int] = []
        # Each failure past the fifth doubles the wait, counted from when the guess arrived; on a
        # loaded machine one password check can outlast the first wait, never all of them.
        while 429 not in statuses and len(statuses) < 12:
            response = await http.post(
                f"{harness.url}/api/session", json={"username": "enfermera", "password": "wrong"}
            )
            statuses.append(response.status)
            assert "tc_session" not in response.cookies
        assert statuses[:5] == [401] * 5 and statuses[-1] == 429
        bad = await http.post(
            f"{harness.url}/api/session", data="username=x", headers={"Content-Type": "text/plain"}
        )
        assert bad.status == 415
        assert (await bad.json())["error"]["code"] == "bad_payload"


async def test_the_session_cookie_is_httponly_and_samesite(harness: Harness) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{harness.url}/api/session", json={"username": "enfermera", "password": "demo-password-123"}
        )
        header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header
