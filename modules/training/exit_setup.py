"""Start-up set-up of early-exit training from the YAML.

Everything that can be wrong in the YAML (an unknown loss, a weight list of the
wrong length, a manual activation beyond the last exit, a KD teacher that does
not exist or does not fit) is checked here, before any training step, and the
error names the YAML key and the fix.

YAML keys read:

- ``loss_name`` (``ee``, ``pseudo_kd``, ``dynamic_kd``, ``confidence``,
  ``logit_kd``) and ``loss_options`` (the chosen loss's arguments);
- ``train_exits``: manual exit activation, train only the first K exits (the
  layers above exit K are never run during training); ``null`` for all;
- ``kd_teacher_checkpoint``: ``null`` for the online teacher (the model's own
  last exit), or a checkpoint folder (``.../save/CKPT+...``) or an experiment's
  ``save`` folder whose best checkpoint (lowest dev WER) is a frozen teacher of
  the same architecture.
"""

import copy
import os

import torch

from modules.checkpoints import resolve_checkpoint
from modules.losses.exit_losses import LOSS_CLASSES, build_exit_loss

TEACHER_LOSSES = ("pseudo_kd", "dynamic_kd", "logit_kd")


def build_loss_from_hparams(hparams, num_exits):
    """The exit loss named by ``loss_name`` with ``loss_options``."""
    name = hparams.get("loss_name", "ee")
    if name not in LOSS_CLASSES:
        valid = ", ".join(LOSS_CLASSES)
        raise ValueError(f"loss_name={name!r} is unknown; use one of: {valid}")
    options = dict(hparams.get("loss_options") or {})
    try:
        return build_exit_loss(
            name, num_exits, blank_index=hparams["blank_index"], **options
        )
    except TypeError as error:
        raise ValueError(
            f"loss_options={options} do not fit loss_name={name!r} ({error}); "
            f"see modules/losses/exit_losses.py for its arguments"
        ) from error


def check_train_exits(hparams, num_exits):
    """Validate ``train_exits`` (manual exit activation); None means all."""
    train_exits = hparams.get("train_exits")
    if train_exits is None:
        return None
    if not isinstance(train_exits, int) or not 1 <= train_exits <= num_exits:
        raise ValueError(
            f"train_exits={train_exits}: the model has {num_exits} exits; give "
            f"1..{num_exits}, or null to train all of them"
        )
    return train_exits


def load_frozen_teacher(hparams, model):
    """A frozen copy of ``model`` with the teacher checkpoint's weights.

    Returns None when ``kd_teacher_checkpoint`` is null (online teacher).
    """
    path = hparams.get("kd_teacher_checkpoint")
    if path is None:
        return None
    if hparams.get("loss_name") not in TEACHER_LOSSES:
        raise ValueError(
            f"kd_teacher_checkpoint is set but loss_name="
            f"{hparams.get('loss_name')!r} uses no teacher; use one of "
            f"{', '.join(TEACHER_LOSSES)} or set kd_teacher_checkpoint: null"
        )
    folder = resolve_checkpoint(path, key="kd_teacher_checkpoint")
    teacher = copy.deepcopy(model)
    state = torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")
    try:
        teacher.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"kd_teacher_checkpoint={path}: {folder}/model.ckpt does not match "
            f"this model's architecture ({str(error).splitlines()[0]} ...); "
            "the teacher must have the same YAML model keys"
        ) from error
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher
