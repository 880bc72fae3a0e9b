"""Files of the LibriSpeech layout, written and read back.

::

    <root>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt:04d>.flac
    <root>/<split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt
    <root>/SPEAKERS.TXT
    <root>/librispeech-lm-norm.txt

Text files are written to a temporary name and renamed into place.

Authors
 * efficient-asr contributors
"""

import os

import soundfile

LM_FILE = "librispeech-lm-norm.txt"
SPEAKERS_FILE = "SPEAKERS.TXT"
TRANS_SUFFIX = ".trans.txt"
AUDIO_SUFFIX = ".flac"


def write_lines(path, lines):
    """Write ``lines`` (without newlines) to ``path`` atomically."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    os.replace(partial, path)


def chapter_folder(split_folder, chapter):
    """Folder of ``chapter`` (a :class:`plan.Chapter`) in a split."""
    return os.path.join(split_folder, str(chapter.speaker_id), str(chapter.chapter_id))


def write_transcripts(split_folder, chapter):
    """Create the chapter folder and its ``trans.txt``; return the folder."""
    folder = chapter_folder(split_folder, chapter)
    os.makedirs(folder, exist_ok=True)
    name = f"{chapter.speaker_id}-{chapter.chapter_id}{TRANS_SUFFIX}"
    lines = [f"{u.utt_id} {u.transcript}" for u in chapter.utterances]
    write_lines(os.path.join(folder, name), lines)
    return folder


def scan_split(split_folder):
    """Measure a finished split from its files.

    Arguments
    ---------
    split_folder : str
        ``<root>/<split>``.

    Returns
    -------
    dict
        ``hours``, ``utterances``, ``speakers``, ``chapters`` and
        ``speaker_seconds`` (speaker id -> seconds of audio).
    """
    speaker_seconds, chapters, utterances = {}, 0, 0
    for speaker in sorted(os.listdir(split_folder)):
        for chapter in sorted(os.listdir(os.path.join(split_folder, speaker))):
            folder = os.path.join(split_folder, speaker, chapter)
            chapters += 1
            for name in os.listdir(folder):
                if name.endswith(AUDIO_SUFFIX):
                    seconds = soundfile.info(os.path.join(folder, name)).duration
                    speaker_seconds[speaker] = speaker_seconds.get(speaker, 0) + seconds
                    utterances += 1
    return {
        "hours": sum(speaker_seconds.values()) / 3600,
        "utterances": utterances,
        "speakers": len(speaker_seconds),
        "chapters": chapters,
        "speaker_seconds": speaker_seconds,
    }


def write_speakers_file(root, plan, scans):
    """Write ``SPEAKERS.TXT`` in LibriSpeech's format.

    Arguments
    ---------
    root : str
        Corpus folder.
    plan : dict
        Split -> list of :class:`plan.Chapter`.
    scans : dict
        Split -> result of :func:`scan_split`.
    """
    lines = [
        "; Synthetic speakers: the NAME column gives the eSpeak NG settings",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
    ]
    for split, chapters in plan.items():
        seen = set()
        for chapter in chapters:
            if chapter.speaker_id in seen:
                continue
            seen.add(chapter.speaker_id)
            seconds = scans[split]["speaker_seconds"][str(chapter.speaker_id)]
            lines.append(
                f"{chapter.speaker_id:<5}| {chapter.speaker.sex} | {split:<17}|"
                f" {seconds / 60:5.2f} | {chapter.speaker.description}"
            )
    write_lines(os.path.join(root, SPEAKERS_FILE), lines)
