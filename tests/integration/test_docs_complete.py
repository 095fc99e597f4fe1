"""The docs list every error code a client can get and every socket event the server handles.

A client is written from docs/protocol.md and docs/api.md alone; a code or event missing there is a
client that cannot handle it. The codes are collected from the code itself (the enums, every
DomainError subclass, every literal code an API handler raises), so a new one without a line in the
docs fails here.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from enum import StrEnum
from pathlib import Path

from media.backend import MediaErrorCode
from records.errors import RecordError
from rooms.consult import ViolationCode
from rooms.errors import DomainError
from rooms.interunit import InterunitErrorCode
from signaling.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/protocol.md", "docs/api.md")
PACKAGES = ("rooms", "records", "signaling", "media", "web")
ABSTRACT_ERRORS = (DomainError, RecordError)
"""Bases that only carry a placeholder code; every rule raises one of their subclasses."""
API_ERROR_CALLS = {"ApiError": 1, "error_response": 1, "_error": 0}
"""Calls in web/ that answer with an error, and which positional argument is the code."""


def _documented() -> str:
    return "\n".join((ROOT / name).read_text(encoding="utf-8") for name in DOCS)


def _in_docs(text: str, name: str) -> bool:
    """``name`` as a whole word inside a code span (``409 slot_taken``, ``media:offer``, ``"sdp"``).

    Spans are paired left to right, as Markdown does; a span may run over a line break.
    """
    word = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
    return any(word.search(span) for span in re.findall(r"`([^`]+)`", text))


def _domain_error_codes() -> dict[str, str]:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            # Entry points and alembic scripts run on import; they define no errors.
            if not info.name.endswith("__main__") and ".migrations" not in info.name:
                importlib.import_module(info.name)
    codes: dict[str, str] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls not in ABSTRACT_ERRORS and "CODE" in vars(cls):
            codes[cls.CODE] = f"{cls.__module__}.{cls.__qualname__}"
    return codes


def _api_error_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    for path in sorted((ROOT / "web").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            position = API_ERROR_CALLS.get(name)
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            # A code is snake_case; other helpers of the same name (OpenAPI's) take descriptions.
            if isinstance(argument, ast.Constant) and re.fullmatch(r"[a-z][a-z_]*", str(argument.value)):
                codes[argument.value] = f"{path.relative_to(ROOT)}:{node.lineno}"
    return codes


def _enum_codes(*enums: type[StrEnum]) -> dict[str, str]:
    return {member.value: f"{enum.__module__}.{enum.__qualname__}" for enum in enums for member in enum}


def test_the_collectors_find_what_they_look_for() -> None:
    # A collector that silently found nothing would make the check below pass vacuously.
    assert {"slot_taken", "invalid_identifier", "unsafe_text", "invalid_patient"} <= set(
        _domain_error_codes()
    )
    assert {"auth_required", "bad_payload", "http_error", "internal"} <= set(_api_error_codes())
    assert "auth_invalid" in _enum_codes(ErrorCode)


def test_every_error_code_is_in_the_docs() -> None:
    codes = {
        **_enum_codes(ErrorCode, MediaErrorCode, ViolationCode, InterunitErrorCode),
        **_domain_error_codes(),
        **_api_error_codes(),
    }
    text = _documented()
    missing = {code: where for code, where in sorted(codes.items()) if not _in_docs(text, code)}
    assert not missing, f"error codes missing from {' and '.join(DOCS)}: {missing}"


def _handled_events() -> list[str]:
    """Every event ``SignalingServer`` registers through its guard (``self._handle("event", …)``)."""
    tree = ast.parse((ROOT / "signaling/server.py").read_text(encoding="utf-8"))
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "_handle"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_every_socket_event_is_in_the_protocol_doc() -> None:
    events = _handled_events()
    assert {"hello", "media:offer", "consult:end"} <= set(events)
    text = (ROOT / "docs/protocol.md").read_text(encoding="utf-8")
    missing = [event for event in events if not _in_docs(text, event)]
    assert not missing, f"socket events missing from docs/protocol.md: {missing}"
