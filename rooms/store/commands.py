"""Run a pure consult command against a store with optimistic concurrency.

Read the consult, apply the command, commit with compare-and-set; on a conflict (another node or
coroutine changed it in between) read again and re-apply, so the rules always see fresh state.
"""

from __future__ import annotations

from collections.abc import Callable

from rooms.consult import Consult, Transition
from rooms.store.base import ConsultStore, VersionConflict


class ConsultNotFound(Exception):
    pass


async def execute(
    store: ConsultStore, consult_id: str, command: Callable[[Consult], Transition], attempts: int = 8
) -> Transition:
    for _ in range(attempts):
        consult = await store.get(consult_id)
        if consult is None:
            raise ConsultNotFound(consult_id)
        transition = command(consult)
        try:
            await store.commit(transition, consult.version)
        except VersionConflict:
            continue
        return transition
    raise VersionConflict(f"consult {consult_id} kept changing")
