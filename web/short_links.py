"""``GET /l/{code}``: an SMS's short link, followed to the real link it stands for.

The dispatcher makes the code (:mod:`records.short_links`); this answers ``302`` with the real
link's path and fragment as ``Location`` (``/paciente#t=…``, ``/resumen#t=…``, ``/baja#t=…``), so
the browser opens the same page an e-mail's link opens and keeps the token in the fragment, which
it never sends anywhere. An unknown or expired code gets a page that says so in Spanish and
English (``404``). The code is a credential like the token: ``no-store`` keeps it out of caches,
and the access log writes the route, never the code (``web/logs.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from aiohttp import web

from notifications.dispatcher import SHORT_PATH
from records.short_links import ShortLinkStore

ROUTE = f"{SHORT_PATH}{{code}}"
_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""What a code can look like (URL-safe base64); anything else is unknown without a database read."""


class ShortLinks:
    def __init__(self, store: ShortLinkStore, *, missing_page: Path, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._missing_page = missing_page
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [web.get(ROUTE, self.follow)]

    async def follow(self, request: web.Request) -> web.StreamResponse:
        code = request.match_info["code"]
        target = await self._store.target(code, self._clock()) if _CODE.fullmatch(code) else None
        if target is None:
            missing = web.FileResponse(self._missing_page, status=404)
            missing.headers["Cache-Control"] = "no-store"
            return missing
        return web.Response(status=302, headers={"Location": target, "Cache-Control": "no-store"})
