"""Frozen teachers for knowledge distillation, loaded from a trained model."""

import copy
import os

import torch

from modules.checkpoints import resolve_checkpoint


def load_frozen_teacher(model, path, key="kd_teacher_checkpoint"):
    """A frozen copy of ``model`` with the weights of a trained checkpoint.

    Arguments
    ---------
    model : torch.nn.Module
        The student; the teacher is a deep copy of it (same architecture).
    path : str
        A checkpoint folder (``.../save/CKPT+...``) or an experiment's
        ``save`` folder, whose best checkpoint (lowest dev WER) is used.
    key : str
        The YAML key that gave ``path``, named in the errors.

    Returns
    -------
    torch.nn.Module
        The teacher, in eval mode, with ``requires_grad`` False everywhere.

    Example
    -------
    >>> import tempfile
    >>> from modules.checkpoints import AtomicCheckpointer
    >>> trained = torch.nn.Linear(2, 2)
    >>> save = tempfile.mkdtemp()
    >>> _ = AtomicCheckpointer(save, {"model": trained}).save_checkpoint(
    ...     meta={"WER": 10.0})
    >>> teacher = load_frozen_teacher(torch.nn.Linear(2, 2), save)
    >>> torch.equal(teacher.weight, trained.weight), teacher.training
    (True, False)
    >>> any(p.requires_grad for p in teacher.parameters())
    False
    """
    folder = resolve_checkpoint(path, key=key)
    teacher = copy.deepcopy(model)
    state = torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")
    try:
        teacher.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{key}={path}: {folder}/model.ckpt does not match "
            f"this model's architecture ({str(error).splitlines()[0]} ...); "
            "the teacher must have the same YAML model keys"
        ) from error
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher
