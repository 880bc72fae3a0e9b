"""Helpers of the end-to-end recipe tests: build and run ``train.py`` commands."""

import os
import subprocess
import sys

from tests.paths import REPO_ROOT as ROOT  # noqa: E402

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
