"""End-to-end run of the context-length sweep script on the tiny-long corpus.

One context length x one positional encoding (rotary with the published
long-context base), as a user runs it: training with a one-stage warm-up
(10.24 s, then 20.48 s in the second of two epochs), the test stage, the
long-form test stage at the training length, the benchmark stage (no LM)
with its long-form section, and the aggregated table and plot; then a rerun
that skips what is done, one that adds a window mode without the benchmark
stage, and settings refused before anything trains.
"""

import csv
import json
import os
import subprocess
import sys

import pytest

from tests.recipes.recipe_runs import ROOT, SHARED_TINY

SCRIPT = os.path.join(ROOT, "recipes", "LibriSpeech", "context_sweep.sh")
FAST_BENCHMARK = (
    "{lm: none, repeats: 1, warmup_batches: 1, threads: 1, devices: cpu, "
    "progressbar: False, policies: none}"
)
EXPERIMENT = "L20.48_rotary_theta1500000"


def run_sweep(corpus, out, expect_ok=True, **settings):
    """Run the sweep with tiny-model arguments; return its output."""
    env = {
        "PYTHON": sys.executable,
        "CONTEXT_LENGTHS": "20.48",
        "ENCODINGS": "rotary@1500000",
        "EVAL_SPLITS": "test-clean",
        "EPOCHS": "2",
        "CORPUS": "tiny-long",
        "BENCHMARK_OPTIONS": FAST_BENCHMARK,
        "OUT": out,
        **settings,
    }
    overrides = [
        opt
        for opt in SHARED_TINY
        if not opt.startswith(("--benchmark=", "--synthetic_corpus="))
    ]
    result = subprocess.run(
        ["bash", SCRIPT, f"--data_folder={corpus}", "--num_layers=2"]
        + overrides
        + [
            "--test_splits=[test-clean]",
            "--context_warmup_start_seconds=10.24",
            "--context_warmup_recordings=4",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_ok, output[-4000:]
    return output


@pytest.fixture(scope="module")
def sweep(tiny_long_corpus, tmp_path_factory):
    """Output root of the sweep."""
    out = str(tmp_path_factory.mktemp("context_sweep") / "out")
    run_sweep(tiny_long_corpus, out)
    return out


def test_the_run_is_trained_evaluated_long_form_and_aggregated(sweep):
    experiment = os.path.join(sweep, EXPERIMENT)
    assert os.path.isfile(os.path.join(experiment, "SWEEP_DONE"))
    with open(os.path.join(experiment, "run_summary.json")) as fin:
        long_form = json.load(fin)["long_form"]
    assert {s: list(m) for s, m in long_form.items()} == {"test-clean": ["average"]}
    assert os.path.isfile(os.path.join(experiment, "wer_long_form.md"))
    report = os.path.join(experiment, "benchmark", "test-clean", "report.md")
    with open(report) as fin:
        assert "| test-clean | average | 20.48 | 2.56 |" in fin.read()
    with open(os.path.join(sweep, "aggregate", "results.csv")) as fin:
        (row,) = list(csv.DictReader(fin))
    assert (row["experiment"], row["split"], row["mode"]) == (
        EXPERIMENT,
        "test-clean",
        "average",
    )
    assert row["positional_encoding"] == "rotary"
    assert float(row["rope_theta"]) == 1.5e6
    assert float(row["context_seconds"]) == float(row["window_seconds"]) == 20.48
    assert float(row["hop_seconds"]) == pytest.approx(20.48 / 8)
    assert 0 <= float(row["long_form_wer"]) and 0 <= float(row["segmented_wer"])
    assert float(row["step_seconds"]) > 0 and float(row["peak_memory_mb"]) > 0
    with open(os.path.join(sweep, "aggregate", "results.md")) as fin:
        assert "| 20.48 | rotary (theta 1.5e+06) | test-clean | average |" in fin.read()
    assert os.path.getsize(os.path.join(sweep, "aggregate", "wer_vs_context.png")) > 0


def test_rerun_skips_what_is_complete(sweep, tiny_long_corpus):
    output = run_sweep(tiny_long_corpus, sweep)
    assert f"{EXPERIMENT} is complete, skipped" in output
    assert "Beginning experiment" not in output


def test_a_mode_added_later_is_evaluated_alone(sweep, tiny_long_corpus):
    experiment = os.path.join(sweep, EXPERIMENT)
    done = [
        os.path.join(experiment, "long_form", "test-clean", "average", "summary.json"),
        os.path.join(experiment, "benchmark", "test-clean", "results.json"),
    ]
    before = [os.path.getmtime(path) for path in done]
    run_sweep(tiny_long_corpus, sweep, MODES="average none", BENCHMARK="False")
    assert [os.path.getmtime(path) for path in done] == before
    with open(os.path.join(sweep, "aggregate", "results.csv")) as fin:
        rows = list(csv.DictReader(fin))
    assert sorted(row["mode"] for row in rows) == ["average", "none"]
    assert os.path.isfile(os.path.join(experiment, "SWEEP_DONE"))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"ENCODINGS": "relative rope"}, "unknown encoding 'rope' in ENCODINGS"),
        ({"CONTEXT_LENGTHS": "20.48 15.3"}, "15.3 s is not a multiple of"),
        ({"MODES": "mean"}, "unknown mode 'mean' in MODES"),
        ({"CONTEXT_LENGTHS": ""}, "CONTEXT_LENGTHS is empty"),
        ({"BENCHMARK": "yes"}, "BENCHMARK='yes'; use True or False"),
    ],
)
def test_bad_settings_are_refused_before_training(tmp_path, settings, message):
    out = str(tmp_path / "out")
    output = run_sweep(str(tmp_path / "data"), out, expect_ok=False, **settings)
    assert message in output
    assert not os.path.exists(out)
