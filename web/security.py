"""Security headers on every response.

The pages load only their own scripts and styles (no inline code), so the policy can forbid
everything else; framing is refused so the console cannot be click-jacked; no referrer leaves
the site.
"""

from __future__ import annotations

import re

from aiohttp import web

from web.errors import Handler

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _policy(host: str) -> str:
    sockets = f"ws://{host} wss://{host}" if _SAFE_HOST.match(host) else ""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' {sockets}".rstrip(),
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
        _apply(request, response)
        raise
    _apply(request, response)
    return response


def _apply(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = _policy(request.host)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.path.startswith("/api/") or request.path in ("/paciente", "/consola"):
        headers["Cache-Control"] = "no-store"
    if request.secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
