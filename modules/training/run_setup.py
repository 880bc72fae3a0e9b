"""Start-up set-up of a training run: the run-time objects, checked from the YAML.

Everything that can be wrong in the YAML (a loss class that does not exist or
is not an exit loss, loss options it does not take, a manual activation beyond
the last exit, a KD teacher that does not exist or does not fit, FitNets
layers that do not exist, a downsampling kernel longer than the shortest
utterance, a layer-removal checkpoint of another architecture) is checked by
:func:`build_run_setup`, before any data preparation or training step, and the
error names the YAML key and the fix.

YAML keys read:

- ``model``: the :class:`modules.models.early_exit.EarlyExitCTC`;
- ``loss_class`` (``!name:`` of an exit loss, e.g.
  ``!name:modules.losses.exit_losses.EarlyExitCTCLoss``) and ``loss_options``
  (its keyword arguments, ``{}`` for none); ``blank_index``;
- ``train_exits``: manual exit activation, train only the first K exits (the
  layers above exit K are never run during training, and exit K's dev WER
  ranks the checkpoints, see :attr:`RunSetup.ranking_exit`); ``null`` for all;
- ``kd_teacher_checkpoint``: ``null`` for the online teacher (the model's own
  last exit), or a checkpoint folder (``.../save/CKPT+...``) or an experiment's
  ``save`` folder whose best checkpoint (lowest dev WER) is a frozen teacher of
  the same architecture (only with a loss whose ``uses_teacher`` is True);
- ``teacher``: ``null``, or the experiment folder of a trained CTC model of
  any architecture, the frozen teacher of a smaller student
  (:mod:`modules.compression.teachers`; exclusive with
  ``kd_teacher_checkpoint``): the student adopts its tokenizer, and a loss
  that compares frames (``frame_level_teacher``) needs the same frame rate;
- ``teacher_exit``: the frozen teacher's exit distilled from (1-based),
  ``null`` for its last one;
- ``teacher_view``: ``clean`` or ``augmented``, the input the frozen teacher
  reads (:mod:`modules.compression.teacher_view`);
- ``fitnets_epochs``, ``fitnets_hint_layer``, ``fitnets_guided_layers``:
  FitNets hints before the distillation (:mod:`modules.compression.fitnets`);
- ``min_duration`` (against a waveform downsampler's kernel) and the layer
  removal keys of :mod:`modules.compression.layer_removal`;
- ``long_form_window`` and the other keys of the long-form test stage
  (:func:`modules.inference.long_form_stage.check_long_form_stage`).
"""

import re
from dataclasses import dataclass, field

from hyperpyyaml import load_hyperpyyaml

from modules.compression.fitnets import FitNetsSetup, configure_fitnets
from modules.compression.layer_removal import configure_layer_removal
from modules.compression.teacher_view import check_teacher_view
from modules.data.datasets import build_tokenizer
from modules.data.tokenizer import load_tokenizer
from modules.inference.long_form_stage import check_long_form_stage
from modules.losses.exit_losses import ExitLoss
from modules.models.early_exit import EarlyExitCTC
from modules.nn.downsampling import WaveformDownsampler
from modules.training.fitnets_brain import check_fitnets_brain
from modules.training.loss_setup import build_exit_loss, class_name, exit_loss_classes
from modules.training.teacher_setup import build_teacher

