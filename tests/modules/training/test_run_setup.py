"""Start-up set-up of a training run (modules/training/run_setup.py), on a small
model built from a YAML string: every bad key is refused before training."""

import dataclasses
import functools
import os

import pytest
import speechbrain as sb
import torch

from modules.checkpoints import AtomicCheckpointer
from modules.losses.distillation import DynamicKDLoss, PseudoLabelKDLoss
from modules.losses.exit_losses import (
    ConfidenceWeightedCTCLoss,
    EarlyExitCTCLoss,
    ExitLoss,
)
from modules.training.loss_setup import exit_loss_classes
from modules.training.run_setup import (
    RunSetup,
    build_run_setup,
    load_training_hparams,
)
from tests.paths import REPO_ROOT

SMALL_RECIPE = """
blank_index: 0
min_duration: 0.5
d_model: 16
model: !new:modules.models.early_exit.EarlyExitCTC
    frontend: !new:torch.nn.Identity
    encoder: !new:modules.nn.encoders.ConformerLayerStack
        encoder: !new:speechbrain.lobes.models.transformer.Conformer.ConformerEncoder
            num_layers: 4
            d_model: !ref <d_model>
            d_ffn: 32
            nhead: 2
            kernel_size: 3
    output_size: !ref <d_model>
    vocab_size: 7
    exit_every: 2
loss_class: !name:modules.losses.exit_losses.EarlyExitCTCLoss
loss_options: {}
train_exits: null
kd_teacher_checkpoint: null
keep_layers: null
init_from_checkpoint: null
"""

DISTILLATION = "!name:modules.losses.distillation"


def small_setup_hparams(overrides=""):
    """The small recipe's hyperparameters, with YAML ``overrides``."""
    return load_training_hparams(SMALL_RECIPE, overrides)


def saved_teacher(folder, d_model=16):
    """A trained-model stand-in saved as an experiment's ``save`` folder."""
    model = small_setup_hparams(f"d_model: {d_model}")["model"]
    AtomicCheckpointer(str(folder), {"model": model}).save_checkpoint(
        meta={"WER": 10.0}
    )
    return model


def test_default_recipe_builds_the_ee_loss_over_every_exit():
    hparams = small_setup_hparams()
    setup = build_run_setup(hparams)
    assert setup.model is hparams["model"]
    assert type(setup.exit_loss) is EarlyExitCTCLoss
    assert setup.exit_loss.num_exits == 2 and setup.exit_loss.blank_index == 0
    assert setup.train_exits is None and setup.teacher is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        setup.train_exits = 1
    assert "loss_class" in hparams and "exit_loss" not in hparams


def test_command_line_names_the_loss_class_and_its_options(tmp_path):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(SMALL_RECIPE)
    _, _, overrides = sb.parse_arguments(
        [
            str(recipe),
            f"--loss_class={DISTILLATION}.DynamicKDLoss",
            "--loss_options={alphas: [0.8, 1.0]}",
            "--train_exits=1",
        ]
    )
    setup = build_run_setup(load_training_hparams(recipe.read_text(), overrides))
    assert type(setup.exit_loss) is DynamicKDLoss
    assert setup.exit_loss.alphas == [0.8, 1.0] and setup.exit_loss.num_exits == 2
    assert setup.train_exits == 1


def test_unknown_loss_class_is_refused_with_the_valid_choices():
    with pytest.raises(ValueError, match="loss_class") as err:
        small_setup_hparams(f"loss_class: {DISTILLATION}.KDLoss")
    assert "loss_class=!name:modules.losses.distillation.KDLoss does not" in str(
        err.value
    )
    classes = exit_loss_classes()
    assert len(classes) == 6
    assert "modules.losses.teacher_student.TeacherStudentKDLoss" in classes
    assert all(name in str(err.value) for name in classes)


def test_unknown_class_elsewhere_is_not_blamed_on_loss_class():
    with pytest.raises(ImportError, match="torch.nn.NoSuchModule"):
        small_setup_hparams("model: !new:torch.nn.NoSuchModule")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            "loss_options: {alpha: 0.5}",
            r"loss_options=\{'alpha': 0.5\} do not fit "
            r"loss_class=modules.losses.exit_losses.EarlyExitCTCLoss",
        ),
        (
            f"loss_class: {DISTILLATION}.DynamicKDLoss",
            r"loss_options=\{\} do not fit loss_class=.*DynamicKDLoss.*alphas",
        ),
        ("loss_options: {num_exits: 3}", "loss_options=.*num_exits"),
        ("loss_options: [1.0, 1.0]", r"loss_options=\[1.0, 1.0\] must map"),
        (
            "loss_options: {weights: [1.0, 1.0, 1.0]}",
            r"loss\.weights has 3 values but the model has 2 exits",
        ),
    ],
)
def test_loss_options_the_class_does_not_take_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_run_setup(small_setup_hparams(overrides))


