"""``TC_LOG_FORMAT=json``: one JSON object per log line, for log collectors.

Fields: ``time`` (UTC, ISO 8601), ``level``, ``event`` (the message), ``logger``, ``node``
(``TC_NODE_ID`` or the host name), ``worker`` (the process id: the main process and each media
worker differ), and, when a call passes them as ``extra``, ``consult_id`` and ``error_code``;
``exception`` holds a traceback. Other ``extra`` fields are dropped: a formatter that copied
whatever it was given would let a name or a token slip into the logs one day. The message is
what the code logs, and the code never logs names, NSS, tokens, SDP or note text
(``tests/integration/test_json_logs.py`` searches a whole consult's logs for them).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

EXTRA_FIELDS = ("consult_id", "error_code")


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self._node = node

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "event": record.getMessage(),
            "logger": record.name,
            "node": self._node,
            "worker": os.getpid(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
