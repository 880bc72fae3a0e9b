"""End-to-end run of the compression sweep script on the tiny corpus.

The script trains a 2-layer teacher (the baseline YAML) and three students
(alone, FitNets then KD, 4-bit quantization-aware KD), 2 epochs each, with the
benchmark stage (no LM, int8 post-training quantization) and the
aggregation, as a user runs it.
"""

import csv
import os
import re
import subprocess
import sys

import pytest

from tests.recipes.recipe_runs import ROOT, SHARED_TINY

SCRIPT = os.path.join(ROOT, "recipes", "LibriSpeech", "compression.sh")
FAST_BENCHMARK = (
    "{lm: none, repeats: 1, warmup_batches: 1, threads: 1, devices: cpu, "
    "progressbar: False, policies: none, quantization: [dynamic-int8]}"
)
STUDENTS = ("student_alone", "fitnets", "qat4")
STUDENT_LIST = " ".join(STUDENTS)


def run_sweep(corpus, out, students=STUDENT_LIST, expect_ok=True):
    """Run the sweep with tiny-model arguments; return its output."""
    settings = {
        "PYTHON": sys.executable,
        "EPOCHS": "2",
        "FITNETS_EPOCHS": "1",
        "STUDENTS": students,
        "BENCHMARK_OPTIONS": FAST_BENCHMARK,
        "OUT": out,
    }
    overrides = [opt for opt in SHARED_TINY if not opt.startswith("--benchmark=")]
    result = subprocess.run(
        ["bash", SCRIPT, f"--data_folder={corpus}", "--num_layers=2"]
        + overrides
        + ["--test_splits=[test-clean]"],
        env={**os.environ, **settings},
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_ok, output[-4000:]
    return output


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Output root of the sweep."""
    root = tmp_path_factory.mktemp("compression")
    out = str(root / "out")
    run_sweep(str(root / "synthetic-tiny"), out)
    return out


def aggregated_rows(out):
    with open(os.path.join(out, "aggregate", "results.csv")) as fin:
        return {(r["experiment"], r["variant"]): r for r in csv.DictReader(fin)}


def test_every_student_and_its_int8_copy_are_aggregated(sweep):
    rows = aggregated_rows(sweep)
    names = ["compression_teacher"] + [f"compression_{s}" for s in STUDENTS]
    expected = {(n, v) for n in names for v in ("exit1", "exit1+dynamic-int8")}
    assert set(rows) == expected
    for name in names:
        fp32, int8 = rows[name, "exit1"], rows[name, "exit1+dynamic-int8"]
        assert float(int8["size_mb"]) < float(fp32["size_mb"])
    for plot in ("wer_vs_macs.png", "wer_vs_cpu_time.png", "wer_vs_size.png"):
        assert os.path.isfile(os.path.join(sweep, "aggregate", plot))


def test_students_get_their_settings(sweep):
    def saved(name):
        with open(os.path.join(sweep, name, "hyperparams.yaml")) as fin:
            return fin.read()

    def value(name, key):
        return re.search(rf"^{key}:(.*)$", saved(name), re.MULTILINE)[1].strip()

    assert value("student_alone", "loss_class").endswith(".EarlyExitCTCLoss")
    assert value("student_alone", "teacher") == ""  # null
    assert value("fitnets", "teacher") == os.path.join(sweep, "teacher")
    assert value("fitnets", "fitnets_epochs") == "1"
    assert value("qat4", "weight_quantization_bits") == "4"
    assert value("qat4", "loss_class").endswith(".TeacherStudentKDLoss")


def test_rerun_skips_complete_experiments(sweep):
    output = run_sweep(os.path.join(os.path.dirname(sweep), "synthetic-tiny"), sweep)
    assert output.count("is complete, skipped") == 1 + len(STUDENTS)


def test_unknown_student_is_refused_before_training(tmp_path):
    out = str(tmp_path / "out")
    output = run_sweep(
        str(tmp_path / "data"), out, students="kd distilbert", expect_ok=False
    )
    assert "unknown student 'distilbert'" in output
    assert not os.path.exists(out)
