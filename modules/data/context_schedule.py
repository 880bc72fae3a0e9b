"""The context-length warm-up of long-context training (Flynn & Ragni, 2023).

Training at context length L starts on short chunks: the chunk length
starts at ``context_warmup_start_seconds`` (published: 512 frames, 5.12 s)
and doubles every ``context_warmup_recordings`` training recordings
(published: 5,000), while the batch size halves, until it reaches
``context_length_seconds``, where it stays. The batch size at L is the
recipe's ``batch_size``; each earlier stage has twice the batch of the next
one, so every stage holds about the same audio per batch.

:class:`ContextWarmup` is the component a training loop calls: it counts
the recordings trained on, says which :class:`ContextStage` is current and
when it changes (the loop then builds the chunks of the new length, see
:mod:`modules.data.context_chunks`, and a loader with the new batch size),
and is saved in checkpoints so that a resumed run continues the schedule.

YAML::

    context_length_seconds: 80.0
    context_warmup_start_seconds: 5.12   # null: no warm-up
    context_warmup_recordings: 5000
    context_warmup: !new:modules.data.context_schedule.ContextWarmup
        context_length_seconds: !ref <context_length_seconds>
        start_seconds: !ref <context_warmup_start_seconds>
        recordings_per_stage: !ref <context_warmup_recordings>
        batch_size: !ref <batch_size>

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@dataclass(frozen=True)
class ContextStage:
    """One stage of the warm-up.

    Arguments
    ---------
    index : int
        0 for the first stage.
    seconds : float
        Chunk length of the stage.
    batch_size : int
        Chunks per batch.
    first_recording : int
        Recordings trained on when the stage starts.
    end_recording : int or None
        Recordings trained on when the next stage starts; None for the last.
    """

    index: int
    seconds: float
    batch_size: int
    first_recording: int
    end_recording: int | None


def context_stages(
    context_length_seconds, start_seconds, recordings_per_stage, batch_size
):
    """The warm-up stages, shortest first.

    Arguments
    ---------
    context_length_seconds : float
        The target length L (``context_length_seconds``).
    start_seconds : float or None
        The first length (``context_warmup_start_seconds``); None or a
        length >= L: a single stage at L.
    recordings_per_stage : int
        Recordings trained on per stage (``context_warmup_recordings``).
    batch_size : int
        Batch size at L; it doubles for each earlier stage.

    Returns
    -------
    tuple of ContextStage

    Raises
    ------
    ValueError
        Naming the YAML key of a non-positive value.

    Example
    -------
    >>> [(s.seconds, s.batch_size, s.first_recording)
    ...  for s in context_stages(30.0, 5.0, 100, 2)]
    [(5.0, 16, 0), (10.0, 8, 100), (20.0, 4, 200), (30.0, 2, 300)]
    """
    _check_positive("context_length_seconds", context_length_seconds)
    _check_positive("context_warmup_recordings", recordings_per_stage, integer=True)
    _check_positive("batch_size", batch_size, integer=True)
    lengths = []
    if start_seconds is not None:
        _check_positive("context_warmup_start_seconds", start_seconds)
        length = float(start_seconds)
        while length < context_length_seconds:
            lengths.append(length)
            length *= 2
    lengths.append(float(context_length_seconds))
    last = len(lengths) - 1
    return tuple(
        ContextStage(
            index=k,
            seconds=seconds,
            batch_size=batch_size * 2 ** (last - k),
            first_recording=k * recordings_per_stage,
            end_recording=(k + 1) * recordings_per_stage if k < last else None,
        )
        for k, seconds in enumerate(lengths)
    )


def _check_positive(key, value, integer=False):
    """Raise a ValueError naming ``key`` unless ``value`` is positive."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        expected = "a positive integer" if integer else "a positive number"
        raise ValueError(f"{key} must be {expected}, got {value!r}.")


@register_checkpoint_hooks
class ContextWarmup:
    """Where a training run is in the context-length warm-up.

    Arguments
    ---------
    context_length_seconds : float
        The target length L.
    start_seconds : float or None
        The first length; None: no warm-up.
    recordings_per_stage : int
        Recordings trained on per stage.
    batch_size : int
        Batch size at L.

    Example
    -------
    >>> warmup = ContextWarmup(20.0, 5.0, 100, 4)
    >>> warmup.stage.seconds, warmup.stage.batch_size
    (5.0, 16)
    >>> warmup.advance(96)
    False
    >>> warmup.advance(16)
    True
    >>> warmup.stage.seconds, warmup.stage.batch_size, warmup.recordings_seen
    (10.0, 8, 112)
    """

    def __init__(
        self, context_length_seconds, start_seconds, recordings_per_stage, batch_size
    ):
        self.stages = context_stages(
            context_length_seconds, start_seconds, recordings_per_stage, batch_size
        )
        self.recordings_seen = 0

    def stage_at(self, recordings_seen):
        """The stage in force after ``recordings_seen`` recordings."""
        for stage in self.stages:
            if stage.end_recording is None or recordings_seen < stage.end_recording:
                return stage
        raise AssertionError("the last stage has no end")

    @property
    def stage(self):
        """The current stage."""
        return self.stage_at(self.recordings_seen)

    def advance(self, recordings):
        """Count ``recordings`` more trained on; return True if the stage changed.

        The batch that crosses a stage boundary is finished at the old
        length; the next batch should use the new stage.
        """
        before = self.stage.index
        self.recordings_seen += int(recordings)
        return self.stage.index != before

    @mark_as_saver
    def _save(self, path):
        """Write the count of recordings seen."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"recordings_seen": self.recordings_seen}, handle)

    @mark_as_loader
    def _load(self, path, end_of_epoch):
        """Restore the count of recordings seen."""
        del end_of_epoch  # the schedule counts recordings, not epochs
        with open(path, encoding="utf-8") as handle:
            self.recordings_seen = int(json.load(handle)["recordings_seen"])
