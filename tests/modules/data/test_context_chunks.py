"""Context-length training chunks cut from long-form recordings."""

import csv
import logging

import numpy as np
import pytest
import soundfile

from modules.data.context_chunks import (
    CHUNK_COLUMNS,
    check_context_length,
    context_chunk_dataset,
    cut_context_chunks,
    utterance_transcripts,
    write_chunk_csv,
)
from modules.data.librispeech import prepare_librispeech
from modules.data.long_form import prepare_long_form
from modules.data.long_form_manifest import read_long_form_csv
from modules.data.preparation_error import PreparationError

SPEC = {
    "11": {
        "100": [
            (0, 1.0, "ONE"),
            (1, 1.5, "TWO WORDS"),
            (2, 2.0, "THREE"),
            (3, 0.5, "FOUR"),
            (4, 3.25, "FIVE SIX"),
        ],
    },
    "22": {"200": [(0, 2.0, "SEVEN"), (1, 1.0, "EIGHT")]},
}


class CharTokenizer:
    """Stands in for sentencepiece: one id per character."""

    def encode_as_ids(self, text):
        return [ord(c) for c in text]


@pytest.fixture
def training(make_librispeech, tmp_path):
    """(recordings of whole chapters, utterance transcripts, the corpus)."""
    corpus = make_librispeech("train-synth", SPEC)
    long_csv = prepare_long_form(
        corpus.root, str(tmp_path / "long"), "train-synth", None
    )
    segmented = prepare_librispeech(corpus.root, str(tmp_path / "seg"), ["train-synth"])
    recordings = read_long_form_csv(long_csv["train-synth"])
    return recordings, utterance_transcripts([segmented["train-synth"]]), corpus


def test_chunks_hold_whole_consecutive_utterances(training):
    recordings, transcripts, corpus = training
    chunks = cut_context_chunks(recordings, transcripts, 4.0)
    expected = {
        "11-100-c000": ["11-100-0000", "11-100-0001"],
        "11-100-c001": ["11-100-0002", "11-100-0003"],
        "11-100-c002": ["11-100-0004"],
        "22-200-c000": ["22-200-0000", "22-200-0001"],
    }
    assert [c.chunk_id for c in chunks] == list(expected)
    assert all(c.duration <= 4.0 for c in chunks)
    assert [c.start for c in chunks] == [0, 2.5 * 16000, 5 * 16000, 0]
    assert chunks[2].stop == 8.25 * 16000 and chunks[3].stop == 3 * 16000
    dataset = context_chunk_dataset(chunks, CharTokenizer())
    for chunk, item in zip(chunks, dataset):
        utterances = [corpus.utterances[u] for u in expected[chunk.chunk_id]]
        assert item["id"] == chunk.chunk_id
        assert item["wrd"] == chunk.words == " ".join(u["wrd"] for u in utterances)
        audio = np.concatenate(
            [soundfile.read(u["wav"], dtype="float32")[0] for u in utterances]
        )
        np.testing.assert_allclose(item["sig"].numpy(), audio, atol=1e-6)
        assert item["tokens"].tolist() == [ord(c) for c in chunk.words]


def test_target_length_shorter_than_an_utterance_is_refused(training):
    recordings, _, corpus = training
    check_context_length(recordings, 3.25)
    with pytest.raises(ValueError) as error:
        check_context_length(recordings, 3.0)
    message = str(error.value)
    assert "context_length_seconds=3.0 is shorter than utterance 11-100-0004" in message
    assert "at least 3.25" in message


def test_warmup_lengths_leave_long_utterances_out(training, caplog):
    recordings, transcripts, _ = training
    with caplog.at_level(logging.INFO):
        chunks = cut_context_chunks(
            recordings, transcripts, 1.6, key="context_warmup_start_seconds"
        )
    assert [c.words for c in chunks] == ["ONE", "TWO WORDS", "FOUR", "EIGHT"]
    assert "3 utterances longer than context_warmup_start_seconds=1.6" in caplog.text
    with pytest.raises(ValueError, match="context_warmup_start_seconds=0.4: every"):
        cut_context_chunks(
            recordings, transcripts, 0.4, key="context_warmup_start_seconds"
        )


def test_transcripts_must_match_the_recordings(training):
    recordings, transcripts, _ = training
    partial = {k: v for k, v in transcripts.items() if k != "22-200-0001"}
    with pytest.raises(
        PreparationError, match=r"\['22-200-0001'\] of recording 22-200"
    ):
        cut_context_chunks(recordings, partial, 10.0)
    changed = {**transcripts, "22-200-0001": "NINE"}
    with pytest.raises(PreparationError, match="do not join into the transcript"):
        cut_context_chunks(recordings, changed, 10.0)


def test_chunk_manifest(training, tmp_path):
    recordings, transcripts, _ = training
    chunks = cut_context_chunks(recordings, transcripts, 10.0)
    path = str(tmp_path / "chunks.csv")
    write_chunk_csv(chunks, path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CHUNK_COLUMNS
    assert [(r["ID"], int(r["start"]), int(r["stop"]), r["wrd"]) for r in rows] == [
        (c.chunk_id, c.start, c.stop, c.words) for c in chunks
    ]
    assert [float(r["duration"]) for r in rows] == [8.25, 3.0]
