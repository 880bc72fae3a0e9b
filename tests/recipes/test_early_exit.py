"""End-to-end runs of the early-exit recipe on the tiny built-in corpus.

Per-exit outputs, the losses that need a teacher (online and frozen: the
teacher's checkpoint is left as it was), manual exit activation (the checkpoint
is ranked by the deepest trained exit, the layers above keep their initial
weights), bad configurations rejected at start-up, a run killed in the middle
of an epoch, and two-process training with torchrun (gloo on CPU), also with
parameters that get no gradient (manual activation, frozen teacher).
"""

import csv
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.recipes.recipe_runs import (
    ROOT,
    assert_trained_up_to_exit,
    best_checkpoint,
    file_digest,
    run,
    train_command,
)

TINY_EE = ["--num_layers=4", "--exit_every=2", "--number_of_epochs=1"]
KD = "!name:modules.losses.distillation"


def command(corpus, output, *extra, launcher=(sys.executable,)):
    overrides = [*TINY_EE, *extra]
    return train_command(
        "conformer_ctc_early_exit.yaml", corpus, output, overrides, launcher
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data") / "synthetic-tiny")


@pytest.fixture(scope="module")
def teacher(corpus, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("exp") / "teacher")
    run(command(corpus, output, "--test_beam_size=3"))
    return output


def teacher_option(teacher):
    """``--kd_teacher_checkpoint`` of a trained experiment's save folder."""
    return f"--kd_teacher_checkpoint={os.path.join(teacher, 'save')}"


def teacher_checkpoint_file(teacher):
    """The teacher's ``model.ckpt`` (its only, best checkpoint)."""
    (path,) = glob.glob(os.path.join(teacher, "save", "CKPT+*", "model.ckpt"))
    return path


def test_every_exit_is_evaluated(teacher):
    with open(os.path.join(teacher, "wer_summary.json")) as fin:
        summary = json.load(fin)
    assert summary["test-clean"]["exit_layers"] == [2, 4]
    assert len(summary["test-other"]["wer"]) == 2
    transcripts = os.path.join(teacher, "test", "test-clean", "transcripts.csv")
    with open(transcripts) as fin:
        assert csv.DictReader(fin).fieldnames == ["ID", "reference", "exit1", "exit2"]
    with open(os.path.join(teacher, "train_log.txt")) as fin:
        assert "WER_exit1" in fin.read()


def test_test_stage_beam_search(teacher):
    with open(os.path.join(teacher, "wer_summary.json")) as fin:
        summary = json.load(fin)
    assert len(summary["test-clean"]["wer_beam"]) == 2
    assert summary["test-clean"]["beam_size"] == 3
    folder = os.path.join(teacher, "test", "test-clean")
    with open(os.path.join(folder, "transcripts_beam.csv")) as fin:
        beam_ids = [row["ID"] for row in csv.DictReader(fin)]
    with open(os.path.join(folder, "transcripts.csv")) as fin:
        assert beam_ids == [row["ID"] for row in csv.DictReader(fin)]
    assert os.path.getsize(os.path.join(folder, "wer_exit2_beam.txt")) > 0
    with open(os.path.join(teacher, "wer_summary.md")) as fin:
        assert "test-clean WER % (beam)" in fin.readline()


@pytest.mark.parametrize(
    "options",
    [
        [f"--loss_class={KD}.PseudoLabelKDLoss", "--loss_options={alpha: 0.3}"],
        [f"--loss_class={KD}.DynamicKDLoss", "--loss_options={alphas: [0.8, 1.0]}"],
        [f"--loss_class={KD}.LogitKDLoss", "--loss_options={temperature: 2.0}"],
    ],
)
def test_losses_with_a_frozen_teacher(corpus, teacher, tmp_path, options):
    output = str(tmp_path / "student")
    teacher_file = teacher_checkpoint_file(teacher)
    digest = file_digest(teacher_file)
    run(command(corpus, output, teacher_option(teacher), *options))
    assert file_digest(teacher_file) == digest
    _, student = best_checkpoint(output)
    _, frozen = best_checkpoint(teacher)
    assert student.keys() == frozen.keys()
    assert not all(torch.equal(student[k], frozen[k]) for k in frozen)
    with open(os.path.join(output, "wer_summary.json")) as fin:
        assert len(json.load(fin)["test-clean"]["wer"]) == 2


def test_confidence_loss_and_manual_activation(corpus, tmp_path):
    output = str(tmp_path / "manual")
    confidence = (
        "--loss_class=!name:modules.losses.exit_losses.ConfidenceWeightedCTCLoss"
    )
    run(command(corpus, output, confidence, "--train_exits=1"))
    assert_trained_up_to_exit(output, 1)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--exit_layers=[2,6]", "--exit_every=null"], "exit_layers"),
        ([f"--loss_class={KD}.KDLoss"], f"loss_class={KD}.KDLoss does not exist"),
        (
            [f"--loss_class={KD}.DynamicKDLoss", "--loss_options={alphas: [1.0]}"],
            "alphas",
        ),
        (["--train_exits=3"], "train_exits=3"),
        (
            [
                f"--loss_class={KD}.PseudoLabelKDLoss",
                "--kd_teacher_checkpoint=/no/such",
            ],
            "does not",
        ),
    ],
)
def test_bad_configuration_fails_at_start_up(corpus, tmp_path, options, message):
    output = run(command(corpus, str(tmp_path / "bad"), *options), expect_ok=False)
    assert message in output
    assert not os.path.exists(os.path.join(str(tmp_path / "bad"), "save", "CKPT"))


