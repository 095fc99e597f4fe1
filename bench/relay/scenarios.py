"""The load each server is put under: 1 -> N subscribers, K concurrent 1:1 consults, then late
joiners into the running consults. Each step settles, then one window is measured."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .client_process import ClientHandle, call_all
from .measure import ModeResult, measure
from .report import print_header, print_late, print_window
from .server import Server


@dataclass(frozen=True)
class Plan:
    """The steps for one server."""

    subscribers: tuple[int, ...]  # N, the 1 -> N steps
    consults: tuple[int, ...]  # K, the concurrent-consult steps (the ramp may stop earlier)
    decoders: int  # how many consults' patients decode
    late: int  # how many late joiners


def plan_for(quick: bool) -> dict[str, Plan]:
    """Plans by forwarding mode; re-encoding costs far more, so its steps are fewer."""
    if quick:
        return {
            "packet": Plan(subscribers=(1, 4), consults=(2, 4), decoders=2, late=3),
            "reencode": Plan(subscribers=(1, 3), consults=(2,), decoders=2, late=1),
        }
    return {
        "packet": Plan(
            subscribers=(1, 2, 4, 7), consults=(1, 2, 4, 8, 12, 16, 20, 24, 28, 32), decoders=4, late=5
        ),
        "reencode": Plan(subscribers=(1, 2, 3, 4), consults=(1, 2, 3), decoders=2, late=3),
    }


def run_mode(
    clients: list[ClientHandle], server: Server, plan: Plan, *, window: float, settle: float
) -> ModeResult:
    title = "packet forwarding (the product)" if server.mode == "packet" else "decode/re-encode (baseline)"
    print(f"\n{title}, {server.media_workers} media workers")
    result = ModeResult(server.mode, [], [], [])
    began = time.monotonic()

    # 1 -> N: everything in client 0; the patient decodes, invitees count.
    print(" 1 -> N subscribers (the nurse publishes; the patient decodes, the others count frames)")
    print_header("N")
    consult = clients[0].call("open_consult", server.next_consult(), False, True)
    joined = 1
    for size in plan.subscribers:
        if size > joined:
            clients[0].call("add_invitees", consult, size - joined)
            joined = size
        time.sleep(settle)
        measured = measure(clients, server, "1->N", size, window)
        result.one_to_n.append(measured)
        print_window(measured)
    clients[0].call("end_consults")
    caveat = "" if len(result.clean(result.one_to_n)) >= 2 else " (the server did not keep up: a lower bound)"
    print(f"  server CPU per extra subscriber: {100 * result.per_subscriber:.2f} % of a core{caveat}")

    # K concurrent 1:1 consults, spread over the client processes.
    print(f" K concurrent 1:1 consults (both publish; {plan.decoders} patients decode, the others count)")
    print_header("K")
    opened: list[tuple[int, str]] = []
    for size in plan.consults:
        calls: dict[int, list[tuple[str, tuple[object, ...]]]] = {}
        for index in range(len(opened), size):
            spec = server.next_consult()
            calls.setdefault(index % len(clients), []).append(
                ("open_consult", (spec, True, index < plan.decoders))
            )
        # Each client opens its consults one after another, the clients in parallel.
        rounds = max((len(v) for v in calls.values()), default=0)
        for step in range(rounds):
            batch = {c: v[step] for c, v in calls.items() if step < len(v)}
            for client_index, value in call_all(clients, batch).items():
                opened.append((client_index, value))
        time.sleep(settle)
        measured = measure(clients, server, "K", size, window)
        result.consults.append(measured)
        print_window(measured)
        if size != plan.consults[-1] and not result.generated(measured):
            print("  (stopping here: the clients could not keep up; see the direct path)")
            break
        if size != plan.consults[-1] and measured.delivered_pct < 97:
            print("  (stopping here: the server dropped frames)")
            break
    largest = result.largest_consults()
    if largest is not None:
        print(
            f"  server CPU per consult at K={largest.size}: {100 * largest.server_cpu / largest.size:.2f} %"
            " of a core"
        )

    # Late joiners: an interpreter joins one of the running consults, one at a time, at the
    # largest K the machine carried cleanly (not in a step where the load generators starved).
    if largest is not None and largest.size < len(opened):
        print(f"  (ending the consults beyond K={largest.size} before the late joiners)")
        extra = opened[largest.size :]
        del opened[largest.size :]
        ending: dict[int, list[str]] = {}
        for client_index, consult_id in extra:
            ending.setdefault(client_index, []).append(consult_id)
        call_all(clients, {c: ("end_consults", (ids,)) for c, ids in ending.items()})
        time.sleep(settle)
    for step in range(min(plan.late, len(opened))):
        client_index, consult_id = opened[step]
        result.late.append(clients[client_index].call("late_join", consult_id))
    if result.late:
        print_late(result.late, len(opened))
    call_all(clients, {i: ("end_consults", ()) for i in range(len(clients))})
    print(f" ({time.monotonic() - began:.0f} s)")
    return result
