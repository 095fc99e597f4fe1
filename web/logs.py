"""Logging set-up that keeps tokens and clinical content out of the logs.

The access log records the path only: query strings (socket.io session ids) are dropped, and
patient links carry their token in the URL fragment, which browsers never send. A short link's
path is its credential (``/l/<code>``): it is logged as its route, ``/l/{code}``.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from notifications.dispatcher import SHORT_PATH
from web.log_format import JsonFormatter


def logged_path(path: str) -> str:
    """``path`` as the access log may write it: a short link's code is left out."""
    return f"{SHORT_PATH}{{code}}" if path.startswith(SHORT_PATH) else path


class PathOnlyAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %.1fms',
            request.remote,
            request.method,
            logged_path(request.path),
            response.status,
            time * 1000,
        )


def configure(level: str, log_format: str = "text", node: str = "") -> None:
    """Root logging for this process (the CLI's, and each media worker's: see ``WorkerPool``)."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter(node))
        logging.basicConfig(level=level, handlers=[handler])
        logging.captureWarnings(True)  # Python's warnings too, so every line on stderr is JSON
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiortc and aioice log SDP and candidates at debug level, aiosqlite and SQLAlchemy the SQL
    # parameters (clinical text, NSS): keep them at warnings at most.
    for noisy in ("aiortc", "aioice", "socketio", "engineio", "aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
