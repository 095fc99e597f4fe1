"""The weak-networks benchmark's audio figures survive a page that connects again mid-scenario."""

from __future__ import annotations

import itertools

from bench.weak_networks import AudioDamage, AudioTally, Reading


def reading(received: int, lost: int, concealed: int, samples: int) -> Reading:
    return Reading(received, lost, concealed, samples, 0, 0, False, None, 0, "connected/connected")


def test_counters_that_start_again_are_counted_from_zero_not_dropped() -> None:
    tally = AudioTally()
    readings = [
        reading(1000, 10, 480, 48_000),
        reading(1050, 12, 960, 96_000),  # a second: 50 received, 2 lost, 1 % concealed
        reading(40, 5, 4_800, 48_000),  # a new receiving connection: its own counters
        reading(90, 5, 4_800, 96_000),
    ]
    for before, after in itertools.pairwise(readings):
        tally.add(before, after)
    assert (tally.received, tally.lost, tally.concealed, tally.samples) == (140, 7, 5_280, 144_000)
    assert tally.restarts == 1
    damage = AudioDamage.of(tally)
    assert damage.restarts == 1 and damage.concealed_samples == 5_280
    assert round(damage.lost_pct, 2) == round(100 * 7 / 147, 2)
    assert round(damage.concealed_pct, 2) == round(100 * 5_280 / 144_000, 2)


def test_a_period_without_readings_counts_nothing() -> None:
    damage = AudioDamage.of(AudioTally())
    assert (damage.lost_pct, damage.concealed_pct) == (0.0, 0.0)
    assert damage.concealed_samples == damage.restarts == 0
