"""Helpers shared by the tests of LibriSpeech preparation and manifests."""

import csv
import os

import pytest

from modules.data.librispeech import prepare_librispeech
from modules.data.preparation_error import PreparationError

OLD_NS = 1_000_000_000_000_000_000  # a fixed mtime to detect rewrites


def read_csv(path):
    """Return (header, rows as dicts) of a CSV manifest."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def freeze_mtime(path):
    """Set a known mtime so that any rewrite is detectable."""
    os.utime(path, ns=(OLD_NS, OLD_NS))


def corrupt_audio(tree):
    """Overwrite one FLAC file with garbage; return (path, message, kwargs)."""
    wav = tree.utterances["103-1241-0000"]["wav"]
    with open(wav, "wb") as f:
        f.write(b"not a flac file at all" * 10)
    return wav, "corrupt audio", {}


def assert_bad_input_names_the_path(tree, tmp_path, breaker):
    """Break the corpus with ``breaker`` and check the preparation error.

    The error must match the breaker's message and name its path, and no
    manifest may be written.
    """
    path, message, kwargs = breaker(tree)
    split = kwargs.pop("split", "train-synth")
    with pytest.raises(PreparationError, match=message) as info:
        prepare_librispeech(tree.root, tmp_path / "s", [split], **kwargs)
    assert str(path) in str(info.value)
    assert not os.path.exists(tmp_path / "s" / f"{split}.csv")
