"""SpeechBrain CSV manifests: filter, order and atomically write utterances.

A manifest has one row per utterance with the columns
``ID, duration, wav, spk_id, wrd`` (:data:`CSV_COLUMNS`). Files are written
to a temporary file in the destination folder and moved into place with
``os.replace``, so a failure never leaves a half-written file and never
destroys the previous one.

Authors
 * efficient-asr contributors
"""

import csv
import logging
import os
import random
import tempfile

from modules.data.preparation_error import PreparationError

logger = logging.getLogger(__name__)

CSV_COLUMNS = ["ID", "duration", "wav", "spk_id", "wrd"]
SORT_OPTIONS = ("ascending", "descending", "random", "none")


def filter_by_duration(entries, min_duration=None, max_duration=None, split=""):
    """Drop utterances outside ``[min_duration, max_duration]`` seconds.

    Arguments
    ---------
    entries : list of dict
        Utterances with a ``duration`` key.
    min_duration, max_duration : float, optional
        Bounds in seconds (inclusive); None means unbounded.
    split : str
        Split name or folder, used in messages.

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
            f"{split}: no utterance left after filtering with "
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

    Example
    -------
    >>> import shutil
    >>> from pathlib import Path
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "dev.csv")
    >>> entry = {"ID": "1-2-0000", "duration": 1.5, "wav": "/a.flac",
    ...          "spk_id": "1", "wrd": "HELLO WORLD"}
    >>> write_csv([entry], path)
    >>> print(Path(path).read_text(), end="")
    ID,duration,wav,spk_id,wrd
    1-2-0000,1.5,/a.flac,1,HELLO WORLD
    >>> shutil.rmtree(folder)
    """

    def _write(f):
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in entries:
            writer.writerow(_format_row(entry))

    atomic_write(csv_path, _write)


def atomic_write_text(path, text):
    """Atomically write ``text`` to ``path``.

    Arguments
    ---------
    path : str
        Destination path.
    text : str
        The whole content of the file.

    Example
    -------
    >>> import shutil
    >>> from pathlib import Path
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "opts.json")
    >>> atomic_write_text(path, '{"seed": 1}')
    >>> Path(path).read_text()
    '{"seed": 1}'
    >>> shutil.rmtree(folder)
    """
    atomic_write(path, lambda f: f.write(text))


def atomic_write(path, write_fn):
    """Call ``write_fn(file)`` on a temporary file, then move it to ``path``.

    The temporary file lives in the folder of ``path`` and is removed when
    ``write_fn`` fails, leaving any previous ``path`` untouched.

    Arguments
    ---------
    path : str
        Destination path.
    write_fn : callable
        Writes the content to the open text file it is given.

    Example
    -------
    >>> import shutil
    >>> from pathlib import Path
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "a.txt")
    >>> atomic_write(path, lambda f: f.write("kept"))
    >>> def fail(f):
    ...     raise OSError("disk full")
    >>> atomic_write(path, fail)
    Traceback (most recent call last):
    ...
    OSError: disk full
    >>> Path(path).read_text(), sorted(os.listdir(folder))
    ('kept', ['a.txt'])
    >>> shutil.rmtree(folder)
    """
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
