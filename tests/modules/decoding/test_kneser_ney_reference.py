"""The Kneser-Ney estimator against fixed references, without KenLM's tools:
lmplz's ARPA of a fixed text (tests/modules/decoding/fixtures/README.txt says
how it was built) and adjusted counts and probabilities computed by hand."""

import math
from pathlib import Path

import pytest

from modules.decoding import arpa, kneser_ney

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# Largest measured difference from lmplz is 2.4e-7 (its single precision and
# 8 written digits); a raw-count estimator is off by more than 0.2.
LMPLZ_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def estimated_and_lmplz():
    sentences = kneser_ney.read_sentences(FIXTURES / "kn_text.txt")
    ours = kneser_ney.estimate_kneser_ney(sentences, order=4)
    return ours, arpa.read_arpa(FIXTURES / "kn_text.o4.arpa")


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_same_ngrams_as_lmplz(estimated_and_lmplz, order):
    ours, lmplz = estimated_and_lmplz
    assert lmplz.order == 4
    assert set(ours.logprobs[order - 1]) == set(lmplz.logprobs[order - 1])


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_log10_probabilities_and_backoffs_match_lmplz(estimated_and_lmplz, order):
    ours, lmplz = estimated_and_lmplz
    never_predicted = {("<s>",)}  # lmplz writes 0, the estimator -99
    for gram, logprob in lmplz.logprobs[order - 1].items():
        if gram not in never_predicted:
            assert ours.logprobs[order - 1][gram] == pytest.approx(
                logprob, abs=LMPLZ_TOLERANCE
            ), gram
        ours_backoff = ours.backoffs[order - 1].get(gram, 0.0)
        lmplz_backoff = lmplz.backoffs[order - 1].get(gram, 0.0)
        assert ours_backoff == pytest.approx(lmplz_backoff, abs=LMPLZ_TOLERANCE), gram


# Sentences "x a", "y a", "x a": tokens <s> x a </s> (twice), <s> y a </s>.
HAND_TEXT = [["x", "a"], ["y", "a"], ["x", "a"]]


def test_lower_orders_count_distinct_left_contexts():
    unigrams, bigrams = kneser_ney.adjust_counts(kneser_ney.count_ngrams(HAND_TEXT, 2))
    # a follows x and y; x and y follow only <s>; </s> follows only a
    # (raw counts: a 3, x 2, y 1, </s> 3).
    assert unigrams == {("a",): 2, ("x",): 1, ("y",): 1, ("</s>",): 1}
    # The highest order keeps raw counts.
    assert bigrams == {
        ("<s>", "x"): 2,
        ("x", "a"): 2,
        ("a", "</s>"): 3,
        ("<s>", "y"): 1,
        ("y", "a"): 1,
    }


def test_trigram_model_keeps_raw_counts_only_after_sentence_start():
    text = [["x", "a", "b"], ["y", "a", "b"], ["x", "a", "b"]]
    unigrams, bigrams, _ = kneser_ney.adjust_counts(kneser_ney.count_ngrams(text, 3))
    # (a, b) follows x and y: 2, raw 3; (x, a) follows only <s>: 1, raw 2;
    # (<s>, x) has no left context and keeps its raw count 2.
    assert bigrams[("a", "b")] == 2
    assert bigrams[("x", "a")] == 1
    assert bigrams[("<s>", "x")] == 2
    assert unigrams[("a",)] == 2


def test_hand_computed_bigram_model():
    lm = kneser_ney.estimate_kneser_ney(HAND_TEXT, order=2)
    # Unigrams: adjusted counts a 2, x 1, y 1, </s> 1 (total 5); too few
    # count-of-counts, so discounts (0.5, 1.0, 1.5); gamma = (3 * 0.5 + 1.0) / 5
    # = 0.5, spread uniformly over the 5 words a x y </s> <unk>.
    unigram = {"a": 1 / 5 + 0.1, "<unk>": 0.1}
    unigram.update({w: 0.5 / 5 + 0.1 for w in ["x", "y", "</s>"]})
    # Bigrams, raw counts: after <s>: x 2, y 1 (gamma (1.0 + 0.5) / 3 = 0.5);
    # after x: a 2 (gamma 1.0 / 2); after y: a 1 (gamma 0.5 / 1); after a:
    # </s> 3 (gamma 1.5 / 3).
    bigram = {
        ("<s>", "x"): (2 - 1.0) / 3 + 0.5 * unigram["x"],
        ("<s>", "y"): (1 - 0.5) / 3 + 0.5 * unigram["y"],
        ("x", "a"): (2 - 1.0) / 2 + 0.5 * unigram["a"],
        ("y", "a"): (1 - 0.5) / 1 + 0.5 * unigram["a"],
        ("a", "</s>"): (3 - 1.5) / 3 + 0.5 * unigram["</s>"],
    }
    for word, p in unigram.items():
        assert lm.logprobs[0][(word,)] == pytest.approx(math.log10(p), abs=1e-12)
    for gram, p in bigram.items():
        assert lm.logprobs[1][gram] == pytest.approx(math.log10(p), abs=1e-12)
    for context in ["<s>", "x", "a", "y"]:
        assert lm.backoffs[0][(context,)] == pytest.approx(math.log10(0.5))
