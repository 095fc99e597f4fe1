"""Refusals that belong to the use cases rather than to one rule of ``rooms``."""

from __future__ import annotations

from rooms.errors import DomainError


class NoSuchConsult(DomainError):
    CODE = "not_found"

    def __init__(self) -> None:
        super().__init__(self.CODE, "Consulta no encontrada.", "No such consult.")


class HostingAnotherConsult(DomainError):
    CODE = "invalid_state"

    def __init__(self) -> None:
        super().__init__(
            self.CODE,
            "Termine primero la consulta que dirige ahora.",
            "End your current consult first.",
        )


class NoSuchInvitation(DomainError):
    CODE = "not_found"

    def __init__(self) -> None:
        super().__init__(self.CODE, "No existe esa invitación.", "No such invitation.")
