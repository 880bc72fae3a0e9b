"""Tests for modules/data/librispeech.py and its command line."""

import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from modules.data import librispeech as prepare
from modules.data import manifests
from modules.data.librispeech import prepare_librispeech
from modules.data.preparation_error import PreparationError
from recipes.LibriSpeech import prepare as prepare_cli
from tests.modules.data.manifest_checks import (
    OLD_NS,
    assert_bad_input_names_the_path,
    corrupt_audio,
    freeze_mtime,
    read_csv,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_csv_rows_columns_durations(tree, tmp_path):
    save = tmp_path / "save"
    paths = prepare_librispeech(tree.root, save, ["train-synth"])
    assert paths == {"train-synth": os.path.join(save, "train-synth.csv")}
    header, rows = read_csv(paths["train-synth"])
    assert header == ["ID", "duration", "wav", "spk_id", "wrd"]
    assert {r["ID"] for r in rows} == set(tree.utterances)
    for row in rows:
        expected = tree.utterances[row["ID"]]
        assert float(row["duration"]) == pytest.approx(expected["duration"])
        assert row["wav"] == expected["wav"] and os.path.isabs(row["wav"])
        assert row["spk_id"] == expected["spk_id"]
        assert row["wrd"] == expected["wrd"]
    durations = [float(r["duration"]) for r in rows]
    assert durations == sorted(durations)  # default sort is ascending
    with open(save / "train-synth.prep_opts.json") as f:
        opts = json.load(f)
    assert opts["data_folder"] == os.path.abspath(tree.root)
    assert opts["split"] == "train-synth"


def test_several_splits_standard_and_custom_names(make_librispeech, tmp_path):
    make_librispeech("dev-clean")
    tree = make_librispeech("train-synth")
    paths = prepare_librispeech(tree.root, tmp_path / "s", ["dev-clean", "train-synth"])
    assert set(paths) == {"dev-clean", "train-synth"}
    assert all(len(read_csv(p)[1]) == len(tree.utterances) for p in paths.values())


def test_skip_when_same_options(tree, tmp_path, caplog):
    csv_path = prepare_librispeech(tree.root, tmp_path, ["train-synth"])["train-synth"]
    freeze_mtime(csv_path)
    with caplog.at_level(logging.INFO, logger=prepare.__name__):
        prepare_librispeech(tree.root, tmp_path, ["train-synth"])
    assert os.stat(csv_path).st_mtime_ns == OLD_NS
    assert "Skipping split train-synth" in caplog.text


def test_skip_prep_writes_nothing(tree, tmp_path):
    paths = prepare_librispeech(
        tree.root, tmp_path / "s", "train-synth", skip_prep=True
    )
    assert not os.path.exists(paths["train-synth"])


@pytest.mark.parametrize(
    "change",
    [
        {"min_duration": 0.6},
        {"max_duration": 1.9},
        {"sort": "descending"},
        {"sort": "random", "seed": 1},
        {"data_folder": "copy"},
    ],
)
def test_redo_when_options_change(tree, tmp_path, change):
    base = {"data_folder": tree.root, "save_folder": tmp_path / "s"}
    csv_path = prepare_librispeech(splits=["train-synth"], **base)["train-synth"]
    freeze_mtime(csv_path)
    if change.get("data_folder") == "copy":
        change = {"data_folder": shutil.copytree(tree.root, tmp_path / "copy")}
    prepare_librispeech(splits=["train-synth"], **{**base, **change})
    assert os.stat(csv_path).st_mtime_ns != OLD_NS


def _retell_transcript(tree):
    """Change one transcript's text, keeping every file and its size."""
    wav = tree.utterances["103-1241-0000"]["wav"]
    trans = os.path.join(os.path.dirname(wav), "103-1241.trans.txt")
    with open(trans, encoding="utf-8") as f:
        before = f.read()
    with open(trans, "w", encoding="utf-8") as f:
        f.write(before.replace("BROOK", "CREEK"))
    return "103-1241-0000", tree.utterances["103-1241-0000"]["wrd"].replace(
        "BROOK", "CREEK"
    )


def _add_utterance(tree):
    """Add one utterance (audio file and transcript line) to a chapter."""
    wav = tree.utterances["103-1241-0000"]["wav"]
    shutil.copy(wav, wav.replace("-0000", "-0001"))
    with open(os.path.join(os.path.dirname(wav), "103-1241.trans.txt"), "a") as f:
        f.write("103-1241-0001 A SECOND LINE\n")
    return "103-1241-0001", "A SECOND LINE"


@pytest.mark.parametrize("change", [_retell_transcript, _add_utterance])
def test_redo_when_corpus_changes(tree, tmp_path, caplog, change):
    csv_path = prepare_librispeech(tree.root, tmp_path, ["train-synth"])["train-synth"]
    freeze_mtime(csv_path)
    utt_id, text = change(tree)
    with caplog.at_level(logging.INFO, logger=prepare.__name__):
        prepare_librispeech(tree.root, tmp_path, ["train-synth"])
    assert os.stat(csv_path).st_mtime_ns != OLD_NS
    assert {r["ID"]: r["wrd"] for r in read_csv(csv_path)[1]}[utt_id] == text
    assert "corpus in" in caplog.text and "changed since" in caplog.text
    freeze_mtime(csv_path)  # and the new state is remembered
    prepare_librispeech(tree.root, tmp_path, ["train-synth"])
    assert os.stat(csv_path).st_mtime_ns == OLD_NS


def test_seed_ignored_unless_random(tree, tmp_path):
    csv_path = prepare_librispeech(tree.root, tmp_path, ["train-synth"], seed=1)[
        "train-synth"
    ]
    freeze_mtime(csv_path)
    prepare_librispeech(tree.root, tmp_path, ["train-synth"], seed=2)
    assert os.stat(csv_path).st_mtime_ns == OLD_NS


def _missing_data_folder(tree):
    shutil.rmtree(tree.root)
    return tree.root, "does not exist", {}


@pytest.mark.parametrize("breaker", [_missing_data_folder])
def test_bad_input_names_the_path(tree, tmp_path, breaker):
    assert_bad_input_names_the_path(tree, tmp_path, breaker)


@pytest.mark.parametrize(
    "kwargs", [{"sort": "bogus"}, {"min_duration": 3.0, "max_duration": 1.0}]
)
def test_bad_arguments(tree, tmp_path, kwargs):
    with pytest.raises(ValueError):
        prepare_librispeech(tree.root, tmp_path, ["train-synth"], **kwargs)


def test_failure_mid_write_keeps_previous_csv(tree, tmp_path, monkeypatch):
    save = tmp_path / "s"
    csv_path = prepare_librispeech(tree.root, save, ["train-synth"])["train-synth"]
    with open(csv_path) as f:
        before = f.read()
    calls = []
    original = manifests._format_row

    def failing_format_row(entry):
        calls.append(entry)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(entry)

    monkeypatch.setattr(manifests, "_format_row", failing_format_row)
    with pytest.raises(OSError, match="disk full"):
        prepare_librispeech(tree.root, save, ["train-synth"], sort="descending")
    with open(csv_path) as f:
        assert f.read() == before
    assert sorted(os.listdir(save)) == ["train-synth.csv"]  # no temp file left
    monkeypatch.undo()  # options file was invalidated: the next call redoes it
    freeze_mtime(csv_path)
    prepare_librispeech(tree.root, save, ["train-synth"])
    assert os.stat(csv_path).st_mtime_ns != OLD_NS


def test_bad_input_keeps_previous_csv(tree, tmp_path):
    csv_path = prepare_librispeech(tree.root, tmp_path, ["train-synth"])["train-synth"]
    freeze_mtime(csv_path)
    corrupt_audio(tree)
    with pytest.raises(PreparationError):
        prepare_librispeech(tree.root, tmp_path, ["train-synth"], max_duration=5.0)
    assert os.stat(csv_path).st_mtime_ns == OLD_NS


def test_cli(tree, tmp_path, capsys):
    argv = ["--data_folder", tree.root, "--save_folder", str(tmp_path)]
    prepare_cli.main(argv + ["--splits", "train-synth", "--sort", "none"])
    assert "train-synth" in capsys.readouterr().out
    assert len(read_csv(tmp_path / "train-synth.csv")[1]) == len(tree.utterances)


def test_cli_lists_every_defect_without_traceback(tree, tmp_path):
    stereo = tree.utterances["1034-121119-0002"]["wav"]
    soundfile.write(stereo, np.zeros((800, 2)), 16000, format="FLAC")
    missing = tree.utterances["1034-121119-0001"]["wav"]
    os.remove(missing)
    unmatched = tree.utterances["103-1240-0000"]["wav"].replace("-0000", "-0099")
    shutil.copy(tree.utterances["103-1240-0000"]["wav"], unmatched)
    trans = os.path.join(os.path.dirname(missing), "1034-121119.trans.txt")
    save = tmp_path / "s"
    save.mkdir()
    (save / "kept.txt").write_text("unrelated")
    cli = os.path.join(REPO_ROOT, "recipes", "LibriSpeech", "prepare.py")
    argv = ["--data_folder", tree.root, "--save_folder", str(save)]
    result = subprocess.run(
        [sys.executable, cli, *argv, "--splits", "train-synth"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for path in (stereo, trans, unmatched):
        assert any(line.startswith(f"{path}: ") for line in lines), result.stderr
    assert sorted(os.listdir(save)) == ["kept.txt"]
