"""A highly available Redis: the primary dies under a live consult, Sentinel promotes its replica,
and the service carries on with the consult as it was (docs/operations.md, "Redis")."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from bench.support import REPLICATION_FENCE, SentinelSet
from rooms.consult import ConsultState
from tests.support.clients import connect_client
from tests.support.redis_server import redis_sentinels
from web.app import SERVICES, create_app
from web.config import Settings
from web.demo import seed_demo

PASSWORD = "sentinel-test-password-1"
SWITCH_ATTEMPTS = 300
"""Tries, 0.2 s apart, for the service to act again after the kill (a bound, not a timing check)."""


async def test_a_live_consult_survives_the_redis_primary_being_killed(tmp_path: Path) -> None:
    with redis_sentinels(tmp_path / "redis") as ha:
        settings = Settings.from_env(
            {
                "TC_REDIS_SENTINELS": ",".join(ha.sentinels),
                "TC_REDIS_SENTINEL_MASTER": ha.master,
                "TC_SECRET_KEY": "sentinel-test-secret-key-0123456789abcdef",
                "TC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}",
                "TC_ALLOW_SQLITE_WITH_REDIS": "1",  # one node: its record file is its own
                "TC_MEDIA_WORKERS": "0",
            }
        )
        assert settings.redis_url.startswith("redis+sentinel://")
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        url = str(server.make_url("")).rstrip("/")
        try:
            services = app[SERVICES]
            demo = await seed_demo(services, url, password=PASSWORD)
            token = parse_qs(urlsplit(demo.patient_link).fragment)["t"][0]
            async with aiohttp.ClientSession() as http:
                response = await http.post(
                    f"{url}/api/session", json={"username": demo.username, "password": PASSWORD}
                )
                assert response.status == 200
                cookie = response.cookies["tc_session"].value
            nurse, _ = await connect_client(url, cookie=cookie)
            patient, patient_events = await connect_client(url, token=token)
            try:
                assert (await patient.call("lobby:check_in", {"consent": True}))["ok"]
                assert (await nurse.call("lobby:admit", {"consult_id": demo.consult_id}))["ok"]
                await patient_events.wait_for("consult:state", lambda d: d["consult"]["state"] == "live")

                # Every write so far is on the replica too; then the primary dies without warning.
                # WAIT counts the replicas that hold this connection's own last write, and the
                # replication stream is in order: the fence, once held, vouches for every write
                # before it.
                primary = Redis.from_url(ha.primary_url)
                await primary.set(REPLICATION_FENCE, "1")
                assert await primary.execute_command("WAIT", 1, 5000) == 1
                pid = (await primary.info("server"))["process_id"]
                await primary.aclose()
                os.kill(int(pid), signal.SIGKILL)

                # The host keeps acting on the consult; during the switch a request may fail, with
                # an error answer on a socket that stays open, never a dropped connection.
                refusals = []
                for _ in range(SWITCH_ATTEMPTS):
                    reply = await nurse.call("room:lock", {"consult_id": demo.consult_id}, timeout=30)
                    if reply["ok"]:
                        break
                    refusals.append(reply["error"]["code"])
                    assert nurse.connected and patient.connected
                    await asyncio.sleep(0.2)
                else:
                    where = await _whereabouts(ha, f"tc:consult:{demo.consult_id}")
                    raise AssertionError(f"the service never came back: {refusals[-5:]}; {where}")
                assert all(isinstance(code, str) and code for code in refusals)

                # The replica is the primary now, and it holds the consult as it was.
                sentinel = Sentinel([(h, int(p)) for h, p in (s.split(":") for s in ha.sentinels)])
                _, port = await sentinel.discover_master(ha.master)
                assert str(port) == ha.replica_url.rsplit(":", 1)[1].split("/")[0]
                consult = await services.stores.consults.get(demo.consult_id)
                assert consult is not None
                assert consult.state is ConsultState.LIVE and consult.locked
                assert consult.host_id is not None and consult.patient_id in consult.admitted
                # The announcement reaches the patient through the new primary's pub/sub.
                await patient_events.wait_for("consult:state", lambda d: d["consult"]["locked"], timeout=30)
                assert (await nurse.call("room:unlock", {"consult_id": demo.consult_id}))["ok"]
                # The nurse's login session was kept too.
                async with aiohttp.ClientSession(cookies={"tc_session": cookie}) as http:
                    response = await http.get(f"{url}/api/session")
                    assert response.status == 200
            finally:
                await nurse.disconnect()
                await patient.disconnect()
        finally:
            await server.close()


async def _whereabouts(ha: SentinelSet, key: str) -> str:
    """What each sentinel names as primary, and each Redis's role and whether it holds ``key``: the
    state to read when the service does not come back (a test failure says where the data went)."""
    found = []
    for address in ha.sentinels:
        host, port = address.split(":")
        sentinel = Redis(host=host, port=int(port), socket_timeout=2)
        try:
            found.append(f"sentinel {port}: {await sentinel.sentinel_get_master_addr_by_name(ha.master)}")
        except RedisError as error:
            found.append(f"sentinel {port}: {type(error).__name__}")
        finally:
            await sentinel.aclose()
    for name, url in (("primary", ha.primary_url), ("replica", ha.replica_url)):
        redis = Redis.from_url(url, socket_timeout=2)
        try:
            role = (await redis.execute_command("ROLE"))[0]
            keys, held = await redis.dbsize(), await redis.exists(key)
            found.append(f"{name} {url}: {role!r}, {keys} keys, key {held}")
        except RedisError as error:
            found.append(f"{name} {url}: {type(error).__name__}")
        finally:
            await redis.aclose()
    return "; ".join(found)
