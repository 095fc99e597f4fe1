"""Security headers on every response, the same-origin rule for signed-in writes, and where links point.

The pages load only their own scripts and styles (no inline code), so the policy can forbid
everything else; framing is refused so the console cannot be click-jacked; no referrer leaves
the site. HSTS goes out whenever the browser reached us over HTTPS, directly or through a TLS
proxy that says so (``X-Forwarded-Proto: https``).

Staff are signed in by a cookie, which a browser attaches to requests that other sites make it
send. SameSite=Strict already keeps it off them, but a write must not depend on one cookie flag:
a POST, PUT, PATCH or DELETE that carries the staff cookie must come from our own origin. The
browser says where a request comes from in ``Origin`` (on every cross-origin write, and as
``null`` from sandboxed or no-referrer contexts), else ``Referer``. A request that names another
origin, or ``null``, is refused (``403 bad_origin``); one that names neither comes from no web page
(curl, scripts, the test clients), since browsers always send ``Origin`` on cross-origin writes,
and is let through. Our origin is ``TC_PUBLIC_URL`` when set, and the origin the request was
addressed to (its ``Host``, with ``X-Forwarded-Proto`` behind a proxy): a page cannot choose the
``Host`` its victim's browser sends, so a foreign page never matches it.

Links handed to people (patients, invitees, FHIR ``fullUrl``) are built by :func:`link_base`:
from ``TC_PUBLIC_URL``, else from the address of the server socket the request arrived on, never
from the ``Host`` header, which any client sets to anything (``Host: evil.example`` must not give
a nurse a patient link to ``http://evil.example``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from signaling.connections import SESSION_COOKIE
from web.errors import Handler, error_response

log = logging.getLogger(__name__)


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
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
    # A route answering with a stricter policy of its own (a patient's photo: default-src 'none') keeps it.
    headers.setdefault("Content-Security-Policy", _policy(request.host))
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = "camera=(self), microphone=(self), display-capture=(self), geolocation=()"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.path.startswith("/api/") or request.path in ("/paciente", "/consola"):
        headers["Cache-Control"] = "no-store"
    if request.secure or forwarded_proto(request) == "https":
        headers["Strict-Transport-Security"] = "max-age=31536000"


def forwarded_proto(request: web.Request) -> str | None:
    """The scheme a TLS proxy says the browser used (``X-Forwarded-Proto``, first hop), if any."""
    value = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return value if value in _DEFAULT_PORTS else None


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL or ``Origin`` value; ``None`` for ``null`` or anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def same_origin_writes(public_url: str) -> Middleware:
    """Refuse cookie-authenticated writes that a browser says come from another origin (module docstring)."""
    configured = origin_of(public_url) if public_url else None

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS and SESSION_COOKIE in request.cookies:
            claimed = request.headers.get("Origin") or request.headers.get("Referer")
            if claimed is not None:
                own = origin_of(f"{forwarded_proto(request) or request.scheme}://{request.host}")
                found = origin_of(claimed)
                if found is None or found not in (configured, own):
                    log.warning("refused %s %s: it came from another origin", request.method, request.path)
                    return error_response(
                        403,
                        "bad_origin",
                        "Solicitud rechazada: viene de otro sitio. / Refused: it came from another site.",
                    )
        return await handler(request)

    return check_origin


def long_polling_guard(prefix: str, max_bytes: int, answer_within: float) -> Middleware:
    """Answer every long-polling POST under ``prefix``: too big, of unknown length, or stuck.

    engine.io answers a POST it cannot take (over its size limit, or with a packet a client may not
    send) by closing the session and then waiting until the client's next poll has taken the close
    packet. If no poll is waiting, that never happens and the request hung for ever, one stuck
    handler per request. So a body over ``max_bytes`` gets ``413`` before it is read (aiohttp
    discards the unread body, bounded by its lingering time), and a POST still unanswered after
    ``answer_within`` seconds, by which time engine.io counts a silent client as gone, gets ``400``
    (its session is already closed; engine.io drops it). A POST engine.io accepts answers at once.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST" or not request.path.startswith(prefix):
            return await handler(request)
        if request.content_length is None and request.body_exists:
            return error_response(
                411, "length_required", "Falta Content-Length. / Content-Length is required."
            )
        if (request.content_length or 0) > max_bytes:
            return error_response(
                413,
                "payload_too_large",
                f"Mensaje demasiado grande (máximo {max_bytes} bytes). / "
                f"Message too large (at most {max_bytes} bytes).",
            )
        try:
            return await asyncio.wait_for(handler(request), answer_within)
        except TimeoutError:
            return error_response(
                400,
                "bad_payload",
                "Paquete no válido; la sesión se cerró. / Invalid packet; the session closed.",
            )

    return guard


def link_base(public_url: str, request: web.Request) -> str:
    """The origin links in this response point at: ``TC_PUBLIC_URL``, else this server's own address.

    The fallback is the local address of the socket the request arrived on (``http://127.0.0.1:8080``
    for the demo, the interface's address when listening on all of them), never the ``Host`` header.
    """
    if public_url:
        return public_url.rstrip("/")
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        raise web.HTTPServiceUnavailable(text="The connection closed. / La conexión se cerró.")
    address = ipaddress.ip_address(str(sockname[0]).split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    host = f"[{address}]" if address.version == 6 else str(address)
    return f"{request.scheme}://{host}:{int(sockname[1])}"
