"""Helpers of the end-to-end recipe tests: build and run ``train.py`` commands,
read what a run saved."""

import glob
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

from modules.training.run_setup import load_training_hparams
from tests.paths import REPO_ROOT as ROOT

SHARED_TINY = [
    "--synthetic_corpus=tiny",
    "--d_model=32",
    "--d_ffn=64",
    "--nhead=2",
    "--kernel_size=7",
    "--output_neurons=48",
    "--n_warmup_steps=10",
    "--ckpt_interval_minutes=0",
    "--benchmark=False",
]


def merge_overrides(defaults, extra):
    """Command-line overrides, later ones replacing earlier ones of a key."""
    merged = {}
    for option in [*defaults, *extra]:
        merged[option.split("=", 1)[0]] = option
    return list(merged.values())


def train_command(yaml_name, corpus, output, overrides, launcher=(sys.executable,)):
    """``train.py hparams/<yaml_name>`` on ``corpus`` with tiny-model overrides."""
    return [
        *launcher,
        os.path.join(ROOT, "train.py"),
        os.path.join(ROOT, "hparams", yaml_name),
        f"--data_folder={corpus}",
        f"--output_folder={output}",
        *merge_overrides(SHARED_TINY, overrides),
    ]


def run(cmd, expect_ok=True):
    """Run a command from the repository root; return stdout + stderr."""
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) == expect_ok, output[-4000:]
    return output


def best_checkpoint(output):
    """Meta (``CKPT.yaml``) and model state of an experiment's checkpoint
    (the best one, the only one kept)."""
    (folder,) = glob.glob(os.path.join(output, "save", "CKPT+*"))
    with open(os.path.join(folder, "CKPT.yaml")) as fin:
        meta = yaml.safe_load(fin)
    return meta, torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")


def file_digest(path):
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as fin:
        return hashlib.sha256(fin.read()).hexdigest()


def initial_model(output):
    """An experiment's model as initialised before training: its saved
    ``hyperparams.yaml`` (same seed, same construction order) loaded again."""
    with open(os.path.join(output, "hyperparams.yaml")) as fin:
        return load_training_hparams(fin.read())["model"]


def above_exit(name, model, exit_index):
    """Whether parameter ``name`` of ``model`` (an ``EarlyExitCTC``) belongs
    to an encoder layer or a head above exit ``exit_index``."""
    layer = re.search(r"(?:^|\.)layers\.(\d+)\.", name)
    if layer:
        return int(layer.group(1)) >= model.exit_layers[exit_index - 1]
    head = re.match(r"heads\.(\d+)\.", name)
    return bool(head) and int(head.group(1)) >= exit_index


def assert_trained_up_to_exit(output, exit_index):
    """A run with ``train_exits: exit_index``: its checkpoint was ranked by that
    exit, and the layers and heads above it kept their initial weights."""
    meta, trained = best_checkpoint(output)
    assert meta["ranking_exit"] == exit_index, meta
    with open(os.path.join(output, "train_log.txt")) as fin:
        valid = [line.split(" - ")[-1] for line in fin if "valid WER" in line]
    stats = dict(item.split(": ") for item in valid[-1].strip().split(", "))
    assert stats["valid WER"] == stats[f"valid WER_exit{exit_index}"]
    assert float(stats["valid WER"]) == pytest.approx(meta["WER"], rel=0.01)
    with open(os.path.join(output, "wer_summary.json")) as fin:
        assert json.load(fin)["test-clean"]["ranking_exit"] == exit_index
    initial = initial_model(output)
    above = [
        n for n, _ in initial.named_parameters() if above_exit(n, initial, exit_index)
    ]
    assert above, "no layer above the exit"
    untouched = {
        n: torch.equal(trained[n], p)
        for n, p in initial.state_dict().items()
        if n in trained
    }
    assert all(untouched[name] for name in above), [
        n for n in above if not untouched[n]
    ]
    assert not all(untouched.values()), "nothing was trained"


TINY_AED_OVERRIDES = [
    "--num_layers=4",
    "--exit_every=2",
    "--decoder_nhead=2",
    "--decoder_d_ffn=64",
    "--test_beam_size=2",
    "--max_decode_ratio=0.3",
    "--valid_search_interval=null",
]
"""``train.py`` overrides of a tiny early-exit AED (4 layers, 2 exits, small
decoders, beam 2) for end-to-end runs on the tiny corpus."""
