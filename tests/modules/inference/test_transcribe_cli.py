"""The transcription command (transcribe.py at the repository root): files
and folders in, transcripts printed and written, bad files refused before
any transcription."""

import json

import numpy as np
import pytest

from modules.inference.audio_windows import AudioInputError
from tests.modules.inference.fakes import joined_recording, tiny_experiment, write_wav
from transcribe import main


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return tiny_experiment(tmp_path_factory.mktemp("experiment"))


@pytest.fixture
def inputs(tmp_path):
    """A 16 kHz mono recording and, in a folder, a 44.1 kHz stereo one."""
    talk, _ = joined_recording(tmp_path, "talk", [1.0, 1.4])
    folder = tmp_path / "more"
    folder.mkdir()
    rng = np.random.default_rng(1)
    write_wav(folder / "duet.flac", rng.uniform(-0.3, 0.3, (88200, 2)), rate=44100)
    (folder / "readme.txt").write_text("not audio, not taken")
    return talk, folder


def test_files_and_folders_are_transcribed_and_written(
    experiment, inputs, tmp_path, capsys
):
    talk, folder = inputs
    output = tmp_path / "out"
    texts = main([experiment, talk, str(folder), "--window", "1.28",
                  "--output", str(output)])  # fmt: skip
    assert list(texts) == [talk, str(folder / "duet.flac")]
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{path}\t{text}" for path, text in texts.items()]
    assert all(texts.values())
    record = json.loads((output / "duet.json").read_text())
    assert record["text"] == texts[str(folder / "duet.flac")]
    assert record["audio_seconds"] == 2.0
    assert len(record["windows"]) == 6 and record["windows"][-1]["end"] == 2.0
    assert {w["exit"] for w in record["windows"]} == {2}
    assert (output / "talk.txt").read_text() == texts[talk] + "\n"


def test_exit_and_mode_options_reach_the_transcription(experiment, inputs):
    talk, _ = inputs
    first = main([experiment, talk, "--exit", "1", "--window", "2.56"])
    last = main([experiment, talk, "--exit", "2", "--window", "2.56"])
    assert first != last


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.wav", "missing.wav: no such file or folder"),
        (
            lambda d: write_wav(d / "empty.wav", np.zeros(0)),
            "empty.wav: the file holds no",
        ),
        (lambda d: d / "more" / "readme.txt", "readme.txt: cannot be read as audio"),
    ],
)
def test_a_bad_file_stops_the_run_before_any_transcription(
    experiment, inputs, tmp_path, capsys, make, message
):
    talk, _ = inputs
    bad = str(make(tmp_path))
    with pytest.raises(AudioInputError, match=message):
        main([experiment, talk, bad, "--output", str(tmp_path / "out")])
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "out").exists()


def test_inputs_with_the_same_name_are_refused(experiment, inputs, tmp_path):
    talk, _ = inputs
    twin = tmp_path / "other"
    twin.mkdir()
    write_wav(twin / "talk.wav", np.zeros(16000))
    with pytest.raises(AudioInputError, match="named \\['talk'\\]"):
        main([experiment, talk, str(twin)])
