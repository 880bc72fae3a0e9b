"""Data preparation for LibriSpeech-shaped corpora.

Reads a standard LibriSpeech folder::

    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

for any split name (``train-clean-100``, ``dev-other``, ... and non-standard
names such as ``train-synth`` used by the built-in synthetic corpus) and
writes one SpeechBrain CSV manifest per split, ``<save_folder>/<split>.csv``,
with the columns ``ID, duration, wav, spk_id, wrd``.

Each split is prepared once: the options used are stored next to the CSV in
``<save_folder>/<split>.prep_opts.json`` and a later call with the same
options is skipped, while a call with other options redoes the split. The
split is read by :mod:`modules.data.librispeech_scan` and written by
:mod:`modules.data.manifests`, atomically, so an interrupted or failed
preparation never leaves a half-written manifest and never destroys one
already prepared.

DDP: :func:`prepare_librispeech` writes files and is not guarded itself.
In multi-process training call it through
``speechbrain.utils.distributed.run_on_main`` so that only the main process
writes while the others wait at the barrier (the returned dict is broadcast
to every process)::

    run_on_main(prepare_librispeech, kwargs={...})

Command line::

    python recipes/LibriSpeech/prepare.py --data_folder D --save_folder S \\
        --splits train-clean-100 dev-clean test-clean

Authors
 * efficient-asr contributors
"""

import json
import logging
import os

from modules.data.librispeech_scan import scan_split
from modules.data.manifests import (
    SORT_OPTIONS,
    atomic_write_text,
    filter_by_duration,
    sort_entries,
    write_csv,
)
from modules.data.preparation_error import PreparationError

logger = logging.getLogger(__name__)

OPTS_SUFFIX = ".prep_opts.json"
# Bump when the manifest format changes so that old manifests are redone.
FORMAT_VERSION = 1


def prepare_librispeech(
    data_folder,
    save_folder,
    splits,
    min_duration=None,
    max_duration=None,
    sort="ascending",
    seed=1234,
    skip_prep=False,
    num_workers=8,
):
    """Write one SpeechBrain CSV manifest per LibriSpeech split.

    Not DDP guarded: wrap in ``speechbrain.utils.distributed.run_on_main``.

    Arguments
    ---------
    data_folder : str
        Folder holding the split folders (usually ``.../LibriSpeech``).
    save_folder : str
        Where ``<split>.csv`` and ``<split>.prep_opts.json`` are written
        (created if needed).
    splits : list of str
        Split folder names, e.g. ``["train-clean-100", "dev-clean"]``.
    min_duration : float, optional
        Utterances shorter than this many seconds are dropped.
    max_duration : float, optional
        Utterances longer than this many seconds are dropped.
    sort : str
        Row order: ``"ascending"`` or ``"descending"`` duration (ties broken
        by ID), ``"random"`` (shuffled with ``seed``) or ``"none"`` (sorted
        by ID, i.e. speaker, chapter, utterance).
    seed : int
        Seed for ``sort="random"``; ignored otherwise.
    skip_prep : bool
        If True, do nothing and only return the manifest paths.
    num_workers : int
        Threads used to read audio headers (does not affect the output).

    Returns
    -------
    dict
        Maps each split name to the path of its CSV manifest.

    Raises
    ------
    PreparationError
        Bad corpus (missing folders, unmatched or empty transcripts,
        unreadable audio, nothing left after filtering).
    ValueError
        Bad arguments (unknown ``sort``, ``min_duration > max_duration``).

    Example
    -------
    >>> paths = prepare_librispeech(
    ...     "data/LibriSpeech", "results/prep", ["dev-clean"], skip_prep=True
    ... )
    >>> paths["dev-clean"].replace(os.sep, "/")
    'results/prep/dev-clean.csv'
    """
    if isinstance(splits, str):
        splits = [splits]
    csv_paths = {s: os.path.join(save_folder, s + ".csv") for s in splits}
    if skip_prep:
        logger.info("skip_prep=True: skipping LibriSpeech preparation.")
        return csv_paths
    _check_arguments(min_duration, max_duration, sort)
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(data_folder):
        raise PreparationError(f"data_folder {data_folder} does not exist.")
    os.makedirs(save_folder, exist_ok=True)
    for split in splits:
        opts = _split_options(data_folder, split, min_duration, max_duration)
        opts.update(sort=sort, seed=seed if sort == "random" else None)
        _prepare_split(opts, csv_paths[split], num_workers)
    return csv_paths


def _check_arguments(min_duration, max_duration, sort):
    """Raise ValueError on inconsistent preparation arguments."""
    if sort not in SORT_OPTIONS:
        raise ValueError(f"sort must be one of {SORT_OPTIONS}, got {sort!r}.")
    if (
        min_duration is not None
        and max_duration is not None
        and min_duration > max_duration
    ):
        raise ValueError(
            f"min_duration ({min_duration}) > max_duration ({max_duration})."
        )


def _split_options(data_folder, split, min_duration, max_duration):
    """Return the JSON-serialisable options that define a split's output."""
    return {
        "format_version": FORMAT_VERSION,
        "data_folder": data_folder,
        "split": split,
        "min_duration": min_duration,
        "max_duration": max_duration,
    }


def _prepare_split(opts, csv_path, num_workers):
    """Prepare one split unless it is already prepared with ``opts``."""
    opts_path = _opts_path(csv_path)
    if _already_prepared(csv_path, opts_path, opts):
        logger.info(
            "Skipping split %s: %s already prepared with the same options.",
            opts["split"],
            csv_path,
        )
        return
    entries = scan_split(opts["data_folder"], opts["split"], num_workers)
    entries = filter_by_duration(
        entries, opts["min_duration"], opts["max_duration"], opts["split"]
    )
    entries = sort_entries(entries, opts["sort"], opts["seed"])
    # Invalidate the old options first: if we die after the CSV is replaced
    # but before the new options are written, the next run redoes the split.
    if os.path.exists(opts_path):
        os.remove(opts_path)
    write_csv(entries, csv_path)
    atomic_write_text(opts_path, json.dumps(opts, indent=2, sort_keys=True))
    hours = sum(e["duration"] for e in entries) / 3600
    logger.info("Wrote %s: %d utterances, %.2f h.", csv_path, len(entries), hours)


def _opts_path(csv_path):
    """Return the options sidecar path of a manifest."""
    return os.path.splitext(csv_path)[0] + OPTS_SUFFIX


def _already_prepared(csv_path, opts_path, opts):
    """Return True when the manifest exists and was made with ``opts``."""
    if not (os.path.isfile(csv_path) and os.path.isfile(opts_path)):
        return False
    try:
        with open(opts_path, encoding="utf-8") as f:
            return json.load(f) == opts
    except (OSError, ValueError):
        return False
