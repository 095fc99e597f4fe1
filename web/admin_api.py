"""``/api/admin/…``: units and staff accounts for administrators, and the public set-password route.

Every admin route needs a signed-in account with the ``admin`` role (``401 auth_required`` without
a session, ``403 forbidden`` for any other role). Every change goes through
:class:`web.admin_accounts.Accounts`, as the CLI's do, and is audited with the admin's id and
address. Refusals keep their rule's code (``invalid_account``, ``invalid_identifier``,
``invalid_name``, ``unknown_time_zone``, ``unknown_unit``, ``unknown_account``).
"""

from __future__ import annotations

from aiohttp import web

from records.errors import RecordError
from records.staff import Admin, Setup
from records.staff_facts import clean_unit_id, staff_facts, unit_facts
from rooms.errors import DomainError
from rooms.roles import Role
from rooms.staff import StaffMember
from web.admin_accounts import Accounts
from web.auth import Authenticator, client_address
from web.errors import ApiError
from web.payloads import answer, read_body
from web.schemas.admin import (
    AccountChanged,
    AccountsView,
    AccountView,
    ImportView,
    NewLink,
    PasswordSet,
    PasswordSetupRequest,
    ProvisionedView,
    StaffRequest,
    UnitChange,
    UnitPut,
    UnitRequest,
    UnitsView,
    UnitView,
)
from web.security import link_base

MAX_CSV_BYTES = 4 * 1024 * 1024
"""About 50,000 rows: more than the program's whole staff in one file."""
MIN_PASSWORD = 10


def _refused(error: DomainError) -> ApiError:
    status = error.http_status if isinstance(error, RecordError) else 400
    return ApiError(status, error.code, f"{error.message_es} / {error.message_en}")


