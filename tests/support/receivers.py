"""Local stand-ins for the outside world a dispatcher talks to: an SMS provider's HTTP API that records
what it got and fails on demand, and a real SMTP server (aiosmtpd) that keeps every message and
refuses on demand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class HttpReceiver:
    """Answers ``fail_with`` to the next ``failures`` requests, then ``200``; keeps every request."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    fail_with: int = 503

    async def handle(self, request: web.Request) -> web.Response:
        got = {
            "body": json.loads(await request.text()),
            "key": request.headers.get("Idempotency-Key"),
            "auth": request.headers.get("Authorization"),
            "headers": dict(request.headers),
        }
        if self.failures > 0:
            self.failures -= 1
            self.refused.append(got)
            return web.json_response({"error": "try later"}, status=self.fail_with)
        self.received.append(got)
        return web.json_response({"id": len(self.received)})


@asynccontextmanager
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver()
    app = web.Application()
    app.router.add_post("/messages", receiver.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    receiver.url = str(server.make_url("/messages"))
    try:
        yield receiver
    finally:
        await server.close()


class _Keep:
    """Refuses the next ``failures`` messages with a temporary ``451`` (a server that cannot take mail
    now), then keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.failures = 0
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.failures > 0:
            self.failures -= 1
            self.refused += 1
            return "451 4.3.0 Try again later"
        content = envelope.original_content or b""
        self.messages.append(message_from_bytes(content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpReceiver:
    host: str
    port: int
    handler: _Keep

    @property
    def messages(self) -> list[Message]:
        return self.handler.messages


@asynccontextmanager
async def smtp_receiver() -> AsyncIterator[SmtpReceiver]:
    """A real SMTP server (aiosmtpd's protocol) on a free local port of the test's own loop."""
    handler = _Keep()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0)
    try:
        yield SmtpReceiver("127.0.0.1", server.sockets[0].getsockname()[1], handler)
    finally:
        server.close()
        await server.wait_closed()
