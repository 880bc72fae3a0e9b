"""Training chunks of L seconds cut at utterance boundaries of long recordings.

For training at context length L (Flynn & Ragni, 2023), the joined
recordings of the training split (a long-form manifest,
:mod:`modules.data.long_form_manifest`; prepare it with
``long_form_seconds`` >= L, or ``null`` for whole chapters) are cut into
chunks of consecutive utterances lasting at most L seconds each, from the
start of each recording; the last chunk of a recording may be shorter. An
utterance longer than L cannot be in any chunk: :func:`check_context_length`
refuses such an L for the target length, and :func:`cut_context_chunks`
leaves such utterances out (warm-up stages shorter than some utterances).
A chunk's transcript joins its utterances' transcripts, taken from the
split's segmented manifest (``ID, wrd`` columns).

Chunks are slices of the joined WAV files (no audio is copied): a chunk
manifest has the columns ``ID, duration, wav, start, stop, wrd`` (``start``
and ``stop`` in samples) and :func:`context_chunk_dataset` reads the slices.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass

import speechbrain as sb
import torch

from modules.data.librispeech_scan import SAMPLE_RATE
from modules.data.manifests import atomic_write
from modules.data.preparation_error import PreparationError

logger = logging.getLogger(__name__)

CHUNK_COLUMNS = ["ID", "duration", "wav", "start", "stop", "wrd"]


@dataclass(frozen=True)
class ContextChunk:
    """A slice of a long recording holding whole utterances.

    Arguments
    ---------
    chunk_id : str
        ``<recording>-c<index:03d>``.
    wav : str
        The recording's audio file.
    start : int
        First sample.
    stop : int
        One past the last sample.
    words : str
        The transcript.
    """

    chunk_id: str
    wav: str
    start: int
    stop: int
    words: str

    @property
    def duration(self):
        """Length in seconds."""
        return (self.stop - self.start) / SAMPLE_RATE


def utterance_transcripts(csv_paths):
    """Utterance ID -> transcript, from segmented manifests (``ID, wrd``).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("ID,duration,wav,spk_id,wrd\\n1-2-0000,1.0,a.flac,1,HI\\n")
    >>> utterance_transcripts([path])
    {'1-2-0000': 'HI'}
    """
    transcripts = {}
    for path in csv_paths:
        with open(path, encoding="utf-8", newline="") as handle:
            transcripts.update(
                (row["ID"], row["wrd"]) for row in csv.DictReader(handle)
            )
    return transcripts


def check_context_length(recordings, seconds, key="context_length_seconds"):
    """Raise a ValueError naming ``key`` if an utterance is longer than ``seconds``.

    Arguments
    ---------
    recordings : list of LongFormRecording
        The training recordings.
    seconds : float
        The context length.
    key : str
        The YAML key that set ``seconds``.
    """
    longest = max(
        (
            (s.end - s.start, s.utterance_id, r.wav)
            for r in recordings
            for s in r.segments
        ),
        default=None,
    )
    if longest and longest[0] > seconds:
        length, utterance, wav = longest
        raise ValueError(
            f"{key}={seconds} is shorter than utterance {utterance} of {wav} "
            f"({length:.2f} s): chunks are cut at utterance boundaries, so set "
            f"{key} to at least {length:.2f}."
        )


def cut_context_chunks(recordings, transcripts, seconds, key="context_length_seconds"):
    """Cut recordings into chunks of whole utterances of at most ``seconds``.

    Arguments
    ---------
    recordings : list of LongFormRecording
        Joined recordings (contiguous segments).
    transcripts : dict
        Utterance ID -> transcript (:func:`utterance_transcripts`).
    seconds : float
        Longest chunk.
    key : str
        The YAML key that set ``seconds``, named in errors.

    Returns
    -------
    list of ContextChunk
        In recording order.

    Raises
    ------
    PreparationError
        When an utterance has no transcript or the transcripts do not join
        into the recording's.
    ValueError
        When no utterance fits in ``seconds``.

    Example
    -------
    >>> from modules.data.long_form_manifest import LongFormRecording, Segment
    >>> rec = LongFormRecording("r", 9.0, "r.wav", "A B C", (
    ...     Segment(0.0, 3.0, "u0"), Segment(3.0, 5.0, "u1"), Segment(5.0, 9.0, "u2")))
    >>> chunks = cut_context_chunks([rec], {"u0": "A", "u1": "B", "u2": "C"}, 6.0)
    >>> [(c.chunk_id, c.start, c.stop, c.words) for c in chunks]
    [('r-c000', 0, 80000, 'A B'), ('r-c001', 80000, 144000, 'C')]
    """
    chunks, left_out = [], 0
    for rec in recordings:
        rec_chunks, rec_left_out = _cut_recording(rec, transcripts, seconds)
        chunks.extend(rec_chunks)
        left_out += rec_left_out
    if left_out:
        logger.info("%d utterances longer than %s=%s left out.", left_out, key, seconds)
    if not chunks:
        raise ValueError(f"{key}={seconds}: every utterance is longer; raise {key}.")
    return chunks


def _cut_recording(recording, transcripts, seconds):
    """The chunks of one recording and the number of utterances left out."""
    groups, current, left_out = [], [], 0
    for segment, text in zip(
        recording.segments, _segment_words(recording, transcripts)
    ):
        too_long = segment.end - segment.start > seconds
        if current and (too_long or segment.end - current[0][0].start > seconds):
            groups.append(current)
            current = []
        if too_long:
            left_out += 1
        else:
            current.append((segment, text))
    if current:
        groups.append(current)
    chunks = [
        ContextChunk(
            chunk_id=f"{recording.recording_id}-c{index:03d}",
            wav=recording.wav,
            start=int(round(group[0][0].start * SAMPLE_RATE)),
            stop=int(round(group[-1][0].end * SAMPLE_RATE)),
            words=" ".join(text for _, text in group),
        )
        for index, group in enumerate(groups)
    ]
    return chunks, left_out


def _segment_words(recording, transcripts):
    """The transcripts of a recording's segments, checked against its own."""
    missing = [
        s.utterance_id for s in recording.segments if s.utterance_id not in transcripts
    ]
    if missing:
        raise PreparationError(
            f"{recording.wav}: utterances {missing[:3]} of recording "
            f"{recording.recording_id} have no transcript in the segmented "
            "manifest; prepare it from the same split without duration filters."
        )
    words = [transcripts[s.utterance_id] for s in recording.segments]
    if " ".join(words) != recording.words:
        raise PreparationError(
            f"{recording.wav}: the transcripts of the segmented manifest do not "
            f"join into the transcript of recording {recording.recording_id}; "
            "prepare both manifests from the same corpus again."
        )
    return words