def test_teacher_of_another_shape_is_rejected(corpus, teacher, tmp_path):
    options = [
        f"--kd_teacher_checkpoint={os.path.join(teacher, 'save')}",
        f"--loss_class={KD}.PseudoLabelKDLoss",
        "--d_model=48",
    ]
    output = run(command(corpus, str(tmp_path / "s"), *options), expect_ok=False)
    assert "does not match this model" in output


def intra_epoch_checkpoint(save):
    for name in os.listdir(save) if os.path.isdir(save) else []:
        meta = os.path.join(save, name, "CKPT.yaml")
        if os.path.exists(meta) and "end-of-epoch: false" in open(meta).read():
            return name
    return None


def test_run_killed_mid_epoch_resumes_inside_the_epoch(corpus, tmp_path):
    output = str(tmp_path / "killed")
    cmd = command(
        corpus,
        output,
        "--ckpt_interval_steps=2",
        "--dynamic_batching=False",
        "--train_dataloader_opts={batch_size: 1}",
    )
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if intra_epoch_checkpoint(os.path.join(output, "save")):
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert intra_epoch_checkpoint(os.path.join(output, "save")), "killed too late"
    log = run(cmd)
    first_step = re.search(r"\|\s*(\d+)/(\d+) \[", log)
    assert first_step and int(first_step.group(1)) > 0, "epoch restarted from 0"
    with open(os.path.join(output, "train_log.txt")) as fin:
        epochs = [line.split(",")[0] for line in fin if line.startswith("epoch")]
    assert epochs == ["epoch: 1"]


def torchrun(port):
    """Two processes with torchrun on ``port``."""
    return (
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={port}",
    )


DDP_ON_CPU = ["--distributed_backend=gloo", "--device=cpu"]
# Batches of 10 s: a few steps per process in the tiny corpus's epoch (DDP
# reports parameters without a gradient at the second step).
FEW_STEPS = ["--max_batch_length=10"]


def test_two_processes_with_torchrun(corpus, tmp_path):
    output = str(tmp_path / "ddp")
    run(command(corpus, output, *DDP_ON_CPU, launcher=torchrun(29533)))
    with open(os.path.join(output, "wer_summary.json")) as fin:
        summary = json.load(fin)["test-clean"]
    assert len(summary["wer"]) == 2
    with open(os.path.join(output, "manifests", "test-clean.csv")) as fin:
        assert summary["num_utts"] == len(list(csv.DictReader(fin)))
    with open(os.path.join(output, "test", "test-clean", "transcripts.csv")) as fin:
        assert len(list(csv.DictReader(fin))) == summary["num_utts"]


def test_torchrun_with_manual_activation(corpus, tmp_path):
    output = str(tmp_path / "ddp-manual")
    options = [*DDP_ON_CPU, *FEW_STEPS, "--train_exits=1"]
    run(command(corpus, output, *options, launcher=torchrun(29534)))
    assert_trained_up_to_exit(output, 1)


def test_torchrun_with_a_frozen_teacher(corpus, teacher, tmp_path):
    output = str(tmp_path / "ddp-kd")
    teacher_file = teacher_checkpoint_file(teacher)
    digest = file_digest(teacher_file)
    options = [*DDP_ON_CPU, *FEW_STEPS, teacher_option(teacher)]
    options += [f"--loss_class={KD}.LogitKDLoss", "--loss_options={temperature: 2.0}"]
    run(command(corpus, output, *options, launcher=torchrun(29535)))
    assert file_digest(teacher_file) == digest
    with open(os.path.join(output, "wer_summary.json")) as fin:
        assert len(json.load(fin)["test-clean"]["wer"]) == 2
