"""Joining consecutive utterances into long-form recordings.

The utterances of a chapter (or a talk) are packed in order into
recordings of at most ``max_seconds`` (a recording never crosses a chapter;
the last one of a chapter may be shorter; ``max_seconds=None`` gives one
recording per chapter), recordings shorter than ``min_seconds`` are left
out, and each recording is written as a 16 kHz mono 16-bit WAV file whose
segments give the exact sample boundaries of its utterances. The audio of
a split is written into a hidden partial folder that replaces the split's
folder only once complete, so a failure never leaves half a split.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import soundfile

from modules.data.librispeech_scan import SAMPLE_RATE
from modules.data.long_form_manifest import LongFormRecording, Segment
from modules.data.preparation_error import PreparationError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One source utterance: a whole audio file and its transcript.

    Arguments
    ---------
    utterance_id : str
        Its ID in the segmented manifest.
    wav : str
        Its audio file (16 kHz mono).
    words : str
        Its transcript.
    duration : float
        Its length in seconds.
    """

    utterance_id: str
    wav: str
    words: str
    duration: float


def pack_chapter(utterances, max_seconds):
    """Group a chapter's consecutive utterances into recordings.

    Arguments
    ---------
    utterances : list of Utterance
        The chapter's utterances, in order.
    max_seconds : float or None
        Longest recording; None: the whole chapter in one recording.

    Returns
    -------
    list of list of Utterance
        The utterances of each recording, in order.

    Example
    -------
    >>> utts = [Utterance(str(i), "", "", d) for i, d in enumerate([4, 5, 2, 6])]
    >>> [[u.utterance_id for u in rec] for rec in pack_chapter(utts, 10.0)]
    [['0', '1'], ['2', '3']]
    >>> len(pack_chapter(utts, None))
    1
    """
    if max_seconds is None:
        return [list(utterances)] if utterances else []
    limit = int(round(max_seconds * SAMPLE_RATE))
    recordings, current, samples = [], [], 0
    for utt in utterances:
        length = int(round(utt.duration * SAMPLE_RATE))
        if current and samples + length > limit:
            recordings.append(current)
            current, samples = [], 0
        current.append(utt)
        samples += length
    if current:
        recordings.append(current)
    return recordings


def check_lengths(max_seconds, min_seconds):
    """Raise a ValueError naming the key of a bad recording length.

    Example
    -------
    >>> check_lengths(120.0, 0.0)
    >>> check_lengths(60.0, 90.0)
    Traceback (most recent call last):
    ...
    ValueError: long_form_min_seconds must lie in [0, long_form_seconds=60.0], got 90.0.
    """
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(
            f"long_form_seconds must be positive or null, got {max_seconds}."
        )
    if not 0 <= min_seconds <= (max_seconds or float("inf")):
        raise ValueError(
            "long_form_min_seconds must lie in [0, long_form_seconds="
            f"{max_seconds}], got {min_seconds}."
        )


def packing_defects(chapters, max_seconds):
    """Name the utterances longer than ``max_seconds`` (one per chapter).

    Arguments
    ---------
    chapters : dict
        Chapter name -> list of :class:`Utterance`.
    max_seconds : float or None
        The ``long_form_seconds`` asked for.

    Returns
    -------
    list of str
        One line per chapter holding a too long utterance, empty if none.

    Example
    -------
    >>> chapters = {"1-2": [Utterance("1-2-0000", "/a.flac", "HI", 12.0)]}
    >>> packing_defects(chapters, 10.0)[0].split(";")[0]
    '/a.flac: utterance 1-2-0000 lasts 12.00 s, longer than long_form_seconds=10.0'
    """
    defects = []
    for utterances in chapters.values():
        longest = max(utterances, key=lambda u: u.duration, default=None)
        if max_seconds is not None and longest and longest.duration > max_seconds:
            defects.append(
                f"{longest.wav}: utterance {longest.utterance_id} lasts "
                f"{longest.duration:.2f} s, longer than long_form_seconds="
                f"{max_seconds}; set long_form_seconds to at least "
                f"{longest.duration:.2f}."
            )
    return defects


