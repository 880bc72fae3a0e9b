"""Long-form view of a LibriSpeech-layout corpus (as LibriSpeech-Long).

The consecutive utterances of each chapter of a split (real LibriSpeech or
the built-in synthetic corpus) are joined in order into recordings of at
most ``long_form_seconds`` (:mod:`modules.data.long_form_join`): a recording
never crosses a chapter, the last one of a chapter may be shorter, and
recordings shorter than ``long_form_min_seconds`` are left out. Each split
gives ``<output_folder>/<split>.csv`` (:mod:`modules.data.long_form_manifest`:
``ID, duration, wav, wrd, segments``) and its WAV files in
``<output_folder>/<split>/``.

Each split is prepared once, like the segmented manifests
(:mod:`modules.data.librispeech`): the options and the fingerprint of the
source split are stored in ``<output_folder>/<split>.prep_opts.json``; a
later call with the same options on an unchanged corpus does nothing, other
options or a changed corpus redo the split. Every requested split is read
and checked before anything is written. Not DDP guarded: in multi-process
training use :func:`prepare_long_form_data` (``run_on_main``).

Command line::

    python -m modules.data.long_form data/synthetic-small-long \\
        --splits test-clean test-other --seconds 120 --output data/long_form

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from speechbrain.utils.distributed import run_on_main

from modules.data.librispeech import needs_preparation, preparation_options_path
from modules.data.librispeech_scan import read_split
from modules.data.long_form_join import (
    Utterance,
    check_lengths,
    packing_defects,
    plan_recordings,
    write_split_audio,
)
from modules.data.long_form_manifest import write_long_form_csv
from modules.data.manifests import atomic_write_text
from modules.data.preparation_error import PreparationError
from modules.data.split_fingerprint import fingerprint_split

# Bump when the long-form format changes so that old manifests are redone.
FORMAT_VERSION = 1
HPARAM_KEYS = ("data_folder", "long_form_folder", "long_form_splits")


def prepare_long_form(
    data_folder,
    output_folder,
    splits,
    seconds,
    min_seconds=0.0,
    skip_prep=False,
    num_workers=4,
):
    """Write the long-form manifest and audio of each split.

    Arguments
    ---------
    data_folder : str
        Folder holding the split folders (LibriSpeech layout).
    output_folder : str
        Where ``<split>.csv``, ``<split>.prep_opts.json`` and the audio
        folders ``<split>/`` go (created if needed).
    splits : list of str
        Split folder names, e.g. ``["test-clean"]``.
    seconds : float or None
        Longest recording; None: one recording per chapter.
    min_seconds : float
        Recordings shorter than this are left out.
    skip_prep : bool
        Only return the manifest paths.
    num_workers : int
        Threads reading audio headers and writing recordings.

    Returns
    -------
    dict
        Split name -> path of its long-form manifest.

    Raises
    ------
    PreparationError
        Listing every problem of every split (missing split or chapter
        audio, empty chapter, unreadable audio, an utterance longer than
        ``seconds``) before anything is written.
    ValueError
        A non-positive ``seconds`` or a ``min_seconds`` outside
        ``[0, seconds]``, before any split is read.

    Example
    -------
    >>> paths = prepare_long_form("data/LibriSpeech", "results/long", ["dev-clean"],
    ...                           120.0, skip_prep=True)
    >>> paths["dev-clean"].replace(os.sep, "/")
    'results/long/dev-clean.csv'
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    csv_paths = {s: os.path.join(output_folder, s + ".csv") for s in splits}
    if skip_prep:
        return csv_paths
    check_lengths(seconds, min_seconds)
    data_folder = os.path.abspath(data_folder)
    if not os.path.isdir(data_folder):
        raise PreparationError(f"{data_folder}: data_folder does not exist.")
    pending, defects = [], []
    for split in splits:
        opts = _options(data_folder, split, seconds, min_seconds)
        if needs_preparation(opts, csv_paths[split]):
            chapters, found = read_chapters(data_folder, split, num_workers)
            found = found or packing_defects(chapters, seconds)
            planned = [] if found else plan_recordings(chapters, seconds, min_seconds)
            if not found and not planned:
                found = [f"{split}: no recording reaches long_form_min_seconds."]
            defects.extend(found)
            pending.append((opts, csv_paths[split], planned))
    if defects:
        raise PreparationError(defects)
    os.makedirs(output_folder, exist_ok=True)
    for opts, csv_path, planned in pending:
        write_long_form_split(opts, csv_path, planned, num_workers)
    return csv_paths


def _options(data_folder, split, seconds, min_seconds):
    """The options and source fingerprint stored with a split's manifest."""
    return {
        "format_version": FORMAT_VERSION,
        "data_folder": data_folder,
        "split": split,
        "fingerprint": fingerprint_split(os.path.join(data_folder, split)),
        "long_form_seconds": None if seconds is None else float(seconds),
        "long_form_min_seconds": float(min_seconds),
    }


