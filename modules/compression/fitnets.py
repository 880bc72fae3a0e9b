"""FitNets hints: the student's first layers learn a teacher's hidden layer.

FitNets (Romero et al., 2015) trains a student in two stages. Stage 1: the
student's front-end and first ``k`` encoder layers learn to reproduce the
hidden states after layer ``j`` of a frozen teacher (the "hint"), through a
learned regressor; nothing else of the student is trained. Stage 2: the
whole student is trained with the distillation loss (``loss_class``). Both
stages run from one command; the epoch decides the stage
(:class:`modules.training.fitnets_brain.FitNetsCTCBrain`).

YAML keys, read at start-up by :func:`configure_fitnets`:

- ``fitnets_epochs``: stage-1 epochs (0: no FitNets); stage 2 trains the
  remaining ``number_of_epochs``;
- ``fitnets_hint_layer``: the teacher's encoder layer ``j`` (1-based) whose
  output is the hint;
- ``fitnets_guided_layers``: the student's first ``k`` layers, trained in
  stage 1.

Hidden states are the layers' own outputs (each Conformer layer ends with a
LayerNorm), read through the :class:`modules.nn.encoders.LayerStack`
protocol, so the hint works for every encoder family.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from speechbrain.nnet.schedulers import LinearWarmupScheduler

from modules.compression.teachers import probe
from modules.nn.lengths import frame_mask, masked_mean


def hidden_after_layers(model, wavs, rel_lens, num_layers, features=None):
    """Hidden states ``[B, T, D]`` after the first ``num_layers`` encoder
    layers of an early-exit model (before the exit representation); the
    layers above are never run. ``features``: the front-end's input
    features, computed already (``teacher_view: augmented``); None: from
    ``wavs``.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from modules.models.early_exit import EarlyExitCTC
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> encoder = ConformerLayerStack(ConformerEncoder(2, 8, 16, 2))
    >>> model = EarlyExitCTC(lambda wavs, lens: wavs, encoder, 8, 5)
    >>> hidden_after_layers(model, torch.rand(2, 6, 8), torch.ones(2), 1).shape
    torch.Size([2, 6, 8])
    """
    encoder = model.encoder
    if features is None:
        frames = model.frontend(wavs, rel_lens)
    else:
        frames = model.frontend.frames(features)
    state = encoder.begin(frames, rel_lens)
    for index in range(num_layers):
        state.hidden = encoder.run_layer(index, state)
    return state.hidden


class HintRegressor(torch.nn.Module):
    """The student's guided hidden states mapped onto the teacher's hint.

    A ``Linear`` from the student's width to the teacher's when they differ
    (the published 1x1 convolution is the same per-frame map), then linear
    interpolation in time to the teacher's frame count when the frame rates
    differ (the relative position of every frame is kept, so the valid
    frames of a padded batch map onto the teacher's valid frames).

    Arguments
    ---------
    student_width : int
        Width of the student's hidden states.
    teacher_width : int
        Width of the teacher's hint.

    Example
    -------
    >>> regressor = HintRegressor(4, 6)
    >>> regressor(torch.rand(2, 5, 4), num_frames=10).shape
    torch.Size([2, 10, 6])
    >>> HintRegressor(4, 4).projection
    Identity()
    """

    def __init__(self, student_width, teacher_width):
        super().__init__()
        self.projection = torch.nn.Identity()
        if student_width != teacher_width:
            self.projection = torch.nn.Linear(student_width, teacher_width)

    def forward(self, hidden, num_frames):
        """``[B, T_s, D_s]`` -> ``[B, num_frames, D_t]``."""
        hidden = self.projection(hidden)
        if hidden.shape[1] != num_frames:
            hidden = F.interpolate(
                hidden.transpose(1, 2),
                size=num_frames,
                mode="linear",
                align_corners=False,
            ).transpose(1, 2)
        return hidden


def hint_loss(prediction, hint, rel_lens):
    """Squared error per frame (mean over the features), averaged over each
    utterance's valid frames (padding masked), then over the batch.

    Example
    -------
    >>> hint = torch.zeros(2, 3, 2)
    >>> prediction = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [9.0, 9.0]]] * 2)
    >>> hint_loss(prediction, hint, torch.tensor([1.0, 2 / 3]))  # (91/3 + 5) / 2
    tensor(17.6667)
    """
    frame_error = (prediction - hint).pow(2).mean(dim=-1)
    valid = frame_mask(rel_lens, hint.shape[1])
    return masked_mean(frame_error, valid).mean()


@dataclass(frozen=True)
class FitNetsSetup:
    """The checked FitNets keys of a run, and the hint regressor.

    Attributes
    ----------
    hint_layer : int
        The teacher's layer whose output is the hint (1-based).
    guided_layers : int
        The student's first layers trained in stage 1.
    epochs : int
        Stage-1 epochs; the later epochs are stage 2.
    regressor : HintRegressor
        Student width -> teacher width (checkpointed with the model).

    Example
    -------
    >>> setup = FitNetsSetup(2, 1, 3, HintRegressor(4, 4))
    >>> [setup.hint_stage(epoch) for epoch in (1, 3, 4, None)]
    [True, True, False, False]
    """

    hint_layer: int
    guided_layers: int
    epochs: int
    regressor: HintRegressor

    def hint_stage(self, epoch):
        """Whether ``epoch`` (1-based; None at test time) is in stage 1."""
        return epoch is not None and epoch <= self.epochs


def check_layer(value, key, num_layers, whose):
    """A 1-based layer number of a model with ``num_layers`` layers.

    Example
    -------
    >>> check_layer(5, "fitnets_hint_layer", 4, "teacher")
    Traceback (most recent call last):
        ...
    ValueError: fitnets_hint_layer=5: the teacher's encoder has layers 1..4
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}={value!r}: give a layer number 1..{num_layers}")
    if not 1 <= value <= num_layers:
        raise ValueError(
            f"{key}={value}: the {whose}'s encoder has layers 1..{num_layers}"
        )
    return value


