"""Tests for modules/data/manifests.py through the LibriSpeech preparation."""

import logging

import pytest

from modules.data import manifests
from modules.data.librispeech import prepare_librispeech
from tests.modules.data.manifest_checks import (
    assert_bad_input_names_the_path,
    read_csv,
)


def test_duration_filtering(tree, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=manifests.__name__):
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


def _nothing_after_filter(tree):
    return "train-synth", "no utterance left", {"min_duration": 100.0}


@pytest.mark.parametrize("breaker", [_nothing_after_filter])
def test_bad_input_names_the_path(tree, tmp_path, breaker):
    assert_bad_input_names_the_path(tree, tmp_path, breaker)