def write_long_form_split(opts, csv_path, planned, num_workers=4):
    """Write a split's audio, manifest and options file, in that order.

    The options file is removed first, so a split interrupted half-way is
    redone by the next call.

    Arguments
    ---------
    opts : dict
        Stored in ``<split>.prep_opts.json`` next to ``csv_path``.
    csv_path : str
        The manifest; the audio goes to the folder of the same name.
    planned : list of (str, list of Utterance)
        From :func:`modules.data.long_form_join.plan_recordings`.
    num_workers : int
        Recordings written in parallel.
    """
    opts_path = preparation_options_path(csv_path)
    if os.path.exists(opts_path):
        os.remove(opts_path)
    folder, name = os.path.split(os.path.splitext(csv_path)[0])
    recordings = write_split_audio(planned, folder, name, num_workers)
    write_long_form_csv(recordings, csv_path)
    atomic_write_text(opts_path, json.dumps(opts, indent=2, sort_keys=True))


def read_chapters(data_folder, split, num_workers=4):
    """Read a split's utterances grouped by chapter, in order.

    Arguments
    ---------
    data_folder : str
        Folder holding the split folders.
    split : str
        Split folder name.
    num_workers : int
        Threads reading audio headers.

    Returns
    -------
    chapters : dict
        ``<spk>-<chapter>`` -> list of :class:`Utterance` in utterance order;
        every chapter folder of the split has an entry.
    defects : list of str
        Problems found, each naming its file; empty if none.
    """
    split_folder = os.path.join(data_folder, split)
    if not os.path.isdir(split_folder):
        available = sorted(
            e.name for e in os.scandir(data_folder) if e.is_dir() and e.name[0] != "."
        )
        return {}, [
            f"{split_folder}: split folder does not exist (long_form_splits names "
            f"{split!r}). Available splits in {data_folder}: {available or 'none'}."
        ]
    entries, defects = read_split(data_folder, split, num_workers)
    if defects:
        return {}, defects
    folders = {
        f"{spk}-{chapter}": os.path.join(split_folder, spk, chapter)
        for spk in _subfolders(split_folder)
        for chapter in _subfolders(os.path.join(split_folder, spk))
    }
    chapters = {name: [] for name in folders}
    for e in entries:  # sorted by ID: utterance order inside a chapter
        utterance = Utterance(e["ID"], e["wav"], e["wrd"], e["duration"])
        chapters[e["ID"].rsplit("-", 1)[0]].append(utterance)
    empty = [
        f"{folders[name]}: chapter folder holds no utterances (expected "
        f"{name}-NNNN.flac files and {name}.trans.txt); remove it or fill it."
        for name, utterances in chapters.items()
        if not utterances
    ]
    return chapters, empty


def _subfolders(folder):
    """Sorted names of the non-hidden subfolders of ``folder``."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and e.name[0] != ".")


def prepare_long_form_data(hparams):
    """Prepare the long-form splits a recipe's YAML asks for, on the main process.

    Keys: those of :func:`long_form_options`.

    Arguments
    ---------
    hparams : dict
        The loaded YAML.

    Returns
    -------
    dict
        Split name -> path of its long-form manifest.
    """
    return run_on_main(prepare_long_form, kwargs=long_form_options(hparams))


def long_form_options(hparams):
    """The :func:`prepare_long_form` arguments a recipe's YAML gives.

    Keys: ``data_folder``, ``long_form_folder``, ``long_form_splits``,
    ``long_form_seconds`` (null: one recording per chapter) and, optionally,
    ``long_form_min_seconds``.

    Example
    -------
    >>> long_form_options({"data_folder": "d", "long_form_folder": "o",
    ...                    "long_form_splits": ["test-clean"]})
    Traceback (most recent call last):
    ...
    KeyError: "long-form preparation needs the YAML keys ['long_form_seconds'], ...
    """
    missing = [k for k in (*HPARAM_KEYS, "long_form_seconds") if k not in hparams]
    if missing:
        raise KeyError(
            f"long-form preparation needs the YAML keys {missing}, e.g. "
            "long_form_splits: [test-clean], long_form_seconds: 120, "
            "long_form_folder: !ref <output_folder>/long_form"
        )
    kwargs = {
        "data_folder": hparams["data_folder"],
        "output_folder": hparams["long_form_folder"],
        "splits": hparams["long_form_splits"],
        "seconds": hparams["long_form_seconds"],
    }
    if "long_form_min_seconds" in hparams:
        kwargs["min_seconds"] = hparams["long_form_min_seconds"]
    return kwargs


def _seconds(text):
    """``--seconds`` value: a positive number, or ``chapter`` for None."""
    return None if text == "chapter" else float(text)


def main(argv=None):
    """Command line entry point; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_folder", help="folder holding the split folders")
    parser.add_argument("--splits", nargs="+", required=True)
    parser.add_argument(
        "--seconds",
        type=_seconds,
        required=True,
        help="longest recording in seconds, or 'chapter' for whole chapters",
    )
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--min_seconds", type=float, help="shortest recording kept")
    parser.add_argument("--num_workers", type=int, help="threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optional = {"min_seconds": args.min_seconds, "num_workers": args.num_workers}
    try:
        paths = prepare_long_form(
            args.data_folder,
            args.output,
            args.splits,
            args.seconds,
            **{k: v for k, v in optional.items() if v is not None},
        )
    except (PreparationError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
