"""Reading one split of a LibriSpeech-shaped corpus.

A split folder holds::

    <split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

:func:`read_split` matches every transcript line with its audio file, reads
the audio durations from the file headers (checking that the audio is
16 kHz mono) and collects every defect of the split, each written
``<path>: <what is wrong>``; :func:`scan_split` raises them all as one
:class:`~modules.data.preparation_error.PreparationError`.

Authors
 * efficient-asr contributors
"""

import os
from concurrent.futures import ThreadPoolExecutor

import soundfile

from modules.data.preparation_error import PreparationError

AUDIO_EXT = ".flac"
TRANS_SUFFIX = ".trans.txt"
SAMPLE_RATE = 16000
CHANNELS = 1


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

    Raises
    ------
    PreparationError
        Holding every defect of the split (see :func:`read_split`).

    Example
    -------
    >>> import shutil, tempfile
    >>> import numpy as np
    >>> root = tempfile.mkdtemp()
    >>> chapter = os.path.join(root, "dev", "1", "2")
    >>> os.makedirs(chapter)
    >>> wav = os.path.join(chapter, "1-2-0000.flac")
    >>> soundfile.write(wav, np.zeros(8000), 16000)
    >>> with open(os.path.join(chapter, "1-2.trans.txt"), "w") as f:
    ...     _ = f.write("1-2-0000 HELLO WORLD\\n")
    >>> [(e["ID"], e["duration"], e["spk_id"], e["wrd"])
    ...  for e in scan_split(root, "dev")]
    [('1-2-0000', 0.5, '1', 'HELLO WORLD')]
    >>> shutil.rmtree(root)
    """
    entries, defects = read_split(data_folder, split, num_workers)
    if defects:
        raise PreparationError(defects)
    return entries


def read_split(data_folder, split, num_workers=8):
    """Read one split, collecting every defect instead of stopping at one.

    Defects are: a missing or empty split folder, a missing, unreadable or
    malformed transcript file, a transcript line without audio, audio
    without a transcript line, and unreadable, empty, non-16 kHz or
    non-mono audio.

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
    entries : list of dict
        The valid utterances (keys ``ID, duration, wav, spk_id, wrd``),
        sorted by ID.
    defects : list of str
        One ``<path>: <what is wrong>`` line per defect, empty if none.

    Example
    -------
    >>> import shutil, tempfile
    >>> import numpy as np
    >>> root = tempfile.mkdtemp()
    >>> chapter = os.path.join(root, "dev", "1", "2")
    >>> os.makedirs(chapter)
    >>> soundfile.write(os.path.join(chapter, "1-2-0000.flac"), np.zeros(800), 8000)
    >>> with open(os.path.join(chapter, "1-2.trans.txt"), "w") as f:
    ...     _ = f.write("1-2-0000 HI\\n1-2-0001 THERE\\n")
    >>> entries, defects = read_split(root, "dev")
    >>> entries
    []
    >>> [d[len(chapter) + 1 :].split(":")[0] for d in defects]
    ['1-2.trans.txt', '1-2-0000.flac']
    >>> "8000 Hz" in defects[1]
    True
    >>> shutil.rmtree(root)
    """
    split_folder = os.path.join(data_folder, split)
    if not os.path.isdir(split_folder):
        return [], [_missing_split_message(data_folder, split)]
    entries, defects = [], []
    for spk_id in _subfolders(split_folder):
        spk_folder = os.path.join(split_folder, spk_id)
        for chapter in _subfolders(spk_folder):
            chapter_folder = os.path.join(spk_folder, chapter)
            found, found_defects = _scan_chapter(chapter_folder, spk_id, chapter)
            entries.extend(found)
            defects.extend(found_defects)
    if not entries and not defects:
        defects.append(
            f"{split_folder}: split folder contains no utterances "
            f"(expected <spk>/<chapter>/*{AUDIO_EXT} and *{TRANS_SUFFIX})."
        )
    entries = _add_durations(entries, defects, num_workers)
    return sorted(entries, key=lambda e: e["ID"]), defects


def _add_durations(entries, defects, num_workers):
    """Set each entry's duration from its header; drop and report bad audio."""
    kept = []
    with ThreadPoolExecutor(max(1, num_workers)) as pool:
        headers = pool.map(_read_header, [e["wav"] for e in entries])
        for entry, (duration, defect) in zip(entries, headers):
            if defect:
                defects.append(defect)
            else:
                kept.append({**entry, "duration": duration})
    return kept


