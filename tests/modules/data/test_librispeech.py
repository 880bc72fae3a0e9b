"""Tests for modules/data/librispeech.py."""

import csv
import doctest
import json
import logging
import os
import shutil

import pytest

from modules.data import librispeech as prepare
from recipes.LibriSpeech import prepare as prepare_cli
from modules.data.librispeech import PreparationError, prepare_librispeech

OLD_NS = 1_000_000_000_000_000_000  # a fixed mtime to detect rewrites


def read_csv(path):
    """Return (header, rows as dicts) of a CSV manifest."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def freeze_mtime(path):
    """Set a known mtime so that any rewrite is detectable."""
    os.utime(path, ns=(OLD_NS, OLD_NS))


@pytest.fixture
def tree(make_librispeech):
    return make_librispeech("train-synth")


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


def test_seed_ignored_unless_random(tree, tmp_path):
    csv_path = prepare_librispeech(tree.root, tmp_path, ["train-synth"], seed=1)[
        "train-synth"
    ]
    freeze_mtime(csv_path)
    prepare_librispeech(tree.root, tmp_path, ["train-synth"], seed=2)
    assert os.stat(csv_path).st_mtime_ns == OLD_NS


def test_duration_filtering(tree, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=prepare.__name__):
        path = prepare_librispeech(
            tree.root, tmp_path, ["train-synth"], min_duration=0.7, max_duration=1.6
        )["train-synth"]
    kept = {r["ID"] for r in read_csv(path)[1]}
    expected = {u for u, e in tree.utterances.items() if 0.7 <= e["duration"] <= 1.6}
    assert kept == expected and len(expected) == 4
    assert "dropped 2 of 6 utterances" in caplog.text


@pytest.mark.parametrize("sort", ["ascending", "descending", "none", "random"])
def test_sorting(tree, tmp_path, sort):
    path = prepare_librispeech(tree.root, tmp_path / sort, ["train-synth"], sort=sort)
    rows = read_csv(path["train-synth"])[1]
    durations = [float(r["duration"]) for r in rows]
    ids = [r["ID"] for r in rows]
    assert sorted(ids) == sorted(tree.utterances)
    if sort == "ascending":
        assert durations == sorted(durations)
    elif sort == "descending":
        assert durations == sorted(durations, reverse=True)
    elif sort == "none":
        assert ids == sorted(ids)
    else:  # reproducible for a seed, and actually shuffled
        again = prepare_librispeech(
            tree.root, tmp_path / "again", ["train-synth"], sort="random"
        )
        assert ids == [r["ID"] for r in read_csv(again["train-synth"])[1]]
        assert ids != sorted(ids) and durations != sorted(durations)


def _missing_data_folder(tree):
    shutil.rmtree(tree.root)
    return tree.root, "does not exist", {}


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


def _corrupt_audio(tree):
    wav = tree.utterances["103-1241-0000"]["wav"]
    with open(wav, "wb") as f:
        f.write(b"not a flac file at all" * 10)
    return wav, "corrupt audio", {}


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


def _nothing_after_filter(tree):
    return "train-synth", "no utterance left", {"min_duration": 100.0}


def _empty_split(tree):
    shutil.rmtree(tree.split_folder)
    os.makedirs(tree.split_folder)
    return tree.split_folder, "no utterances", {}


@pytest.mark.parametrize(
    "breaker",
    [
        _missing_data_folder,
        _missing_split,
        _line_without_audio,
        _audio_without_line,
        _corrupt_audio,
        _empty_transcript,
        _missing_trans_file,
        _nothing_after_filter,
        _empty_split,
    ],
)
def test_bad_input_names_the_path(tree, tmp_path, breaker):
    path, message, kwargs = breaker(tree)
    split = kwargs.pop("split", "train-synth")
    with pytest.raises(PreparationError, match=message) as info:
        prepare_librispeech(tree.root, tmp_path / "s", [split], **kwargs)
    assert str(path) in str(info.value)
    assert not os.path.exists(tmp_path / "s" / f"{split}.csv")


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
    original = prepare._format_row

    def failing_format_row(entry):
        calls.append(entry)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(entry)

    monkeypatch.setattr(prepare, "_format_row", failing_format_row)
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
    _corrupt_audio(tree)
    with pytest.raises(PreparationError):
        prepare_librispeech(tree.root, tmp_path, ["train-synth"], max_duration=5.0)
    assert os.stat(csv_path).st_mtime_ns == OLD_NS


def test_cli(tree, tmp_path, capsys):
    argv = ["--data_folder", tree.root, "--save_folder", str(tmp_path)]
    prepare_cli.main(argv + ["--splits", "train-synth", "--sort", "none"])
    assert "train-synth" in capsys.readouterr().out
    assert len(read_csv(tmp_path / "train-synth.csv")[1]) == len(tree.utterances)


def test_docstring_examples():
    assert doctest.testmod(prepare).failed == 0
