"""Which failures mean a dependency is down for a while, rather than a bug: the REST and socket edges
answer them with a retryable ``503``-style error carrying a stable code and a wait, never ``internal``.

* ``database_unavailable``: the record database refused a connection, dropped it, or its pool timed
  out (SQLAlchemy's ``OperationalError``/``InterfaceError``, a ``DBAPIError`` that invalidated its
  connection, or a socket error raised from inside the database driver);
* ``store_unavailable``: Redis refused or dropped the connection or timed out (redis-py's
  ``ConnectionError``/``TimeoutError``, which include a full connection pool).

Classifying is cheap on purpose (``isinstance`` checks and, for a bare socket error, a walk over its
traceback's module names, never formatting it): under an outage every request takes this path.
"""

from __future__ import annotations

from enum import StrEnum
from types import TracebackType

from redis import exceptions as redis_errors
from sqlalchemy import exc as db_errors

RETRY_AFTER_SECONDS = 5
"""What a client is told to wait before trying again; a restart of either usually takes longer, so
clients back off further on their own after a second refusal."""

_DATABASE_DRIVERS = ("sqlalchemy", "asyncpg", "aiosqlite")
_MAX_CAUSES = 4


class Outage(StrEnum):
    DATABASE = "database_unavailable"
    STORE = "store_unavailable"

    @property
    def message_es(self) -> str:
        what = "la base de datos" if self is Outage.DATABASE else "el almacén de sesiones"
        return f"El servicio no está disponible: {what} no responde. Intente de nuevo en unos segundos."

    @property
    def message_en(self) -> str:
        what = "the database" if self is Outage.DATABASE else "the session store"
        return f"The service is unavailable: {what} does not answer. Try again in a few seconds."


def outage_of(error: BaseException) -> Outage | None:
    """The dependency ``error`` says is down (looking through a few ``raise … from`` causes), if any."""
    current: BaseException | None = error
    for _ in range(_MAX_CAUSES):
        if current is None:
            return None
        found = _direct(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _direct(error: BaseException) -> Outage | None:
    if isinstance(error, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return Outage.STORE
    if isinstance(error, db_errors.OperationalError | db_errors.InterfaceError | db_errors.TimeoutError):
        return Outage.DATABASE
    if isinstance(error, db_errors.DBAPIError) and error.connection_invalidated:
        return Outage.DATABASE
    if isinstance(error, OSError | TimeoutError) and _raised_in(error.__traceback__, _DATABASE_DRIVERS):
        return Outage.DATABASE  # e.g. asyncpg's ConnectionRefusedError while the pool connects
    return None


def _raised_in(traceback: TracebackType | None, modules: tuple[str, ...]) -> bool:
    while traceback is not None:
        if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith(modules):
            return True
        traceback = traceback.tb_next
    return False
