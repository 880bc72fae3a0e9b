"""The two FitNets stages in one run: the epoch decides the stage.

A recipe runs this Brain with ``brain_class:
!name:modules.training.fitnets_brain.FitNetsCTCBrain``. Epochs
``1..fitnets_epochs`` are stage 1 (hints, see
:mod:`modules.compression.fitnets`); the later epochs are stage 2, the
Brain of every CTC recipe with the YAML's distillation loss (with
``fitnets_epochs: 0`` there is only stage 2). One
checkpointer holds both stages (the hint regressor is one more
recoverable), so a killed run resumes from its last checkpoint in either
stage. Design choices:

- Stage-1 checkpoints carry no ``WER`` (their meta is ``fitnets_stage: 1``
  and the dev ``hint_loss``): checkpoints are ranked by dev WER, so the
  checkpoint tested (and benchmarked, or used as a teacher) is always a
  stage-2 one, and a stage-1 checkpoint is kept only as the newest one, to
  resume from.
- Each stage has its own warm-up and linear decay to zero (the YAML's
  ``LinearWarmupScheduler``): stage 1 over its epochs, stage 2 over the
  remaining ones, restarted at the first stage-2 update, as the upper layers
  and heads start training there from their initial weights.
"""

import speechbrain as sb
import torch

from modules.compression.fitnets import hidden_after_layers, hint_loss
from modules.compression.teacher_view import student_view_features
from modules.nn.lengths import audio_seconds
from modules.training.ctc_brain import EarlyExitCTCBrain


class FitNetsCTCBrain(EarlyExitCTCBrain):
    """:class:`EarlyExitCTCBrain` with a FitNets hint stage first.

    Arguments
    ---------
    *args, **kwargs
        Those of :class:`EarlyExitCTCBrain`. With ``run_setup.fitnets`` (a
        :class:`modules.compression.fitnets.FitNetsSetup`; the frozen
        ``run_setup.teacher`` gives the hints) the hint regressor joins
        ``modules`` (so the optimiser trains it) and the checkpointer;
        without, this is :class:`EarlyExitCTCBrain`.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from modules.compression.fitnets import FitNetsSetup, HintRegressor
    >>> fitnets = FitNetsSetup(2, 1, 3, HintRegressor(4, 6))
    >>> setup = SimpleNamespace(fitnets=fitnets, teacher=torch.nn.Identity())
    >>> brain = FitNetsCTCBrain(
    ...     modules={"model": torch.nn.Linear(2, 2)},
    ...     hparams={"blank_index": 0, "test_beam_size": None},
    ...     run_opts={"device": "cpu"},
    ...     run_setup=setup,
    ...     tokenizer=None,
    ... )
    >>> brain.modules.hint_regressor is fitnets.regressor
    True
    """

    def __init__(self, *args, modules, run_setup, checkpointer=None, **kwargs):
        fitnets = run_setup.fitnets
        if fitnets is not None:
            modules = {**modules, "hint_regressor": fitnets.regressor}
        super().__init__(
            *args,
            modules=modules,
            checkpointer=checkpointer,
            run_setup=run_setup,
            **kwargs,
        )
        if fitnets is not None and checkpointer is not None:
            checkpointer.add_recoverable("hint_regressor", fitnets.regressor)
        self.hint_stage = False

    def compute_forward(self, batch, stage):
        """Stage 1: the regressed student states and the teacher's hint."""
        if not self.hint_stage:
            return super().compute_forward(batch, stage)
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        if stage == sb.Stage.TRAIN:
            self.audio_seconds += audio_seconds(wav_lens, wavs.shape[1], 16000)
        fitnets, teacher = self.run_setup.fitnets, self.run_setup.teacher
        student = self.run_setup.model
        features = None
        if stage == sb.Stage.TRAIN:
            features = student_view_features(
                student, self.run_setup.teacher_view, wavs, wav_lens
            )
        with torch.no_grad():
            hint = hidden_after_layers(
                teacher, wavs, wav_lens, fitnets.hint_layer, features
            )
        # The student runs outside its DDP wrapper (only its first layers);
        # optimizers_step averages their gradients over the processes.
        guided = hidden_after_layers(
            student, wavs, wav_lens, fitnets.guided_layers, features
        )
        return self.modules.hint_regressor(guided, hint.shape[1]), hint, wav_lens

    def compute_objectives(self, predictions, batch, stage):
        """Stage 1: the hint loss; stage 2: the YAML's loss."""
        if not self.hint_stage:
            return super().compute_objectives(predictions, batch, stage)
        return hint_loss(*predictions)

    def optimizers_step(self):
        """Average the student's stage-1 gradients over DDP processes first
        (the DDP wrapper synchronises only what runs through its forward)."""
        if self.hint_stage and self.distributed_launch:
            world = torch.distributed.get_world_size()
            for param in self.run_setup.model.parameters():
                if param.grad is not None:
                    torch.distributed.all_reduce(param.grad)
                    param.grad /= world
        super().optimizers_step()

    def on_stage_start(self, stage, epoch=None):
        """Set the stage from the epoch; at train time, the stage's schedule."""
        fitnets = self.run_setup.fitnets
        self.hint_stage = fitnets is not None and fitnets.hint_stage(epoch)
        if fitnets is not None and stage == sb.Stage.TRAIN:
            self.stage_schedule(epoch)
        super().on_stage_start(stage, epoch)

    def stage_schedule(self, epoch):
        """Warm-up and decay over the current stage's epochs, restarted at
        the first update of a stage (not when resuming inside an epoch)."""
        fitnets = self.run_setup.fitnets
        schedule = self.hparams.lr_annealing
        first, epochs = 1, fitnets.epochs
        if not self.hint_stage:
            first, epochs = fitnets.epochs + 1, self.hparams.epoch_counter.limit
            epochs -= fitnets.epochs
        updates = self.train_batches // self.grad_accumulation_factor
        schedule.num_training_steps = epochs * updates
        if epoch == first and self.step == 0:
            schedule.current_step = 0
            for group in self.optimizer.param_groups:
                group["lr"] = schedule.calculate_lr(0)

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Stage-1 validation: log the dev hint loss and checkpoint without a
        WER; everything else as :class:`EarlyExitCTCBrain`."""
        if not self.hint_stage or stage != sb.Stage.VALID:
            return super().on_stage_end(stage, stage_loss, epoch)
        self.hparams.train_logger.log_stats(
            stats_meta={"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
            train_stats=self.train_stats,
            valid_stats={"hint_loss": stage_loss},
        )
        self.checkpointer.save_and_keep_only(
            meta={"fitnets_stage": 1, "hint_loss": stage_loss}, min_keys=["WER"]
        )


def check_fitnets_brain(hparams, fitnets):
    """FitNets (``fitnets_epochs`` > 0) needs this Brain: YAML key
    ``brain_class``.

    Example
    -------
    >>> check_fitnets_brain({"brain_class": FitNetsCTCBrain}, fitnets="on")
    >>> check_fitnets_brain({}, fitnets="on")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: fitnets_epochs > 0 needs brain_class: ...
    """
    brain_class = hparams.get("brain_class", EarlyExitCTCBrain)
    if fitnets is None or (
        isinstance(brain_class, type) and issubclass(brain_class, FitNetsCTCBrain)
    ):
        return
    raise ValueError(
        "fitnets_epochs > 0 needs brain_class: "
        "!name:modules.training.fitnets_brain.FitNetsCTCBrain (the Brain that "
        "runs the hint stage); set it in the YAML, or fitnets_epochs: 0"
    )
