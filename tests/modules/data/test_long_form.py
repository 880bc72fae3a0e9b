"""Long-form view of a LibriSpeech-layout corpus: joining, boundaries, re-use."""

import json
import os

import numpy as np
import pytest
import soundfile

from modules.data import long_form_join
from modules.data.long_form import main, prepare_long_form, prepare_long_form_data
from modules.data.long_form_manifest import read_long_form_csv
from modules.data.preparation_error import PreparationError
from modules.inference.long_form_eval import read_recordings

# speaker -> chapter -> [(utterance number, seconds, transcript)]
SPEC = {
    "11": {
        "100": [
            (0, 1.0, "ONE"),
            (1, 1.5, "TWO WORDS"),
            (2, 2.0, "THREE"),
            (3, 0.5, "FOUR"),
            (4, 1.25, "FIVE SIX"),
        ],
    },
    "22": {"200": [(0, 2.0, "SEVEN"), (1, 1.0, "EIGHT")]},
}


@pytest.fixture
def corpus(make_librispeech):
    """A two-chapter test-clean split."""
    return make_librispeech("test-clean", SPEC)


def ids_of(recording):
    return [s.utterance_id for s in recording.segments]


def test_chapters_joined_in_order_with_exact_boundaries(corpus, tmp_path):
    out = tmp_path / "long"
    paths = prepare_long_form(corpus.root, str(out), ["test-clean"], 3.0)
    recordings = read_long_form_csv(paths["test-clean"])
    assert [ids_of(r) for r in recordings] == [
        ["11-100-0000", "11-100-0001"],
        ["11-100-0002", "11-100-0003"],
        ["11-100-0004"],
        ["22-200-0000", "22-200-0001"],
    ]
    assert [r.recording_id for r in recordings] == [
        "11-100_000",
        "11-100_001",
        "11-100_002",
        "22-200_000",
    ]
    for rec in recordings:
        audio, rate = soundfile.read(rec.wav, dtype="int16")
        info = soundfile.info(rec.wav)
        assert (rate, info.channels, info.format, info.subtype) == (
            16000,
            1,
            "WAV",
            "PCM_16",
        )
        assert rec.wav == str(out / "test-clean" / f"{rec.recording_id}.wav")
        assert rec.duration == len(audio) / 16000 <= 3.0
        assert rec.words == " ".join(corpus.utterances[u]["wrd"] for u in ids_of(rec))
        assert rec.segments[0].start == 0.0 and rec.segments[-1].end == rec.duration
        for seg in rec.segments:
            source, _ = soundfile.read(
                corpus.utterances[seg.utterance_id]["wav"], dtype="int16"
            )
            piece = audio[round(seg.start * 16000) : round(seg.end * 16000)]
            np.testing.assert_array_equal(piece, source)


def test_a_relative_output_folder_gives_readable_recordings(
    corpus, tmp_path, monkeypatch
):
    """The evaluation reads relative ``wav`` paths against the manifest's
    folder: the manifests of a relative output folder must still point at
    their recordings."""
    monkeypatch.chdir(tmp_path)
    paths = prepare_long_form(corpus.root, "results/long", ["test-clean"], 3.0)
    recordings = read_recordings(paths["test-clean"])
    assert recordings
    folder = tmp_path / "results" / "long" / "test-clean"
    for rec in recordings:
        assert rec.wav == str(folder / f"{rec.recording_id}.wav")
        assert soundfile.info(rec.wav).frames > 0


def test_whole_chapters_and_minimum_length(corpus, tmp_path):
    whole = prepare_long_form(corpus.root, str(tmp_path / "a"), "test-clean", None)
    recordings = read_long_form_csv(whole["test-clean"])
    assert [r.recording_id for r in recordings] == ["11-100", "22-200"]
    assert [len(r.segments) for r in recordings] == [5, 2]
    kept = prepare_long_form(
        corpus.root, str(tmp_path / "b"), "test-clean", 3.0, min_seconds=2.0
    )
    ids = [r.recording_id for r in read_long_form_csv(kept["test-clean"])]
    assert ids == ["11-100_000", "11-100_001", "22-200_000"]  # 1.25 s tail dropped


def test_prepared_once_and_redone_when_the_corpus_or_options_change(corpus, tmp_path):
    out = str(tmp_path / "long")
    csv_path = prepare_long_form(corpus.root, out, ["test-clean"], 3.0)["test-clean"]
    stamp = os.stat(csv_path).st_mtime_ns
    prepare_long_form(corpus.root, out, ["test-clean"], 3.0)
    assert os.stat(csv_path).st_mtime_ns == stamp
    trans = os.path.join(corpus.split_folder, "22", "200", "22-200.trans.txt")
    with open(trans, "w") as handle:
        handle.write("22-200-0000 SEVEN\n22-200-0001 NINE\n")
    prepare_long_form(corpus.root, out, ["test-clean"], 3.0)
    assert read_long_form_csv(csv_path)[-1].words == "SEVEN NINE"
    prepare_long_form(corpus.root, out, ["test-clean"], 10.0)
    assert len(read_long_form_csv(csv_path)) == 2
    with open(csv_path.replace(".csv", ".prep_opts.json")) as handle:
        assert json.load(handle)["long_form_seconds"] == 10.0
    assert sorted(os.listdir(out)) == [
        "test-clean",
        "test-clean.csv",
        "test-clean.prep_opts.json",
    ]