def check_fitnets_epochs(hparams, teacher):
    """``fitnets_epochs`` (0 when absent or null): an integer, below
    ``number_of_epochs``, with a teacher when it is not 0.

    Example
    -------
    >>> check_fitnets_epochs({"fitnets_epochs": 2, "number_of_epochs": 2}, "t")
    Traceback (most recent call last):
        ...
    ValueError: fitnets_epochs=2 leaves no stage-2 epoch: give fewer than number_of_epochs=2
    """  # noqa: E501
    epochs = hparams.get("fitnets_epochs") or 0
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(
            f"fitnets_epochs={epochs!r}: give the number of FitNets stage-1 "
            "epochs, or 0 for no FitNets"
        )
    if epochs and teacher is None:
        raise ValueError(
            f"fitnets_epochs={epochs} needs a frozen teacher to give the hints: "
            "set teacher: EXPERIMENT_FOLDER, or fitnets_epochs: 0"
        )
    total = hparams.get("number_of_epochs")
    if epochs and (not isinstance(total, int) or epochs >= total):
        raise ValueError(
            f"fitnets_epochs={epochs} leaves no stage-2 epoch: give fewer than "
            f"number_of_epochs={total}"
        )
    return epochs


def configure_fitnets(hparams, model, teacher):
    """Check the FitNets keys and build the hint regressor.

    Arguments
    ---------
    hparams : dict
        The YAML (keys in this module's docstring, ``number_of_epochs`` and
        ``lr_annealing``: FitNets restarts its warm-up and decay at stage 2,
        so it must be a ``LinearWarmupScheduler`` with
        ``num_training_steps: null``).
    model : modules.models.early_exit.EarlyExitCTC
        The student.
    teacher : modules.models.early_exit.EarlyExitCTC or None
        The frozen teacher.

    Returns
    -------
    FitNetsSetup or None
        None when ``fitnets_epochs`` is 0.
    """
    epochs = check_fitnets_epochs(hparams, teacher)
    if not epochs:
        return None
    hint_layer = check_layer(
        hparams.get("fitnets_hint_layer"),
        "fitnets_hint_layer",
        teacher.encoder.num_layers,
        "teacher",
    )
    guided = check_layer(
        hparams.get("fitnets_guided_layers"),
        "fitnets_guided_layers",
        model.encoder.num_layers,
        "student",
    )
    schedule = hparams.get("lr_annealing")
    if not isinstance(schedule, LinearWarmupScheduler) or (
        schedule.num_training_steps is not None
    ):
        raise ValueError(
            "lr_annealing: FitNets restarts the learning-rate schedule at stage "
            "2; use speechbrain.nnet.schedulers.LinearWarmupScheduler with "
            "num_training_steps: null"
        )
    student_width = probe(
        model, lambda wavs, lens: hidden_after_layers(model, wavs, lens, guided)
    ).shape[-1]
    teacher_width = probe(
        teacher, lambda wavs, lens: hidden_after_layers(teacher, wavs, lens, hint_layer)
    ).shape[-1]
    regressor = HintRegressor(student_width, teacher_width)
    return FitNetsSetup(hint_layer, guided, epochs, regressor)
