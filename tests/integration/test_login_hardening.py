"""POST /api/session on the real app: argon2 off the event loop, no username enumeration, and the
throttle per username and per address (memory on one node, Redis shared by two).

Clients sign in from chosen loopback addresses (127.0.0.2, .3, …: all reach the server on
127.0.0.1), so "the nurse's address" and "the attacker's address" are real, different peers.
The first wait is 10 minutes, so a throttled attempt stays throttled however slow the machine:
nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import argon2
import pytest
from aiohttp.test_utils import TestServer

from rooms.roles import Role
from rooms.staff import StaffMember
from tests.support.redis_server import redis_server
from web.app import SERVICES, Services, create_app
from web.config import Settings

PASSWORD = "pw-ana-correcta-123"
NURSE = "127.0.0.2"
ATTACKER = "127.0.0.3"
ELSEWHERE = "127.0.0.4"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return replace(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
            secret_key=b"login-hardening-test-secret-key-0123456789",
            secret_key_is_ephemeral=False,
            media_workers=0,
            login_delay_seconds=600,
        ),
        **overrides,
    )


async def _start(settings: Settings, stack: AsyncExitStack) -> tuple[str, Services]:
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    stack.push_async_callback(server.close)
    return str(server.make_url("")).rstrip("/"), app[SERVICES]


async def _add_ana(services: Services) -> StaffMember:
    member = StaffMember(
        "staff-ana", "ana", "Ana", Role.NURSE, "UMF-1", services.auth.hash_password(PASSWORD)
    )
    await services.stores.staff.add(member)
    return member


async def login(url: str, username: str, password: str, source: str = NURSE) -> aiohttp.ClientResponse:
    """Sign in from ``source``; the response's body is read before the connection closes."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        response = await http.post(f"{url}/api/session", json={"username": username, "password": password})
        await response.read()
        return response


async def error_code(response: aiohttp.ClientResponse) -> str:
    return str((await response.json())["error"]["code"])


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[tuple[str, Services]]:
    async with AsyncExitStack() as stack:
        url, services = await _start(_settings(tmp_path), stack)
        await _add_ana(services)
        yield url, services


@dataclass
class VerifySpy:
    """Wraps the real ``PasswordHasher.verify``: records each call's hash and thread, and how many
    ran at once; the password is still checked by argon2."""

    calls: list[tuple[str, threading.Thread]] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def verify_spy(monkeypatch: pytest.MonkeyPatch) -> VerifySpy:
    spy = VerifySpy()
    real = argon2.PasswordHasher.verify

    def verify(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        with spy.lock:
            spy.calls.append((str(hash), threading.current_thread()))
            spy.running += 1
            spy.most_at_once = max(spy.most_at_once, spy.running)
        try:
            return real(self, hash, password)
        finally:
            with spy.lock:
                spy.running -= 1

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    return spy


async def test_passwords_are_checked_off_the_event_loop(
    node: tuple[str, Services], verify_spy: VerifySpy
) -> None:
    url, _ = node
    assert (await login(url, "ana", PASSWORD)).status == 200
    assert (await login(url, "ana", "wrong")).status == 401
    assert len(verify_spy.calls) == 2
    for _, thread in verify_spy.calls:
        assert thread is not threading.main_thread()
        assert thread.name.startswith("argon2")


async def test_an_unknown_username_costs_the_same_verify_as_a_known_one(
    node: tuple[str, Services], verify_spy: VerifySpy
) -> None:
    url, services = node
    ana = await services.stores.staff.by_username("ana")
    assert ana is not None
    response = await login(url, "nadie", "wrong")
    assert response.status == 401 and await error_code(response) == "auth_invalid"
    assert (await login(url, "ana", "wrong")).status == 401
    assert len(verify_spy.calls) == 2, "the unknown username was not checked against any hash"
    dummy, real = verify_spy.calls[0][0], verify_spy.calls[1][0]
    assert dummy != real == ana.password_hash
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(real)


async def test_concurrent_logins_use_at_most_the_configured_threads(
    tmp_path: Path, verify_spy: VerifySpy
) -> None:
    async with AsyncExitStack() as stack:
        url, services = await _start(_settings(tmp_path, password_hash_threads=2), stack)
        member = await _add_ana(services)
        names = [f"nurse-{n}" for n in range(6)]
        for name in names:
            await services.stores.staff.add(replace(member, staff_id=f"staff-{name}", username=name))
        replies = await asyncio.gather(*(login(url, name, PASSWORD) for name in names))
    assert [r.status for r in replies] == [200] * 6
    assert len(verify_spy.calls) == 6
    assert verify_spy.most_at_once <= 2


async def test_one_address_trying_many_usernames_is_throttled(node: tuple[str, Services]) -> None:
    url, _ = node
    for n in range(20):
        response = await login(url, f"usuario-{n}", "wrong", ATTACKER)
        assert response.status == 401, n
    throttled = await login(url, "usuario-20", "wrong", ATTACKER)
    assert throttled.status == 429
    body = await throttled.json()
    assert body["error"]["code"] == "rate_limited"
    assert 0 < body["error"]["retry_after"] <= 600
    assert throttled.headers["Retry-After"] == str(body["error"]["retry_after"])
    assert "tc_session" not in throttled.cookies
    # Another address is not slowed by this one.
    assert (await login(url, "usuario-20", "wrong", ELSEWHERE)).status == 401


async def test_nobody_can_lock_a_nurse_out_of_her_own_workstation(node: tuple[str, Services]) -> None:
    url, _ = node
    assert (await login(url, "ana", PASSWORD, NURSE)).status == 200
    statuses = [(await login(url, "ana", f"guess-{n}", ATTACKER)).status for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert (await login(url, "ana", PASSWORD, ATTACKER)).status == 429, "even a right guess waits"
    assert (await login(url, "ana", PASSWORD, ELSEWHERE)).status == 429, "her username is throttled"
    assert (await login(url, "ana", PASSWORD, NURSE)).status == 200, "her own recent address is not"


async def test_a_burst_of_guesses_gets_no_more_than_the_free_failures(node: tuple[str, Services]) -> None:
    url, _ = node
    sources = [f"127.0.2.{n}" for n in range(1, 13)]
    replies = await asyncio.gather(*(login(url, "ana", "wrong", source) for source in sources))
    statuses = sorted(r.status for r in replies)
    assert statuses == [401] * 5 + [429] * 7


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


async def test_two_nodes_share_the_throttle_through_redis(tmp_path: Path, redis_url: str) -> None:
    async with AsyncExitStack() as stack:
        node_a, services_a = await _start(_settings(tmp_path, redis_url=redis_url), stack)
        node_b, _ = await _start(_settings(tmp_path, redis_url=redis_url), stack)
        await _add_ana(services_a)
        # Ana signs in on node A; node B knows her address from then on.
        assert (await login(node_a, "ana", PASSWORD, NURSE)).status == 200
        for n in range(5):
            node = (node_a, node_b)[n % 2]
            assert (await login(node, "ana", f"guess-{n}", ATTACKER)).status == 401
        refused = await login(node_b, "ana", "guess-5", ATTACKER)
        assert refused.status == 429 and await error_code(refused) == "rate_limited"
        assert (await login(node_a, "ana", PASSWORD, ELSEWHERE)).status == 429
        assert (await login(node_b, "ana", PASSWORD, NURSE)).status == 200
