"""End-to-end cases of the benchmark on tiny trained experiments: the
reference exit of ``train_exits``, ``lm: auto`` without LM text, and the dev
split that must not be the test set."""

import json
import re
import shutil

import pytest

from benchmark import run
from tests.benchmark.conftest import train_tiny

QUICK = dict(repeats=1, warmup_batches=0, threads=1, devices="cpu", progressbar=False)
LM = dict(beam_size=4, lm_order=3, alphas=(0.5, 1.0), betas=(0.0, 1.0), tune_max_utts=3)


@pytest.fixture(scope="module")
def experiment_train_exits_1(tmp_path_factory):
    """A tiny two-exit experiment trained with ``train_exits: 1``: exit 2
    was never trained."""
    return train_tiny(tmp_path_factory.mktemp("bench_k1"), ["--train_exits=1"])


def test_train_exits_sets_the_reference_exit(experiment_train_exits_1, tmp_path):
    results = run.run_benchmark(
        experiment_train_exits_1,
        **QUICK,
        **LM,
        tune="last",
        pyctcdecode="last",  # the old name of cross_check
        policies="entropy",
        policy_thresholds={"entropy": [1000]},
        output=str(tmp_path / "k1"),
    )
    assert results["reference_exit"] == 1 and results["train_exits"] == 1
    exit1, exit2 = results["variants"]
    for row in (exit1, exit2):  # tune: last tunes the reference exit
        assert row.lm_weights["tuned_variant"] == "exit1"
    assert exit1.decoder_checks is not None and exit2.decoder_checks is None
    section = results["policies"]
    assert section.reference.name == "exit1" and section.reference.layer == 2
    assert section.reference.test.wer == pytest.approx(exit1.wer)
    (row,) = section.rows  # every utterance takes exit 1: the reference's MACs
    assert row.relative.mac_saving_pct == pytest.approx(0.0)
    report = (tmp_path / "k1" / "report.md").read_text()
    assert "reference exit: exit1 (`train_exits: 1`" in report
    assert "| exit1 (reference) |" in report


def copy_without_lm_text(experiment, tmp_path):
    """The experiment, its data folder pointed at a LibriSpeech-shaped
    folder without ``librispeech-lm-norm.txt``."""
    copy = tmp_path / "exp_no_lm_text"
    shutil.copytree(experiment, copy, ignore=shutil.ignore_patterns("benchmark"))
    corpus = tmp_path / "LibriSpeech"
    (corpus / "test-clean").mkdir(parents=True)
    yaml_path = copy / "hyperparams.yaml"
    text = re.sub(
        r"^data_folder: .*$",
        f"data_folder: {corpus}",
        yaml_path.read_text(),
        flags=re.MULTILINE,
    )
    yaml_path.write_text(text)
    return copy, corpus


def test_auto_lm_without_lm_text_runs_without_lm_passes(experiment, tmp_path, caplog):
    copy, corpus = copy_without_lm_text(experiment, tmp_path)
    argv = [str(copy), "--lm", "auto", "--policies", "none", "--repeats", "1"]
    argv += ["--warmup_batches", "0", "--threads", "1", "--no_gpu", "--no_progressbar"]
    assert run.main(argv) == 0
    folder = copy / "benchmark" / "test-clean"
    results = json.loads((folder / "results.json").read_text())
    assert results["lm"] is None
    assert all(v["wer_lm"] is None for v in results["variants"])
    expected = f"No LM text found at {corpus}/librispeech-lm-norm.txt"
    assert any(expected in note for note in results["notes"])
    assert expected in (folder / "report.md").read_text()
    assert expected in caplog.text


def test_fixed_lm_weights_on_the_dev_split_are_allowed(experiment, tmp_path, capsys):
    small = ["--beam_size=4", "--alphas=0.5", "--betas=0", "--tune_max_utts=3"]
    small += ["--repeats=1", "--warmup_batches=0", "--no_gpu", "--no_progressbar"]
    same = ["--dev_set=test-other", "--test_set=test-other"]
    for splits in (["--test_set=dev-clean"], same):
        argv = [experiment, *splits, "--policies=none", "--pyctcdecode=none", *small]
        argv += [f"--output={tmp_path / 'refused'}"]
        assert run.main(argv) == 2  # tune: each on the reported split
        assert "is also the test set" in capsys.readouterr().err
    results = run.run_benchmark(
        experiment,
        **QUICK,
        **LM,
        test_set="dev-clean",
        tune="none",
        pyctcdecode="none",
        policies="none",
        output=str(tmp_path / "dev"),
    )
    assert results["test_set"] == "dev-clean" and results["dev_set"] is None
    assert all(v.wer_lm is not None for v in results["variants"])
    assert all(v.lm_weights["tuned_on"] is None for v in results["variants"])
