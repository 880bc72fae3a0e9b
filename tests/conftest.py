"""Shared pytest fixtures."""

import os
from dataclasses import dataclass, field

import numpy as np
import pytest
import soundfile

SAMPLE_RATE = 16000

# speaker -> chapter -> [(utterance number, seconds, transcript)]
DEFAULT_LIBRISPEECH_SPEC = {
    "103": {
        "1240": [
            (0, 0.50, "CHAPTER ONE MISSUS RACHEL LYNDE IS SURPRISED"),
            (1, 1.25, "MISSUS RACHEL LYNDE LIVED JUST WHERE THE AVONLEA MAIN ROAD"),
        ],
        "1241": [(0, 2.00, "THERE WAS A BROOK THAT RAN THROUGH THE HOLLOW")],
    },
    "1034": {
        "121119": [
            (0, 0.75, "HE SAID IT WAS A FINE DAY FOR IT"),
            (1, 1.50, "AND SHE WALKED DOWN THE ROAD IN THE SUN"),
            (2, 1.00, "THE WIND BLEW OVER THE HILL"),
        ],
    },
}


@dataclass
class LibriSpeechTree:
    """A small LibriSpeech-shaped corpus written by ``make_librispeech``."""

    root: str
    split: str
    # utterance ID -> {"duration", "wav", "spk_id", "wrd"}
    utterances: dict = field(default_factory=dict)

    @property
    def split_folder(self):
        """Path of the split folder."""
        return os.path.join(self.root, self.split)


def write_noise_flac(path, seconds, seed=0):
    """Write ``seconds`` of random noise at 16 kHz to a FLAC file."""
    rng = np.random.default_rng(seed)
    samples = rng.uniform(-0.1, 0.1, int(round(seconds * SAMPLE_RATE)))
    soundfile.write(path, samples.astype("float32"), SAMPLE_RATE, format="FLAC")


def write_librispeech(root, split="train-synth", spec=None):
    """Write a LibriSpeech-shaped tree of noise FLAC files under ``root``:
    ``<root>/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` and the
    ``<spk>-<chapter>.trans.txt`` files (``spec`` defaults to
    ``DEFAULT_LIBRISPEECH_SPEC``); return a :class:`LibriSpeechTree`."""
    root = str(root)
    tree = LibriSpeechTree(root=root, split=split)
    spec = DEFAULT_LIBRISPEECH_SPEC if spec is None else spec
    for spk, chapters in spec.items():
        for chapter, utts in chapters.items():
            folder = os.path.join(root, split, spk, chapter)
            os.makedirs(folder, exist_ok=True)
            lines = []
            for num, seconds, text in utts:
                utt_id = f"{spk}-{chapter}-{num:04d}"
                wav = os.path.join(folder, utt_id + ".flac")
                write_noise_flac(wav, seconds, seed=len(tree.utterances))
                lines.append(f"{utt_id} {text}\n")
                tree.utterances[utt_id] = {
                    "duration": int(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE,
                    "wav": wav,
                    "spk_id": spk,
                    "wrd": text,
                }
            trans = os.path.join(folder, f"{spk}-{chapter}.trans.txt")
            with open(trans, "w", encoding="utf-8") as f:
                f.writelines(lines)
    return tree


@pytest.fixture
def make_librispeech(tmp_path):
    """Factory of :func:`write_librispeech` trees:
    ``make_librispeech(split="train-synth", spec=None, root=None)``, ``root``
    defaulting to ``tmp_path / "LibriSpeech"``."""

    def _make(split="train-synth", spec=None, root=None):
        return write_librispeech(root or tmp_path / "LibriSpeech", split, spec)

    return _make
