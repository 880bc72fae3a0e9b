"""Reading one split of a LibriSpeech-shaped corpus.

A split folder holds::

    <split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac
    <split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

:func:`scan_split` matches every transcript line with its audio file, reads
the audio durations from the file headers and raises
:class:`~modules.data.preparation_error.PreparationError` naming the path of
anything missing, unmatched or unreadable.

Authors
 * efficient-asr contributors
"""

import os
from concurrent.futures import ThreadPoolExecutor

import soundfile

from modules.data.preparation_error import PreparationError

AUDIO_EXT = ".flac"
TRANS_SUFFIX = ".trans.txt"


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
    try:
        info = soundfile.info(path)
    except Exception as err:  # libsndfile raises several error types
        raise PreparationError(
            f"Unreadable or corrupt audio file {path}: {err}"
        ) from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise PreparationError(f"Audio file {path} contains no samples.")
    return info.frames / info.samplerate