LOSS_CLASS_TAG = re.compile(r"^loss_class:\s*!name:(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class RunSetup:
    """The run-time objects of a training run, built by :func:`build_run_setup`.

    Attributes
    ----------
    model : modules.models.early_exit.EarlyExitCTC
        The model (unwrapped; the Brain's ``modules.model`` may be its DDP
        wrapper).
    exit_loss : modules.losses.exit_losses.ExitLoss
        The loss over the exits (``loss_class`` with ``loss_options``).
    train_exits : int or None
        Manual exit activation: train only the first K exits; None for all.
    teacher : modules.models.early_exit.EarlyExitCTC or None
        The frozen KD teacher; None for the online teacher or no KD.
    teacher_exit : int or None
        The frozen teacher's exit distilled from (None without one).
    tokenizer_path : str or None
        The ``teacher``'s tokenizer, copied into ``tokenizer_folder``; None:
        the run trains its own (:func:`build_run_tokenizer`).
    fitnets : modules.compression.fitnets.FitNetsSetup or None
        FitNets stage-1 settings and hint regressor; None without FitNets.
    teacher_view : str
        ``clean`` (the teacher reads the un-augmented audio) or ``augmented``
        (the student's SpecAugmented features).

    Example
    -------
    >>> from modules.losses.exit_losses import EarlyExitCTCLoss
    >>> setup = RunSetup(model=None, exit_loss=EarlyExitCTCLoss(), train_exits=None,
    ...                  teacher=None)
    >>> setup.train_exits = 1
    Traceback (most recent call last):
        ...
    dataclasses.FrozenInstanceError: cannot assign to field 'train_exits'
    """

    model: EarlyExitCTC
    exit_loss: ExitLoss
    train_exits: int | None
    teacher: EarlyExitCTC | None
    # Keyword-only, so that subclasses (AEDRunSetup) may add required fields.
    teacher_exit: int | None = field(default=None, kw_only=True)
    tokenizer_path: str | None = field(default=None, kw_only=True)
    fitnets: FitNetsSetup | None = field(default=None, kw_only=True)
    teacher_view: str = field(default="clean", kw_only=True)

    @property
    def ranking_exit(self):
        """The exit whose dev WER ranks the checkpoints: the deepest trained
        one (``train_exits``, else the last exit); the exits above it keep
        their initial weights.

        Example
        -------
        >>> import torch
        >>> from modules.losses.exit_losses import EarlyExitCTCLoss
        >>> from modules.nn.encoders import ConformerLayerStack
        >>> from speechbrain.lobes.models.transformer.Conformer import (
        ...     ConformerEncoder,
        ... )
        >>> enc = ConformerLayerStack(ConformerEncoder(4, 8, 16, 2))
        >>> model = EarlyExitCTC(torch.nn.Identity(), enc, 8, 5, exit_every=2)
        >>> RunSetup(model, EarlyExitCTCLoss(), None, None).ranking_exit
        2
        >>> RunSetup(model, EarlyExitCTCLoss(), 1, None).ranking_exit
        1
        """
        return self.train_exits or self.model.num_exits


def load_training_hparams(yaml_text, overrides=""):
    """``load_hyperpyyaml``, with a ``loss_class`` that does not exist named.

    Arguments
    ---------
    yaml_text : str
        The recipe YAML.
    overrides : str
        YAML overrides (as ``speechbrain.parse_arguments`` gives them).

    Returns
    -------
    dict
        The loaded hyperparameters.

    Example
    -------
    >>> load_training_hparams("loss_class: !name:modules.losses.exit_losses.KD")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: loss_class=!name:modules.losses.exit_losses.KD does not exist; ...
    """
    try:
        return load_hyperpyyaml(yaml_text, overrides)
    except ImportError as error:
        missing = str(error).rsplit(" ", 1)[-1]
        if missing not in LOSS_CLASS_TAG.findall(f"{yaml_text}\n{overrides or ''}"):
            raise
        valid = ", ".join(f"!name:{name}" for name in exit_loss_classes())
        raise ValueError(
            f"loss_class=!name:{missing} does not exist; use one of: {valid}"
        ) from error


def check_train_exits(hparams, num_exits):
    """Validate ``train_exits`` (manual exit activation); None means all.

    Example
    -------
    >>> check_train_exits({"train_exits": 2}, num_exits=3)
    2
    >>> check_train_exits({"train_exits": 4}, num_exits=3)
    Traceback (most recent call last):
        ...
    ValueError: train_exits=4: the model has 3 exits; give 1..3, or null to train all of them
    """  # noqa: E501
    train_exits = hparams.get("train_exits")
    if train_exits is None:
        return None
    if not isinstance(train_exits, int) or not 1 <= train_exits <= num_exits:
        raise ValueError(
            f"train_exits={train_exits}: the model has {num_exits} exits; give "
            f"1..{num_exits}, or null to train all of them"
        )
    return train_exits


def build_run_tokenizer(hparams, run_setup):
    """The run's tokenizer: the ``teacher``'s (copied into
    ``tokenizer_folder`` at start-up), else trained once on the training
    transcripts (:func:`modules.data.datasets.build_tokenizer`; after data
    preparation)."""
    if run_setup.tokenizer_path is not None:
        return load_tokenizer(run_setup.tokenizer_path)
    return build_tokenizer(hparams)


def configure_efficiency(hparams):
    """Downsampling kernel vs. shortest utterance; layer removal init.

    Example
    -------
    >>> import torch
    >>> downsampler = WaveformDownsampler("conv", 2, kernel_size=8001)
    >>> model = torch.nn.Sequential(downsampler)
    >>> configure_efficiency({"model": model, "min_duration": 0.5})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: downsampling_kernel=8001 ...
    """
    for module in hparams["model"].modules():
        if isinstance(module, WaveformDownsampler):
            module.check_min_duration(hparams.get("min_duration"))
    configure_layer_removal(hparams)


def build_run_setup(hparams):
    """Build and check the run-time objects of a training run.

    Arguments
    ---------
    hparams : dict
        The loaded recipe YAML (keys in this module's docstring).

    Returns
    -------
    RunSetup
        Model, exit loss, manual exit activation, frozen teacher and FitNets.
        The model has its layer-removal initialisation, when the YAML asks for
        one.
    """
    model = hparams.get("model")
    if not isinstance(model, EarlyExitCTC):
        raise ValueError(
            f"model={class_name(type(model))} is not an early-exit CTC model; "
            "use model: !new:modules.models.early_exit.EarlyExitCTC (or a "
            "subclass)"
        )
    exit_loss = build_exit_loss(hparams, model.num_exits)
    train_exits = check_train_exits(hparams, model.num_exits)
    teacher, teacher_exit, tokenizer_path = build_teacher(hparams, model, exit_loss)
    teacher_view = check_teacher_view(hparams, teacher, model)
    fitnets = configure_fitnets(hparams, model, teacher)
    check_fitnets_brain(hparams, fitnets)
    configure_efficiency(hparams)
    check_long_form_stage(hparams)
    return RunSetup(
        model=model,
        exit_loss=exit_loss,
        train_exits=train_exits,
        teacher=teacher,
        teacher_exit=teacher_exit,
        tokenizer_path=tokenizer_path,
        fitnets=fitnets,
        teacher_view=teacher_view,
    )
