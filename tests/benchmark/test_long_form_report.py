"""The long-form section of the benchmark (benchmark/long_form_report.py,
benchmark/long_form_macs.py): MACs of the windowed and segmented passes, and
the tiny trained experiment benchmarked with and without the results of the
long-form test stage."""

import json
import os
import shutil

import pytest

from benchmark import run
from benchmark.experiment import read_plain_hparams
from benchmark.long_form_macs import long_form_macs, scorer_macs, window_lengths
from benchmark.long_form_report import count_macs_of
from modules.data.long_form_manifest import (
    LongFormRecording,
    Segment,
    write_long_form_csv,
)
from modules.inference.frame_geometry import measure_frame_geometry, plan_windows
from modules.inference.long_form_stage import run_long_form_stage
from modules.inference.windowed_asr import exit_scorer
from tests.modules.inference.fakes import joined_recording, local_model

QUICK = dict(repeats=1, warmup_batches=0, threads=1, devices="cpu", progressbar=False)
SECONDS = [1.5, 2.0, 1.0, 2.5, 1.5, 3.0]  # one 11.5 s recording


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """A model whose MACs grow linearly with the input (frame-local), and
    the summary of an evaluation with window 0.64 s and hop 0.08 s."""
    folder = tmp_path_factory.mktemp("macs")
    wav, segments = joined_recording(folder, "rec", SECONDS)
    recording = LongFormRecording(
        "rec", sum(SECONDS), wav, "A", tuple(Segment(*s) for s in segments)
    )
    manifest = str(folder / "long.csv")
    write_long_form_csv([recording], manifest)
    summary = {"window_seconds": 0.64, "hop_seconds": 0.08, "exit": 2}
    return local_model(), {**summary, "manifest": manifest}


def test_windowed_macs_are_window_over_hop_times_the_segmented(linear):
    model, summary = linear
    macs = long_form_macs(model, summary)
    # Edges: the first windows of a recording overlap less than W / h.
    assert macs["long_form"] / macs["segmented"] == pytest.approx(0.64 / 0.08, rel=0.1)


def test_every_window_is_counted_at_its_own_length(linear):
    model, summary = linear
    plan = plan_windows(measure_frame_geometry(model), 0.64, 0.08)
    count = scorer_macs(exit_scorer(model, 2))
    samples = int(sum(SECONDS) * 16000)
    lengths = window_lengths(plan, samples)
    assert lengths[0] == plan.read_length and lengths[-1] < plan.read_length
    # 2 layers, then head 2: per frame a conv of 80 samples to 8 channels,
    # two 8 x 8 layers and an 8 x 5 head (local_model).
    frames = [(n - 80) // 40 + 1 for n in lengths]
    expected = sum(frames) * (80 * 8 + 2 * 8 * 8 + 8 * 5) * 16000 / samples
    assert long_form_macs(model, summary)["long_form"] == pytest.approx(expected)
    assert count(lengths[0]) == frames[0] * (80 * 8 + 2 * 8 * 8 + 8 * 5)


def test_a_subset_of_segments_stands_for_all(linear):
    model, summary = linear
    every = long_form_macs(model, summary, max_counted=len(SECONDS))
    two = long_form_macs(model, summary, max_counted=2)
    assert two["segmented"] == pytest.approx(every["segmented"], rel=0.01)
    assert two["long_form"] == every["long_form"]


def test_macs_not_counted_are_noted(linear):
    model, summary = linear
    notes = []
    assert count_macs_of(model, {**summary, "exit": None}, notes, "a/b") is None
    assert (
        count_macs_of(model, {**summary, "manifest": "/gone.csv"}, notes, "c/d") is None
    )
    old = {k: v for k, v in summary.items() if k != "manifest"}
    assert count_macs_of(model, old, notes, "e/f") is None
    assert notes == [
        "a/b: a dynamic exit policy; MACs not counted.",
        "c/d: manifest /gone.csv not found; MACs not counted.",
        "e/f: manifest (not in summary.json) not found; MACs not counted.",
    ]


@pytest.fixture(scope="module")
def long_form_experiment(experiment, tmp_path_factory):
    """A copy of the tiny trained experiment, with the results of the
    long-form test stage (window 2.56 s, two modes, test-clean)."""
    copy = str(tmp_path_factory.mktemp("bench_long") / "exp")
    shutil.copytree(experiment, copy, ignore=shutil.ignore_patterns("benchmark"))
    hparams = {
        "output_folder": copy,
        "data_folder": read_plain_hparams(copy)["data_folder"],
        "synthetic_corpus": "tiny",
        "long_form_folder": os.path.join(copy, "long_form_manifests"),
        "long_form_splits": ["test-clean"],
        "long_form_seconds": None,
        "long_form_window": 2.56,
        "long_form_modes": ["average", "none"],
    }
    run_long_form_stage(hparams)
    return copy


def benchmark(experiment, output):
    """A quick benchmark (no LM, no policies); its results.json and report."""
    run.run_benchmark(experiment, **QUICK, lm="none", policies="none", output=output)
    with open(os.path.join(output, "results.json")) as fin:
        results = json.load(fin)
    with open(os.path.join(output, "report.md")) as fin:
        return results, fin.read()


def test_the_benchmark_reports_the_long_form_results(long_form_experiment, tmp_path):
    results, report = benchmark(long_form_experiment, str(tmp_path / "with"))
    rows = {(r["split"], r["mode"]): r for r in results["long_form"]}
    assert sorted(rows) == [("test-clean", "average"), ("test-clean", "none")]
    average = rows["test-clean", "average"]["macs_per_audio_second"]
    none = rows["test-clean", "none"]["macs_per_audio_second"]
    assert average["segmented"] == pytest.approx(none["segmented"])
    assert 4 < average["long_form"] / none["long_form"] <= 8  # hop W/8 vs W
    assert "## Long-form" in report
    assert "| test-clean | average | 2.56 | 0.32 |" in report

    plain = tmp_path / "plain"
    shutil.copytree(
        long_form_experiment, plain, ignore=shutil.ignore_patterns("long_form")
    )
    results, report = benchmark(str(plain), str(tmp_path / "without"))
    assert "long_form" not in results and "Long-form" not in report