def plan_recordings(chapters, max_seconds, min_seconds):
    """Pack every chapter; return ``(recording id, utterances)`` pairs.

    Recordings are named ``<chapter>_<index:03d>``, or ``<chapter>`` when
    ``max_seconds`` is None. Recordings shorter than ``min_seconds`` are
    left out (and counted in the log).

    Example
    -------
    >>> utts = [Utterance(str(i), "", "", d) for i, d in enumerate([4, 5, 2])]
    >>> [(name, len(u)) for name, u in plan_recordings({"c": utts}, 10.0, 3.0)]
    [('c_000', 2)]
    """
    planned, dropped = [], 0
    for name, utterances in chapters.items():
        packed = pack_chapter(utterances, max_seconds)
        for index, recording in enumerate(packed):
            if sum(u.duration for u in recording) < min_seconds:
                dropped += 1
                continue
            rec_id = name if max_seconds is None else f"{name}_{index:03d}"
            planned.append((rec_id, recording))
    if dropped:
        logger.info(
            "Left out %d recordings shorter than long_form_min_seconds=%s.",
            dropped,
            min_seconds,
        )
    return planned


def write_recording(path, recording_id, utterances):
    """Join ``utterances`` into the WAV file ``path``; return its row.

    Raises
    ------
    PreparationError
        Naming the audio file that cannot be read or is not 16 kHz mono.
    """
    segments, offset = [], 0
    with soundfile.SoundFile(
        path, "w", SAMPLE_RATE, 1, subtype="PCM_16", format="WAV"
    ) as out:
        for utt in utterances:
            samples = _read_utterance(utt.wav)
            out.write(samples)
            segments.append(
                Segment(
                    offset / SAMPLE_RATE,
                    (offset + len(samples)) / SAMPLE_RATE,
                    utt.utterance_id,
                )
            )
            offset += len(samples)
    words = " ".join(u.words for u in utterances)
    return LongFormRecording(
        recording_id, offset / SAMPLE_RATE, path, words, tuple(segments)
    )


def _read_utterance(wav):
    """The int16 samples of a 16 kHz mono file, or a PreparationError."""
    try:
        samples, rate = soundfile.read(wav, dtype="int16")
    except Exception as err:  # libsndfile raises several error types
        raise PreparationError(
            f"{wav}: unreadable or corrupt audio file ({err}); replace or remove it."
        ) from err
    if rate != SAMPLE_RATE or samples.ndim != 1:
        channels = samples.shape[1] if samples.ndim > 1 else 1
        raise PreparationError(
            f"{wav}: audio is {rate} Hz with {channels} channel(s); "
            f"expected {SAMPLE_RATE} Hz mono."
        )
    return samples


def write_split_audio(planned, output_folder, split, num_workers=4):
    """Write a split's recordings into ``<output_folder>/<split>/``.

    Arguments
    ---------
    planned : list of (str, list of Utterance)
        From :func:`plan_recordings`.
    output_folder : str
        Folder of the long-form manifests.
    split : str
        Split name.
    num_workers : int
        Recordings written in parallel.

    Returns
    -------
    list of LongFormRecording
        The rows, with absolute ``wav`` paths in the final folder (a relative
        ``output_folder`` would otherwise be read against the manifest's
        folder).
    """
    final = os.path.abspath(os.path.join(output_folder, split))

    def _fill(folder):
        with ThreadPoolExecutor(max(1, num_workers)) as pool:
            return list(
                pool.map(
                    lambda item: write_recording(
                        os.path.join(folder, item[0] + ".wav"), *item
                    ),
                    planned,
                )
            )

    recordings = fill_folder_atomically(final, _fill)
    return [
        dataclasses.replace(rec, wav=os.path.join(final, os.path.basename(rec.wav)))
        for rec in recordings
    ]


def fill_folder_atomically(final, fill):
    """Call ``fill(partial_folder)``, then move that folder to ``final``.

    The partial folder is ``.<name>.partial`` next to ``final``; it replaces
    any previous ``final`` only once ``fill`` has returned, and is removed
    if ``fill`` fails, leaving the previous ``final`` untouched.

    Arguments
    ---------
    final : str
        The folder to (re)create.
    fill : callable
        Writes the folder's files into the folder it is given.

    Returns
    -------
    object
        What ``fill`` returned.

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> final = os.path.join(root, "split")
    >>> fill_folder_atomically(final, lambda f: open(os.path.join(f, "a"), "w").close())
    >>> def fail(folder):
    ...     raise OSError("disk full")
    >>> fill_folder_atomically(final, fail)
    Traceback (most recent call last):
    ...
    OSError: disk full
    >>> sorted(os.listdir(root)), os.listdir(final)
    (['split'], ['a'])
    >>> shutil.rmtree(root)
    """
    parent, name = os.path.split(os.path.abspath(final))
    partial = os.path.join(parent, f".{name}.partial")
    old = os.path.join(parent, f".{name}.old")
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    try:
        result = fill(partial)
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(final):
            os.rename(final, old)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return result
