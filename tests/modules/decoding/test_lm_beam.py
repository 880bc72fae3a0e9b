"""Tests for modules.decoding.lm_beam: greedy and LM beam-search CTC decoding.

The LM cases are built so that the answer is known: the acoustic scores
prefer a wrong word ("HAT") by a small margin, and an LM trained on text
where "THE CAT SAT" is frequent (and "HAT" rare) must flip it to "CAT".
"""

import gzip
import math

import pytest
import torch

from modules.data.tokenizer import ctc_labels
from modules.decoding.flashlight_beam import FlashlightLMDecoder
from modules.decoding.greedy import greedy_words
from modules.decoding.lm_beam import (
    PyctcdecodeDecoder,
    SpeechBrainLMDecoder,
    decode_all,
    read_unigrams,
    tune_lm_weights,
    word_error_rate,
)
from modules.decoding.lm_decoders import DECODERS
from modules.decoding.ngram import build_lm

LABELS = ["<pad>", "<unk>", "▁THE", "▁C", "▁H", "AT", "▁S", "▁A", "▁DOG"]
BLANK = 0
REFERENCE = ["THE", "CAT", "SAT"]
LM_TEXT = "THE CAT SAT\n" * 20 + "A DOG SAT\nTHE HAT\nA HAT SAT ON A DOG\n"


class PieceTokenizer:
    """Minimal stand-in for a SentencePieceProcessor over ``LABELS``."""

    def get_piece_size(self):
        return len(LABELS)

    def id_to_piece(self, index):
        return LABELS[index]

    def decode_ids(self, ids):
        text = "".join(LABELS[i] for i in ids if i > 1)
        return text.replace("▁", " ").strip()


def frames(*columns):
    """Log-probs ``[T, V]`` from ``{label: prob}`` per frame; the rest of the
    mass goes to the blank."""
    rows = []
    for column in columns:
        probs = torch.full((len(LABELS),), 1e-4)
        for label, prob in column.items():
            probs[LABELS.index(label)] = prob
        probs[BLANK] += 1.0 - probs.sum()
        assert probs.min() > 0
        rows.append(probs.log())
    return torch.stack(rows)


def cat_or_hat(margin=0.1):
    """'THE ?AT SAT' where 'HAT' beats 'CAT' by ``margin`` acoustically."""
    hat, cat = 0.45 + margin / 2, 0.45 - margin / 2
    return frames(
        {"▁THE": 0.95},
        {},
        {"▁H": hat, "▁C": cat},
        {"AT": 0.95},
        {},
        {"▁S": 0.95},
        {"AT": 0.95},
        {},
    )


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    text = folder / "text.txt"
    text.write_text(LM_TEXT)
    return str(build_lm(text, folder / "lm.arpa", order=3, tool="python", binary=None))


def test_labels_and_greedy_decoding():
    tokenizer = PieceTokenizer()
    assert ctc_labels(tokenizer) == LABELS
    batch = torch.stack([cat_or_hat(), cat_or_hat(-0.2)])
    words = greedy_words(batch, torch.ones(2), tokenizer, BLANK)
    assert words == [["THE", "HAT", "SAT"], REFERENCE]


def test_word_error_rate():
    assert word_error_rate(["u"], [REFERENCE], [REFERENCE]) == 0.0
    wer = word_error_rate(["u"], [["THE", "HAT", "SAT"]], [REFERENCE])
    assert math.isclose(wer, 100 / 3)


