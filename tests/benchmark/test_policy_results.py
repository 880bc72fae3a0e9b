"""Typed rows of the ``policies`` entry of ``results.json``."""

import json
from dataclasses import replace

from benchmark.policy_results import (
    PointTiming,
    PolicyPointResult,
    PolicySweepResult,
    ReferenceResult,
    RelativeChange,
    SplitMeasurement,
    StaticPoint,
)
from benchmark.results import DeviceTiming

SUMMARY = {"total_s": {"median": 2.0, "min": 1.0, "max": 3.0}, "rtf": 0.5}
DEV = SplitMeasurement(20.0, 1.5, 3.0, {1: 2, 2: 1}, 30, 15.0, 10.0, 5.0)
MEASUREMENT_KEYS = [
    "wer", "mean_exit", "mean_layers", "exit_counts", "macs_total",
    "macs_per_batch", "macs_per_audio_second", "encoder_macs_per_audio_second",
]  # fmt: skip
TIMING_KEYS = ["devices", "lm_weights", "wer_lm", "cpu_s", "gpu_s"]


def timed() -> PointTiming:
    devices = {"cpu": DeviceTiming(SUMMARY, 20.0, SUMMARY, 18.0)}
    return PointTiming.measured(devices, {"alpha": 0.5, "beta": 1.0}, 18.0)


def test_point_timing_reads_the_greedy_median():
    timing = timed()
    assert timing.cpu_s == 2.0 and timing.gpu_s is None
    data = timing.to_json()
    assert list(data) == TIMING_KEYS
    assert data["devices"]["cpu"] == {
        "greedy": SUMMARY,
        "wer": 20.0,
        "lm": SUMMARY,
        "wer_lm": 18.0,
    }


def test_measurement_keys_with_and_without_timing():
    assert list(DEV.to_json()) == MEASUREMENT_KEYS
    assert DEV.cpu_s is None and DEV.gpu_s is None and DEV.wer_lm is None
    test = DEV.with_timing(timed())
    assert list(test.to_json()) == MEASUREMENT_KEYS + TIMING_KEYS
    assert test.cpu_s == 2.0 and test.wer_lm == 18.0
    untimed = DEV.with_timing(PointTiming()).to_json()
    assert all(untimed[key] is None for key in TIMING_KEYS)


def test_point_rows_leave_out_what_is_not_set():
    test = DEV.with_timing(PointTiming())
    other = PolicyPointResult("entropy", 0.5, "entropy@0.5", DEV, False, test=test)
    chosen = replace(other, chosen=True, meets_tolerance=False)
    assert "meets_tolerance" not in other.to_json()
    assert list(chosen.to_json()) == [
        "policy", "threshold", "name", "dev", "chosen", "meets_tolerance", "test",
    ]  # fmt: skip
    relative = RelativeChange(10.0, 5.0, None, None, 2.0, None)
    marked = replace(chosen, relative=relative, pareto=True).to_json()
    assert list(marked)[-3:] == ["test", "relative", "pareto"]
    assert marked["relative"]["mac_saving_pct"] == 10.0
    assert marked["meets_tolerance"] is False


def test_policy_section_is_json():
    test = DEV.with_timing(timed())
    row = PolicyPointResult(
        "entropy", 0.5, "entropy@0.5", DEV, True, True, test,
        RelativeChange(10.0, 5.0, 0.0, None, 2.0, 0.0), False,
    )  # fmt: skip
    reference = ReferenceResult("exit2", 4, DEV, test)
    static = [StaticPoint("exit1", 2, 30.0, 10.0, pareto=True)]
    section = PolicySweepResult("dev", 3, reference, [row], static)
    data = json.loads(json.dumps(section.to_json()))
    assert list(data) == ["dev_set", "dev_utts", "reference", "rows", "static"]
    assert list(data["reference"]) == ["name", "layer", "dev", "test"]
    assert data["rows"][0]["test"]["exit_counts"] == {"1": 2, "2": 1}
    assert data["static"] == [
        {"name": "exit1", "layer": 2, "wer": 30.0, "macs_per_audio_second": 10.0,
         "pareto": True},
    ]  # fmt: skip
