"""LM weights and policy thresholds are never chosen on the test set: the
benchmark refuses a dev split equal to the test set before loading a model."""

import pytest

from benchmark import run
from benchmark.errors import OptionError
from benchmark.options import BenchmarkOptions
from benchmark.splits import check_dev_is_not_test

# the splits of a saved hyperparams.yaml; the model's tag must not be built
HYPERPARAMS = """\
dev_splits: [dev-clean]
test_splits: [test-clean, test-other]
model: !new:no.such.module.Model
    size: 3
"""


@pytest.fixture
def experiment(tmp_path):
    """An experiment folder with only its hyperparams.yaml (no checkpoint)."""
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "hyperparams.yaml").write_text(HYPERPARAMS)
    return str(folder)


@pytest.mark.parametrize(
    "argv",
    [
        ["--test_set", "dev-clean"],
        ["--dev_set", "test-other", "--test_set", "test-other"],
    ],
)
def test_tuning_on_the_test_set_is_refused_from_the_command_line(
    experiment, argv, capsys
):
    assert run.main([experiment, "--policies", "none", *argv]) == 2
    error = capsys.readouterr().err
    assert "is also the test set" in error and "--dev_set / --test_set" in error
    assert "LM weights (tune=each)" in error
    assert "No checkpoint" not in error and "no.such.module" not in error


def test_explicit_splits_are_refused_without_an_experiment(tmp_path):
    with pytest.raises(OptionError, match="'dev-clean' is also the test set"):
        run.run_benchmark(
            tmp_path / "missing", dev_set="dev-clean", test_set="dev-clean"
        )


def test_fixed_weights_on_the_same_split_are_allowed(experiment):
    fixed = BenchmarkOptions(test_set="dev-clean", tune="none", policies="none")
    run.check_splits_before_loading(experiment, fixed)
    without_lm = BenchmarkOptions(test_set="dev-clean", lm="none", policies="none")
    run.check_splits_before_loading(experiment, without_lm)
    opts = BenchmarkOptions(tune="none", policies="none")
    check_dev_is_not_test(opts, "dev-clean", "dev-clean", multi_exit=True)
    with pytest.raises(OptionError, match="exit policies' thresholds"):
        check_dev_is_not_test(BenchmarkOptions(tune="none"), "a", "a", multi_exit=True)