@pytest.mark.parametrize(
    "loss_class",
    [
        torch.nn.CTCLoss,
        ExitLoss,
        functools.partial(DynamicKDLoss, alphas=[0.8, 1.0]),
        "modules.losses.exit_losses.EarlyExitCTCLoss",
    ],
)
def test_a_class_that_is_not_an_exit_loss_is_refused(loss_class):
    hparams = small_setup_hparams()
    hparams["loss_class"] = loss_class
    with pytest.raises(ValueError, match="loss_class=.* is not an exit loss") as err:
        build_run_setup(hparams)
    assert "!name:modules.losses.exit_losses.EarlyExitCTCLoss" in str(err.value)


def test_teacher_with_a_loss_that_uses_none_is_refused(tmp_path):
    saved_teacher(tmp_path / "save")
    overrides = f"kd_teacher_checkpoint: {tmp_path / 'save'}"
    with pytest.raises(ValueError, match="kd_teacher_checkpoint is set but") as err:
        build_run_setup(small_setup_hparams(overrides))
    assert "ConfidenceWeightedCTCLoss" not in str(err.value)
    assert all(
        name in str(err.value)
        for name, cls in exit_loss_classes().items()
        if cls.uses_teacher
    )


def test_frozen_teacher_is_loaded_for_a_distillation_loss(tmp_path):
    trained = saved_teacher(tmp_path / "save")
    overrides = (
        f"kd_teacher_checkpoint: {tmp_path / 'save'}\n"
        f"loss_class: {DISTILLATION}.PseudoLabelKDLoss"
    )
    setup = build_run_setup(small_setup_hparams(overrides))
    assert type(setup.exit_loss) is PseudoLabelKDLoss
    assert setup.teacher is not setup.model and not setup.teacher.training
    torch.testing.assert_close(setup.teacher.state_dict(), trained.state_dict())
    assert not any(p.requires_grad for p in setup.teacher.parameters())
    assert all(p.requires_grad for p in setup.model.parameters())


def test_missing_teacher_names_the_key(tmp_path):
    overrides = (
        f"kd_teacher_checkpoint: {tmp_path / 'none'}\n"
        f"loss_class: {DISTILLATION}.LogitKDLoss"
    )
    with pytest.raises(FileNotFoundError, match="kd_teacher_checkpoint=.*does not"):
        build_run_setup(small_setup_hparams(overrides))


@pytest.mark.parametrize("train_exits", [0, 3, "1", 1.5])
def test_train_exits_out_of_range_is_refused(train_exits):
    hparams = small_setup_hparams()
    hparams["train_exits"] = train_exits
    with pytest.raises(ValueError, match=f"train_exits={train_exits}: .* 2 exits"):
        build_run_setup(hparams)


def test_model_and_blank_index_are_checked():
    hparams = small_setup_hparams("blank_index: null")
    with pytest.raises(ValueError, match="blank_index=None"):
        build_run_setup(hparams)
    hparams = small_setup_hparams()
    hparams["model"] = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="model=torch.nn.*Linear is not an early"):
        build_run_setup(hparams)


def test_confidence_loss_takes_its_options():
    overrides = (
        "loss_class: !name:modules.losses.exit_losses.ConfidenceWeightedCTCLoss\n"
        "loss_options: {floor: 0.2}"
    )
    loss = build_run_setup(small_setup_hparams(overrides)).exit_loss
    assert type(loss) is ConfidenceWeightedCTCLoss and loss.floor == 0.2
    assert isinstance(build_run_setup(small_setup_hparams()), RunSetup)


@pytest.mark.parametrize(
    "yaml_name", ["conformer_ctc_baseline.yaml", "conformer_ctc_early_exit.yaml"]
)
def test_the_long_form_stage_keys_are_checked_at_start_up(yaml_name):
    with open(os.path.join(REPO_ROOT, "hparams", yaml_name)) as handle:
        text = handle.read()
    small = {"d_model": 16, "d_ffn": 32, "nhead": 2}
    assert load_training_hparams(text, small)["long_form_window"] is None  # off
    build_run_setup(load_training_hparams(text, {**small, "long_form_window": 2.56}))
    off_grid = load_training_hparams(text, {**small, "long_form_window": 2.5})
    with pytest.raises(ValueError, match="window=2.5 s is not a positive multiple"):
        build_run_setup(off_grid)
