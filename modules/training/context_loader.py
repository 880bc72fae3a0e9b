"""The training loader of a context run: one warm-up stage per epoch.

Each epoch draws the chunks of the current warm-up stage
(:class:`modules.training.context_setup.ContextTrainingData`) in a shuffled
order fixed by the seed and the epoch, in batches of the stage's fixed size
(not dynamic batching: the warm-up sets the batch), and ends early when the
warm-up moves to the next stage (the batch that crosses the boundary is
finished at the old length). :class:`ContextStageLoader` is a recoverable
of the run's checkpointer: an intra-epoch checkpoint stores how many
batches of the epoch were trained, so a killed run resumes at the next
batch of the same order. SpeechBrain's ``SaveableDataLoader`` does the same
for a fixed dataset; this one also changes its dataset with the stage.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import json

import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


def epoch_batches(num_chunks, batch_size, seed, epoch, rank=0, world_size=1):
    """The batches (lists of chunk indices) of one epoch for one process.

    Arguments
    ---------
    num_chunks : int
        Chunks of the stage.
    batch_size : int
        Chunks per batch.
    seed, epoch : int
        Fix the shuffled order.
    rank, world_size : int
        With several processes each takes every ``world_size``-th batch;
        only full batches are kept, as many for every process.

    Returns
    -------
    list of list of int

    Example
    -------
    >>> batches = epoch_batches(5, 2, seed=1, epoch=1)
    >>> [len(b) for b in batches], sorted(sum(batches, []))
    ([2, 2, 1], [0, 1, 2, 3, 4])
    >>> batches == epoch_batches(5, 2, seed=1, epoch=1)
    True
    >>> epoch_batches(5, 2, 1, 1, rank=1, world_size=2) == [batches[1]]
    True
    """
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(num_chunks, generator=generator).tolist()
    batches = [order[i : i + batch_size] for i in range(0, num_chunks, batch_size)]
    if world_size > 1:
        full = [b for b in batches if len(b) == batch_size]
        batches = full[: len(full) - len(full) % world_size][rank::world_size]
    return batches


def planned_updates(warmup, chunk_counts, epochs, accumulation=1, world_size=1):
    """Optimiser updates of a whole run, stage changes included.

    Arguments
    ---------
    warmup : modules.data.context_schedule.ContextWarmup
        The schedule (only its stages are read; its count is not changed).
    chunk_counts : list of int
        Chunks of each stage.
    epochs : int
        Epochs of the run.
    accumulation : int
        Batches per update (``grad_accumulation_factor``).
    world_size : int
        Processes.

    Example
    -------
    >>> from modules.data.context_schedule import ContextWarmup
    >>> warmup = ContextWarmup(8.0, 4.0, 5, 1)  # 4 s x 2 for 5 chunks, then 8 s x 1
    >>> planned_updates(warmup, [7, 3], epochs=3)  # 3 (stage ends) + 3 + 3
    9
    """
    seen, updates = 0, 0
    for _ in range(epochs):
        stage = warmup.stage_at(seen)
        steps = 0
        for batch in epoch_batches(
            chunk_counts[stage.index], stage.batch_size, 0, 0, 0, world_size
        ):
            seen += len(batch) * world_size
            steps += 1
            if warmup.stage_at(seen).index != stage.index:
                break
        updates += steps // accumulation
    return updates


@register_checkpoint_hooks
class ContextStageLoader:
    """Batches of the current warm-up stage, one epoch per iteration.

    Arguments
    ---------
    data : modules.training.context_setup.ContextTrainingData
        The chunks of every stage and the warm-up.
    seed : int
        With the epoch (:meth:`set_epoch`), fixes each epoch's order.
    rank, world_size : int
        This process and the number of processes.
    **loader_kwargs
        Further ``torch.utils.data.DataLoader`` options (``num_workers``...).

    Example
    -------
    >>> from modules.data.context_schedule import ContextWarmup
    >>> from modules.data.long_form_manifest import LongFormRecording, Segment
    >>> from modules.training.context_setup import ContextTrainingData
    >>> rec = LongFormRecording("r", 3.0, "r.wav", "A B C", tuple(
    ...     Segment(float(i), i + 1.0, f"u{i}") for i in range(3)))
    >>> data = ContextTrainingData(ContextWarmup(2.0, 1.0, 2, 1), [rec],
    ...                            {"u0": "A", "u1": "B", "u2": "C"})
    >>> loader = ContextStageLoader(data, seed=0)
    >>> len(loader), data.warmup.stage.batch_size
    (2, 2)
    """

    def __init__(self, data, seed, rank=0, world_size=1, **loader_kwargs):
        self.data = data
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.loader_kwargs = loader_kwargs
        self.epoch = 0
        self.epoch_stage = None  # stage index of the epoch under way
        self.batches_done = 0  # batches of that epoch trained

    def set_epoch(self, epoch):
        """Called by the Brain at the start of every epoch."""
        self.epoch = epoch

    def stage_batches(self, stage):
        """This process's batches of ``stage`` in the current epoch."""
        num_chunks = len(self.data.stage_chunks(stage))
        return epoch_batches(
            num_chunks,
            stage.batch_size,
            self.seed,
            self.epoch,
            self.rank,
            self.world_size,
        )

    def __len__(self):
        """Batches of a full epoch of the current stage."""
        return len(self.stage_batches(self.data.warmup.stage))

    def __iter__(self):
        """The epoch's batches from where a recovered run stopped, until the
        stage changes or the chunks run out."""
        warmup = self.data.warmup
        stage = warmup.stage
        if stage.index != self.epoch_stage:  # a new epoch, not a resumed one
            self.batches_done = 0
        self.epoch_stage = stage.index
        loader = torch.utils.data.DataLoader(
            self.data.stage_dataset(stage),
            batch_sampler=self.stage_batches(stage)[self.batches_done :],
            collate_fn=PaddedBatch,
            **self.loader_kwargs,
        )
        for batch in loader:
            self.batches_done += 1
            yield batch
            if warmup.stage.index != stage.index:
                break
        self.epoch_stage, self.batches_done = None, 0

    @mark_as_saver
    def _save(self, path):
        """Write the epoch's stage and the batches trained in it."""
        with open(path, "w", encoding="utf-8") as handle:
            state = {"stage": self.epoch_stage, "batches_done": self.batches_done}
            json.dump(state, handle)

    @mark_as_loader
    def _load(self, path, end_of_epoch):
        """Resume inside the saved epoch, unless it had ended."""
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        if end_of_epoch:
            self.epoch_stage, self.batches_done = None, 0
        else:
            self.epoch_stage, self.batches_done = state["stage"], state["batches_done"]
