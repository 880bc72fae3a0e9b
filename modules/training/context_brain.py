"""The ``Brain`` of a context-length run: CTC on chunks of a warm-up stage.

:class:`ContextCTCBrain` is :class:`modules.training.ctc_brain.EarlyExitCTCBrain`
trained on :class:`modules.training.context_setup.ContextTrainingData`
(``train.py`` passes it as the training set): every epoch is one stage of
the warm-up (:class:`modules.training.context_loader.ContextStageLoader`),
ended early when the warm-up moves on, so that the next epoch builds the
chunks and batches of the new stage. After every batch the warm-up counts
the chunks trained on. The train log gets, per epoch (so per stage), the
stage and what a step costs there::

    epoch: 3, lr: ... - train loss: ..., train context_seconds: 20.48,
    train batch_size: 4, train steps: 50, train step_seconds: 0.41,
    train peak_rss_mb: 812.0, train recordings_seen: 600 - valid ...

``step_seconds`` is the mean wall time of a training batch (data loading
included); the peak memory is ``peak_cuda_mb`` on a GPU
(``torch.cuda.max_memory_allocated``, reset every epoch) and ``peak_rss_mb``
on a CPU (the process's largest resident set so far, which the warm-up's
growing lengths make the current stage's). Validation and test use the
segmented dev and test sets, as in every recipe.

Authors
 * efficient-asr contributors
"""

import logging
import os
import time

import speechbrain as sb
import torch

from modules.inference.long_form_eval import peak_rss_mb
from modules.training.context_loader import ContextStageLoader, planned_updates
from modules.training.context_setup import ContextTrainingData
from modules.training.ctc_brain import EarlyExitCTCBrain

logger = logging.getLogger(__name__)


class ContextCTCBrain(EarlyExitCTCBrain):
    """:class:`EarlyExitCTCBrain` with the context-length warm-up.

    Arguments
    ---------
    *args, **kwargs
        Those of :class:`EarlyExitCTCBrain`; ``hparams`` also gives ``seed``
        (with the epoch, the order of the chunks).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> brain = ContextCTCBrain(
    ...     modules={"model": torch.nn.Linear(2, 2)},
    ...     hparams={"blank_index": 0, "test_beam_size": None, "seed": 1},
    ...     run_opts={"device": "cpu"},
    ...     run_setup=SimpleNamespace(teacher=None),
    ...     tokenizer=None,
    ... )
    >>> brain.context_data is None
    True
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.context_data = None
        self.epoch_stage = None
        self.epoch_steps = 0

    @property
    def world_size(self):
        """Processes of the run."""
        return int(os.environ.get("WORLD_SIZE", 1)) if self.distributed_launch else 1

    def make_dataloader(self, dataset, stage, **loader_kwargs):
        """The stage loader for the training chunks; SpeechBrain's otherwise.

        The stage loader joins the checkpointer (as SpeechBrain does with its
        own training loader) before :meth:`fit` recovers, so that a resumed
        run continues inside its epoch.
        """
        if stage != sb.Stage.TRAIN or not isinstance(dataset, ContextTrainingData):
            return super().make_dataloader(dataset, stage, **loader_kwargs)
        self.context_data = dataset
        loader = ContextStageLoader(
            dataset,
            seed=self.hparams.seed,
            rank=self.rank if self.distributed_launch else 0,
            world_size=self.world_size,
            **loader_kwargs,
        )
        self.train_sampler = loader  # SpeechBrain calls its set_epoch
        self.train_batches = len(loader)
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("dataloader-TRAIN", loader)
        return loader

    def on_fit_start(self):
        """Recover, then stretch a run-long learning-rate schedule over the
        updates of the whole run, warm-up stages included."""
        schedule = self.hparams.lr_annealing
        follows_run = getattr(schedule, "num_training_steps", 0) is None
        super().on_fit_start()
        if follows_run and self.context_data is not None:
            warmup = self.context_data.warmup
            counts = [len(self.context_data.stage_chunks(s)) for s in warmup.stages]
            schedule.num_training_steps = planned_updates(
                warmup,
                counts,
                self.hparams.epoch_counter.limit,
                self.grad_accumulation_factor,
                self.world_size,
            )

    def on_stage_start(self, stage, epoch=None):
        """Note the epoch's warm-up stage; reset the step meters."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN and self.context_data is not None:
            self.epoch_stage = self.context_data.warmup.stage
            self.epoch_steps = 0
            if self.device_is_cuda():
                torch.cuda.reset_peak_memory_stats(self.device)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Count the chunks trained on; log a stage change."""
        super().on_fit_batch_end(batch, outputs, loss, should_step)
        if self.context_data is None:
            return
        self.epoch_steps += 1
        warmup = self.context_data.warmup
        if warmup.advance(len(batch.id) * self.world_size):
            new = warmup.stage
            logger.info(
                "Context warm-up: stage %d of %d from now on (%g s chunks, "
                "batches of %d) after %d recordings; this epoch ends here.",
                new.index + 1,
                len(warmup.stages),
                new.seconds,
                new.batch_size,
                warmup.recordings_seen,
            )

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Add the epoch's stage, time per step and peak memory to the
        training statistics (logged with the validation)."""
        super().on_stage_end(stage, stage_loss, epoch)
        if stage == sb.Stage.TRAIN and self.context_data is not None:
            self.train_stats.update(self.step_costs())

    def device_is_cuda(self):
        """Whether the run trains on a GPU."""
        return str(self.device).startswith("cuda")

    def step_costs(self):
        """The epoch's stage and the cost of a step at it."""
        elapsed = time.time() - self.stage_start
        if self.device_is_cuda():
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            memory = {"peak_cuda_mb": peak}
        else:
            memory = {"peak_rss_mb": peak_rss_mb()}
        return {
            # A string, so that the train log shows the exact length.
            "context_seconds": f"{self.epoch_stage.seconds:g}",
            "batch_size": self.epoch_stage.batch_size,
            "steps": self.epoch_steps,
            "step_seconds": elapsed / max(self.epoch_steps, 1),
            **memory,
            "recordings_seen": self.context_data.warmup.recordings_seen,
        }
