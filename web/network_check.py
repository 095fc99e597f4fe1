"""The pre-join network check: tiny endpoints a page times to estimate its link to this server.

A patient on a metered connection should not pay for a long speed test, so transfers are small
(capped at 512 KiB each way) and each address may run a few checks a minute. The page measures;
the server only answers.
"""

from __future__ import annotations

import os
import time
from collections import deque

from aiohttp import web

from web.errors import ApiError
from web.payloads import answer, read_query
from web.schemas.network_check import MAX_TRANSFER, DownloadQuery, Pong, Uploaded

REQUESTS_PER_MINUTE = 120
"""Per address: a check is a few pings and two transfers, so this allows many checks a minute."""


class NetworkCheck:
    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = {}
        self._payload = os.urandom(MAX_TRANSFER)  # incompressible, made once

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/network-check/ping", self.ping),
            web.get("/api/network-check/download", self.download),
            web.post("/api/network-check/upload", self.upload),
        ]

    def _allow(self, request: web.Request) -> None:
        now = time.monotonic()
        calls = self._recent.setdefault(request.remote or "?", deque())
        while calls and now - calls[0] > 60:
            calls.popleft()
        if len(calls) >= REQUESTS_PER_MINUTE:
            raise ApiError(429, "rate_limited", "Demasiadas pruebas; espere un minuto. / Too many checks.")
        calls.append(now)
        if len(self._recent) > 10_000:
            self._recent.clear()

    async def ping(self, request: web.Request) -> web.Response:
        self._allow(request)
        return answer(Pong(ok=True))

    async def download(self, request: web.Request) -> web.Response:
        self._allow(request)
        size = read_query(request, DownloadQuery).bytes
        return web.Response(
            body=self._payload[:size],
            content_type="application/octet-stream",
            headers={"Cache-Control": "no-store"},
        )

    async def upload(self, request: web.Request) -> web.Response:
        self._allow(request)
        received = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            received += len(chunk)
            if received > MAX_TRANSFER:
                raise ApiError(413, "payload_too_large", "Máximo 512 KiB. / At most 512 KiB.")
        return answer(Uploaded(bytes=received))