def test_failure_keeps_the_previous_split(corpus, tmp_path, monkeypatch):
    out = str(tmp_path / "long")
    csv_path = prepare_long_form(corpus.root, out, ["test-clean"], 3.0)["test-clean"]
    before = {
        n: os.path.getsize(os.path.join(out, "test-clean", n))
        for n in os.listdir(os.path.join(out, "test-clean"))
    }
    calls = []
    read = long_form_join._read_utterance

    def failing(wav):
        calls.append(wav)
        if len(calls) == 3:
            raise PreparationError(f"{wav}: broken")
        return read(wav)

    monkeypatch.setattr(long_form_join, "_read_utterance", failing)
    with pytest.raises(PreparationError, match="broken"):
        prepare_long_form(corpus.root, out, ["test-clean"], 10.0, num_workers=1)
    assert sorted(os.listdir(out)) == ["test-clean", "test-clean.csv"]
    assert len(read_long_form_csv(csv_path)) == 4  # the 3-second version
    after = {
        n: os.path.getsize(os.path.join(out, "test-clean", n))
        for n in os.listdir(os.path.join(out, "test-clean"))
    }
    assert after == before
    monkeypatch.undo()
    prepare_long_form(corpus.root, out, ["test-clean"], 10.0)  # redone: no options
    assert len(read_long_form_csv(csv_path)) == 2


def test_bad_input_is_reported_before_anything_is_written(corpus, tmp_path):
    out = tmp_path / "long"
    with pytest.raises(PreparationError) as error:
        prepare_long_form(corpus.root, str(out), ["test-clean", "test-cleen"], 1.8)
    message = str(error.value)
    assert "long_form_splits names 'test-cleen'" in message
    assert "test-clean" in message.split("Available splits")[1]
    assert "11-100-0002.flac: utterance 11-100-0002 lasts 2.00 s" in message
    assert "long_form_seconds to at least 2.00" in message
    assert not out.exists()


def test_unreadable_audio_is_named(corpus, tmp_path):
    bad = corpus.utterances["22-200-0001"]["wav"]
    with open(bad, "wb") as handle:
        handle.write(b"not audio at all")
    with pytest.raises(PreparationError, match=f"{bad}: unreadable or corrupt audio"):
        prepare_long_form(corpus.root, str(tmp_path / "long"), ["test-clean"], 5.0)
    assert not (tmp_path / "long").exists()


def test_empty_chapter_is_named(corpus, tmp_path):
    empty = os.path.join(corpus.split_folder, "11", "101")
    os.makedirs(empty)
    with open(os.path.join(empty, "11-101.trans.txt"), "w"):
        pass
    with pytest.raises(PreparationError, match=f"{empty}: chapter folder holds no"):
        prepare_long_form(corpus.root, str(tmp_path / "long"), ["test-clean"], 5.0)
    assert not (tmp_path / "long").exists()


def test_bad_lengths_name_their_keys(corpus, tmp_path):
    out = str(tmp_path / "long")
    with pytest.raises(ValueError, match="long_form_seconds must be positive"):
        prepare_long_form(corpus.root, out, ["test-clean"], 0.0)
    with pytest.raises(ValueError, match="long_form_min_seconds must lie"):
        prepare_long_form(corpus.root, out, ["test-clean"], 3.0, min_seconds=4.0)
    with pytest.raises(ValueError, match="long_form_seconds must be positive"):
        prepare_long_form(str(tmp_path / "no-corpus"), out, ["test-clean"], -5.0)


def test_recipe_keys_and_command_line(corpus, tmp_path, capsys):
    hparams = {
        "data_folder": corpus.root,
        "long_form_folder": str(tmp_path / "recipe"),
        "long_form_splits": ["test-clean"],
    }
    with pytest.raises(KeyError, match="long_form_seconds"):
        prepare_long_form_data(hparams)
    paths = prepare_long_form_data({**hparams, "long_form_seconds": None})
    assert len(read_long_form_csv(paths["test-clean"])) == 2
    out = str(tmp_path / "cli")
    argv = [corpus.root, "--splits", "test-clean", "--seconds", "3", "--output", out]
    assert main(argv) == 0
    assert len(read_long_form_csv(os.path.join(out, "test-clean.csv"))) == 4
    assert (
        main([corpus.root, "--splits", "dev", "--seconds", "chapter", "--output", out])
        == 1
    )
    assert "long_form_splits names 'dev'" in capsys.readouterr().err
