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
options is skipped, while a call with other options redoes the split. Files
are written to a temporary file in ``save_folder`` and moved into place with
``os.replace``, so an interrupted or failed preparation never leaves a
half-written manifest and never destroys one already prepared.

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

import csv
import json
import logging
import os
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor

import soundfile

logger = logging.getLogger(__name__)

CSV_COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]
SORT_OPTIONS = ("ascending", "descending", "random", "none")
OPTS_SUFFIX = ".prep_opts.json"
AUDIO_EXT = ".flac"
TRANS_SUFFIX = ".trans.txt"
# Bump when the manifest format changes so that old manifests are redone.
FORMAT_VERSION = 1


class PreparationError(RuntimeError):
    """Raised when the input corpus is missing, malformed or unusable.

    The message always names the offending path and what is wrong with it.
    """


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
    _atomic_write_text(opts_path, json.dumps(opts, indent=2, sort_keys=True))
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


def scan_split(data_folder, split, num_workers=8):
    """Collect and validate every utterance of one split.

    Arguments
    ---------
    data_folder : str
        Folder holding the split folders.
    split : str
        Split folder name.
    num_workers : int
        Threads used to read audio headers.

    Returns
    -------
    list of dict
        One dict per utterance with keys ``ID, duration, wav, spk_id, wrd``,
        sorted by ID.
    """
    split_folder = os.path.join(data_folder, split)
    if not os.path.isdir(split_folder):
        raise PreparationError(_missing_split_message(data_folder, split))
    entries = []
    for spk_id in _subfolders(split_folder):
        spk_folder = os.path.join(split_folder, spk_id)
        for chapter in _subfolders(spk_folder):
            chapter_folder = os.path.join(spk_folder, chapter)
            entries.extend(_scan_chapter(chapter_folder, spk_id, chapter))
    if not entries:
        raise PreparationError(
            f"Split folder {split_folder} contains no utterances "
            f"(expected <spk>/<chapter>/*{AUDIO_EXT} and *{TRANS_SUFFIX})."
        )
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        durations = pool.map(read_duration, [e["wav"] for e in entries])
        for entry, duration in zip(entries, durations):
            entry["duration"] = duration
    return sorted(entries, key=lambda e: e["ID"])


def _missing_split_message(data_folder, split):
    """Explain a missing split folder, listing the available ones."""
    available = _subfolders(data_folder)
    msg = (
        f"Split folder {os.path.join(data_folder, split)} does not exist. "
        f"Available splits in {data_folder}: {available or 'none'}."
    )
    if "LibriSpeech" in available:
        suggestion = os.path.join(data_folder, "LibriSpeech")
        msg += f" Did you mean data_folder={suggestion}?"
    return msg


def _subfolders(folder):
    """Return the sorted names of the non-hidden subfolders of ``folder``."""
    return sorted(
        e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
    )


def _scan_chapter(chapter_folder, spk_id, chapter):
    """Match the transcript lines and audio files of one chapter folder."""
    trans_path = os.path.join(chapter_folder, f"{spk_id}-{chapter}{TRANS_SUFFIX}")
    audio = {
        name[: -len(AUDIO_EXT)]: os.path.join(chapter_folder, name)
        for name in os.listdir(chapter_folder)
        if name.endswith(AUDIO_EXT) and not name.startswith(".")
    }
    if not os.path.isfile(trans_path):
        if not audio:
            return []
        raise PreparationError(
            f"Transcript file {trans_path} is missing, but {chapter_folder} "
            f"holds {len(audio)} {AUDIO_EXT} files."
        )
    transcripts = read_transcripts(trans_path)
    for utt_id in transcripts:
        if utt_id not in audio:
            raise PreparationError(
                f"{trans_path}: transcript line {utt_id!r} has no audio file "
                f"{os.path.join(chapter_folder, utt_id + AUDIO_EXT)}."
            )
    for utt_id, wav in sorted(audio.items()):
        if utt_id not in transcripts:
            raise PreparationError(
                f"Audio file {wav} has no transcript line in {trans_path}."
            )
    return [
        {"ID": u, "wav": audio[u], "spk_id": spk_id, "wrd": t}
        for u, t in transcripts.items()
    ]


