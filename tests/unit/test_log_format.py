"""``TC_LOG_FORMAT=json``: the line's fields, and only the extras that are allowed through."""

from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from web.config import ConfigError, Settings
from web.log_format import JsonFormatter


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("media.sfu", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_is_one_json_object_with_the_documented_fields() -> None:
    record = _record("rejected an offer in room %s", "c-1", consult_id="c-1", error_code="bad_sdp")
    line = JsonFormatter("node-a").format(record)
    entry = json.loads(line)
    assert "\n" not in line
    assert entry == {
        "time": entry["time"],
        "level": "WARNING",
        "event": "rejected an offer in room c-1",
        "logger": "media.sfu",
        "node": "node-a",
        "worker": os.getpid(),
        "consult_id": "c-1",
        "error_code": "bad_sdp",
    }
    assert entry["time"].endswith("+00:00")


def test_other_extras_never_reach_the_line() -> None:
    entry = json.loads(JsonFormatter("n").format(_record("x", patient_name="Ana", sdp="v=0", token="t")))
    assert set(entry) == {"time", "level", "event", "logger", "node", "worker"}


def test_an_exception_stays_inside_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("web", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = JsonFormatter("n").format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]


def test_settings_choose_the_format_and_the_node() -> None:
    settings = Settings.from_env({"TC_LOG_FORMAT": "json", "TC_NODE_ID": "nodo-1"})
    assert (settings.log_format, settings.node_id) == ("json", "nodo-1")
    assert Settings.from_env({}).log_format == "text" and Settings.from_env({}).node_id
    with pytest.raises(ConfigError):
        Settings.from_env({"TC_LOG_FORMAT": "xml"})
