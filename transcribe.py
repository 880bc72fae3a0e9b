"""Transcribe your own audio files, of any length, with a trained experiment.

    python transcribe.py results/conformer_ctc_baseline/2024 talk.flac more/ \\
        [--window 20 --hop 2.48 --mode average|centre|none] \\
        [--exit K | --policy entropy@0.3] [--lm none|auto|PATH] [--output DIR]

Every file soundfile reads (WAV, FLAC, OGG, MP3, NIST SPHERE...) is taken, a
folder for all the audio files in it; audio is resampled to 16 kHz and
multi-channel audio mixed down to mono. Long files are transcribed window by
window (:mod:`modules.inference.windowed_asr`), in memory bounded by the
window. Each transcript is printed (``path<TAB>text``); with ``--output DIR``
``DIR/<name>.txt`` and ``DIR/<name>.json`` (the text, timing and, per window,
its span, exit and time) are written too. Every file is checked before the
first one is transcribed; an unusable one stops the run with an error naming
it. Defaults: ``modules/inference/settings.yaml``.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import soundfile

from modules.decoding.lm_files import LMError
from modules.inference.audio_windows import AudioInputError, open_audio
from modules.inference.long_form_asr import LongFormASR
from modules.inference.settings import add_setting_arguments, setting_overrides

AUDIO_SUFFIXES = {f".{name.lower()}" for name in soundfile.available_formats()}
AUDIO_SUFFIXES |= {".sph", ".oga", ".opus", ".mp3"}


def parse_args(argv=None):
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Transcribe audio files of any length with a trained experiment."
    )
    parser.add_argument("experiment", help="output folder of train.py")
    parser.add_argument("audio", nargs="+", help="audio files or folders")
    add_setting_arguments(parser)
    parser.add_argument("--output", help="folder for <name>.txt and <name>.json")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def audio_files(paths):
    """The files named, folders expanded to their audio files (sorted)."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES
            )
            if not found:
                raise AudioInputError(f"{path}: the folder holds no audio file")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise AudioInputError(f"{path}: no such file or folder")
    stems = [f.stem for f in files]
    twins = sorted({s for s in stems if stems.count(s) > 1})
    if twins:
        raise AudioInputError(
            f"several input files are named {twins}: their outputs would collide; "
            "transcribe them in separate runs"
        )
    return files


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file."""
    staging = path.with_name(path.name + f".tmp-{os.getpid()}")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def result_json(path, result):
    """The JSON record of one transcription."""
    return {
        "audio": str(path),
        "text": result.text,
        "audio_seconds": round(result.audio_seconds, 3),
        "seconds": round(result.seconds, 3),
        "real_time_factor": round(result.real_time_factor, 5),
        "windows": [
            {
                "start": w.start,
                "end": w.end,
                "exit": w.exit,
                "seconds": round(w.seconds, 4),
            }
            for w in result.windows
        ],
    }


def main(argv=None):
    """Transcribe every file; return ``{path: text}``."""
    args = parse_args(argv)
    files = audio_files(args.audio)
    asr = LongFormASR.from_experiment(args.experiment, **setting_overrides(args))
    for path in files:
        open_audio(path, asr.plan).close()
    output = Path(args.output) if args.output else None
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    texts = {}
    for path in files:
        result = asr.transcribe_file(path, progress=args.progress)
        texts[str(path)] = result.text
        print(f"{path}\t{result.text}", flush=True)
        if output is not None:
            write_atomic(output / f"{path.stem}.txt", result.text + "\n")
            record = json.dumps(result_json(path, result), indent=2)
            write_atomic(output / f"{path.stem}.json", record)
    return texts


if __name__ == "__main__":
    try:
        main()
    except (AudioInputError, LMError, ValueError, FileNotFoundError) as error:
        sys.exit(f"transcribe.py: {error}")