def read_transcripts(trans_path):
    """Read a ``<spk>-<chapter>.trans.txt`` file.

    Arguments
    ---------
    trans_path : str
        Path of the transcript file; each line is ``<ID> <TRANSCRIPT>``.

    Returns
    -------
    dict
        Maps utterance ID to its transcript (whitespace normalised).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "1-2.trans.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("1-2-0000 HELLO  WORLD\\n\\n1-2-0001 HI\\n")
    >>> read_transcripts(path)
    {'1-2-0000': 'HELLO WORLD', '1-2-0001': 'HI'}
    >>> import shutil
    >>> shutil.rmtree(os.path.dirname(path))
    """
    transcripts = {}
    with open(trans_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            fields = line.split(maxsplit=1)
            if not fields:
                continue
            utt_id = fields[0]
            text = " ".join(fields[1].split()) if len(fields) > 1 else ""
            where = f"{trans_path}, line {line_no} ({utt_id!r})"
            if not text:
                raise PreparationError(f"{where}: empty transcript.")
            if utt_id in transcripts:
                raise PreparationError(f"{where}: duplicate utterance ID.")
            transcripts[utt_id] = text
    return transcripts


def read_duration(path):
    """Return the duration of an audio file in seconds (header only).

    Arguments
    ---------
    path : str
        Audio file path.

    Returns
    -------
    float
        Number of frames divided by the sample rate.
    """
    try:
        info = soundfile.info(path)
    except Exception as err:  # libsndfile raises several error types
        raise PreparationError(
            f"Unreadable or corrupt audio file {path}: {err}"
        ) from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise PreparationError(f"Audio file {path} contains no samples.")
    return info.frames / info.samplerate


def filter_by_duration(entries, min_duration=None, max_duration=None, split=""):
    """Drop utterances outside ``[min_duration, max_duration]`` seconds.

    Arguments
    ---------
    entries : list of dict
        Utterances with a ``duration`` key.
    min_duration, max_duration : float, optional
        Bounds in seconds (inclusive); None means unbounded.
    split : str
        Split name, used in messages.

    Returns
    -------
    list of dict
        The kept utterances, in the input order.

    Example
    -------
    >>> entries = [{"ID": "a", "duration": 1.0}, {"ID": "b", "duration": 9.0}]
    >>> [e["ID"] for e in filter_by_duration(entries, max_duration=5.0)]
    ['a']
    """
    kept = [
        e
        for e in entries
        if (min_duration is None or e["duration"] >= min_duration)
        and (max_duration is None or e["duration"] <= max_duration)
    ]
    n_dropped = len(entries) - len(kept)
    if n_dropped:
        dropped_h = (
            sum(e["duration"] for e in entries) - sum(e["duration"] for e in kept)
        ) / 3600
        logger.info(
            "Split %s: dropped %d of %d utterances (%.2f h) outside "
            "[min_duration=%s, max_duration=%s] s.",
            split,
            n_dropped,
            len(entries),
            dropped_h,
            min_duration,
            max_duration,
        )
    if not kept:
        raise PreparationError(
            f"Split {split!r}: no utterance left after filtering with "
            f"min_duration={min_duration}, max_duration={max_duration} "
            f"({len(entries)} utterances before filtering)."
        )
    return kept


def sort_entries(entries, sort="ascending", seed=1234):
    """Order utterances as SpeechBrain recipes do.

    Arguments
    ---------
    entries : list of dict
        Utterances with ``ID`` and ``duration`` keys.
    sort : str
        ``"ascending"``, ``"descending"``, ``"random"`` or ``"none"``.
    seed : int
        Shuffle seed for ``"random"``.

    Returns
    -------
    list of dict
        A new, ordered list.

    Example
    -------
    >>> entries = [{"ID": "a", "duration": 2.0}, {"ID": "b", "duration": 1.0}]
    >>> [e["ID"] for e in sort_entries(entries, "ascending")]
    ['b', 'a']
    """
    if sort == "ascending":
        return sorted(entries, key=lambda e: (e["duration"], e["ID"]))
    if sort == "descending":
        return sorted(entries, key=lambda e: (-e["duration"], e["ID"]))
    if sort == "random":
        entries = list(entries)
        random.Random(seed).shuffle(entries)
        return entries
    if sort == "none":
        return list(entries)
    raise ValueError(f"sort must be one of {SORT_OPTIONS}, got {sort!r}.")


def _format_row(entry):
    """Return the CSV row (list of str) of one utterance."""
    return [
        entry["ID"],
        repr(float(entry["duration"])),
        entry["wav"],
        entry["spk_id"],
        entry["wrd"],
    ]


def write_csv(entries, csv_path):
    """Atomically write a SpeechBrain CSV manifest.

    The rows go to a temporary file in the same folder that replaces
    ``csv_path`` only once complete, so a previous manifest survives any
    failure.

    Arguments
    ---------
    entries : list of dict
        Utterances with keys ``ID, duration, wav, spk_id, wrd``.
    csv_path : str
        Destination path.
    """

    def _write(f):
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerow(_format_row(entry))

    _atomic_write(csv_path, _write)


def _atomic_write_text(path, text):
    """Atomically write ``text`` to ``path``."""
    _atomic_write(path, lambda f: f.write(text))


def _atomic_write(path, write_fn):
    """Call ``write_fn(file)`` on a temporary file, then move it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
