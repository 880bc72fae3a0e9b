"""Tests for modules/data/librispeech_scan.py: bad corpora are named."""

import os
import shutil

import numpy as np
import pytest
import soundfile

from modules.data.librispeech import prepare_librispeech
from modules.data.preparation_error import MAX_LISTED_DEFECTS, PreparationError
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


def _rewrite_audio(tree, utt, samplerate, channels):
    """Replace an utterance's audio with 0.5 s at another format."""
    wav = tree.utterances[utt]["wav"]
    samples = np.zeros((samplerate // 2, channels), dtype="float32")
    soundfile.write(wav, samples, samplerate, format="FLAC")
    return wav


def _audio_8khz(tree):
    wav = _rewrite_audio(tree, "103-1240-0001", 8000, 1)
    return wav, "audio is 8000 Hz with 1 channel", {}


def _audio_stereo(tree):
    wav = _rewrite_audio(tree, "1034-121119-0002", 16000, 2)
    return wav, "audio is 16000 Hz with 2 channel", {}


@pytest.mark.parametrize(
    "breaker",
    [
        _audio_8khz,
        _audio_stereo,
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


def test_every_defect_listed_one_per_line(tree, tmp_path):
    """Defects of several kinds and files are all reported, not the first."""
    breakers = [_audio_8khz, _audio_stereo, _line_without_audio, _empty_transcript]
    expected = [breaker(tree)[:2] for breaker in breakers]
    with pytest.raises(PreparationError) as info:
        prepare_librispeech(tree.root, tmp_path / "s", ["train-synth"])
    lines = str(info.value).splitlines()
    assert len(info.value.defects) == len(expected) == len(lines) - 1
    for path, message in expected:
        assert any(line.startswith(f"{path}: ") and message in line for line in lines)
    assert not os.path.exists(tmp_path / "s")


def test_defects_of_every_split_reported_before_any_write(make_librispeech, tmp_path):
    good = make_librispeech("dev-clean")
    bad = make_librispeech("train-synth")
    wav, message, _ = _audio_stereo(bad)
    with pytest.raises(PreparationError, match=message) as info:
        prepare_librispeech(
            good.root, tmp_path / "s", ["dev-clean", "train-synth", "test-clean"]
        )
    assert str(wav) in str(info.value)
    assert os.path.join(good.root, "test-clean") in str(info.value)
    assert not os.path.exists(tmp_path / "s")


def test_defect_list_is_capped(tree, tmp_path):
    source = tree.utterances["103-1240-0000"]["wav"]
    n_extra = MAX_LISTED_DEFECTS + 7
    for num in range(100, 100 + n_extra):
        shutil.copy(source, source.replace("-0000", f"-{num:04d}"))
    with pytest.raises(PreparationError) as info:
        prepare_librispeech(tree.root, tmp_path / "s", ["train-synth"])
    assert len(info.value.defects) == n_extra
    listed = info.value.listed_defects()
    assert len(listed) == MAX_LISTED_DEFECTS + 1
    assert listed[-1] == "... and 7 more"
    assert str(info.value).splitlines()[1:] == listed
