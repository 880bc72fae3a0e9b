"""End-to-end runs of ``train.py`` on the tiny built-in corpus.

The recipe is driven through its command line exactly as a user runs it; the
model is shrunk through overrides so that an epoch takes seconds.
"""

import csv
import json
import os
import signal
import subprocess
import time

import pytest
import torch

from tests.recipes.recipe_runs import ROOT, run, train_command

YAML = "conformer_ctc_baseline.yaml"


def baseline_command(corpus, output, epochs, *extra):
    overrides = ["--num_layers=2", f"--number_of_epochs={epochs}", *extra]
    return train_command(YAML, corpus, output, overrides)


def run_train(corpus, output, epochs, *extra):
    return run(baseline_command(corpus, output, epochs, *extra))


def logged_epochs(output):
    with open(os.path.join(output, "train_log.txt")) as fin:
        return [
            int(line.split("epoch: ")[1].split(",")[0])
            for line in fin
            if line.startswith("epoch: ")
        ]


def checkpointed_epoch(output):
    """The epoch of the newest end-of-epoch checkpoint (0 when none)."""
    save = os.path.join(output, "save")
    epochs = [0]
    for name in os.listdir(save) if os.path.isdir(save) else []:
        folder = os.path.join(save, name)
        meta = os.path.join(folder, "CKPT.yaml")
        if os.path.exists(meta) and "end-of-epoch: true" in open(meta).read():
            with open(os.path.join(folder, "counter.ckpt")) as fin:
                epochs.append(int(fin.read()))
    return max(epochs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data") / "synthetic-tiny")


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("exp") / "baseline")
    run_train(corpus, output, 1)
    return output


def test_test_stage_outputs(trained):
    with open(os.path.join(trained, "wer_summary.json")) as fin:
        summary = json.load(fin)
    assert set(summary) == {"test-clean", "test-other"}
    for test_set, result in summary.items():
        assert result["exit_layers"] == [2]
        assert 0.0 <= result["wer"][0]
        folder = os.path.join(trained, "test", test_set)
        with open(os.path.join(folder, "transcripts.csv")) as fin:
            rows = list(csv.DictReader(fin))
        assert len(rows) == result["num_utts"] > 0
        assert set(rows[0]) == {"ID", "reference", "exit1"}
        assert os.path.getsize(os.path.join(folder, "wer_exit1.txt")) > 0
    with open(os.path.join(trained, "manifests", "test-clean.csv")) as fin:
        assert len(list(csv.DictReader(fin))) == summary["test-clean"]["num_utts"]


def test_a_run_without_test_sets_only_trains(corpus, trained, tmp_path):
    output = str(tmp_path / "no_tests")
    run(baseline_command(corpus, output, 1, "--test_splits=[]"))
    assert logged_epochs(output) == [1]
    with open(os.path.join(output, "run_summary.json")) as fin:
        assert json.load(fin)["test"] == {}
    assert not os.path.exists(os.path.join(output, "wer_summary.json"))


def schedule_state(output):
    """The learning-rate schedule saved with the newest checkpoint."""
    save = os.path.join(output, "save")
    newest = max(
        os.listdir(save), key=lambda n: os.path.getmtime(os.path.join(save, n))
    )
    return torch.load(os.path.join(save, newest, "lr_scheduler.ckpt"))


def test_second_run_continues_instead_of_restarting(corpus, trained):
    one_epoch = schedule_state(trained)
    assert one_epoch["current_step"] == one_epoch["num_training_steps"] > 0
    run_train(corpus, trained, 2)
    assert logged_epochs(trained) == [1, 2]
    # The linear decay is stretched over the longer run instead of training
    # the added epoch at a zero learning rate.
    two_epochs = schedule_state(trained)
    assert two_epochs["num_training_steps"] == 2 * one_epoch["num_training_steps"]
    assert two_epochs["current_step"] == two_epochs["num_training_steps"]


def test_killed_run_resumes_from_last_checkpoint(corpus, tmp_path):
    output = str(tmp_path / "killed")
    process = subprocess.Popen(
        baseline_command(corpus, output, 30),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    save = os.path.join(output, "save")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if os.path.isdir(save) and any(
            os.path.exists(os.path.join(save, name, "CKPT.yaml"))
            for name in os.listdir(save)
        ):
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = logged_epochs(output)
    saved = checkpointed_epoch(output)
    assert saved, "no checkpoint was written before the kill"
    # The log line of an epoch precedes its checkpoint, so a kill in between
    # leaves one logged epoch that the resumed run must train again.
    assert done[-1] - saved in (0, 1)
    target = done[-1] + 1
    run_train(corpus, output, target, "--synthetic_corpus=tiny")
    assert logged_epochs(output) == done + list(range(saved + 1, target + 1))
