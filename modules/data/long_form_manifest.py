"""Long-form manifests: joined recordings with their utterance boundaries.

A long-form manifest is a CSV with one row per recording and the columns
``ID, duration, wav, wrd, segments`` (:data:`LONG_FORM_COLUMNS`): ``wav`` is
the recording's audio file, ``wrd`` its transcript (upper-case words
separated by single spaces, as in the segmented manifests) and ``segments``
a JSON list of ``[start_s, end_s, utterance_id]``, one per joined
utterance, in order. The windowed evaluation and the context-length chunks
read it; :mod:`modules.data.long_form` and :mod:`modules.data.tedlium`
write it.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

from modules.data.manifests import atomic_write
from modules.data.preparation_error import PreparationError

LONG_FORM_COLUMNS = ["ID", "duration", "wav", "wrd", "segments"]


@dataclass(frozen=True)
class Segment:
    """One utterance inside a long-form recording.

    Arguments
    ---------
    start : float
        Start in the recording, in seconds.
    end : float
        End in the recording, in seconds.
    utterance_id : str
        ID of the utterance in its segmented manifest.
    """

    start: float
    end: float
    utterance_id: str


@dataclass(frozen=True)
class LongFormRecording:
    """One row of a long-form manifest.

    Arguments
    ---------
    recording_id : str
        The ``ID`` column.
    duration : float
        Length of the audio in seconds.
    wav : str
        Path of the audio file.
    words : str
        The transcript (``wrd``).
    segments : tuple of Segment
        The joined utterances, in order.
    """

    recording_id: str
    duration: float
    wav: str
    words: str
    segments: tuple


def write_long_form_csv(recordings, csv_path):
    """Atomically write a long-form manifest.

    Arguments
    ---------
    recordings : list of LongFormRecording
        The rows, in order.
    csv_path : str
        Destination path.

    Example
    -------
    >>> import os, shutil, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "test-clean.csv")
    >>> rec = LongFormRecording("1-2_000", 3.5, "/a.wav", "HI THERE",
    ...     (Segment(0.0, 1.5, "1-2-0000"), Segment(1.5, 3.5, "1-2-0001")))
    >>> write_long_form_csv([rec], path)
    >>> print(open(path).read(), end="")
    ID,duration,wav,wrd,segments
    1-2_000,3.5,/a.wav,HI THERE,"[[0.0,1.5,""1-2-0000""],[1.5,3.5,""1-2-0001""]]"
    >>> read_long_form_csv(path) == [rec]
    True
    >>> shutil.rmtree(folder)
    """

    def _write(handle):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(LONG_FORM_COLUMNS)
        for rec in recordings:
            segments = [[s.start, s.end, s.utterance_id] for s in rec.segments]
            writer.writerow(
                [
                    rec.recording_id,
                    repr(float(rec.duration)),
                    rec.wav,
                    rec.words,
                    json.dumps(segments, separators=(",", ":")),
                ]
            )

    atomic_write(csv_path, _write)


def read_long_form_csv(csv_path):
    """Read a long-form manifest.

    Arguments
    ---------
    csv_path : str
        A CSV written by :func:`write_long_form_csv`.

    Returns
    -------
    list of LongFormRecording
        The rows, in file order.

    Raises
    ------
    PreparationError
        Naming the file and the row when it is missing, lacks a column or
        holds malformed segments.
    """
    try:
        with open(csv_path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
            columns = rows[0].keys() if rows else []
    except OSError as err:
        raise PreparationError(
            f"{csv_path}: cannot read the long-form manifest ({err})."
        ) from err
    missing = [c for c in LONG_FORM_COLUMNS if c not in columns]
    if missing:
        raise PreparationError(
            f"{csv_path}: not a long-form manifest (no rows, or missing columns "
            f"{missing}); expected the columns {LONG_FORM_COLUMNS}."
        )
    return [_parse_row(row, f"{csv_path}: row {n}") for n, row in enumerate(rows, 2)]


def _parse_row(row, where):
    """Return the :class:`LongFormRecording` of one CSV row."""
    try:
        segments = tuple(
            Segment(float(start), float(end), str(utt))
            for start, end, utt in json.loads(row["segments"])
        )
        duration = float(row["duration"])
    except (ValueError, TypeError) as err:
        raise PreparationError(
            f"{where} ({row['ID']!r}): malformed duration or segments ({err}); "
            "segments must be a JSON list of [start_s, end_s, utterance_id]."
        ) from err
    return LongFormRecording(row["ID"], duration, row["wav"], row["wrd"], segments)
