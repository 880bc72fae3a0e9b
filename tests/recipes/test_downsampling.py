"""End-to-end runs of the downsampling and layer-removal sweep scripts.

Both scripts run on the tiny built-in corpus with a 2-layer model, one epoch
and a minimal grid (the baseline plus avg x2; N = 1 from the baseline), with
the benchmark stage (no LM) and the aggregation, as a user runs them.
"""

import csv
import os
import subprocess
import sys

import pytest

from benchmark import aggregate
from tests.recipes.recipe_runs import ROOT, SHARED_TINY, run, train_command

SCRIPTS = os.path.join(ROOT, "recipes", "LibriSpeech")
FAST_BENCHMARK = (
    "{lm: none, repeats: 1, warmup_batches: 1, threads: 1, devices: cpu, "
    "progressbar: False, policies: none}"
)
TINY_MODEL = ["--num_layers=2", "--exit_every=1", "--test_splits=[test-clean]"]


def run_sweep(script, corpus, **env):
    """Run a sweep script with tiny-model arguments; return its output."""
    settings = {
        "PYTHON": sys.executable,
        "YAML": "hparams/conformer_ctc_early_exit.yaml",
        "EPOCHS": "1",
        "BENCHMARK_OPTIONS": FAST_BENCHMARK,
        **env,
    }
    result = subprocess.run(
        ["bash", os.path.join(SCRIPTS, script), f"--data_folder={corpus}"]
        + [opt for opt in SHARED_TINY if not opt.startswith("--benchmark=")]
        + TINY_MODEL,
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def aggregated_rows(folder):
    assert os.path.isfile(os.path.join(folder, "aggregate", "report.md"))
    with open(os.path.join(folder, "aggregate", "results.csv")) as fin:
        return {(r["experiment"], r["variant"]): r for r in csv.DictReader(fin)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data") / "synthetic-tiny")


@pytest.fixture(scope="module")
def downsampling(corpus, tmp_path_factory):
    """Output root of the downsampling sweep: baseline + avg x2."""
    out = str(tmp_path_factory.mktemp("sweeps") / "downsampling")
    settings = {"TECHNIQUES": "avg", "FACTORS": "2", "UPSAMPLE_FROM": "2"}
    run_sweep("downsampling.sh", corpus, OUT=out, **settings)
    return out, settings


def test_downsampling_sweep_aggregates_every_experiment(downsampling):
    out, _ = downsampling
    rows = aggregated_rows(out)
    names = ("downsampling_none", "downsampling_avg_x2")
    assert set(rows) == {(name, f"exit{k}") for name in names for k in (1, 2)}
    assert all(row["test_set"] == "test-clean" for row in rows.values())
    downsampled = float(rows["downsampling_avg_x2", "exit2"]["macs_per_audio_second"])
    assert downsampled < float(
        rows["downsampling_none", "exit2"]["macs_per_audio_second"]
    )
    with open(os.path.join(out, "avg_x2", "hyperparams.yaml")) as fin:
        text = fin.read()
    for line in ("downsampling_method: avg", "downsampling_factor: 2"):
        assert line in text
    assert "ctc_upsampling: true" in text.lower()


def test_downsampling_report_checks_encoder_macs_against_the_baseline(downsampling):
    out, _ = downsampling
    rows = aggregated_rows(out)
    encoder = {
        name: float(rows[name, "exit2"]["encoder_macs_per_audio_second"])
        for name in ("downsampling_none", "downsampling_avg_x2")
    }
    ratio = encoder["downsampling_avg_x2"] / encoder["downsampling_none"]
    # linear in frames, plus attention's quadratic term: 1/f^2 < ratio <= 1/f
    assert 1 / 4 < ratio <= 1.05 / 2
    with open(os.path.join(out, "aggregate", "report.md")) as fin:
        report = fin.read()
    assert "## Checks against `downsampling_none`" in report
    assert f"| downsampling_avg_x2 | test-clean | 2 | {ratio:.3f} | 0.500 |" in report
    unknown = [os.path.join(out, "none"), "--output", os.path.join(out, "x")]
    assert aggregate.main(unknown + ["--baseline", "nope"]) == 2


def test_rerun_skips_complete_experiments(corpus, downsampling):
    out, settings = downsampling
    log = os.path.join(out, "none", "train_log.txt")
    before = os.path.getmtime(log)
    output = run_sweep("downsampling.sh", corpus, OUT=out, **settings)
    assert output.count("is complete, skipped") == 2
    assert os.path.getmtime(log) == before
    assert len(aggregated_rows(out)) == 4


def test_layer_removal_sweep_from_the_baseline(corpus, downsampling, tmp_path):
    source = os.path.join(downsampling[0], "none")
    out = str(tmp_path / "layer_removal")
    output = run_sweep(
        "layer_removal.sh", corpus, OUT=out, SOURCE=source, KEEP_LAYERS="1"
    )
    assert "Initialised from" in output
    rows = aggregated_rows(out)
    assert set(rows) == {
        ("downsampling_none", "exit1"),
        ("downsampling_none", "exit2"),
        ("layer_removal_keep1", "exit1"),
    }
    keep1 = rows["layer_removal_keep1", "exit1"]
    assert keep1["layer"] == "1"
    assert keep1["params"] == rows["downsampling_none", "exit1"]["params"]


def test_training_stops_on_a_batch_ctc_cannot_align(corpus, tmp_path):
    overrides = [*TINY_MODEL, "--downsampling_method=signal", "--downsampling_factor=8"]
    command = train_command(
        "conformer_ctc_early_exit.yaml", corpus, str(tmp_path / "exp"), overrides
    )
    output = run(command, expect_ok=False)
    assert "CTC is infeasible for utterance" in output
    assert "Set ctc_upsampling: True" in output
