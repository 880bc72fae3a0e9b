"""Policy time savings come from the reference and the point timed
alternately: a machine whose speed drifts biases block timing, not them."""

import statistics

import pytest

from benchmark.paired_timing import alternate

REFERENCE_WORK, POINT_WORK = 10.0, 5.0  # the point does half the work: 50 %


class DriftingMachine:
    """A deterministic stand-in timer: a pass of ``work`` units takes
    ``work x speed`` seconds, the machine slowing down by 1 % per elapsed
    second (1.4x slower by the end of a short benchmark)."""

    def __init__(self):
        self.now = 0.0

    def timed_pass(self, work):
        def run(_round=None):
            seconds = work * (1.0 + 0.01 * self.now)
            self.now += seconds
            return {"net_s": seconds, "decode_s": 0.0, "wall_s": seconds}, [], []

        return run


def block_saving(machine, rounds):
    """The saving of the reference timed in one block, the point after."""
    reference = [
        machine.timed_pass(REFERENCE_WORK)()[0]["net_s"] for _ in range(rounds)
    ]
    point = [machine.timed_pass(POINT_WORK)()[0]["net_s"] for _ in range(rounds)]
    return 100 * (1 - statistics.median(point) / statistics.median(reference))


def test_alternation_removes_the_drift_that_block_timing_measures():
    block = block_saving(DriftingMachine(), rounds=3)
    machine = DriftingMachine()
    reference, point, ratios = alternate(
        machine.timed_pass(REFERENCE_WORK), machine.timed_pass(POINT_WORK), rounds=3
    )
    assert len(point) == len(ratios["values"]) == 3 and len(reference) == 4
    seconds = [r[0]["net_s"] for r in reference]
    around = [(a + b) / 2 for a, b in zip(seconds, seconds[1:])]
    per_round = [p[0]["net_s"] / s for p, s in zip(point, around)]
    assert ratios["values"] == pytest.approx(per_round)
    assert ratios["min"] <= ratios["median"] <= ratios["max"]
    paired = 100 * (1 - ratios["median"])
    assert abs(block - 50.0) > 10.0  # the drift shows up as a smaller saving
    assert abs(paired - 50.0) < 2.0  # the passes around each point cancel it