class AdminApi:
    def __init__(self, accounts: Accounts, auth: Authenticator, public_url: str) -> None:
        self._accounts = accounts
        self._auth = auth
        self._public_url = public_url

    def _link(self, request: web.Request, setup: Setup) -> str:
        return self._accounts.link(setup, link_base(self._public_url, request))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/admin/units", self.units),
            web.put("/api/admin/units/{unit}", self.put_unit),
            web.get("/api/admin/staff", self.staff),
            web.post("/api/admin/staff", self.provision),
            web.post("/api/admin/staff/import", self.import_csv),
            web.post("/api/admin/staff/{username}/disable", self.disable),
            web.post("/api/admin/staff/{username}/enable", self.enable),
            web.post("/api/admin/staff/{username}/reset-password", self.reset_password),
            web.put("/api/admin/staff/{username}/unit", self.change_unit),
            web.post("/api/password-setup", self.set_password),
        ]

    async def _admin(self, request: web.Request) -> Admin:
        member: StaffMember | None = await self._auth.current_staff(request)
        if member is None:
            raise ApiError(401, "auth_required", "Inicie sesión. / Please sign in.")
        if member.role is not Role.ADMIN:
            raise ApiError(403, "forbidden", "Solo para administradores. / Administrators only.")
        return Admin(member.staff_id, member.full_name, client_address(request))

    async def units(self, request: web.Request) -> web.Response:
        await self._admin(request)
        units = await self._accounts.directory.units()
        return answer(UnitsView(units=[UnitView.of(u) for u in units]))

    async def put_unit(self, request: web.Request) -> web.Response:
        admin = await self._admin(request)
        body = await read_body(request, UnitRequest)
        try:
            facts = unit_facts(request.match_info["unit"], body.clues, body.name, body.time_zone)
            created = await self._accounts.put_unit(facts, admin)
        except DomainError as error:
            raise _refused(error) from None
        return answer(UnitPut(unit=UnitView.of(facts), created=created), 201 if created else 200)

    async def staff(self, request: web.Request) -> web.Response:
        await self._admin(request)
        unit = request.query.get("unit")
        try:
            accounts = await self._accounts.directory.accounts(clean_unit_id(unit) if unit else None)
        except DomainError as error:
            raise _refused(error) from None
        return answer(AccountsView(accounts=[AccountView.of(a) for a in accounts]))

    async def provision(self, request: web.Request) -> web.Response:
        """Create the account (201, with its one-time link), or update it by username (200)."""
        admin = await self._admin(request)
        body = await read_body(request, StaffRequest)
        try:
            facts = staff_facts(body.username, body.full_name, body.role, body.unit, body.licence)
            result = await self._accounts.provision(facts, admin)
        except DomainError as error:
            raise _refused(error) from None
        link = self._link(request, result.setup) if result.setup is not None else None
        return answer(ProvisionedView.of(result, link), 201 if result.created else 200)

    async def import_csv(self, request: web.Request) -> web.Response:
        """A CSV file of accounts (``text/csv``): all stored (200) or none (422, every bad row named)."""
        admin = await self._admin(request)
        text = await _csv_text(request)
        report = await self._accounts.import_csv(text, admin)
        links = [
            NewLink(username=r.account.username, setup_link=self._link(request, r.setup))
            for r in report.results
            if r.setup is not None
        ]
        return answer(ImportView.of(report, links), 200 if report.ok else 422)

    async def disable(self, request: web.Request) -> web.Response:
        admin = await self._admin(request)
        try:
            ended = await self._accounts.disable(request.match_info["username"], admin)
        except DomainError as error:
            raise _refused(error) from None
        return answer(
            AccountChanged(account=AccountView.of(ended.account), sessions_ended=ended.sessions_ended)
        )

    async def enable(self, request: web.Request) -> web.Response:
        admin = await self._admin(request)
        try:
            account = await self._accounts.enable(request.match_info["username"], admin)
        except DomainError as error:
            raise _refused(error) from None
        return answer(AccountChanged(account=AccountView.of(account)))

    async def reset_password(self, request: web.Request) -> web.Response:
        admin = await self._admin(request)
        try:
            ended, setup = await self._accounts.reset_password(request.match_info["username"], admin)
        except DomainError as error:
            raise _refused(error) from None
        return answer(
            AccountChanged(
                account=AccountView.of(ended.account),
                sessions_ended=ended.sessions_ended,
                setup_link=self._link(request, setup),
            )
        )

    async def change_unit(self, request: web.Request) -> web.Response:
        admin = await self._admin(request)
        body = await read_body(request, UnitChange)
        try:
            account = await self._accounts.change_unit(
                request.match_info["username"], clean_unit_id(body.unit), admin
            )
        except DomainError as error:
            raise _refused(error) from None
        return answer(AccountChanged(account=AccountView.of(account)))

    async def set_password(self, request: web.Request) -> web.Response:
        """The person behind a one-time link chooses their password (public: the link is the proof)."""
        body = await read_body(request, PasswordSetupRequest)
        if len(body.password) < MIN_PASSWORD:
            raise ApiError(
                400,
                "weak_password",
                f"Use al menos {MIN_PASSWORD} caracteres. / Use at least {MIN_PASSWORD} characters.",
            )
        password_hash = await self._auth.passwords.hash(body.password)
        try:
            account = await self._accounts.directory.complete_setup(
                body.token, password_hash, client_address(request)
            )
        except DomainError as error:
            raise _refused(error) from None
        return answer(PasswordSet(ok=True, username=account.username))


async def _csv_text(request: web.Request) -> str:
    if request.content_type not in ("text/csv", "text/plain", "application/octet-stream"):
        raise ApiError(
            415, "bad_payload", "Se espera un archivo CSV (text/csv). / A CSV file (text/csv) is expected."
        )
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > MAX_CSV_BYTES:
            raise ApiError(413, "payload_too_large", "Archivo demasiado grande. / File too large.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_payload", "El archivo no es UTF-8. / The file is not UTF-8.") from None
