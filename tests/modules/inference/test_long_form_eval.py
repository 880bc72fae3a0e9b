"""Long-form evaluation (modules/inference/long_form_eval.py): a tiny
long-form split made from joined utterances, scored window by window and
segment by segment."""

import csv
import json
import os

import pytest
import torch

from modules.data.long_form_manifest import (
    LongFormRecording,
    Segment,
    write_long_form_csv,
)
from modules.data.preparation_error import PreparationError
from modules.decoding.lm_beam import word_error_rate
from modules.inference.audio_windows import AudioInputError
from modules.inference.long_form_asr import LongFormASR
from modules.inference.long_form_eval import main, read_recordings, read_segment
from tests.modules.inference.fakes import joined_recording, tiny_experiment

TEXTS = {"first": "AB BA CAB", "second": "BAA AB"}


def write_manifest(path, recordings):
    write_long_form_csv(recordings, str(path))
    return str(path)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """An experiment and a long-form manifest of two recordings (audio paths
    relative to the manifest)."""
    folder = tmp_path_factory.mktemp("long")
    recordings = []
    for seed, (name, text) in enumerate(TEXTS.items()):
        seconds = [1.2, 0.8, 1.5][: 3 - seed]
        wav, segments = joined_recording(folder, name, seconds, seed=seed)
        recordings.append(
            LongFormRecording(
                name,
                sum(seconds),
                os.path.basename(wav),
                text,
                tuple(Segment(*s) for s in segments),
            )
        )
    manifest = write_manifest(folder / "long.csv", recordings)
    return tiny_experiment(folder / "experiment"), manifest


def test_long_form_and_segmented_wer_of_a_split(split, tmp_path):
    experiment, manifest = split
    output = tmp_path / "eval"
    summary = main([experiment, "--manifest", manifest, "--window", "1.28",
                    "--output", str(output)])  # fmt: skip
    asr = LongFormASR.from_experiment(experiment, window=1.28)
    recordings = read_recordings(manifest)
    long_form = [asr.transcribe_file(r.wav).words for r in recordings]
    segmented = [
        [w for s in r.segments for w in asr.transcribe_waveform(read_segment(r.wav, s))]
        for r in recordings
    ]
    with open(output / "transcripts.csv", newline="") as fin:
        rows = list(csv.DictReader(fin))
    assert [row["long_form"].split() for row in rows] == long_form
    assert [row["segmented"].split() for row in rows] == segmented
    ids, refs = list(TEXTS), [t.split() for t in TEXTS.values()]
    assert summary["long_form"]["wer"] == pytest.approx(
        word_error_rate(ids, long_form, refs)
    )
    assert summary["segmented"]["wer"] == pytest.approx(
        word_error_rate(ids, segmented, refs)
    )
    assert json.loads((output / "summary.json").read_text()) == summary
    assert summary["hop_seconds"] == 0.16 and summary["audio_seconds"] == 5.5
    assert summary["exit"] == 2 and summary["long_form"]["real_time_factor"] > 0
    assert "| long_form |" in (output / "summary.md").read_text()
    assert (output / "wer_segmented.txt").is_file()


def test_segments_are_read_from_the_recording(split):
    recording = read_recordings(split[1])[0]
    whole = read_segment(recording.wav, Segment(0, 3.5, "all"))
    parts = [read_segment(recording.wav, s) for s in recording.segments]
    assert [len(p) for p in parts] == [19200, 12800, 24000]
    assert torch.equal(torch.cat(parts), whole)


def test_the_default_output_is_replaced_as_a_whole(split):
    experiment, manifest = split
    args = [experiment, "--manifest", manifest, "--window", "2.56", "--mode", "none"]
    main(args)
    folder = os.path.join(experiment, "long_form")
    assert os.listdir(folder) == ["long-none-w2.56-h2.56"]
    stale = os.path.join(folder, "long-none-w2.56-h2.56", "stale.txt")
    open(stale, "w").close()
    main(args)
    assert os.listdir(folder) == ["long-none-w2.56-h2.56"]
    assert not os.path.exists(stale)


@pytest.mark.parametrize(
    "wav, segments, error, message",
    [
        ("first.flac", [(0, 9.0, "u")], ValueError, "segments \\['u'\\] do not lie"),
        ("first.flac", [(1.0, 0.5, "v")], ValueError, "segments \\['v'\\] do not lie"),
        ("nowhere.flac", [(0, 1.0, "w")], AudioInputError, "nowhere.flac: cannot be"),
    ],
)
def test_bad_recordings_stop_the_run_before_decoding(
    split, tmp_path, wav, segments, error, message
):
    experiment, manifest = split
    row = LongFormRecording(
        "first", 3.5, wav, "A", tuple(Segment(*s) for s in segments)
    )
    path = write_manifest(os.path.join(os.path.dirname(manifest), "bad.csv"), [row])
    with pytest.raises(error, match=message):
        main([experiment, "--manifest", path, "--output", str(tmp_path / "never")])
    assert not os.listdir(tmp_path)


def test_a_manifest_without_segments_is_refused(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("ID,duration,wav,wrd\nr,1.0,r.flac,A\n")
    with pytest.raises(PreparationError, match="old.csv: not a long-form manifest"):
        main(["/no/experiment", "--manifest", str(path)])
