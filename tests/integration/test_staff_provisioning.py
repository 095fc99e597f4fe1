"""Provisioning units and staff accounts: the admin CLI, the admin REST API and a CSV import of 3,000
nurses, against a real database (SQLite for the CLI; PostgreSQL and Redis for the API).

Every change is an audited record in the database; a new account signs in only after setting its
own password through its one-time link; disabling ends the account's sessions; an import is all or
nothing, names every bad row by line, and importing the same file again changes nothing.
"""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from records.staff import Admin
from records.staff_facts import staff_facts, unit_facts
from records.tables import AuditRow, StaffRow
from tests.support.dependencies import RestartablePostgres, restartable_postgres
from tests.support.redis_server import redis_server
from tests.support.services import ROOT
from web.admin import parser, run
from web.app import SERVICES, Services, create_app
from web.config import ConfigError, Settings

SECRET = b"provisioning-test-secret-key-0123456789"
ROWS = 3000


@dataclass
class Node:
    url: str
    services: Services
    http: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, body: object = None, *, cookie: str = "", csv: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Origin": self.url}
        if cookie:
            headers["Cookie"] = f"tc_session={cookie}"
        if csv is not None:
            headers["Content-Type"] = "text/csv"
        kwargs: dict[str, Any] = {"data": csv.encode()} if csv is not None else {"json": body}
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as response:
            return response.status, await response.json(content_type=None)

    async def login(self, username: str, password: str) -> tuple[int, str]:
        async with self.http.post(
            f"{self.url}/api/session", json={"username": username, "password": password}
        ) as response:
            cookie = response.cookies.get("tc_session")
            return response.status, cookie.value if cookie is not None else ""

    async def set_password(self, link: str, password: str) -> tuple[int, Any]:
        token = urlsplit(link).fragment.removeprefix("t=")
        return await self.call("POST", "/api/password-setup", {"token": token, "password": password})


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Node]:
    app = create_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Node(str(server.make_url("")).rstrip("/"), app[SERVICES], http)
    finally:
        await server.close()


async def audits(services: Services, agent_id: str) -> int:
    async with services.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).where(AuditRow.agent_id == agent_id))
    return int(count or 0)


# -- the command line ------------------------------------------------------------------------------


