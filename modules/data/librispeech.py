"""Data preparation for LibriSpeech-shaped corpora.

Reads a standard LibriSpeech folder::

    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <data_folder>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

for any split name (``train-clean-100``, ``dev-other``, ... and non-standard
names such as ``train-synth`` used by the built-in synthetic corpus) and
writes one SpeechBrain CSV manifest per split, ``<save_folder>/<split>.csv``,
with the columns ``ID, duration, wav, spk_id, wrd``.

Each split is prepared once: the options used and a fingerprint of the
split's contents (:mod:`modules.data.split_fingerprint`: file list, sizes
and transcript texts) are stored next to the CSV in
``<save_folder>/<split>.prep_opts.json``. A later call with the same options
on an unchanged corpus is skipped; other options or a changed corpus redo
the split. Every requested split is read by
:mod:`modules.data.librispeech_scan` before anything is written: when the
corpus has defects, one
:class:`~modules.data.preparation_error.PreparationError` lists all of them
and nothing is written. Manifests are written by
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

from modules.data.librispeech_scan import read_split
from modules.data.manifests import (
    SORT_OPTIONS,
    atomic_write_text,
    filter_by_duration,
    sort_entries,
    write_csv,
)
from modules.data.preparation_error import PreparationError
from modules.data.split_fingerprint import fingerprint_split

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
        unreadable or non-16 kHz-mono audio, nothing left after filtering),
        listing every defect of every requested split, one per line;
        nothing is written then.
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
        raise PreparationError(f"{data_folder}: data_folder does not exist.")
    pending, defects = [], []
    for split in splits:
        opts = _split_options(data_folder, split, min_duration, max_duration)
        opts.update(sort=sort, seed=seed if sort == "random" else None)
        if needs_preparation(opts, csv_paths[split]):
            entries, split_defects = _read_entries(opts, num_workers)
            defects.extend(split_defects)
            pending.append((opts, csv_paths[split], entries))
    if defects:
        raise PreparationError(defects)
    os.makedirs(save_folder, exist_ok=True)
    for opts, csv_path, entries in pending:
        _write_split(opts, csv_path, entries)
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
    """Return the JSON-serialisable options and corpus fingerprint of a split."""
    return {
        "format_version": FORMAT_VERSION,
        "data_folder": data_folder,
        "split": split,
        "fingerprint": fingerprint_split(os.path.join(data_folder, split)),
        "min_duration": min_duration,
        "max_duration": max_duration,
    }


def _read_entries(opts, num_workers):
    """Return a split's filtered, ordered entries and its defects."""
    entries, split_defects = read_split(opts["data_folder"], opts["split"], num_workers)
    if split_defects:
        return [], split_defects
    try:
        split_folder = os.path.join(opts["data_folder"], opts["split"])
        entries = filter_by_duration(
            entries, opts["min_duration"], opts["max_duration"], split_folder
        )
    except PreparationError as err:
        return [], err.defects
    return sort_entries(entries, opts["sort"], opts["seed"]), []


def _write_split(opts, csv_path, entries):
    """Write a split's manifest, then its options file."""
    opts_path = preparation_options_path(csv_path)
    # Invalidate the old options first: if we die after the CSV is replaced
    # but before the new options are written, the next run redoes the split.
    if os.path.exists(opts_path):
        os.remove(opts_path)
    write_csv(entries, csv_path)
    atomic_write_text(opts_path, json.dumps(opts, indent=2, sort_keys=True))
    hours = sum(e["duration"] for e in entries) / 3600
    logger.info("Wrote %s: %d utterances, %.2f h.", csv_path, len(entries), hours)


def preparation_options_path(csv_path):
    """Return the options sidecar path of a manifest."""
    return os.path.splitext(csv_path)[0] + OPTS_SUFFIX


def needs_preparation(opts, csv_path):
    """Return True (and log why) unless the manifest is up to date."""
    reason = _redo_reason(csv_path, preparation_options_path(csv_path), opts)
    if reason is None:
        logger.info(
            "Skipping split %s: %s already prepared with the same options "
            "from an unchanged corpus.",
            opts["split"],
            csv_path,
        )
        return False
    logger.info("Preparing split %s: %s.", opts["split"], reason)
    return True


def _redo_reason(csv_path, opts_path, opts):
    """Return why a split must be prepared, or None if it is up to date."""
    if not (os.path.isfile(csv_path) and os.path.isfile(opts_path)):
        return f"no complete manifest {csv_path} yet"
    try:
        with open(opts_path, encoding="utf-8") as f:
            stored = json.load(f)
    except (OSError, ValueError):
        return f"options file {opts_path} is unreadable"
    if not isinstance(stored, dict):
        return f"options file {opts_path} is not a JSON object"
    changed = sorted(
        k for k in opts.keys() | stored.keys() if opts.get(k) != stored.get(k)
    )
    if changed == ["fingerprint"]:
        return (
            f"the corpus in {os.path.join(opts['data_folder'], opts['split'])} "
            f"changed since {csv_path} was written (files, sizes or transcripts)"
        )
    if changed:
        return f"options changed since {csv_path} was written: {', '.join(changed)}"
    return None
