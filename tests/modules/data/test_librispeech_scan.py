"""Tests for modules/data/librispeech_scan.py: bad corpora are named."""

import os
import shutil

import pytest

from tests.modules.data.manifest_checks import (
    assert_bad_input_names_the_path,
    corrupt_audio,
)


def _missing_split(tree):
    return os.path.join(tree.root, "test-clean"), "train-synth", {"split": "test-clean"}


def _line_without_audio(tree):
    utt = "1034-121119-0001"
    os.remove(tree.utterances[utt]["wav"])
    trans = os.path.join(os.path.dirname(tree.utterances[utt]["wav"]), "1034-121119")
    return trans + ".trans.txt", "has no audio file", {}


def _audio_without_line(tree):
    extra = tree.utterances["103-1240-0000"]["wav"].replace("-0000", "-0099")
    shutil.copy(tree.utterances["103-1240-0000"]["wav"], extra)
    return extra, "has no transcript line", {}


def _empty_transcript(tree):
    wav = tree.utterances["103-1241-0000"]["wav"]
    trans = os.path.join(os.path.dirname(wav), "103-1241.trans.txt")
    with open(trans, "w") as f:
        f.write("103-1241-0000   \n")
    return trans, "empty transcript", {}


def _missing_trans_file(tree):
    wav = tree.utterances["103-1241-0000"]["wav"]
    trans = os.path.join(os.path.dirname(wav), "103-1241.trans.txt")
    os.remove(trans)
    return trans, "is missing", {}


def _empty_split(tree):
    shutil.rmtree(tree.split_folder)
    os.makedirs(tree.split_folder)
    return tree.split_folder, "no utterances", {}


@pytest.mark.parametrize(
    "breaker",
    [
        _missing_split,
        _line_without_audio,
        _audio_without_line,
        corrupt_audio,
        _empty_transcript,
        _missing_trans_file,
        _empty_split,
    ],
)
def test_bad_input_names_the_path(tree, tmp_path, breaker):
    assert_bad_input_names_the_path(tree, tmp_path, breaker)
