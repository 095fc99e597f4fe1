"""``GET /api/openapi.json``: an OpenAPI 3.1 description of every REST route of the server.

Each API module describes its own routes in a module-level ``OPENAPI_PATHS`` (OpenAPI path items
keyed by path); this module merges them. The composition root passes the list of module names, so
a module added later is one more name there. Routes registered in ``web/app.py``, ``web/auth.py``
and ``web/network_check.py`` (which predate this document) are described here, in
:data:`CORE_PATHS`. ``tests/integration/test_openapi.py`` checks that every ``/api`` route on the
router is in the document and that the document is valid OpenAPI 3.1.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

DEFAULT_MODULES = (
    "web.scheduling_api",
    "web.sessions_api",
    "web.notes_api",
    "web.fhir_routes",
    "web.summary",
    "web.supervision",
)


def _error(description: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: Mapping[str, object] | None = None) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"schema": dict(schema or {"type": "object"})}},
    }


CORE_PATHS: dict[str, object] = {
    "/api/session": {
        "post": {
            "summary": "Staff sign-in (sets the tc_session cookie)",
            "tags": ["session"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["username", "password"],
                            "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                        }
                    }
                },
            },
            "responses": {
                "200": _ok("the staff view"),
                "401": _error("auth_invalid"),
                "429": _error("rate_limited"),
            },
        },
        "get": {
            "summary": "Who is signed in: the staff view with signed_in true, or {signed_in: false}",
            "tags": ["session"],
            "responses": {
                "200": _ok("{signed_in: true, staff_id, full_name, role, unit, …} or {signed_in: false}")
            },
        },
        "delete": {"summary": "Sign out", "tags": ["session"], "responses": {"200": _ok("signed out")}},
    },
    "/api/consults/{consult_id}/log": {
        "get": {
            "summary": "A consult's session log, for its host",
            "tags": ["consults"],
            "parameters": [
                {"name": "consult_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _ok("the events"),
                "401": _error("auth_required"),
                "403": _error("forbidden"),
                "404": _error("not_found"),
            },
        }
    },
    "/api/network-check/ping": {
        "get": {"summary": "Round-trip probe", "tags": ["network check"], "responses": {"200": _ok("ok")}}
    },
    "/api/network-check/download": {
        "get": {
            "summary": "N random bytes for the download estimate",
            "tags": ["network check"],
            "parameters": [
                {
                    "name": "bytes",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 524288},
                }
            ],
            "responses": {
                "200": {
                    "description": "random bytes",
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "400": _error("bad_payload"),
                "429": _error("rate_limited"),
            },
        }
    },
    "/api/network-check/upload": {
        "post": {
            "summary": "Upload probe (up to 512 KiB)",
            "tags": ["network check"],
            "requestBody": {
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
            },
            "responses": {
                "200": _ok("bytes received"),
                "413": _error("too large"),
                "429": _error("rate_limited"),
            },
        }
    },
    "/api/openapi.json": {
        "get": {"summary": "This document", "tags": ["meta"], "responses": {"200": _ok("OpenAPI 3.1")}}
    },
}

COMPONENTS: dict[str, object] = {
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string", "description": "Spanish / English"},
                    },
                }
            },
        }
    },
    "securitySchemes": {
        "staffSession": {"type": "apiKey", "in": "cookie", "name": "tc_session"},
        "joinToken": {"type": "http", "scheme": "bearer", "description": "the patient link's join token"},
    },
}


def build_document(modules: Iterable[str] = DEFAULT_MODULES) -> dict[str, Any]:
    """Merge ``CORE_PATHS`` and each importable module's ``OPENAPI_PATHS`` (missing modules are skipped)."""
    paths: dict[str, dict[str, object]] = {}
    for source in [CORE_PATHS, *(_paths_of(name) for name in modules)]:
        for path, item in source.items():
            if isinstance(item, Mapping):
                paths.setdefault(path, {}).update(item)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Teleconsulta",
            "version": "0.1.0",
            "description": "REST API of the teleconsultation server. Errors are {error: {code, message}}, "
            "messages in Spanish / English. The real-time protocol is socket.io (docs/protocol.md).",
        },
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


def _paths_of(name: str) -> Mapping[str, object]:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return {}
    paths = getattr(module, "OPENAPI_PATHS", {})
    return paths if isinstance(paths, Mapping) else {}


class OpenApi:
    def __init__(self, modules: Iterable[str] = DEFAULT_MODULES) -> None:
        self._modules = tuple(modules)
        self._document: dict[str, Any] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/openapi.json", self.document)]

    async def document(self, _: web.Request) -> web.Response:
        if self._document is None:
            self._document = build_document(self._modules)
        return web.json_response(self._document)
