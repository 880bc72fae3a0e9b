"""Start-up set-up of the AED recipe (modules/training/aed_setup.py), on the
recipe's YAML with a small model: every bad key is refused before training."""

import os

import pytest

from modules.decoding.aed_search import AEDSearchOptions
from modules.decoding.token_lm import TokenLMRequest
from modules.losses.aed import JointCTCAttentionLoss
from modules.losses.exit_losses import EarlyExitCTCLoss
from modules.training.aed_setup import AEDRunSetup, build_aed_run_setup
from modules.training.run_setup import load_training_hparams
from tests.paths import REPO_ROOT

RECIPE = os.path.join(REPO_ROOT, "hparams", "conformer_aed_early_exit.yaml")
SMALL = {
    "d_model": 16,
    "d_ffn": 32,
    "nhead": 2,
    "decoder_nhead": 2,
    "decoder_d_ffn": 32,
    "num_layers": 4,
    "exit_every": 2,
    "output_neurons": 12,
}


def recipe_hparams(folder, **overrides):
    """The AED recipe's hyperparameters with a small model, writing (its
    checkpointer) under ``folder``."""
    with open(RECIPE) as fin:
        overrides = {**SMALL, "output_folder": str(folder), **overrides}
        return load_training_hparams(fin.read(), overrides)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The recipe's hyperparameters, loaded once (the checks below read keys
    that the model does not depend on)."""
    return recipe_hparams(tmp_path_factory.mktemp("aed"))


def test_recipe_builds_the_joint_loss_and_the_search_options(loaded):
    setup = build_aed_run_setup({**loaded, "train_exits": 1})
    assert isinstance(setup, AEDRunSetup)
    assert type(setup.exit_loss) is EarlyExitCTCLoss
    assert isinstance(setup.joint_loss, JointCTCAttentionLoss)
    assert setup.joint_loss.ctc_loss is setup.exit_loss
    assert (setup.joint_loss.ctc_weight, setup.joint_loss.label_smoothing) == (0.3, 0.1)
    assert setup.search == AEDSearchOptions(
        bos_index=2,
        eos_index=3,
        blank_index=0,
        beam_size=5,
        ctc_weight=0.4,
        length_normalization=True,
        max_decode_ratio=0.8,
        ctc_scorer_beam_scale=1.5,
    )
    assert setup.valid_search_interval is None
    assert setup.train_exits == 1 and setup.ranking_exit == 1
    assert setup.model.exit_layers == [2, 4] and setup.teacher is None


def test_published_sharing_is_the_default(loaded):
    model = loaded["model"]
    assert (model.shared_decoder, model.shared_embedding, model.shared_output) == (
        False,
        True,
        False,
    )
    assert len(model.decoders) == model.num_exits == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ctc_weight": 1.5}, "ctc_weight=1.5 must be in"),
        ({"ctc_weight": -0.2}, "ctc_weight=-0.2 must be in"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"attention_weights": [1.0]}, "attention_weights has 1 values"),
        ({"test_beam_size": 0}, "test_beam_size=0 must be"),
        ({"test_beam_size": None}, "test_beam_size=None must be"),
        ({"decoding_ctc_weight": 1.2}, "decoding_ctc_weight=1.2"),
        ({"ctc_scorer_beam_scale": 0.5}, "ctc_scorer_beam_scale=0.5"),
        ({"max_decode_ratio": 0}, "max_decode_ratio=0"),
        ({"eos_index": 2}, "must be distinct token ids"),
        ({"bos_index": 12}, "below output_neurons=12"),
        ({"valid_search_interval": 0}, "valid_search_interval=0"),
        ({"train_exits": 3}, "train_exits=3"),
    ],
)
def test_bad_keys_are_named(loaded, overrides, message):
    with pytest.raises(ValueError, match=message):
        build_aed_run_setup({**loaded, **overrides})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"decoder_d_model": 24}, "decoder_d_model=24 differs from the encoder's"),
        ({"exit_layers": [2, 6], "exit_every": None}, "exit_layers"),
    ],
)
def test_bad_model_keys_are_named_when_the_yaml_is_loaded(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        recipe_hparams(tmp_path, **overrides)


def test_a_ctc_model_is_refused(loaded, tmp_path):
    hparams = dict(loaded)
    ctc_keys = {k: v for k, v in SMALL.items() if not k.startswith("decoder")}
    with open(os.path.join(REPO_ROOT, "hparams", "conformer_ctc_early_exit.yaml")) as f:
        hparams["model"] = load_training_hparams(
            f.read(), {**ctc_keys, "output_folder": str(tmp_path)}
        )["model"]
    with pytest.raises(ValueError, match="not an early-exit AED model"):
        build_aed_run_setup(hparams)


def test_no_decoding_lm_by_default_and_an_lm_file_is_checked(loaded, tmp_path):
    assert build_aed_run_setup(loaded).decoding_lm is None
    arpa = tmp_path / "tokens.arpa"
    arpa.write_text("\\data\\\nngram 1=1\n")
    setup = build_aed_run_setup({**loaded, "decoding_lm": str(arpa)})
    assert setup.decoding_lm == TokenLMRequest(str(arpa), 0.5, 6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"decoding_lm": "/no/such/tokens.arpa"}, "decoding_lm=/no/such/tokens.arpa"),
        ({"decoding_lm_weight": -0.1}, "decoding_lm_weight=-0.1 must be"),
        ({"decoding_lm_weight": None}, "decoding_lm_weight=None must be"),
        ({"decoding_lm_order": 1}, "decoding_lm_order=1 must be"),
        ({"decoding_lm_order": 8}, "decoding_lm_order=8 must be .* from 2 to 6"),
    ],
)
def test_bad_decoding_lm_keys_are_named(loaded, overrides, message):
    with pytest.raises(ValueError, match=message):
        build_aed_run_setup({**loaded, "decoding_lm": "auto", **overrides})


def test_auto_needs_the_lm_text_of_an_existing_data_folder(loaded, tmp_path):
    with pytest.raises(ValueError, match="decoding_lm=auto builds the token n-gram"):
        build_aed_run_setup(
            {**loaded, "decoding_lm": "auto", "data_folder": str(tmp_path)}
        )
    (tmp_path / "librispeech-lm-norm.txt").write_text("A B\n")
    hparams = {**loaded, "decoding_lm": "auto", "data_folder": str(tmp_path)}
    assert build_aed_run_setup(hparams).decoding_lm.source == "auto"