def test_read_unigrams_plain_and_gzipped(lm_path, tmp_path):
    words = read_unigrams(lm_path)
    assert words == {"THE", "CAT", "SAT", "A", "DOG", "HAT", "ON"}
    gz = tmp_path / "lm.arpa.gz"
    with open(lm_path, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    assert read_unigrams(gz) == words


@pytest.mark.parametrize("backend", sorted(DECODERS))
def test_lm_favouring_the_reference_lowers_wer(lm_path, backend):
    log_probs = cat_or_hat().unsqueeze(0)
    greedy = greedy_words(log_probs, torch.ones(1), PieceTokenizer(), BLANK)
    decoder = DECODERS[backend](LABELS, lm_path, alpha=1.0, beta=0.0, beam_size=16)
    with_lm = decoder.decode(log_probs, torch.ones(1))
    assert greedy == [["THE", "HAT", "SAT"]]
    assert with_lm == [REFERENCE]
    assert word_error_rate(["u"], with_lm, [REFERENCE]) < word_error_rate(
        ["u"], greedy, [REFERENCE]
    )


@pytest.mark.parametrize("backend", sorted(DECODERS))
def test_zero_lm_weight_keeps_the_acoustic_choice(lm_path, backend):
    decoder = DECODERS[backend](LABELS, lm_path, alpha=0.0, beta=0.0, beam_size=16)
    assert decoder.decode(cat_or_hat().unsqueeze(0), torch.ones(1)) == [
        ["THE", "HAT", "SAT"]
    ]


def test_backends_agree_and_respect_lengths(lm_path):
    padded = torch.cat([cat_or_hat(), frames({"▁DOG": 0.995}, {"▁DOG": 0.995})])
    batch = torch.stack([padded, padded])
    rel_lens = torch.tensor([1.0, 8 / 10])  # second: padding hides "DOG"
    expected = [REFERENCE + ["DOG"], REFERENCE]
    for backend in (SpeechBrainLMDecoder, PyctcdecodeDecoder, FlashlightLMDecoder):
        decoder = backend(LABELS, lm_path, alpha=1.0, beta=0.5, beam_size=8)
        assert decoder.decode(batch, rel_lens) == expected, backend.__name__


def test_tuning_picks_from_the_grid(lm_path):
    batches = [(cat_or_hat().unsqueeze(0), torch.ones(1))] * 2
    decoder = SpeechBrainLMDecoder(LABELS, lm_path, 0.5, 1.0, beam_size=8)
    result = tune_lm_weights(
        decoder, batches, ["a", "b"], [REFERENCE] * 2, alphas=(0.0, 1.0), betas=(0.5,)
    )
    assert (result["alpha"], result["beta"]) == (1.0, 0.5)
    assert [(p["alpha"], p["beta"]) for p in result["grid"]] == [(0.0, 0.5), (1.0, 0.5)]
    assert result["grid"][0]["wer"] > result["grid"][1]["wer"] == 0.0
    assert (decoder.alpha, decoder.beta) == (1.0, 0.5)  # left at the choice
    assert decode_all(decoder, batches) == [REFERENCE] * 2


def test_end_of_sentence_score_decides_a_trailing_word(tmp_path):
    """'A' is always followed by 'DOG' in the LM text, so a hypothesis ending
    in 'A' must lose once P(</s> | ... A) is counted, although the acoustics
    prefer it and P(A | CAT SAT) is as high as P(</s> | CAT SAT)."""
    from speechbrain.decoders.ctc import CTCBeamSearcher

    text = tmp_path / "text.txt"
    text.write_text("THE CAT SAT A DOG\n" * 10 + "THE CAT SAT\n" * 10)
    lm = str(build_lm(text, tmp_path / "lm.arpa", order=3, tool="python", binary=None))
    log_probs = torch.cat([cat_or_hat(-0.4)[:-1], frames({"▁A": 0.8}, {})])
    weights = dict(alpha=1.0, beta=0.0, beam_size=16)
    for backend in sorted(DECODERS):
        decoder = DECODERS[backend](LABELS, lm, **weights)
        assert decoder.decode(log_probs.unsqueeze(0), torch.ones(1)) == [REFERENCE]
    plain = CTCBeamSearcher(
        blank_index=BLANK, vocab_list=LABELS, kenlm_model_path=lm, alpha=1.0, beta=0.0
    )
    without_end = plain.decode_log_probs(log_probs.numpy(), log_probs.shape[0])
    assert without_end[0].text.split() == REFERENCE + ["A"]