async def test_the_cli_provisions_and_the_nurse_signs_in_with_her_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}"
    settings = Settings(
        database_url=database_url, secret_key=SECRET, secret_key_is_ephemeral=False, media_workers=0
    )

    async def admin(*argv: str) -> tuple[int, str]:
        out = io.StringIO()
        return await run(settings, parser().parse_args(argv), out), out.getvalue()

    assert (await admin("create-unit", "UMF-7", "--clues", "dfims000652", "--name", "UMF 7"))[0] == 0
    assert (await admin("create-unit", "UMF-8", "--clues", "JCIMS000456", "--name", "UMF 8"))[0] == 0
    assert (await admin("create-unit", "UMF-9", "--clues", "XX1", "--name", "UMF 9"))[0] == 1
    assert "CLUES" in capsys.readouterr().err
    code, out = await admin(
        "create-staff",
        "Ana.Lopez",
        "--name",
        "Ana López",
        "--role",
        "nurse",
        "--unit",
        "UMF-7",
        "--licence",
        "1234567",
    )
    assert code == 0 and "/contrasena#t=" in out, out
    link = out.rsplit(" ", 1)[-1].strip()
    assert (await admin("create-staff", "beto", "--name", "Beto", "--role", "nurse", "--unit", "UMF-99"))[
        0
    ] == 1
    assert "unknown_unit" not in capsys.readouterr().err  # people read the message, not the code
    async with serving(settings) as node:
        assert (await node.login("ana.lopez", "anything-at-all"))[0] == 401  # no password yet
        assert (await node.set_password(link, "corta"))[1]["error"]["code"] == "weak_password"
        assert (await node.set_password(link, "contraseña-de-ana-1"))[0] == 200
        assert (await node.set_password(link, "otra-contraseña-2"))[1]["error"][
            "code"
        ] == "setup_link_invalid"
        status, cookie = await node.login("ana.lopez", "contraseña-de-ana-1")
        assert status == 200
        status, me = await node.call("GET", "/api/session", cookie=cookie)
        assert me["signed_in"] and me["unit"] == "UMF-7" and me["time_zone"] == "America/Mexico_City"

        assert (await admin("disable", "ana.lopez"))[0] == 0
        assert (await node.call("GET", "/api/session", cookie=cookie))[1] == {"signed_in": False}
        assert (await node.login("ana.lopez", "contraseña-de-ana-1"))[0] == 401
        assert (await admin("enable", "ana.lopez"))[0] == 0
        assert (await admin("change-unit", "ana.lopez", "UMF-8"))[0] == 0
        status, cookie = await node.login("ana.lopez", "contraseña-de-ana-1")
        assert status == 200 and (await node.call("GET", "/api/session", cookie=cookie))[1]["unit"] == "UMF-8"

        code, out = await admin("reset-password", "ana.lopez")
        assert code == 0 and (await node.login("ana.lopez", "contraseña-de-ana-1"))[0] == 401
        assert (await node.set_password(out.rsplit(" ", 1)[-1].strip(), "nueva-contraseña-3"))[0] == 200
        assert (await node.login("ana.lopez", "nueva-contraseña-3"))[0] == 200
        # create-unit twice, create-staff, disable, enable, change-unit, reset (setting a password is Ana's).
        assert await audits(node.services, f"cli:{getpass.getuser()}") == 7

    listed = subprocess.run(  # noqa: ASYNC221 - the entry point, once, after the server has closed
        [sys.executable, "-m", "web.admin", "list", "--unit", "UMF-8"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "TC_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1:] == ["ana.lopez,Ana López,nurse,UMF-8,1234567,False,True"]


def test_redis_with_a_sqlite_record_file_is_refused_unless_overridden() -> None:
    shared = {"TC_REDIS_URL": "redis://127.0.0.1:6379/0"}
    with pytest.raises(ConfigError, match="PostgreSQL"):
        Settings.from_env(shared)
    assert Settings.from_env({**shared, "TC_ALLOW_SQLITE_WITH_REDIS": "1"}).redis_url
    postgres = "postgresql+asyncpg://tc@db/tc"
    assert Settings.from_env({**shared, "TC_DATABASE_URL": postgres}).database_url == postgres


# -- the REST API and a CSV import of 3,000 nurses ------------------------------------------------------


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    with restartable_postgres() as server:
        yield server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path) as url:
        yield url


def nurses_csv(rows: int, *, broken: bool = False, renamed: int | None = None) -> str:
    lines = ["username,full_name,role,unit,licence"]
    for n in range(1, rows + 1):
        name = f"Enfermera Número {n}" + (" Ruiz" if n == renamed else "")
        lines.append(f"enf{n:04d},{name},nurse,UMF-{n % 3 + 1},{1000000 + n}")
    if broken:  # line numbers: the header is line 1, so enfN is on line N + 1
        lines[9] = "enf0009,Enfermera Nueve,cirujana,UMF-1,1000009"
        lines[499] = "enf0499,Enfermera 499,nurse,UMF-2,12"
        lines[1499] = "enf0020,Enfermera repetida,nurse,UMF-1,"
        lines[2998] = "enf2998,Enfermera 2998,nurse,UMF-99,"
    return "\n".join(lines) + "\n"


async def test_rest_admin_imports_3000_nurses_all_or_nothing_and_idempotently(
    tmp_path: Path, postgres: RestartablePostgres, redis_url: str
) -> None:
    settings = Settings(
        database_url=postgres.url,
        redis_url=redis_url,
        secret_key=SECRET,
        secret_key_is_ephemeral=False,
        media_workers=0,
        queue_sweep_seconds=0,
    )
    async with serving(settings) as node:
        accounts, auth = node.services.accounts, node.services.auth
        setup = Admin("setup", "setup", "test")
        await accounts.put_unit(unit_facts("TI", "DFIMS000001", "Informática", "America/Mexico_City"), setup)
        admin = await accounts.provision(
            staff_facts("admin.ti", "Admin TI", "admin", "TI"),
            setup,
            password_hash=auth.hash_password("admin-pass-123"),
        )
        await accounts.provision(
            staff_facts("coord", "Coordinadora", "coordinator", "TI"),
            setup,
            password_hash=auth.hash_password("coord-pass-123"),
        )
        admin_cookie = (await node.login("admin.ti", "admin-pass-123"))[1]
        coordinator_cookie = (await node.login("coord", "coord-pass-123"))[1]
        assert (await node.call("GET", "/api/admin/staff"))[0] == 401
        status, body = await node.call("GET", "/api/admin/staff", cookie=coordinator_cookie)
        assert (status, body["error"]["code"]) == (403, "forbidden")

        for n in (1, 2, 3):
            unit = {"clues": f"DFIMS00000{n + 1}", "name": f"UMF {n}", "time_zone": "America/Mexico_City"}
            assert (await node.call("PUT", f"/api/admin/units/UMF-{n}", unit, cookie=admin_cookie))[0] == 201
        status, body = await node.call("PUT", "/api/admin/units/UMF-1", unit, cookie=admin_cookie)
        assert status == 200 and body["created"] is False
        status, body = await node.call(
            "PUT", "/api/admin/units/UMF-4", {**unit, "time_zone": "Mars/Olympus"}, cookie=admin_cookie
        )
        assert (status, body["error"]["code"]) == (400, "unknown_time_zone")

        status, report = await node.call(
            "POST", "/api/admin/staff/import", csv=nurses_csv(ROWS, broken=True), cookie=admin_cookie
        )
        assert status == 422 and report["ok"] is False and report["created"] == 0
        assert [(e["line"], e["code"]) for e in report["errors"]] == [
            (10, "invalid_account"),
            (500, "invalid_identifier"),
            (1500, "invalid_account"),
            (2999, "unknown_unit"),
        ]
        assert "línea 21" in report["errors"][2]["message"] and "line 21" in report["errors"][2]["message"]
        status, listed = await node.call("GET", "/api/admin/staff", cookie=admin_cookie)
        assert len(listed["accounts"]) == 2, "a refused import stored something"

        status, report = await node.call(
            "POST", "/api/admin/staff/import", csv=nurses_csv(ROWS), cookie=admin_cookie
        )
        assert status == 200, report
        assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (
            ROWS,
            ROWS,
            0,
            0,
        )
        links = {link["username"]: link["setup_link"] for link in report["links"]}
        assert len(links) == ROWS
        status, again = await node.call(
            "POST", "/api/admin/staff/import", csv=nurses_csv(ROWS), cookie=admin_cookie
        )
        assert status == 200 and (again["created"], again["updated"], again["unchanged"]) == (0, 0, ROWS)
        assert again["links"] == []
        status, renamed = await node.call(
            "POST", "/api/admin/staff/import", csv=nurses_csv(ROWS, renamed=7), cookie=admin_cookie
        )
        assert (renamed["created"], renamed["updated"], renamed["unchanged"]) == (0, 1, ROWS - 1)
        async with node.services.engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(StaffRow)) == ROWS + 2
        status, unit_two = await node.call("GET", "/api/admin/staff?unit=UMF-2", cookie=admin_cookie)
        assert len(unit_two["accounts"]) == ROWS // 3

        assert (await node.set_password(links["enf0007"], "clave-de-la-siete"))[0] == 200
        status, nurse_cookie = await node.login("enf0007", "clave-de-la-siete")
        assert status == 200
        status, me = await node.call("GET", "/api/session", cookie=nurse_cookie)
        assert me["full_name"] == "Enfermera Número 7 Ruiz" and me["unit"] == "UMF-2"
        status, body = await node.call("GET", "/api/admin/units", cookie=nurse_cookie)
        assert status == 403

        status, body = await node.call("POST", "/api/admin/staff/enf0007/disable", cookie=admin_cookie)
        assert status == 200 and body["sessions_ended"] == 1 and body["account"]["disabled"] is True
        assert (await node.call("GET", "/api/session", cookie=nurse_cookie))[1] == {"signed_in": False}
        assert (await node.login("enf0007", "clave-de-la-siete"))[0] == 401
        status, body = await node.call("POST", "/api/admin/staff/nadie/disable", cookie=admin_cookie)
        assert (status, body["error"]["code"]) == (404, "unknown_account")
        assert (await node.call("POST", "/api/admin/staff/enf0007/enable", cookie=admin_cookie))[0] == 200
        status, body = await node.call("POST", "/api/admin/staff/enf0007/reset-password", cookie=admin_cookie)
        assert status == 200 and body["setup_link"].startswith(node.url + "/contrasena#t=")
        assert (await node.login("enf0007", "clave-de-la-siete"))[0] == 401
        status, body = await node.call(
            "PUT", "/api/admin/staff/enf0007/unit", {"unit": "UMF-3"}, cookie=admin_cookie
        )
        assert status == 200 and body["account"]["unit"] == "UMF-3"
        status, body = await node.call(
            "POST",
            "/api/admin/staff",
            {"username": "nueva", "full_name": "Nueva", "role": "supervisor", "unit": "UMF-3"},
            cookie=admin_cookie,
        )
        assert status == 201 and body["setup_link"] and body["account"]["password_set"] is False
        # Units 3 (+1 update); 3,000 created; 1 renamed; disable, enable, reset, move; one new account.
        assert await audits(node.services, admin.account.staff_id) == 4 + ROWS + 1 + 4 + 1
