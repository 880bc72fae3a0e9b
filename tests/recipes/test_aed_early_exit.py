"""End-to-end runs of the early-exit AED recipe on the tiny built-in corpus.

One run is killed after its first epoch's checkpoint and run again: it
continues with the second epoch, then tests every exit with greedy CTC, greedy
attention and the joint CTC/attention beam search. A bad key stops
``train.py`` before any data is prepared.
"""

import csv
import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from tests.recipes.recipe_runs import (
    ROOT,
    TINY_AED_OVERRIDES,
    best_checkpoint,
    run,
    train_command,
)

TINY_AED = [*TINY_AED_OVERRIDES, "--number_of_epochs=2"]


def command(corpus, output, *extra):
    overrides = [*TINY_AED, *extra]
    return train_command("conformer_aed_early_exit.yaml", corpus, output, overrides)


def end_of_epoch_checkpoints(save):
    """``CKPT.yaml`` contents of the complete end-of-epoch checkpoints."""
    found = []
    for name in os.listdir(save) if os.path.isdir(save) else []:
        meta = os.path.join(save, name, "CKPT.yaml")
        if os.path.exists(meta):
            with open(meta) as fin:
                content = yaml.safe_load(fin)
            if content.get("end-of-epoch", True):
                found.append(content)
    return found


def kill_after_first_epoch(cmd, save):
    """Start ``cmd`` and SIGKILL it once an end-of-epoch checkpoint exists."""
    process = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if end_of_epoch_checkpoints(save):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """An experiment killed after epoch 1 and run again to its end."""
    corpus = str(tmp_path_factory.mktemp("data") / "synthetic-tiny")
    output = str(tmp_path_factory.mktemp("exp") / "aed")
    cmd = command(corpus, output)
    kill_after_first_epoch(cmd, os.path.join(output, "save"))
    with open(os.path.join(output, "train_log.txt")) as fin:
        killed_log = fin.read()
    run(cmd)
    return output, killed_log


def test_killed_run_continues_with_the_next_epoch(resumed):
    output, killed_log = resumed
    assert "epoch: 1," in killed_log and "epoch: 2," not in killed_log
    with open(os.path.join(output, "train_log.txt")) as fin:
        epochs = [line.split(",")[0] for line in fin if line.startswith("epoch")]
    assert epochs == ["epoch: 1", "epoch: 2"]


def test_checkpoint_is_ranked_by_the_last_exits_ctc_wer(resumed):
    output, _ = resumed
    meta, state = best_checkpoint(output)
    assert meta["ranking_exit"] == 2
    with open(os.path.join(output, "train_log.txt")) as fin:
        valid = [line.split(" - ")[-1] for line in fin if "valid WER" in line]
    stats = dict(item.split(": ") for item in valid[-1].strip().split(", "))
    assert stats["valid WER"] == stats["valid WER_exit2"]  # ranking_decoding: ctc
    assert "valid WER_attention_exit1" in stats and "valid WER_exit1" in stats
    assert any(key.startswith("decoders.1.") for key in state)


def test_every_exit_is_tested_three_ways(resumed):
    output, _ = resumed
    with open(os.path.join(output, "wer_summary.json")) as fin:
        summary = json.load(fin)["test-clean"]
    assert summary["exit_layers"] == [2, 4] and summary["beam_size"] == 2
    for key in ("wer", "wer_attention", "wer_joint"):
        assert len(summary[key]) == 2 and all(w >= 0 for w in summary[key])
    folder = os.path.join(output, "test", "test-clean")
    ids = None
    for suffix in ("", "_attention", "_joint"):
        with open(os.path.join(folder, f"transcripts{suffix}.csv")) as fin:
            rows = list(csv.DictReader(fin))
        assert list(rows[0]) == ["ID", "reference", "exit1", "exit2"]
        assert len(rows) == summary["num_utts"]
        ids = ids or [row["ID"] for row in rows]
        assert [row["ID"] for row in rows] == ids
        assert os.path.getsize(os.path.join(folder, f"wer_exit2{suffix}.txt")) > 0
    with open(os.path.join(output, "wer_summary.md")) as fin:
        header = fin.readline()
    assert "test-clean WER % (attention)" in header
    assert "test-clean WER % (joint beam)" in header


def test_bad_key_stops_before_data_preparation(tmp_path):
    corpus = str(tmp_path / "no-corpus")
    output = str(tmp_path / "bad")
    log = run(command(corpus, output, "--ctc_weight=1.5"), expect_ok=False)
    assert "ctc_weight=1.5 must be in [0, 1]" in log
    assert not os.path.exists(corpus)
    assert not os.path.exists(os.path.join(output, "manifests"))
