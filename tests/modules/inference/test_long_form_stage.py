"""The long-form test stage (modules/inference/long_form_stage.py) on a tiny
experiment and a LibriSpeech-shaped test split: preparation, every split x
mode evaluated, the table, resumability, and the keys refused at start-up."""

import json
import os
import shutil

import pytest

from modules.experiment_folder import open_experiment
from modules.inference import long_form_stage
from modules.inference.long_form_asr import LongFormASR
from modules.inference.long_form_eval import evaluate_long_form
from modules.inference.long_form_stage import (
    check_long_form_stage,
    run_long_form_stage,
)
from tests.conftest import write_librispeech
from tests.modules.inference.fakes import tiny_experiment


def stage_hparams(experiment, corpus, **keys):
    """The keys the stage reads (window 1.28 s: 32 frames of 0.04 s)."""
    return {
        "output_folder": experiment,
        "data_folder": corpus,
        "synthetic_corpus": None,
        "long_form_folder": os.path.join(experiment, "long_form_manifests"),
        "long_form_splits": ["test-clean"],
        "long_form_seconds": None,
        "long_form_window": 1.28,
        "long_form_hop": None,
        "long_form_modes": ["average", "none"],
        **keys,
    }


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The stage run once: its hparams and results."""
    root = tmp_path_factory.mktemp("stage")
    corpus = write_librispeech(root / "LibriSpeech", "test-clean").root
    hparams = stage_hparams(tiny_experiment(root / "experiment"), corpus)
    return hparams, run_long_form_stage(hparams)


def test_every_split_and_mode_is_evaluated(staged):
    hparams, results = staged
    experiment = hparams["output_folder"]
    manifest = os.path.join(hparams["long_form_folder"], "test-clean.csv")
    average, none = results["test-clean"]["average"], results["test-clean"]["none"]
    assert (average["mode"], average["hop_seconds"]) == ("average", 0.16)
    assert (none["mode"], none["hop_seconds"]) == ("none", 1.28)
    assert average["recordings"] == 3 and average["manifest"] == manifest
    for mode, summary in results["test-clean"].items():
        path = os.path.join(experiment, "long_form", "test-clean", mode)
        with open(os.path.join(path, "summary.json")) as fin:
            assert json.load(fin) == summary
    # The same numbers as the evaluation function called directly.
    asr = LongFormASR.from_experiment(experiment, window=1.28, mode="average")
    direct = evaluate_long_form(asr, manifest, os.path.join(experiment, "direct"))
    for key in ("long_form", "segmented"):
        assert direct[key]["wer"] == average[key]["wer"]
    with open(os.path.join(experiment, "wer_long_form.md")) as fin:
        table = fin.read().splitlines()
    assert table[2].startswith("| test-clean | average | 1.28 | 0.16 | ")
    assert table[3].startswith("| test-clean | none | 1.28 | 1.28 | ")


def test_a_finished_evaluation_is_not_run_again(staged, monkeypatch):
    hparams, results = staged

    def never(*args):
        raise AssertionError("evaluated again")

    monkeypatch.setattr(long_form_stage, "evaluate_long_form", never)
    assert run_long_form_stage(hparams) == results


def test_other_settings_are_evaluated_again(staged, tmp_path, monkeypatch):
    hparams, _ = staged
    experiment = shutil.copytree(hparams["output_folder"], tmp_path / "copy")
    calls = []

    def counted(asr, manifest, output):
        calls.append(os.path.basename(output))
        return evaluate_long_form(asr, manifest, output)

    monkeypatch.setattr(long_form_stage, "evaluate_long_form", counted)
    keys = {"output_folder": str(experiment), "long_form_hop": 0.32}
    results = run_long_form_stage({**hparams, **keys})
    assert calls == ["average"]  # none: hop = window whatever long_form_hop
    assert results["test-clean"]["average"]["hop_seconds"] == 0.32


def test_no_window_no_stage(tmp_path):
    assert run_long_form_stage({"long_form_window": None}) is None
    assert check_long_form_stage({}) is None


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"long_form_window": 0}, "long_form_window=0: give a positive"),
        ({"long_form_window": "20"}, "long_form_window='20': give a positive"),
        ({"long_form_hop": -1.0}, "long_form_hop=-1.0: give a positive"),
        ({"long_form_hop": 2.56}, "long_form_hop=2.56 is larger than"),
        ({"long_form_modes": ["mean"]}, "long_form_modes=\\['mean'\\]: give a list"),
        ({"long_form_modes": "average"}, "long_form_modes='average': give a list"),
        ({"long_form_modes": []}, "long_form_modes=\\[\\]: give a list"),
        ({"long_form_seconds": -5}, "long_form_seconds must be positive"),
        ({"long_form_splits": []}, "long_form_splits is empty"),
        ({"long_form_splits": ["dev-other"]}, "\\['dev-other'\\] cannot be prepared"),
        ({"long_form_window": 1.3}, "window=1.3 s is not a positive multiple"),
        ({"long_form_hop": 0.1}, "hop=0.1 s is not a positive multiple"),
    ],
)
def test_bad_keys_are_refused(staged, keys, message):
    hparams, _ = staged
    model = open_experiment(hparams["output_folder"]).model
    with pytest.raises(ValueError, match=message):
        check_long_form_stage({**hparams, "model": model, **keys})


def test_missing_keys_and_splits_of_the_built_in_corpus(tmp_path):
    keys = {"long_form_window": 20.0, "long_form_modes": ["average"]}
    with pytest.raises(ValueError, match="needs the YAML keys \\['data_folder'"):
        check_long_form_stage(keys)
    synthetic = {
        **stage_hparams(str(tmp_path), str(tmp_path / "not-yet"), **keys),
        "synthetic_corpus": "tiny",
        "long_form_splits": ["test-clean", "test-noisy"],
    }
    with pytest.raises(ValueError, match="\\['test-noisy'\\] cannot be prepared"):
        check_long_form_stage(synthetic)
