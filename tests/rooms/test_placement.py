"""Placement: the less loaded of two random open workers, never a full, draining or avoided one."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from rooms.placement import Limits, NodeLoad, WorkerLoad, choose, fullness, open_workers

LIMITS = Limits(max_tracks=100, max_packets_per_second=1000.0, max_cpu=0.8)

workers = st.builds(
    WorkerLoad,
    rooms=st.integers(0, 50),
    tracks=st.integers(0, 150),
    packets_per_second=st.floats(0, 1500, allow_nan=False),
    cpu=st.floats(0, 1.2, allow_nan=False),
)
nodes = st.lists(
    st.builds(
        NodeLoad,
        node_id=st.sampled_from("abcdef"),
        workers=st.tuples(workers, workers),
        serving=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda node: node.node_id,
)


@given(nodes, st.integers(0, 2**32), st.sets(st.sampled_from("abcdef")))
def test_a_choice_is_an_open_worker_of_a_serving_node_outside_avoid(
    cluster: list[NodeLoad], seed: int, avoid: set[str]
) -> None:
    choice = choose(cluster, LIMITS, random.Random(seed), avoid)
    by_id = {node.node_id: node for node in cluster}
    if choice is None:
        assert open_workers(cluster, LIMITS, avoid) == []
        return
    node = by_id[choice.node_id]
    assert node.serving and node.node_id not in avoid
    assert fullness(node.workers[choice.worker], LIMITS) < 1.0


@given(nodes, st.integers(0, 2**32))
def test_the_single_most_loaded_open_worker_is_never_chosen(cluster: list[NodeLoad], seed: int) -> None:
    """Of two draws the lesser wins, so a worker more loaded than every other never is."""
    loads = sorted((c.load for c in open_workers(cluster, LIMITS)), reverse=True)
    choice = choose(cluster, LIMITS, random.Random(seed))
    if len(loads) >= 2 and loads[0] > loads[1]:
        assert choice is not None and choice.load < loads[0]


def test_each_limit_fills_a_worker_on_its_own() -> None:
    assert fullness(WorkerLoad(tracks=100), LIMITS) == 1.0
    assert fullness(WorkerLoad(packets_per_second=1000.0), LIMITS) == 1.0
    assert fullness(WorkerLoad(cpu=0.8), LIMITS) == 1.0
    full = NodeLoad("a", (WorkerLoad(tracks=100), WorkerLoad(cpu=0.9)))
    assert choose([full], LIMITS, random.Random(1)) is None


def test_a_draining_node_takes_nothing_new() -> None:
    draining = NodeLoad("a", (WorkerLoad(),), serving=False)
    busy = NodeLoad("b", (WorkerLoad(tracks=90),))
    for seed in range(20):
        choice = choose([draining, busy], LIMITS, random.Random(seed))
        assert choice is not None and choice.node_id == "b"


def test_load_spreads_when_each_choice_adds_to_its_worker() -> None:
    """Placing 400 rooms one by one (each adding 1 track) on 4 nodes of 2 workers leaves the
    busiest worker within a few tracks of the idlest: two choices keep them even."""
    tracks = {(node, worker): 0 for node in "abcd" for worker in range(2)}
    rng = random.Random(7)
    for _ in range(400):
        cluster = [
            NodeLoad(node, tuple(WorkerLoad(tracks=tracks[(node, w)]) for w in range(2))) for node in "abcd"
        ]
        choice = choose(cluster, Limits(max_tracks=1000), rng)
        assert choice is not None
        tracks[(choice.node_id, choice.worker)] += 1
    assert max(tracks.values()) - min(tracks.values()) <= 6