def _missing_split_message(data_folder, split):
    """Explain a missing split folder, listing the available ones."""
    available = _subfolders(data_folder)
    msg = (
        f"{os.path.join(data_folder, split)}: split folder does not exist. "
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
    """Match the transcript lines and audio files of one chapter folder.

    Returns the matched utterances (without duration) and the defects.
    """
    trans_path = os.path.join(chapter_folder, f"{spk_id}-{chapter}{TRANS_SUFFIX}")
    audio = {
        name[: -len(AUDIO_EXT)]: os.path.join(chapter_folder, name)
        for name in os.listdir(chapter_folder)
        if name.endswith(AUDIO_EXT) and not name.startswith(".")
    }
    if not os.path.isfile(trans_path):
        if not audio:
            return [], []
        return [], [
            f"{trans_path}: transcript file is missing, but {chapter_folder} "
            f"holds {len(audio)} {AUDIO_EXT} files."
        ]
    transcripts, defects = _parse_transcripts(trans_path)
    defects += [
        f"{trans_path}: transcript line {u} has no audio file "
        f"{os.path.join(chapter_folder, u + AUDIO_EXT)}."
        for u in transcripts
        if u not in audio
    ]
    defects += [
        f"{wav}: audio file has no transcript line in {trans_path}."
        for u, wav in sorted(audio.items())
        if u not in transcripts
    ]
    entries = [
        {"ID": u, "wav": audio[u], "spk_id": spk_id, "wrd": t}
        for u, t in transcripts.items()
        if u in audio and t is not None
    ]
    return entries, defects


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

    Raises
    ------
    PreparationError
        Listing every empty transcript and duplicate ID of the file, or
        naming the file if it cannot be read.

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
    transcripts, defects = _parse_transcripts(trans_path)
    if defects:
        raise PreparationError(defects)
    return transcripts


def _parse_transcripts(trans_path):
    """Return the transcripts of a file and its defects (one per bad line).

    An utterance whose transcript is empty maps to None.
    """
    transcripts, defects = {}, []
    try:
        with open(trans_path, encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, UnicodeDecodeError) as err:
        return {}, [f"{trans_path}: unreadable transcript file ({err})."]
    for line_no, line in enumerate(lines, start=1):
        fields = line.split(maxsplit=1)
        if not fields:
            continue
        utt_id = fields[0]
        text = " ".join(fields[1].split()) if len(fields) > 1 else ""
        where = f"{trans_path}: line {line_no} ({utt_id!r})"
        if utt_id in transcripts:
            defects.append(f"{where}: duplicate utterance ID.")
        elif not text:
            defects.append(f"{where}: empty transcript.")
            transcripts[utt_id] = None  # reported here, not as unmatched audio
        else:
            transcripts[utt_id] = text
    return transcripts, defects


def read_duration(path):
    """Return the duration of a 16 kHz mono audio file in seconds.

    Only the header is read.

    Arguments
    ---------
    path : str
        Audio file path.

    Returns
    -------
    float
        Number of frames divided by the sample rate.

    Raises
    ------
    PreparationError
        If the file is unreadable, empty, not 16 kHz or not mono.

    Example
    -------
    >>> import shutil, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "a.flac")
    >>> soundfile.write(path, np.zeros(4000), 16000)
    >>> read_duration(path)
    0.25
    >>> shutil.rmtree(folder)
    """
    duration, defect = _read_header(path)
    if defect:
        raise PreparationError(defect)
    return duration


def _read_header(path):
    """Return ``(duration, None)``, or ``(None, defect)`` for bad audio."""
    try:
        info = soundfile.info(path)
    except Exception as err:  # libsndfile raises several error types
        return None, f"{path}: unreadable or corrupt audio file ({err})."
    if info.samplerate != SAMPLE_RATE or info.channels != CHANNELS:
        return None, (
            f"{path}: audio is {info.samplerate} Hz with {info.channels} "
            f"channel(s); expected {SAMPLE_RATE} Hz mono (resample it, e.g. "
            f"sox in{AUDIO_EXT} -r {SAMPLE_RATE} -c 1 out{AUDIO_EXT})."
        )
    if info.frames <= 0:
        return None, f"{path}: audio file contains no samples."
    return info.frames / info.samplerate, None
