"""Bulk import of staff accounts from CSV: thousands of nurses in one transaction, or none.

The file has a header row naming at least ``username, full_name, role, unit`` (``licence`` is
optional; columns may come in any order). Every row is checked on its own first (its fields, a
username seen earlier in the file, a unit that does not exist), and every refusal is reported with
its line number, field and reason in Spanish and English; if any row is refused nothing is stored,
so a fixed file can simply be imported again. Accounts are matched by username: importing the same
file twice creates nothing the second time, and an account whose row changed is updated.

No password travels in the file: each new account gets a one-time set-password link, returned to
the administrator to hand out through the insurer's own channel (docs/operations.md).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from records.staff import Admin, Provisioned, StaffDirectory
from records.staff_facts import InvalidAccount, StaffFacts, staff_facts
from rooms.errors import DomainError

REQUIRED_COLUMNS = ("username", "full_name", "role", "unit")
OPTIONAL_COLUMNS = ("licence",)
MAX_ROWS = 20_000
"""More accounts than the whole program has; a bigger file is a mistake (split it)."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    """The line in the file (the header is line 1)."""
    username: str
    code: str
    message_es: str
    message_en: str


@dataclass
class ImportReport:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    results: list[Provisioned] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def created(self) -> int:
        return sum(r.created for r in self.results)

    @property
    def updated(self) -> int:
        return sum(r.changed and not r.created for r in self.results)

    @property
    def unchanged(self) -> int:
        return sum(not r.changed for r in self.results)


def _file_error(code: str, es: str, en: str) -> ImportReport:
    return ImportReport(errors=[RowError(1, "", code, es, en)])


def parse(text: str) -> tuple[list[tuple[int, StaffFacts]], ImportReport]:
    """The rows that are well formed, with their lines, and a report naming those that are not."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = {(name or "").strip().lower() for name in reader.fieldnames or ()}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        names = ", ".join(missing)
        return [], _file_error(
            "missing_columns", f"faltan las columnas: {names}", f"the header lacks the columns: {names}"
        )
    report = ImportReport()
    good: list[tuple[int, StaffFacts]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        report.rows += 1
        line = reader.line_num
        if report.rows > MAX_ROWS:
            return [], _file_error(
                "too_many_rows", f"más de {MAX_ROWS} filas; divida el archivo", f"more than {MAX_ROWS} rows"
            )
        row = {(k or "").strip().lower(): (v or "") for k, v in raw.items() if isinstance(v, str)}
        try:
            facts = staff_facts(
                row.get("username", ""),
                row.get("full_name", ""),
                row.get("role", ""),
                row.get("unit", ""),
                row.get("licence", ""),
            )
            if facts.username in seen:
                raise InvalidAccount(
                    "Usuario",
                    f"repetido (ya está en la línea {seen[facts.username]})",
                    f"repeated (already on line {seen[facts.username]})",
                )
        except DomainError as error:
            username = row.get("username", "").strip()[:64]
            report.errors.append(RowError(line, username, error.code, error.message_es, error.message_en))
            continue
        seen[facts.username] = line
        good.append((line, facts))
    return good, report


async def import_csv(directory: StaffDirectory, text: str, admin: Admin) -> ImportReport:
    """Check every row, then store them all in one transaction if none was refused."""
    good, report = parse(text)
    if report.rows == 0 and report.ok:
        report.errors.append(
            RowError(1, "", "empty_file", "el archivo no tiene filas", "the file has no rows")
        )
    known = await directory.known_units({facts.unit_id for _, facts in good})
    for line, facts in good:
        if facts.unit_id not in known:
            report.errors.append(
                RowError(
                    line,
                    facts.username,
                    "unknown_unit",
                    f"la unidad «{facts.unit_id}» no existe; créela primero",
                    f"unit '{facts.unit_id}' does not exist; create it first",
                )
            )
    if not report.ok:
        report.errors.sort(key=lambda e: e.line)
        return report
    report.results = await directory.provision([facts for _, facts in good], admin)
    return report
