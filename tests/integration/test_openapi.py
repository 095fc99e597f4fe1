"""The OpenAPI document describes every REST route of the app, is valid OpenAPI 3.1, gives every
JSON message a real schema, and real answers validate against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.integration.conftest import Harness
from web.app import create_app
from web.config import Settings
from web.openapi import build_document


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
    assert not sorted(described - registered), "the document describes routes the server does not have"


def _is_real(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A schema that says what the message holds: a model with properties, or a choice of them."""
    if "$ref" in schema:
        return _is_real(components[schema["$ref"].rsplit("/", 1)[1]], components)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:
        return all(_is_real(choice, components) for choice in choices)
    return schema.get("type") == "object" and bool(schema.get("properties"))


def test_every_json_message_has_a_real_schema() -> None:
    document = build_document()
    components = document["components"]["schemas"]
    vague = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
            bodies += [(status, answer["content"]) for status, answer in operation["responses"].items()]
            for status, content in bodies:
                schema = content.get("application/json", {}).get("schema")
                if schema is not None and not _is_real(schema, components):
                    vague.append(f"{method.upper()} {path} {status}")
            assert operation["x-access"] and operation["description"].startswith("Who may call it:")
    assert not vague, f"JSON messages without a real schema: {vague}"
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_real_answers_validate_against_their_schemas(harness: Harness) -> None:
    document = build_document()
    staff = {"Cookie": f"tc_session={await harness.login()}"}
    patient = {"Authorization": f"Bearer {harness.patient_token}"}
    today = harness.clock().date().isoformat()
    calls: list[tuple[str, str, str, dict[str, str], object]] = [
        ("GET", "/api/session", "/api/session", {}, None),
        ("GET", "/api/session", "/api/session", staff, None),
        ("GET", "/api/service-hours?zone=America/Tijuana", "/api/service-hours", {}, None),
        ("GET", f"/api/slots?unit=UMF-1&date={today}", "/api/slots", {}, None),
        ("GET", "/api/queue/position", "/api/queue/position", patient, None),
        ("GET", f"/api/appointments/{harness.consult_id}", "/api/appointments/{appointment_id}", staff, None),
        ("GET", "/api/units/UMF-1/queue", "/api/units/{unit}/queue", staff, None),
        ("GET", "/api/units/UMF-1/queue", "/api/units/{unit}/queue", {}, None),
        ("PUT", "/api/nurses/me/state", "/api/nurses/me/state", staff, {"state": "available"}),
        ("GET", "/api/notes/templates", "/api/notes/templates", staff, None),
        ("GET", "/api/interunit-options", "/api/interunit-options", staff, None),
        (
            "POST",
            f"/api/consults/{harness.consult_id}/invites",
            "/api/consults/{consult_id}/invites",
            staff,
            {"role": "interpreter", "name": "Ana Intérprete"},
        ),
        ("POST", "/api/appointments", "/api/appointments", staff, {"unit": "UMF-1", "start": "mañana"}),
        ("GET", "/api/network-check/ping", "/api/network-check/ping", {}, None),
        ("GET", "/api/openapi.json", "/api/openapi.json", {}, None),
    ]
    async with aiohttp.ClientSession() as http:
        for method, url, template, headers, body in calls:
            async with http.request(method, harness.url + url, headers=headers, json=body) as response:
                status, data = str(response.status), await response.json()
            responses = document["paths"][template][method.lower()]["responses"]
            assert status in responses, f"{method} {url}: {status} is not in the document"
            schema = responses[status]["content"]["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": document["components"]})
            problems = [error.message for error in validator.iter_errors(data)]
            assert not problems, f"{method} {url} {status}: {problems}"
