from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media.adaptation import VideoDecision, VideoGate
from media.quality import QualityLevel

G, F, P, B = QualityLevel.GOOD, QualityLevel.FAIR, QualityLevel.POOR, QualityLevel.BAD


def run(levels: list[QualityLevel], gate: VideoGate | None = None) -> tuple[VideoGate, list[VideoDecision]]:
    gate = gate or VideoGate()
    decisions = []
    for level in levels:
        gate, decision = gate.observe(level)
        decisions.append(decision)
    return gate, decisions


def test_two_bad_samples_pause_and_two_good_ones_resume() -> None:
    gate, decisions = run([B, B])
    assert gate.paused and decisions == [VideoDecision.KEEP, VideoDecision.PAUSE]
    gate, decisions = run([G, P, G], gate)
    assert gate.paused and decisions == [VideoDecision.KEEP] * 3
    gate, decisions = run([F], gate)
    assert not gate.paused and decisions == [VideoDecision.RESUME]


def test_a_single_bad_sample_or_a_poor_link_does_not_pause() -> None:
    gate, decisions = run([B, G, B, P, P, P, B, F])
    assert not gate.paused and set(decisions) == {VideoDecision.KEEP}


def test_an_interrupted_recovery_starts_counting_again() -> None:
    gate, _ = run([B, B])
    gate, decisions = run([G, P, G, P, B], gate)
    assert gate.paused and VideoDecision.RESUME not in decisions


@given(st.lists(st.sampled_from(list(QualityLevel)), max_size=60))
def test_decisions_alternate_and_follow_the_hysteresis(levels: list[QualityLevel]) -> None:
    gate, decisions = run(levels)
    changes = [d for d in decisions if d is not VideoDecision.KEEP]
    # Pauses and resumes alternate, starting with a pause.
    expected = [VideoDecision.PAUSE, VideoDecision.RESUME] * len(changes)
    assert changes == expected[: len(changes)]
    assert gate.paused == (len(changes) % 2 == 1)
    for index, decision in enumerate(decisions):
        if decision is VideoDecision.PAUSE:
            assert levels[index - 1] is B and levels[index] is B
        if decision is VideoDecision.RESUME:
            assert all(level in (G, F) for level in levels[index - 1 : index + 1])
