"""``GET /api/openapi.json``: the OpenAPI 3.1 document, generated from the route table.

Every operation comes from a row of :data:`web.operations.OPERATIONS`; its request and answer
schemas are the pydantic models the handlers read and answer with (``web/schemas/``), and who may
call it is ``web/access.py``'s rule (as ``security``, the ``x-access`` extension and a sentence in
its description). Nothing here is written by hand per route, so the document cannot describe a
message the server does not send. ``tests/integration/test_openapi.py`` checks that it is valid
OpenAPI 3.1, that it names exactly the router's ``/api`` routes, and that real answers validate
against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from web.access import ROUTE_ACCESS, WHO, Access
from web.operations import OPERATIONS, Message, Octets, Operation
from web.payloads import answer
from web.schemas.errors import ErrorView
from web.schemas.meta import OpenApiDocument

REF_TEMPLATE = "#/components/schemas/{model}"
OCTET_SCHEMA = {"type": "string", "format": "binary"}
PATH_PARAMETERS = {
    "consult_id": "the consult",
    "appointment_id": "the appointment (its id is its consult's)",
    "unit": "the unit's id",
    "note_id": "the note",
    "token_id": "the token_id returned when the link was made",
    "session_id": "the inter-unit session",
    "site_id": "the site",
    "username": "the account's username",
}
STAFF_ACCESS = frozenset(Access) - {Access.PUBLIC, Access.PATIENT_LINK}
"""Rules that need the staff cookie: their routes answer ``401 auth_required`` without one."""
SECURITY_SCHEMES = {
    "staffSession": {"type": "apiKey", "in": "cookie", "name": "tc_session"},
    "joinToken": {"type": "http", "scheme": "bearer", "description": "the patient link's join token"},
}


def build_document(operations: Iterable[Operation] = OPERATIONS) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (every row must have a rule in ROUTE_ACCESS)."""
    rows = list(operations)
    refs, definitions = _schemas(rows)
    paths: dict[str, dict[str, object]] = {}
    for row in rows:
        paths.setdefault(row.path, {})[row.method.lower()] = _operation(row, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Teleconsulta",
            "version": "0.1.0",
            "description": "REST API of the teleconsultation server. Errors are {error: {code, message}}, "
            "messages in Spanish / English. The real-time protocol is socket.io (docs/protocol.md).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": definitions, "securitySchemes": SECURITY_SCHEMES},
    }


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]
"""(model, mode) -> the ``$ref`` to its schema under components."""


def _schemas(rows: list[Operation]) -> tuple[Refs, dict[str, Any]]:
    """One JSON schema per model, requests as validated and answers as sent, under components."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorView, "serialization"): None}
    for row in rows:
        if isinstance(row.body, type):
            wanted[(row.body, "validation")] = None
        for message in row.answers.values():
            if isinstance(message, type):
                wanted[(message, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REF_TEMPLATE)
    return refs, dict(sorted(top.get("$defs", {}).items()))


def _operation(row: Operation, refs: Refs) -> dict[str, object]:
    access = ROUTE_ACCESS[(row.method, row.path)]
    operation: dict[str, object] = {
        "summary": row.summary,
        "description": f"Who may call it: {WHO[access]}.",
        "operationId": _operation_id(row),
        "tags": [row.tag],
        "x-access": access.value,
    }
    if access is Access.PATIENT_LINK:
        operation["security"] = [{"joinToken": []}]
    elif access in STAFF_ACCESS:
        operation["security"] = [{"staffSession": []}]
    parameters = _path_parameters(row.path) + (_query_parameters(row.query) if row.query else [])
    if parameters:
        operation["parameters"] = parameters
    if row.body is not None:
        operation["requestBody"] = {"required": True, "content": _content(row.body, "validation", refs)}
    operation["responses"] = _responses(row, access, refs)
    return operation


def _responses(row: Operation, access: Access, refs: Refs) -> dict[str, object]:
    refusals: dict[int, list[str]] = {}

    def add(status: int, *codes: str) -> None:
        known = refusals.setdefault(status, [])
        known.extend(code for code in codes if code not in known)

    if row.body is not None and not isinstance(row.body, Octets):
        add(400, "bad_payload")
        add(413, "payload_too_large")
        add(415, "bad_payload")
    if row.query is not None:
        add(400, "bad_payload")
    if access in STAFF_ACCESS:
        add(401, "auth_required")
    for status, codes in row.codes().items():
        add(status, *codes)
    error = refs[(ErrorView, "serialization")]
    responses: dict[str, object] = {}
    for status in sorted({*row.answers, *refusals}):
        message, codes = row.answers.get(status), refusals.get(status, [])
        parts = [_answer_description(status, message)] if message is not None else []
        description = "; ".join([*parts, ", ".join(codes)] if codes else parts)
        if message is None:
            content: dict[str, object] = {"application/json": {"schema": error}}
        elif codes:  # a telling answer, or a plain error with one of these codes
            schema = refs[(message, "serialization")] if isinstance(message, type) else OCTET_SCHEMA
            content = {"application/json": {"schema": {"anyOf": [schema, error]}}}
        else:
            content = _content(message, "serialization", refs)
        responses[str(status)] = {"description": description, "content": content}
    return responses


def _answer_description(status: int, message: Message) -> str:
    """The status's phrase, and the first line of the answer model's own docstring, if it has one."""
    doc = vars(message).get("__doc__") if isinstance(message, type) else None
    phrase = HTTPStatus(status).phrase
    return f"{phrase}: {doc.strip().splitlines()[0].rstrip('.')}" if doc else phrase


def _content(message: Message, mode: JsonSchemaMode, refs: Refs) -> dict[str, object]:
    if isinstance(message, Octets):
        return {"application/octet-stream": {"schema": OCTET_SCHEMA}}
    return {"application/json": {"schema": refs[(message, mode)]}}


def _path_parameters(path: str) -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": PATH_PARAMETERS.get(name, name),
            "schema": {"type": "string"},
        }
        for name in re.findall(r"\{(\w+)\}", path)
    ]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, object]]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    required = set(schema.get("required", []))
    parameters: list[dict[str, object]] = []
    for name, field_schema in schema.get("properties", {}).items():
        described = {key: value for key, value in field_schema.items() if key not in ("title", "description")}
        # An optional parameter is absent, never JSON null: describe the value only.
        options = [option for option in described.get("anyOf", []) if option != {"type": "null"}]
        if len(options) == 1:
            del described["anyOf"]
            described.pop("default", None)
            described.update(options[0])
        parameter: dict[str, object] = {"name": name, "in": "query", "required": name in required}
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameter["schema"] = described
        parameters.append(parameter)
    return parameters


def _operation_id(row: Operation) -> str:
    words = re.findall(r"[a-z]+", row.path.replace("/api/", "", 1).replace("{", "by_"))
    return "_".join([row.method.lower(), *words])


class OpenApi:
    def __init__(self, operations: Iterable[Operation] = OPERATIONS) -> None:
        self._operations = tuple(operations)
        self._document: OpenApiDocument | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/openapi.json", self.document)]

    async def document(self, _: web.Request) -> web.Response:
        if self._document is None:
            self._document = OpenApiDocument.model_validate(build_document(self._operations))
        return answer(self._document)
