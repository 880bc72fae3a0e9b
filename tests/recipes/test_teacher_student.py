"""End-to-end teacher-student runs on the tiny built-in corpus: a tiny
baseline teacher (1 epoch), moved to another folder, then the small student
of ``conformer_ctc_student_kd.yaml`` with logit KD (1 epoch) and with FitNets
(1 hint epoch + 1 KD epoch), each through the test stage."""

import glob
import json
import os
import shutil

import pytest
import torch

from benchmark.experiment import load_experiment
from tests.recipes.recipe_runs import best_checkpoint, file_digest, run, train_command

ONE_TEST_SET = "--test_splits=[test-clean]"
STUDENT = ["--d_model=16", "--d_ffn=32", "--num_layers=1", ONE_TEST_SET]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data") / "synthetic-tiny")


@pytest.fixture(scope="module")
def teacher(corpus, tmp_path_factory):
    """A 2-layer tiny baseline trained for one epoch, then moved."""
    root = tmp_path_factory.mktemp("teacher")
    trained = str(root / "trained")
    overrides = ["--num_layers=2", "--number_of_epochs=1", ONE_TEST_SET]
    run(train_command("conformer_ctc_baseline.yaml", corpus, trained, overrides))
    moved = str(root / "moved")
    shutil.move(trained, moved)
    return moved


def student_run(corpus, output, teacher, *overrides):
    """The student recipe distilled from ``teacher``."""
    options = [*STUDENT, f"--teacher={teacher}", *overrides]
    return run(train_command("conformer_ctc_student_kd.yaml", corpus, output, options))


def teacher_files(teacher):
    """Digests of the teacher's checkpoint and tokenizer files."""
    paths = glob.glob(os.path.join(teacher, "save", "*", "*.ckpt"))
    paths += glob.glob(os.path.join(teacher, "tokenizer", "*", "*.model"))
    return {os.path.relpath(p, teacher): file_digest(p) for p in paths}


def logged_stages(output):
    """Per logged epoch: whether it is a FitNets hint epoch."""
    with open(os.path.join(output, "train_log.txt")) as fin:
        lines = [line for line in fin if line.startswith("epoch: ")]
    return ["hint_loss" in line and "WER" not in line for line in lines]


def test_logit_kd_student_uses_the_teachers_tokenizer(corpus, teacher, tmp_path):
    before = teacher_files(teacher)
    output = str(tmp_path / "kd")
    student_run(corpus, output, teacher, "--number_of_epochs=1")
    assert teacher_files(teacher) == before
    with open(os.path.join(output, "wer_summary.json")) as fin:
        assert set(json.load(fin)) == {"test-clean"}
    (copied,) = glob.glob(os.path.join(output, "tokenizer", "bpe_48", "*.model"))
    (original,) = glob.glob(os.path.join(teacher, "tokenizer", "bpe_48", "*.model"))
    assert file_digest(copied) == file_digest(original)
    assert logged_stages(output) == [False]
    student = load_experiment(output)
    assert student.model.encoder.num_layers == 1
    assert student.tokenizer.vocab_size() == 48


def test_fitnets_student_hint_epoch_then_kd_epoch(corpus, teacher, tmp_path):
    output = str(tmp_path / "fitnets")
    student_run(corpus, output, teacher, "--fitnets_epochs=1", "--number_of_epochs=2")
    assert logged_stages(output) == [True, False]
    meta, _ = best_checkpoint(output)
    assert meta["WER"] >= 0 and "fitnets_stage" not in meta
    (folder,) = glob.glob(os.path.join(output, "save", "CKPT+*"))
    regressor = torch.load(os.path.join(folder, "hint_regressor.ckpt"))
    assert regressor["projection.weight"].shape == (32, 16)
    with open(os.path.join(output, "wer_summary.json")) as fin:
        assert json.load(fin)["test-clean"]["num_utts"] > 0
