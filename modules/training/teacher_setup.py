"""The run's frozen teacher, from the YAML's ``teacher`` (a trained
experiment folder of any architecture) or ``kd_teacher_checkpoint`` (a
checkpoint of the model's own architecture), checked against the exit loss.
"""

from modules.compression.teachers import (
    adopt_teacher_tokenizer,
    check_teacher_frames,
    load_frozen_teacher,
    load_teacher_experiment,
    resolve_teacher_exit,
)
from modules.training.loss_setup import class_name, exit_loss_classes


def teacher_key(hparams, exit_loss):
    """The YAML key of the run's frozen teacher (``teacher`` or
    ``kd_teacher_checkpoint``), None without one; checked against the loss.

    Example
    -------
    >>> from modules.losses.exit_losses import EarlyExitCTCLoss
    >>> teacher_key({"teacher": "/x"}, EarlyExitCTCLoss())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: teacher is set but loss_class=...
    """
    keys = [k for k in ("teacher", "kd_teacher_checkpoint") if hparams.get(k)]
    if len(keys) == 2:
        raise ValueError(
            "teacher and kd_teacher_checkpoint are both set: give one frozen "
            "teacher (teacher: an experiment folder of any architecture; "
            "kd_teacher_checkpoint: a checkpoint of this model's architecture)"
        )
    key = keys[0] if keys else None
    if key and not exit_loss.uses_teacher:
        teachers = [
            name for name, cls in exit_loss_classes().items() if cls.uses_teacher
        ]
        raise ValueError(
            f"{key} is set but loss_class={class_name(type(exit_loss))} uses "
            f"no teacher; use one of {', '.join(teachers)} or set {key}: null"
        )
    if key is None and getattr(exit_loss, "requires_teacher", False):
        raise ValueError(
            f"loss_class={class_name(type(exit_loss))} distils from a frozen "
            "teacher, but teacher is null: give --teacher=EXPERIMENT_FOLDER, or "
            "train without a teacher with --loss_class="
            "'!name:modules.losses.exit_losses.EarlyExitCTCLoss' --loss_options=null"
        )
    if key is None and hparams.get("teacher_exit") is not None:
        raise ValueError(
            f"teacher_exit={hparams['teacher_exit']} but there is no frozen "
            "teacher; set teacher (or kd_teacher_checkpoint), or teacher_exit: null"
        )
    return key


def build_teacher(hparams, model, exit_loss):
    """The frozen teacher: ``(teacher, teacher_exit, tokenizer_path)``, all
    None without one (see :class:`RunSetup`)."""
    key = teacher_key(hparams, exit_loss)
    if key is None:
        return None, None, None
    path = hparams[key]
    if key == "kd_teacher_checkpoint":
        if not isinstance(path, str):
            raise ValueError(
                f"kd_teacher_checkpoint={path!r}: give a save/ or save/CKPT+... "
                "folder path, or null for the online teacher"
            )
        teacher = load_frozen_teacher(model, path, key=key)
        return teacher, resolve_teacher_exit(hparams.get("teacher_exit"), teacher), None
    trained = load_teacher_experiment(path, key=key)
    teacher_exit = resolve_teacher_exit(hparams.get("teacher_exit"), trained.model)
    tokenizer_path = adopt_teacher_tokenizer(trained, hparams, key=key)
    if getattr(exit_loss, "frame_level_teacher", False):
        check_teacher_frames(
            trained.model, teacher_exit, trained.hparams, model, hparams
        )
    return trained.model, teacher_exit, tokenizer_path
