"""Typed variant rows of ``results.json``: JSON round trip and old files."""

import json

import pytest

from benchmark.aggregate import AggregateError, aggregate, typed_variants
from benchmark.results import (
    DeviceTiming,
    PyctcdecodeComparison,
    ResultsFormatError,
    VariantResult,
    results_to_json,
)

SPREAD = {"median": 2.0, "min": 1.0, "max": 3.0, "values": [1.0, 2.0, 3.0]}
SUMMARY = {k: SPREAD for k in ("net_s", "decode_s", "wall_s", "total_s")}
SUMMARY = {**SUMMARY, "rtf": 0.5}


def variant_row(with_lm: bool) -> VariantResult:
    """A row as :func:`benchmark.variant_stage.benchmark_variant` makes it."""
    timing = DeviceTiming(SUMMARY, 20.0)
    weights, check = None, None
    if with_lm:
        timing = DeviceTiming(SUMMARY, 20.0, SUMMARY, 15.0)
        weights = {"alpha": 0.5, "beta": 1.0, "tuned_on": "dev", "grid": []}
        check = PyctcdecodeComparison(15.0, 15.0, 1.0, 2.0, 0.5, 1.0)
    return VariantResult(
        name="exit1",
        exit=1,
        layer=2,
        params=100,
        macs_per_batch=50.0,
        macs_per_audio_second=25.0,
        macs_total=100,
        encoder_macs_per_audio_second=20.0,
        lm_weights=weights,
        devices={"cpu": timing},
        pyctcdecode=check,
        wer=20.0,
        wer_lm=15.0 if with_lm else None,
        wer_train=20.0,
    )


@pytest.mark.parametrize("with_lm", [True, False])
def test_variant_round_trip_through_json(with_lm):
    row = variant_row(with_lm)
    data = json.loads(json.dumps(row.to_json()))
    assert VariantResult.from_json(data) == row


def test_variant_json_keys_and_omissions():
    with_lm = variant_row(True).to_json()
    assert list(with_lm) == [
        "name", "exit", "layer", "params", "macs_per_batch",
        "macs_per_audio_second", "macs_total", "encoder_macs_per_audio_second",
        "lm_weights", "devices", "pyctcdecode", "wer", "wer_lm", "wer_train",
    ]  # fmt: skip
    assert list(with_lm["devices"]["cpu"]) == ["greedy", "wer", "lm", "wer_lm"]
    assert with_lm["pyctcdecode"]["same_hypothesis_fraction"] == 1.0
    without = variant_row(False).to_json()
    assert "lm_weights" not in without and "pyctcdecode" not in without
    assert without["wer_lm"] is None  # always written
    assert list(without["devices"]["cpu"]) == ["greedy", "wer"]


def test_old_row_without_the_newer_keys():
    data = variant_row(False).to_json()
    for key in ("macs_total", "encoder_macs_per_audio_second", "wer_train"):
        del data[key]
    data["retired_key"] = 1  # unknown keys are ignored
    row = VariantResult.from_json(data)
    assert row.macs_total is None and row.encoder_macs_per_audio_second is None
    assert row.wer_train is None and row.wer == 20.0


def test_row_missing_a_required_key():
    data = variant_row(False).to_json()
    del data["wer"]
    with pytest.raises(ResultsFormatError, match=r"'exit1'.*\['wer'\]"):
        VariantResult.from_json(data)
    del data["devices"]["cpu"]["greedy"]
    data["wer"] = 1.0
    with pytest.raises(ResultsFormatError, match="device timing"):
        VariantResult.from_json(data)


def test_results_to_json_keeps_the_key_order():
    results = {"a": 1, "variants": [variant_row(False)], "policies": None, "z": 2}
    data = results_to_json(results)
    assert list(data) == ["a", "variants", "policies", "z"]
    assert data["variants"][0] == variant_row(False).to_json()
    assert results["variants"][0] == variant_row(False)  # not changed


def results_file(folder, rows) -> str:
    """A minimal ``results.json`` holding ``rows``."""
    results = {
        "experiment": str(folder),
        "experiment_name": "tiny",
        "test_set": "test",
        "settings": {"threads": 1},
        "machine": {"cpu": "x", "gpu": "none"},
        "variants": rows,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
    return str(folder)


def test_aggregate_reads_old_results(tmp_path):
    old = variant_row(False).to_json()
    del old["encoder_macs_per_audio_second"], old["macs_total"]
    source = results_file(tmp_path / "old", [old])
    merged = aggregate([source], tmp_path / "out")
    (row,) = merged["rows"]
    assert row["variant"] == "exit1" and row["encoder_macs_per_audio_second"] is None
    assert merged["runs"][0]["variants"] == [old]  # written back as read


def test_aggregate_rejects_rows_missing_keys(tmp_path):
    broken = variant_row(False).to_json()
    del broken["params"]
    source = results_file(tmp_path / "broken", [broken])
    with pytest.raises(AggregateError, match=r"not a benchmark result.*'params'"):
        aggregate([source], tmp_path / "out")
    with pytest.raises(AggregateError, match="not a benchmark result"):
        typed_variants({"experiment_name": "x"}, "results.json")
