"""What crosses the wire: bodies and query strings read through their schemas, answers from views.

Every REST route reads what a client sends with :func:`read_body` or :func:`read_query`, so every
refused input has one shape: ``400 bad_payload`` whose message names the invalid fields, never
their values (a value may be a patient's name). Bodies are bounded before they are parsed
(``413 payload_too_large``) and must be JSON objects (``415``/``400 bad_payload``). What a field's
value means (an NSS, a zone, a slot) is the domain's rule, which answers with its own codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from web.errors import ApiError
from web.schemas.base import Body, Query

B = TypeVar("B", bound=Body)
Q = TypeVar("Q", bound=Query)


async def read_body(request: web.Request, model: type[B]) -> B:
    """The request's JSON body as ``model``, or a 4xx that changes nothing."""
    return _validated(model, await _json_object(request, model.MAX_BYTES))


def read_query(request: web.Request, model: type[Q]) -> Q:
    """The request's query string as ``model`` (the first value of a repeated parameter)."""
    return _validated(model, {name: request.query[name] for name in request.query})


def answer(view: BaseModel, status: int = 200) -> web.Response:
    """``view`` as JSON, with the fields it was given (see :mod:`web.schemas.base`)."""
    return web.json_response(view.model_dump(mode="json", exclude_unset=True), status=status)


def bad_payload(*names: str, unknown: bool = False) -> ApiError:
    """``400 bad_payload`` naming the invalid fields, and saying whether unknown ones were sent (not
    naming those: their names are the client's text)."""
    es = ", ".join([*names, *(["campos desconocidos"] if unknown else [])])
    en = ", ".join([*names, *(["unknown fields"] if unknown else [])])
    return ApiError(400, "bad_payload", f"Datos no válidos: {es}. / Invalid fields: {en}.")


def invalid_fields(error: ValidationError) -> ApiError:
    """:func:`bad_payload` for the fields a failed validation is about."""
    known, unknown = set(), False
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        if problem["type"] == "extra_forbidden":
            unknown = True
        else:
            known.add(".".join(str(part) for part in problem["loc"]) or "body")
    return bad_payload(*sorted(known), unknown=unknown)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: Mapping[str, object]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_fields(error) from None


async def _json_object(request: web.Request, max_bytes: int) -> dict[str, object]:
    if request.content_type != "application/json":
        raise ApiError(415, "bad_payload", "Se espera JSON. / JSON expected.")
    if request.content_length is None or request.content_length > max_bytes:
        raise ApiError(413, "payload_too_large", "Solicitud demasiado grande. / Request too large.")
    try:
        data = await request.json()
    except ValueError:
        raise ApiError(400, "bad_payload", "JSON no válido. / Invalid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_payload", "Se espera un objeto JSON. / A JSON object is expected.")
    return data
