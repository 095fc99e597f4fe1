"""Several real nodes for the tests: ``bench.nodes`` (shared with the benchmarks) plus the skips.

Skipped where redis-server or PostgreSQL is missing, except in CI, where that fails. Use it as a
context manager in a fixture::

    with running_cluster(tmp_path) as nodes:
        nodes[1].url, nodes[2].kill(), nodes.demo["patient_link"]
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from bench.nodes import Cluster, Node, cluster
from bench.support import find_postgres_bin
from tests.support.services import require_or_skip
from web.demo import demo_nss

__all__ = ["Cluster", "Node", "book", "link_token", "running_cluster", "sign_in"]


@contextmanager
def running_cluster(directory: Path, count: int = 3, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """``count`` ready nodes sharing a real Redis and PostgreSQL; everything stops at the end."""
    require_or_skip(shutil.which("redis-server") is not None, "redis-server")
    require_or_skip(find_postgres_bin() is not None, "PostgreSQL (initdb/postgres binaries)")
    with cluster(directory, count, env) as nodes:
        yield nodes


async def sign_in(node: Node, username: str, password: str) -> str:
    """A staff session cookie from ``node`` (sessions live in Redis: any node knows it)."""
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{node.url}/api/session", json={"username": username, "password": password}
        )
        assert response.status == 200, await response.text()
        return response.cookies["tc_session"].value


async def book(node: Node, cookie: str, name: str) -> tuple[str, str]:
    """The nurse books a patient in the unit's next free slot: (consult id, link token)."""
    async with aiohttp.ClientSession(cookies={"tc_session": cookie}) as http:
        slots: list[dict[str, str]] = []
        for day in (date.today() - timedelta(days=1), date.today(), date.today() + timedelta(days=1)):
            response = await http.get(f"{node.url}/api/slots?unit=UMF-1&date={day.isoformat()}")
            slots = (await response.json())["slots"]
            if slots:
                break
        patient = {
            "nss": demo_nss(),
            "name": name,
            "birth_date": "1982-03-14",
            "email": "paciente.prueba@example.org",
            "time_zone": "America/Mexico_City",
            "language": "es",
        }
        body = {"unit": "UMF-1", "start": slots[0]["start"], "kind": "first", "patient": patient}
        response = await http.post(f"{node.url}/api/appointments", json=body)
        assert response.status == 201, await response.text()
        booked = await response.json()
    return str(booked["appointment"]["consult_id"]), link_token(str(booked["patient_link"]))


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).fragment)["t"][0]
