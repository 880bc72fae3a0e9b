"""Fixtures of the benchmark tests: tiny experiments trained by ``train.py``."""

import pytest

from tests.recipes.recipe_runs import run as run_command
from tests.recipes.recipe_runs import train_command

TINY_EXPERIMENT = [
    "--number_of_epochs=1",
    "--num_layers=4",
    "--exit_layers=[2,4]",
]
YAML = "conformer_ctc_baseline.yaml"


def train_tiny(root, extra=()):
    """Output folder of a one-epoch tiny early-exit training run in ``root``
    (4 layers, exits after layers 2 and 4) with ``extra`` overrides."""
    output = str(root / "exp")
    corpus = str(root / "synthetic-tiny")
    run_command(train_command(YAML, corpus, output, [*TINY_EXPERIMENT, *extra]))
    return output


@pytest.fixture(scope="package")
def experiment(tmp_path_factory):
    """Output folder of a one-epoch tiny early-exit training run."""
    return train_tiny(tmp_path_factory.mktemp("bench"))