def write_chunk_csv(chunks, csv_path):
    """Atomically write a chunk manifest (:data:`CHUNK_COLUMNS`).

    Arguments
    ---------
    chunks : list of ContextChunk
    csv_path : str
        Destination path.
    """

    def _write(handle):
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CHUNK_COLUMNS)
        for c in chunks:
            duration = repr(c.duration)
            writer.writerow([c.chunk_id, duration, c.wav, c.start, c.stop, c.words])

    atomic_write(csv_path, _write)


def context_chunk_dataset(chunks, tokenizer=None):
    """A dataset of chunks yielding ``id``, ``sig``, ``wrd`` and ``tokens``.

    Arguments
    ---------
    chunks : list of ContextChunk
    tokenizer : sentencepiece.SentencePieceProcessor, optional
        Encodes ``wrd`` into ``tokens``; None: no ``tokens``.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        With the static key ``duration`` (for duration-sorted or dynamic
        batching).
    """
    data = {
        c.chunk_id: {
            "duration": c.duration,
            "wav": c.wav,
            "start": c.start,
            "stop": c.stop,
            "wrd": c.words,
        }
        for c in chunks
    }
    dataset = sb.dataio.dataset.DynamicItemDataset(data)
    sb.dataio.dataset.add_dynamic_item([dataset], _read_slice)
    keys = ["id", "sig", "wrd"]
    if tokenizer is not None:
        sb.dataio.dataset.add_dynamic_item([dataset], _token_pipeline(tokenizer))
        keys.append("tokens")
    sb.dataio.dataset.set_output_keys([dataset], keys)
    return dataset


@sb.utils.data_pipeline.takes("wav", "start", "stop")
@sb.utils.data_pipeline.provides("sig")
def _read_slice(wav, start, stop):
    """The samples ``[start, stop)`` of ``wav`` (ints, or strings from a CSV)."""
    return sb.dataio.dataio.read_audio(
        {"file": wav, "start": int(start), "stop": int(stop)}
    )


def _token_pipeline(tokenizer):
    """Dynamic item ``wrd -> tokens`` with ``tokenizer``."""

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("tokens")
    def tokens(wrd):
        return torch.LongTensor(tokenizer.encode_as_ids(wrd))

    return tokens
