"""Start-up of a context run: YAML checks, long-form data, stage chunks."""

import os

import pytest
from speechbrain.utils.checkpoints import Checkpointer

from modules.data.context_schedule import ContextWarmup
from modules.data.librispeech import prepare_librispeech
from modules.training.context_setup import (
    build_context_run_setup,
    build_context_training_data,
    check_context_keys,
    chunks_per_batch,
)
from modules.training.run_setup import load_training_hparams
from tests.paths import REPO_ROOT


def context_hparams(tmp_path, root, seconds=2.0):
    """The keys a context run reads, on a corpus at ``root``."""
    warmup = ContextWarmup(seconds, 0.5, 4, 1)
    return {
        "data_folder": root,
        "train_splits": ["train-synth"],
        "manifest_folder": str(tmp_path / "manifests"),
        "long_form_folder": str(tmp_path / "long_form"),
        "long_form_splits": ["test-clean"],
        "long_form_seconds": None,
        "context_warmup": warmup,
        "checkpointer": Checkpointer(str(tmp_path / "save"), {"warmup": warmup}),
        "min_duration": None,
        "max_duration": None,
        "sorting": "random",
        "dynamic_batching": False,
        "train_dataloader_opts": {"num_workers": 0},
    }


@pytest.fixture
def corpus(make_librispeech):
    """train-synth (utterances of 0.5-2.0 s in 3 chapters) and test-clean,
    with the segmented manifests of train-synth."""
    tree = make_librispeech("train-synth")
    make_librispeech("test-clean", root=tree.root)
    return tree.root


def test_batch_holds_the_same_audio_at_every_context_length():
    assert [chunks_per_batch(81.92, s) for s in (20.48, 40.96, 81.92)] == [4, 2, 1]
    assert chunks_per_batch(10.0, 3.0) == 3
    with pytest.raises(ValueError, match="context_batch_seconds=20.0 is shorter"):
        chunks_per_batch(20.0, 40.96)


def test_the_recipe_yaml_passes_its_own_checks():
    path = os.path.join(REPO_ROOT, "hparams", "conformer_ctc_context.yaml")
    with open(path) as handle:
        hparams = load_training_hparams(
            handle.read(), {"d_model": 16, "d_ffn": 32, "nhead": 2, "num_layers": 1}
        )
    build_context_run_setup(hparams)  # the context and long-form stage keys
    assert hparams["long_form_window"] == 40.96  # the training length
    assert hparams["batch_size"] == 2  # 81.92 s of 40.96 s chunks
    stages = hparams["context_warmup"].stages
    assert [s.seconds for s in stages] == [5.12, 10.24, 20.48, 40.96]
    assert [s.batch_size for s in stages] == [16, 8, 4, 2]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("max_duration", 20.0, "max_duration=20.0: set it to null"),
        ("min_duration", 0.5, "min_duration=0.5: set it to null"),
        ("dynamic_batching", True, "dynamic_batching=True: set it to False"),
        ("sorting", "ascending", "sorting='ascending': set it to random"),
        ("train_dataloader_opts", {"batch_size": 8}, "sets ['batch_size']"),
        ("long_form_splits", ["train-synth"], "are training splits"),
        ("context_warmup", 3, "context_warmup=3: a context run needs"),
    ],
)
def test_settings_a_context_run_cannot_honour_are_named(tmp_path, key, value, message):
    hparams = {**context_hparams(tmp_path, str(tmp_path)), key: value}
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        check_context_keys(hparams)


def test_a_warmup_left_out_of_the_checkpoints_is_refused(tmp_path):
    hparams = context_hparams(tmp_path, str(tmp_path))
    hparams["checkpointer"] = Checkpointer(str(tmp_path / "save"))
    with pytest.raises(ValueError, match="context_warmup is not among"):
        check_context_keys(hparams)


def test_training_data_holds_the_chunks_of_every_stage(corpus, tmp_path):
    hparams = context_hparams(tmp_path, corpus)
    prepare_librispeech(corpus, hparams["manifest_folder"], ["train-synth"])
    data = build_context_training_data(hparams, tokenizer=None)
    assert sorted(r.recording_id for r in data.recordings) == [
        "103-1240",
        "103-1241",
        "1034-121119",
    ]
    assert os.path.isfile(tmp_path / "long_form" / "test-clean.csv")
    stage_words = [
        sorted(c.words for c in data.stage_chunks(s)) for s in data.warmup.stages
    ]
    # 0.5 s: only the 0.5 s utterance fits; 1.0 s: also 0.75 s and 1.0 s;
    # 2.0 s: 0.75 + 1.0 s do not fit together, 0.5 + 1.25 s do.
    assert [len(words) for words in stage_words] == [1, 3, 5]
    assert "CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED MISSUS RACHEL" in " ".join(
        stage_words[2]
    )
    dataset = data.stage_dataset(data.warmup.stages[2])
    assert len(dataset) == 5 and data.stage_dataset(data.warmup.stages[2]) is dataset


def test_a_context_shorter_than_an_utterance_is_refused(corpus, tmp_path):
    hparams = context_hparams(tmp_path, corpus, seconds=1.5)
    prepare_librispeech(corpus, hparams["manifest_folder"], ["train-synth"])
    with pytest.raises(ValueError, match="context_length_seconds=1.5 is shorter than"):
        build_context_training_data(hparams, tokenizer=None)
