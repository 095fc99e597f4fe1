"""The FHIR R4 REST face of the record store, under ``/fhir`` (read-only).

``GET /fhir/metadata``, ``GET /fhir/{type}/{id}``, ``GET /fhir/{type}?params`` (``Patient?identifier=``,
``Encounter?patient=&date=``, ``Composition?encounter=``) and ``GET /fhir/Patient/{id}/$everything``.
Staff authenticate with their login cookie; the repository decides what they may read (a role in
the patient's care) and audits every access. Every answer is ``application/fhir+json`` and every
error an ``OperationOutcome`` with its HTTP status, including unknown paths and methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from typing import Any

from aiohttp import web

from records.access import AccessContext
from records.errors import RecordError
from records.fhir_api import capability_statement, operation_outcome
from records.repository import RecordRepository
from web.auth import Authenticator
from web.errors import ApiError, Handler
from web.notes_api import staff_access
from web.security import link_base

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def _software_version() -> str:
    try:
        return metadata.version("teleconsulta")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def _language(request: web.Request) -> str:
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "es"


def _is_fhir(request: web.Request) -> bool:
    return request.path == "/fhir" or request.path.startswith("/fhir/")


def fhir_response(resource: dict[str, Any], status: int = 200) -> web.Response:
    response = web.json_response(resource, status=status, content_type=FHIR_JSON)
    response.headers["Cache-Control"] = "no-store"
    return response


def outcome(status: int, code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_CODES.get(status, "exception"),
                "details": {
                    "coding": [
                        {"system": "https://teleconsulta.example/fhir/CodeSystem/error", "code": code}
                    ],
                    "text": text,
                },
            }
        ],
    }


@web.middleware
async def fhir_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under ``/fhir`` every failure becomes an ``OperationOutcome``; elsewhere nothing changes."""
    if not _is_fhir(request):
        return await handler(request)
    try:
        return await handler(request)
    except RecordError as error:
        return fhir_response(operation_outcome(error, _language(request)), error.http_status)
    except ApiError as error:
        return fhir_response(outcome(error.status, error.code, error.message), error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = fhir_response(outcome(error.status, "http_error", error.reason), error.status)
        if "Allow" in error.headers:
            response.headers["Allow"] = error.headers["Allow"]
        return response
    except Exception as error:
        logger.error("%s %s failed: %s", request.method, request.path, type(error).__name__, exc_info=error)
        return fhir_response(operation_outcome(error), 500)


class FhirApi:
    def __init__(
        self,
        *,
        records: RecordRepository,
        auth: Authenticator,
        clock: Callable[[], datetime],
        public_url: str = "",
    ) -> None:
        self._records = records
        self._public_url = public_url
        self._auth = auth
        self._clock = clock
        self._version = _software_version()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/fhir/metadata", self.metadata),
            web.get("/fhir/Patient/{id}/$everything", self.everything),
            web.get("/fhir/{type}", self.search),
            web.get("/fhir/{type}/{id}", self.read),
        ]

    def _base(self, request: web.Request) -> str:
        return f"{link_base(self._public_url, request)}/fhir"

    def _rebase(self, request: web.Request, bundle: dict[str, Any]) -> dict[str, Any]:
        """Searchset ``fullUrl``\\ s point at this server (``TC_PUBLIC_URL``, never the ``Host`` header)."""
        stored, here = self._records.base_url, self._base(request)
        for entry in bundle.get("entry", []):
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url.startswith(stored + "/"):
                entry["fullUrl"] = here + full_url[len(stored) :]
        return bundle

    async def _ctx(self, request: web.Request) -> AccessContext:
        _, ctx = await staff_access(self._auth, request)
        return ctx

    async def metadata(self, request: web.Request) -> web.Response:
        return fhir_response(capability_statement(self._base(request), self._version, self._clock()))

    async def read(self, request: web.Request) -> web.Response:
        ctx = await self._ctx(request)
        resource = await self._records.read(request.match_info["type"], request.match_info["id"], ctx)
        return fhir_response(resource)

    async def search(self, request: web.Request) -> web.Response:
        ctx = await self._ctx(request)
        params = [(str(k), str(v)) for k, v in request.query.items()]
        bundle = await self._records.search(request.match_info["type"], params, ctx)
        return fhir_response(self._rebase(request, bundle))

    async def everything(self, request: web.Request) -> web.Response:
        ctx = await self._ctx(request)
        bundle = await self._records.everything(request.match_info["id"], ctx)
        return fhir_response(self._rebase(request, bundle))
