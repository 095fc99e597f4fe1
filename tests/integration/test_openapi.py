"""The OpenAPI document describes every REST route of the app and is valid OpenAPI 3.1."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from openapi_spec_validator import validate

from web.app import create_app
from web.config import Settings


async def test_every_api_route_is_in_a_valid_openapi_document(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", media_workers=0))
    registered = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/api/") and route.method not in ("HEAD", "OPTIONS"):
            registered.add((route.method.lower(), path))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            response = await http.get(str(server.make_url("/api/openapi.json")))
            assert response.status == 200
            document = await response.json()
    finally:
        await server.close()
    validate(document)  # raises on anything that is not valid OpenAPI 3.1
    assert document["openapi"].startswith("3.1")
    described = {(method, path) for path, item in document["paths"].items() for method in item}
    missing = sorted(registered - described)
    assert not missing, f"routes missing from /api/openapi.json: {missing}"
