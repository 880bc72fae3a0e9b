"""Which token n-gram the AED benchmark's ``joint_lm`` rows use
(:func:`benchmark.aed_stage.benchmark_token_lm`): the experiment's
``decoding_lm``, else one built from the corpus LM text when the benchmark
decodes with an LM, else none (with a note)."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.aed_stage import benchmark_token_lm


class Letters:
    """A tokenizer whose pieces are the letters A-D."""

    pieces = ["<pad>", "<unk>", "<s>", "</s>", "A", "B", "C", "D"]

    def encode(self, lines, out_type=str):
        return [list(line.replace(" ", "")) for line in lines]

    def serialized_model_proto(self):
        return b"letters"

    def get_piece_size(self):
        return len(self.pieces)

    def id_to_piece(self, i):
        return self.pieces[i]


def context(tmp_path, lm, **hparams):
    """A benchmark context stand-in: the experiment and the word LM (any
    object: the benchmark decodes with an LM; None: it does not)."""
    data = tmp_path / "corpus"
    data.mkdir(exist_ok=True)
    keys = {"decoding_lm": None, "decoding_lm_weight": 0.4, "decoding_lm_order": 3}
    exp = SimpleNamespace(
        hparams={"data_folder": str(data), **keys, **hparams},
        tokenizer=Letters(),
        folder=tmp_path / "exp",
    )
    return SimpleNamespace(exp=exp, lm=lm), data


def test_no_lm_anywhere_means_no_joint_lm_rows(tmp_path):
    ctx, _ = context(tmp_path, lm=None)
    notes = []
    assert benchmark_token_lm(ctx, notes) is None and notes == []


def test_the_benchmark_lm_builds_the_token_lm_from_the_corpus_text(tmp_path):
    ctx, data = context(tmp_path, lm=object())
    (data / "librispeech-lm-norm.txt").write_text("AB C\nCD\n")
    notes = []
    lm = benchmark_token_lm(ctx, notes)
    assert notes == [] and lm.weight == 0.4 and lm.tokens[4] == "A"
    assert Path(lm.path).name == "lm_3gram.arpa"
    assert Path(lm.path).is_relative_to(
        tmp_path / "exp" / "lm"
    )  # not a synthetic corpus


def test_the_experiments_decoding_lm_file_is_used(tmp_path):
    arpa = tmp_path / "tokens.arpa"
    arpa.write_text("\\data\\\nngram 1=1\n")
    ctx, _ = context(tmp_path, lm=None, decoding_lm=str(arpa))
    assert benchmark_token_lm(ctx, []).path == str(arpa)


@pytest.mark.parametrize(
    "hparams, note",
    [
        ({"decoding_lm_weight": None}, "has no decoding_lm_weight / decoding_lm_order"),
        ({}, "No LM text found"),
    ],
)
def test_without_keys_or_lm_text_a_note_says_why(tmp_path, hparams, note):
    ctx, _ = context(tmp_path, lm=object(), **hparams)
    notes = []
    assert benchmark_token_lm(ctx, notes) is None
    assert len(notes) == 1 and note in notes[0]
