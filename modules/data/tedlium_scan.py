"""Reading one TED-LIUM split: talks, STM transcripts and SPH audio.

A split folder holds ``sph/<talk>.sph`` and ``stm/<talk>.stm``.
:func:`read_talks` pairs them, reads every STM file and every audio header
and collects every defect of the split, each written ``<path>: <what is
wrong>``. soundfile (libsndfile) reads NIST SPHERE files, but not
shorten-compressed ones: those are reported with a hint to decompress them.

An STM line is ``<talk> <channel> <speaker> <start> <end> <label>
<transcript>``, times in seconds; the label (``<o,f0,male>``) is a
bracketed, comma-separated list. Lines starting with ``;;`` are comments.
Segments whose transcript is ``ignore_time_segment_in_scoring`` are not
scored and are skipped.

TED-LIUM transcripts are lower case and tokenised: contractions are split
(``it 's``), unknown words are ``<unk>``, and noise or filler markers are
bracketed (``{NOISE}``, ``[laughter]``, ``(breath)``); pronunciation
variants may carry a ``(2)`` suffix. :func:`normalize_transcript` turns
them into the manifests' words: bracketed tokens (``<unk>`` included: no
system can output it, so it would only add a fixed error) are dropped, the
variant suffix is removed, a token starting with an apostrophe is joined to
the word before it, everything is upper-cased, and any character other than
a letter, a digit or an apostrophe separates words.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import soundfile

from modules.data.librispeech_scan import SAMPLE_RATE

logger = logging.getLogger(__name__)

IGNORED_TRANSCRIPT = "ignore_time_segment_in_scoring"
BRACKETED = re.compile(r"<[^>]*>|\{[^}]*\}|\[[^\]]*\]|\([^)]*\)")
VARIANT_SUFFIX = re.compile(r"\(\d+\)$")
WORD_SEPARATOR = re.compile(r"[^\w']|_")
LABEL = re.compile(r"<[^<>]*,[^<>]*>")


@dataclass(frozen=True)
class StmSegment:
    """One scored segment of a talk.

    Arguments
    ---------
    talk : str
        The talk name (the SPH file's stem).
    speaker : str
        The STM speaker field.
    start : float
        Start in the talk, seconds.
    end : float
        End in the talk, seconds.
    words : str
        The normalised transcript; may be empty (only noise markers).
    """

    talk: str
    speaker: str
    start: float
    end: float
    words: str


def normalize_transcript(text):
    """TED-LIUM transcript -> upper-case words separated by single spaces.

    Example
    -------
    >>> normalize_transcript("so it 's a <unk> {NOISE} of well-known word(2)")
    "SO IT'S A OF WELL KNOWN WORD"
    """
    words = []
    for token in text.split():
        if BRACKETED.fullmatch(token):
            continue
        token = VARIANT_SUFFIX.sub("", token)
        if token.startswith("'") and words:
            words[-1] += token
        else:
            words.append(token)
    pieces = WORD_SEPARATOR.sub(" ", " ".join(words).upper()).split()
    return " ".join(p for p in pieces if p.strip("'"))


def read_stm(path, talk):
    """Read the scored segments of one talk's STM file.

    Arguments
    ---------
    path : str
        The STM file.
    talk : str
        The expected talk name (the SPH file's stem).

    Returns
    -------
    segments : list of StmSegment
        The scored segments, in file order (ignored ones skipped).
    defects : list of str
        One ``<path>: line <n>: <what is wrong>`` per bad line.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "T.stm")
    >>> with open(path, "w") as f:
    ...     _ = f.write("T 1 T 0.0 2.5 <o,f0,male> we 're here\\n"
    ...                 "T 1 inter_segment_gap 2.5 3.0 <o,,unknown> "
    ...                 "ignore_time_segment_in_scoring\\n")
    >>> segments, defects = read_stm(path, "T")
    >>> [(s.start, s.end, s.words) for s in segments], defects
    ([(0.0, 2.5, "WE'RE HERE")], [])
    """
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except (OSError, UnicodeDecodeError) as err:
        return [], [f"{path}: unreadable STM file ({err})."]
    segments, defects = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith(";;"):
            continue
        segment, defect = _parse_line(line, talk)
        if defect:
            defects.append(f"{path}: line {number}: {defect}")
        elif segment is not None:
            segments.append(segment)
    return segments, defects


def _parse_line(line, talk):
    """Return ``(segment or None, defect or None)`` of one STM line."""
    fields = line.split(maxsplit=5)
    if len(fields) < 5:
        return None, "expected <talk> <channel> <speaker> <start> <end> <transcript>."
    if fields[0] != talk:
        return None, f"talk {fields[0]!r} differs from the file's talk {talk!r}."
    try:
        start, end = float(fields[3]), float(fields[4])
    except ValueError:
        return None, f"start and end must be numbers, got {fields[3]!r} {fields[4]!r}."
    if not 0 <= start < end:
        return None, f"the segment must have 0 <= start < end, got {start} {end}."
    text = fields[5] if len(fields) > 5 else ""
    label = LABEL.match(text)
    if label:
        text = text[label.end() :]
    if text.strip() == IGNORED_TRANSCRIPT:
        return None, None
    return StmSegment(talk, fields[2], start, end, normalize_transcript(text)), None


@dataclass(frozen=True)
class Talk:
    """One talk of a split: its audio and its scored, non-empty segments.

    Arguments
    ---------
    name : str
        The talk name.
    sph : str
        Its audio file.
    segments : tuple of StmSegment
        In STM order.
    """

    name: str
    sph: str
    segments: tuple


def read_talks(data_folder, split, num_workers=4):
    """Read and check the talks of one split.

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
    talks : list of Talk
        Sorted by name; segments with an empty normalised transcript are
        left out.
    defects : list of str
        One ``<path>: <what is wrong>`` per problem; empty if none.
    """
    split_folder = os.path.join(data_folder, split)
    if not os.path.isdir(split_folder):
        return [], [f"{split_folder}: split folder does not exist ({split!r})."]
    sph = _files(os.path.join(split_folder, "sph"), ".sph")
    stm = _files(os.path.join(split_folder, "stm"), ".stm")
    if not sph and not stm:
        return [], [
            f"{split_folder}: empty split; expected sph/<talk>.sph files and "
            "stm/<talk>.stm files."
        ]
    defects = [f"{sph[t]}: no STM file stm/{t}.stm." for t in sorted(sph.keys() - stm)]
    defects += [f"{stm[t]}: no SPH file sph/{t}.sph." for t in sorted(stm.keys() - sph)]
    names = sorted(sph.keys() & stm.keys())
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        results = list(pool.map(lambda t: _read_talk(t, sph[t], stm[t]), names))
    talks = [talk for talk, _ in results if talk is not None]
    defects += [d for _, found in results for d in found]
    if not defects and not any(talk.segments for talk in talks):
        defects.append(f"{split_folder}: no talk has a scored segment with words.")
    return talks, defects


def _files(folder, suffix):
    """Stem -> path of the files of ``folder`` ending with ``suffix``."""
    if not os.path.isdir(folder):
        return {}
    return {
        n[: -len(suffix)]: os.path.join(folder, n)
        for n in os.listdir(folder)
        if n.endswith(suffix) and n[0] != "."
    }


def _read_talk(name, sph, stm):
    """Return ``(Talk or None, defects)`` of one talk."""
    segments, defects = read_stm(stm, name)
    duration, audio_defect = _sph_duration(sph)
    if audio_defect:
        return None, defects + [audio_defect]
    defects += [
        f"{stm}: segment {s.start}-{s.end} s starts after the end of the "
        f"audio ({duration:.2f} s)."
        for s in segments
        if s.start >= duration
    ]
    ids = [segment_id(s) for s in segments]
    defects += [
        f"{stm}: two segments share the ID {i} (same start and end)."
        for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    kept = tuple(s for s in segments if s.words)
    if len(kept) < len(segments):
        logger.info(
            "%s: %d segments without words left out.", stm, len(segments) - len(kept)
        )
    return (None if defects else Talk(name, sph, kept)), defects


def _sph_duration(path):
    """Return ``(duration, None)``, or ``(None, defect)`` for unusable audio."""
    try:
        info = soundfile.info(path)
    except Exception as err:  # libsndfile raises several error types
        with open(path, "rb") as handle:
            compressed = b"shorten" in handle.read(1024)
        hint = (
            " It is shorten-compressed, which libsndfile cannot read: decompress "
            "it to PCM first (e.g. with sph2pipe)."
            if compressed
            else ""
        )
        return None, f"{path}: unreadable or corrupt audio file ({err}).{hint}"
    if info.samplerate != SAMPLE_RATE or info.channels != 1:
        return None, (
            f"{path}: audio is {info.samplerate} Hz with {info.channels} "
            f"channel(s); expected {SAMPLE_RATE} Hz mono."
        )
    if info.frames <= 0:
        return None, f"{path}: audio file contains no samples."
    return info.frames / info.samplerate, None


def segment_id(segment):
    """``<talk>-<start in cs:07d>-<end in cs:07d>``, as Kaldi's TED-LIUM IDs.

    Example
    -------
    >>> segment_id(StmSegment("AlGore_2009", "AlGore_2009", 17.82, 28.4, "HI"))
    'AlGore_2009-0001782-0002840'
    """
    start, end = round(segment.start * 100), round(segment.end * 100)
    return f"{segment.talk}-{start:07d}-{end:07d}"
