"""``teleconsulta-admin`` (or ``python -m web.admin``): units and staff accounts from the command line.

It reads the same environment as the server (``TC_DATABASE_URL``, ``TC_REDIS_URL``, ``TC_PUBLIC_URL``),
brings the database to the newest schema, and changes accounts through the same code as the admin
REST API (``web/admin_accounts.py``): every change is audited with ``cli:<system user>`` as its
author, a disabled account's sessions end (in Redis, so on every node), and new accounts get a
one-time set-password link instead of a password. Exit status: 0 done, 1 refused (the reason is
printed), 2 bad configuration.

    teleconsulta-admin create-unit UMF-7 --clues DFIMS000652 --name "UMF 7" --time-zone America/Mexico_City
    teleconsulta-admin create-staff ana.lopez --name "Ana López" --role nurse --unit UMF-7 --licence 1234567
    teleconsulta-admin import-csv enfermeras.csv --links enlaces.csv
    teleconsulta-admin disable ana.lopez | enable ana.lopez | reset-password ana.lopez
    teleconsulta-admin change-unit ana.lopez UMF-8
    teleconsulta-admin list [--unit UMF-7]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from redis.asyncio import Redis

from records.db import create_engine
from records.migrate import migrate
from records.staff import Admin, StaffDirectory
from records.staff_facts import staff_facts, unit_facts
from records.staff_import import ImportReport
from rooms.errors import DomainError
from rooms.store.base import LoginSessionStore
from rooms.store.memory import MemoryLoginSessionStore
from rooms.store.redis import RedisLoginSessionStore, RedisStaffCache
from web.admin_accounts import Accounts
from web.config import ConfigError, Settings


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="teleconsulta-admin", description="Units and staff accounts")
    commands = root.add_subparsers(dest="command", required=True)
    unit = commands.add_parser("create-unit", help="create a unit, or update its CLUES, name and zone")
    unit.add_argument("unit")
    unit.add_argument("--clues", required=True)
    unit.add_argument("--name", required=True)
    unit.add_argument("--time-zone", default="America/Mexico_City")
    staff = commands.add_parser("create-staff", help="create an account (or update it by username)")
    staff.add_argument("username")
    staff.add_argument("--name", required=True)
    staff.add_argument("--role", required=True)
    staff.add_argument("--unit", required=True)
    staff.add_argument("--licence", default="", help="cédula profesional (needed to sign notes)")
    bulk = commands.add_parser("import-csv", help="create or update accounts from a CSV file, all or none")
    bulk.add_argument("file", type=Path)
    bulk.add_argument("--links", type=Path, help="write username,link of the new accounts to this CSV file")
    for name in ("disable", "enable", "reset-password"):
        commands.add_parser(name).add_argument("username")
    move = commands.add_parser("change-unit", help="move an account to another unit")
    move.add_argument("username")
    move.add_argument("unit")
    listing = commands.add_parser("list", help="list accounts")
    listing.add_argument("--unit")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"teleconsulta-admin: {error}", file=sys.stderr)
        return 2
    return asyncio.run(run(settings, args, sys.stdout))


async def run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    engine = create_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    try:
        await migrate(engine)
        cache = RedisStaffCache(redis) if redis is not None else None
        # Without Redis the server keeps sessions in its own memory, out of this process's reach;
        # a disabled account is refused there anyway, as every request reads it from the database.
        sessions: LoginSessionStore = (
            RedisLoginSessionStore(redis) if redis is not None else MemoryLoginSessionStore()
        )
        directory = StaffDirectory(engine, clock=lambda: datetime.now(UTC), cache=cache)
        accounts = Accounts(directory, sessions, settings.base_url)
        return await _command(
            accounts, args, Admin(f"cli:{getpass.getuser()}", "teleconsulta-admin", "cli"), out
        )
    except DomainError as error:
        print(f"{error.message_es}\n{error.message_en}", file=sys.stderr)
        return 1
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def _command(accounts: Accounts, args: argparse.Namespace, admin: Admin, out: TextIO) -> int:
    command: str = args.command
    if command == "create-unit":
        created = await accounts.put_unit(unit_facts(args.unit, args.clues, args.name, args.time_zone), admin)
        print(f"{'creada / created' if created else 'actualizada / updated'}: {args.unit}", file=out)
    elif command == "create-staff":
        facts = staff_facts(args.username, args.name, args.role, args.unit, args.licence)
        result = await accounts.provision(facts, admin)
        state = "creada / created" if result.created else "actualizada / updated"
        print(f"{state}: {result.account.username} ({result.account.staff_id})", file=out)
        if result.setup is not None:
            print(f"enlace para la contraseña / set-password link: {accounts.link(result.setup)}", file=out)
    elif command == "import-csv":
        report = await accounts.import_csv(args.file.read_text(encoding="utf-8"), admin)
        _print_report(report, out)
        if report.ok and args.links is not None:
            _write_links(accounts, report, args.links)
        return 0 if report.ok else 1
    elif command in ("disable", "enable"):
        if command == "disable":
            ended = await accounts.disable(args.username, admin)
            print(
                f"desactivada / disabled: {args.username} (sesiones terminadas / sessions ended: "
                f"{ended.sessions_ended})",
                file=out,
            )
        else:
            await accounts.enable(args.username, admin)
            print(f"activada / enabled: {args.username}", file=out)
    elif command == "reset-password":
        _, setup = await accounts.reset_password(args.username, admin)
        print(f"enlace para la contraseña / set-password link: {accounts.link(setup)}", file=out)
    elif command == "change-unit":
        account = await accounts.change_unit(args.username, args.unit, admin)
        print(f"{account.username}: {account.unit_id}", file=out)
    else:
        writer = csv.writer(out)
        writer.writerow(["username", "full_name", "role", "unit", "licence", "disabled", "password_set"])
        for a in await accounts.directory.accounts(args.unit):
            writer.writerow(
                [a.username, a.full_name, a.role.value, a.unit_id, a.licence, a.disabled, a.password_set]
            )
    return 0


def _print_report(report: ImportReport, out: TextIO) -> None:
    if not report.ok:
        print(
            f"Nada importado; {len(report.errors)} filas con errores / Nothing imported; "
            f"{len(report.errors)} rows refused:",
            file=out,
        )
        for e in report.errors:
            print(
                f"  línea / line {e.line} {e.username or '-'}: {e.code}: {e.message_es} / {e.message_en}",
                file=out,
            )
        return
    print(
        f"{report.rows} filas / rows: {report.created} creadas / created, {report.updated} actualizadas / "
        f"updated, {report.unchanged} sin cambios / unchanged",
        file=out,
    )


def _write_links(accounts: Accounts, report: ImportReport, path: Path) -> None:
    """The new accounts' one-time links, for the insurer's own channel (never printed in bulk)."""
    with path.open("w", encoding="utf-8", newline="") as file:
        os.chmod(path, 0o600)
        writer = csv.writer(file)
        writer.writerow(["username", "link"])
        for result in report.results:
            if result.setup is not None:
                writer.writerow([result.account.username, accounts.link(result.setup)])


if __name__ == "__main__":
    sys.exit(main())
