"""Start-up of a context-length training run (Flynn & Ragni, 2023).

A context run (``hparams/conformer_ctc_context.yaml``) trains on chunks of
whole utterances cut from the chapter-joined recordings of the training
split (:mod:`modules.data.context_chunks`), with the warm-up of
:class:`modules.data.context_schedule.ContextWarmup`: start short, double
the length and halve the batch until ``context_length_seconds``. The YAML
names the three pieces that ``train.py`` picks up::

    run_setup_builder: !name:modules.training.context_setup.build_context_run_setup
    train_data_builder: !name:modules.training.context_setup.build_context_training_data
    brain_class: !name:modules.training.context_brain.ContextCTCBrain

:func:`build_context_run_setup` checks the context keys before any data
preparation; :func:`build_context_training_data` (after the segmented
manifests and the tokenizer) prepares the long-form view of the training
split (whole chapters) and of ``long_form_splits`` (the evaluation
recordings, ``long_form_seconds`` long) into ``long_form_folder``, refuses a
context length shorter than an utterance, and cuts the chunks of every
warm-up stage, so that every error comes before the first training step.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechbrain.utils.distributed import run_on_main

from modules.data.context_chunks import (
    check_context_length,
    context_chunk_dataset,
    cut_context_chunks,
    utterance_transcripts,
)
from modules.data.context_schedule import ContextWarmup
from modules.data.datasets import manifest
from modules.data.long_form import prepare_long_form, prepare_long_form_data
from modules.data.long_form_manifest import read_long_form_csv
from modules.training.run_setup import build_run_setup

# Loader options the warm-up sets itself, per stage.
STAGE_LOADER_KEYS = ("batch_size", "shuffle", "sampler", "batch_sampler")


def chunks_per_batch(batch_seconds, context_length_seconds):
    """Chunks per batch at the target length: ``batch_seconds`` of audio.

    The YAML's ``batch_size`` is ``!apply:`` of this, so that every context
    length of a sweep trains on the same audio per batch (the warm-up keeps
    it constant across stages by doubling the batch when it halves the
    length).

    Example
    -------
    >>> chunks_per_batch(81.92, 20.48)
    4
    >>> chunks_per_batch(20.0, 40.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: context_batch_seconds=20.0 is shorter than ...
    """
    if not context_length_seconds > 0:
        raise ValueError(
            f"context_length_seconds must be a positive number, got "
            f"{context_length_seconds!r}."
        )
    if not batch_seconds >= context_length_seconds:
        raise ValueError(
            f"context_batch_seconds={batch_seconds} is shorter than "
            f"context_length_seconds={context_length_seconds} (a batch holds "
            "at least one chunk): raise context_batch_seconds to at least "
            f"{context_length_seconds}."
        )
    return int(batch_seconds / context_length_seconds + 1e-9)


def check_context_keys(hparams):
    """Refuse YAML settings a context run cannot honour, naming the key.

    Example
    -------
    >>> check_context_keys({"context_warmup": None})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: context_warmup=None: a context run needs ...
    """
    check_warmup_is_checkpointed(hparams)
    problems = data_setting_problems(hparams)
    if problems:
        raise ValueError("; ".join(problems))


def check_warmup_is_checkpointed(hparams):
    """``context_warmup``: a ContextWarmup that the checkpointer saves."""
    warmup = hparams.get("context_warmup")
    if not isinstance(warmup, ContextWarmup):
        raise ValueError(
            f"context_warmup={warmup!r}: a context run needs context_warmup: "
            "!new:modules.data.context_schedule.ContextWarmup (see "
            "hparams/conformer_ctc_context.yaml)."
        )
    recoverables = hparams["checkpointer"].recoverables.values()
    if not any(obj is warmup for obj in recoverables):
        raise ValueError(
            "checkpointer: context_warmup is not among its recoverables, so a "
            "resumed run would restart the warm-up; add "
            "`context_warmup: !ref <context_warmup>` to its recoverables."
        )


def data_setting_problems(hparams):
    """What in the data and loader keys a context run cannot honour."""
    problems = [
        f"{key}={hparams.get(key)!r}: set it to null (chunks join every "
        "utterance of a chapter, each needs its transcript)"
        for key in ("min_duration", "max_duration")
        if hparams.get(key) is not None
    ]
    if hparams.get("sorting") != "random":
        problems.append(
            f"sorting={hparams.get('sorting')!r}: set it to random (chunks "
            "are shuffled anew every epoch)"
        )
    if hparams.get("dynamic_batching"):
        problems.append(
            "dynamic_batching=True: set it to False (the warm-up fixes the "
            "batch size of each stage)"
        )
    fixed = [k for k in STAGE_LOADER_KEYS if k in hparams["train_dataloader_opts"]]
    if fixed:
        problems.append(
            f"train_dataloader_opts sets {fixed}: remove them (the warm-up "
            "sets them per stage; the audio per batch is context_batch_seconds)"
        )
    shared = set(hparams["train_splits"]) & set(hparams["long_form_splits"])
    if shared:
        problems.append(
            f"long_form_splits={sorted(shared)} are training splits; evaluate "
            "on other splits"
        )
    return problems


def build_context_run_setup(hparams):
    """The run set-up of :func:`modules.training.run_setup.build_run_setup`,
    after :func:`check_context_keys`."""
    check_context_keys(hparams)
    return build_run_setup(hparams)


@dataclass
class ContextTrainingData:
    """The training recordings and their chunks for every warm-up stage.

    Arguments
    ---------
    warmup : modules.data.context_schedule.ContextWarmup
        The schedule (also a recoverable of the run's checkpointer).
    recordings : list of LongFormRecording
        The chapter-joined training recordings.
    transcripts : dict
        Utterance ID -> transcript.
    tokenizer : sentencepiece.SentencePieceProcessor, optional
        Gives each chunk's ``tokens``.

    Example
    -------
    >>> from modules.data.long_form_manifest import LongFormRecording, Segment
    >>> rec = LongFormRecording("r", 9.0, "r.wav", "A B C", (
    ...     Segment(0.0, 3.0, "u0"), Segment(3.0, 5.0, "u1"), Segment(5.0, 9.0, "u2")))
    >>> data = ContextTrainingData(ContextWarmup(8.0, 4.0, 2, 1), [rec],
    ...                            {"u0": "A", "u1": "B", "u2": "C"})
    >>> [[c.words for c in data.stage_chunks(s)] for s in data.warmup.stages]
    [['A', 'B', 'C'], ['A B', 'C']]
    """

    warmup: ContextWarmup
    recordings: list
    transcripts: dict
    tokenizer: object = None
    _chunks: dict = field(default_factory=dict, repr=False)
    _datasets: dict = field(default_factory=dict, repr=False)

    def stage_chunks(self, stage):
        """The chunks of a stage (cut once; utterances longer than the stage
        are left out and counted in the log)."""
        if stage.index not in self._chunks:
            last = stage.index == len(self.warmup.stages) - 1
            key = "context_length_seconds" if last else "context_warmup_start_seconds"
            self._chunks[stage.index] = cut_context_chunks(
                self.recordings, self.transcripts, stage.seconds, key=key
            )
        return self._chunks[stage.index]

    def stage_dataset(self, stage):
        """The chunks of a stage as a dataset (``id, sig, wrd, tokens``)."""
        if stage.index not in self._datasets:
            chunks = self.stage_chunks(stage)
            self._datasets[stage.index] = context_chunk_dataset(chunks, self.tokenizer)
        return self._datasets[stage.index]


def build_context_training_data(hparams, tokenizer):
    """Prepare the long-form recordings and check them against the schedule.

    Arguments
    ---------
    hparams : dict
        The loaded YAML: ``data_folder``, ``train_splits`` (their segmented
        manifests in ``manifest_folder`` give the transcripts),
        ``long_form_folder``, ``long_form_splits``, ``long_form_seconds`` and
        ``context_warmup``.
    tokenizer : sentencepiece.SentencePieceProcessor
        The run's tokenizer.

    Returns
    -------
    ContextTrainingData
        With the chunks of every stage already cut.
    """
    kwargs = {
        "data_folder": hparams["data_folder"],
        "output_folder": hparams["long_form_folder"],
        "splits": hparams["train_splits"],
        "seconds": None,  # whole chapters: chunks of any stage are cut from them
    }
    run_on_main(prepare_long_form, kwargs=kwargs)
    train_csvs = prepare_long_form(**kwargs, skip_prep=True)
    prepare_long_form_data(hparams)
    recordings = [
        recording
        for split in hparams["train_splits"]
        for recording in read_long_form_csv(train_csvs[split])
    ]
    transcripts = utterance_transcripts(
        [manifest(hparams, split) for split in hparams["train_splits"]]
    )
    warmup = hparams["context_warmup"]
    check_context_length(recordings, warmup.stages[-1].seconds)
    data = ContextTrainingData(warmup, recordings, transcripts, tokenizer)
    for stage in warmup.stages:
        data.stage_chunks(stage)
    return data
