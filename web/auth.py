"""Staff sign-in: argon2 password hashes and server-side sessions behind an HttpOnly cookie.

The cookie holds only a random session id; the session lives in the store, so signing out (or
an operator removing it) ends it everywhere at once.

Checking a password costs an argon2 verify (about 0.1 to 0.35 s of CPU, on several cores). It runs
in a small thread pool of its own (:class:`PasswordHashing`), never on the event loop, so 100
nurses signing in at the start of a shift queue for the pool while calls and sockets on the same
node carry on. An unknown username is checked against a dummy hash at the same cost, so the
answer time does not tell which usernames exist. Guessing is slowed by
:mod:`web.login_throttle` (per username and per address, shared through Redis when configured).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from rooms.roles import STAFF_ROLES
from rooms.staff import StaffMember, StaffSession
from rooms.store.base import Stores
from signaling.connections import SESSION_COOKIE
from web.errors import ApiError, rate_limited
from web.login_throttle import LoginThrottle
from web.payloads import answer, read_body
from web.schemas.staff import LoginRequest, SessionState, SignedIn, SignedOff, SignedOut, StaffView

MAX_CREDENTIAL_LENGTH = 256


class PasswordHashing:
    """argon2 hashing and verifying in at most ``threads`` threads at once.

    The bound is the point: a burst of logins waits in the pool's queue instead of taking every
    core (and 64 MiB of memory per verify) away from the media and the event loop.
    """

    def __init__(self, threads: int, hasher: PasswordHasher | None = None) -> None:
        if threads < 1:
            raise ValueError("password hashing needs at least one thread")
        self._hasher = hasher or PasswordHasher()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")

    def hash_now(self, password: str) -> str:
        """Hash on the calling thread: for setting accounts up outside any request (tests, CLI)."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, password_hash, password
        )

    def close(self) -> None:
        """Drop queued work (its requests are gone) and let the threads end."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def require_unit(member: StaffMember, unit: str) -> None:
    """``403 wrong_unit`` unless ``member`` belongs to ``unit``."""
    if member.unit != unit:
        raise ApiError(
            403, "wrong_unit", f"No pertenece a la unidad «{unit}». / You are not a member of unit '{unit}'."
        )


def client_address(request: web.Request) -> str:
    """The peer address of the connection. ``X-Forwarded-For`` is not read: no setting says
    which proxy may be trusted, and anyone can send the header (docs/operations.md)."""
    return request.remote or "unknown"


class Authenticator:
    def __init__(
        self,
        stores: Stores,
        *,
        session_lifetime: timedelta,
        secure_cookies: bool,
        clock: Callable[[], datetime],
        throttle: LoginThrottle,
        passwords: PasswordHashing,
    ) -> None:
        self._stores = stores
        self._lifetime = session_lifetime
        self._secure = secure_cookies
        self._clock = clock
        self._throttle = throttle
        self.passwords = passwords
        self._dummy_hash: str | None = None
        self._dummy_lock = asyncio.Lock()

    def hash_password(self, password: str) -> str:
        """Hash on the calling thread, for accounts set up before serving (tests, benchmarks)."""
        return self.passwords.hash_now(password)

    def close(self) -> None:
        self.passwords.close()

    async def current_staff(self, request: web.Request) -> StaffMember | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id or len(session_id) > 128:
            return None
        session = await self._stores.sessions.get(session_id)
        if session is None or session.expires_at <= self._clock():
            return None
        return await self._stores.staff.by_id(session.staff_id)

    async def require_staff(self, request: web.Request, unit: str | None = None) -> StaffMember:
        """The signed-in staff member (``401 auth_required`` without one); with ``unit``, a member of
        that unit (``403 wrong_unit`` otherwise). Every staff route starts here."""
        member = await self.current_staff(request)
        if member is None or member.role not in STAFF_ROLES:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        if unit is not None:
            require_unit(member, unit)
        return member

    async def login(self, request: web.Request) -> web.Response:
        body = await read_body(request, LoginRequest)
        username, password = body.username, body.password
        if len(username) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
            raise ApiError(400, "payload_too_large", "Credenciales demasiado largas. / Credentials too long.")
        address = client_address(request)
        # Before the throttle: the first login on a node pays for the dummy hash whoever signs in.
        dummy = await self._dummy()
        wait = await self._throttle.attempt(username, address)
        if wait > 0:
            raise rate_limited(wait, "Demasiados intentos; espere {s} s.", "Too many attempts; wait {s} s.")
        member = await self._stores.staff.by_username(username)
        # An unknown username, or an account whose password is not set yet, costs the same verify
        # as a known one, against the dummy hash (which no password matches).
        hashed = member.password_hash if member is not None else ""
        valid = await self.passwords.verify(hashed or dummy, password) and bool(hashed)
        if member is None or not valid:
            raise ApiError(
                401, "auth_invalid", "Usuario o contraseña incorrectos. / Wrong username or password."
            )
        await self._throttle.succeeded(username, address)
        created = self._clock()
        session = StaffSession(secrets.token_urlsafe(32), member.staff_id, created, created + self._lifetime)
        await self._stores.sessions.add(session)
        response = answer(StaffView.of(member))
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

    async def logout(self, request: web.Request) -> web.Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await self._stores.sessions.remove(session_id)
        response = answer(SignedOff(ok=True))
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: web.Request) -> web.Response:
        """Who is signed in. Not being signed in is an ordinary answer (``signed_in: false``), not an
        HTTP error: every staff page asks on load, and a 401 there showed as an error in the browser."""
        member = await self.current_staff(request)
        if member is None:
            return answer(SessionState(SignedOut(signed_in=False)))
        return answer(SessionState(SignedIn(signed_in=True, **StaffView.of(member).model_dump())))

    async def _dummy(self) -> str:
        """A hash of a random password, made once, with the same parameters as real ones."""
        async with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = await self.passwords.hash(secrets.token_urlsafe(16))
            return self._dummy_hash
