"""Staff sign-in: argon2 password hashes and server-side sessions behind an HttpOnly cookie.

The cookie holds only a random session id; the session lives in the store, so signing out (or
an operator removing it) ends it everywhere at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rooms.staff import StaffMember, StaffSession
from rooms.store.base import Stores
from signaling.server import SESSION_COOKIE
from web.errors import ApiError, json_object

MAX_CREDENTIAL_LENGTH = 256


@dataclass
class LoginThrottle:
    """Slow password guessing: after 5 failures a username is refused for a growing delay."""

    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def blocked_for(self, username: str, now: float) -> float:
        count, until = self.failures.get(username, (0, 0.0))
        return max(0.0, until - now) if count >= 5 else 0.0

    def failed(self, username: str, now: float) -> None:
        count, _ = self.failures.get(username, (0, 0.0))
        count += 1
        self.failures[username] = (count, now + min(300.0, 2.0 ** max(0, count - 5)))

    def succeeded(self, username: str) -> None:
        self.failures.pop(username, None)


class Authenticator:
    def __init__(
        self,
        stores: Stores,
        *,
        session_lifetime: timedelta,
        secure_cookies: bool,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._stores = stores
        self._hasher = PasswordHasher()
        self._lifetime = session_lifetime
        self._secure = secure_cookies
        self._clock = clock
        self._monotonic = monotonic
        self._throttle = LoginThrottle()

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    async def current_staff(self, request: web.Request) -> StaffMember | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or len(session_id) > 128:
            return None
        session = await self._stores.sessions.get(session_id)
        if session is None or session.expires_at <= self._clock():
            return None
        return await self._stores.staff.by_id(session.staff_id)

    async def login(self, request: web.Request) -> web.Response:
        data = await json_object(request, max_bytes=4096)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(
                400,
                "bad_payload",
                "Usuario y contraseña son obligatorios. / Username and password are required.",
            )
        if len(username) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
            raise ApiError(400, "payload_too_large", "Credenciales demasiado largas. / Credentials too long.")
        now = self._monotonic()
        wait = self.blocked_for(username, now)
        if wait:
            raise ApiError(
                429, "rate_limited", f"Demasiados intentos; espere {int(wait) + 1} s. / Too many attempts."
            )
        member = await self._stores.staff.by_username(username)
        if member is None or not self._verify(member, password):
            self._throttle.failed(username, now)
            raise ApiError(
                401, "auth_invalid", "Usuario o contraseña incorrectos. / Wrong username or password."
            )
        self._throttle.succeeded(username)
        created = self._clock()
        session = StaffSession(secrets.token_urlsafe(32), member.staff_id, created, created + self._lifetime)
        await self._stores.sessions.add(session)
        response = web.json_response(staff_view(member))
        response.set_cookie(
            SESSION_COOKIE,
            session.session_id,
            max_age=int(self._lifetime.total_seconds()),
            httponly=True,
            samesite="Strict",
            secure=self._secure,
            path="/",
        )
        return response

    def blocked_for(self, username: str, now: float) -> float:
        return self._throttle.blocked_for(username, now)

    async def logout(self, request: web.Request) -> web.Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await self._stores.sessions.remove(session_id)
        response = web.json_response({"ok": True})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        member = await self.current_staff(request)
        if member is None:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        return web.json_response(staff_view(member))

    def _verify(self, member: StaffMember, password: str) -> bool:
        try:
            return self._hasher.verify(member.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def staff_view(member: StaffMember) -> dict[str, str]:
    return {
        "staff_id": member.staff_id,
        "username": member.username,
        "full_name": member.full_name,
        "role": member.role.value,
        "unit": member.unit,
        "time_zone": member.time_zone,
    }
