"""Tests for modules.decoding.kneser_ney: the Kneser-Ney estimator against
KenLM (normalisation, scores, perplexity) and lmplz when it is installed."""

import kenlm
import pytest

from modules.decoding import arpa, kneser_ney, ngram
from tests.modules.decoding.lm_corpus import VOCAB


@pytest.fixture(scope="module")
def model3(arpa3):
    return kenlm.Model(str(arpa3))


def _state_after(model, context, bos):
    state = kenlm.State()
    (model.BeginSentenceWrite if bos else model.NullContextWrite)(state)
    for word in context:
        out = kenlm.State()
        model.BaseScore(state, word, out)
        state = out
    return state


@pytest.mark.parametrize(
    "context, bos",
    [
        ((), True),
        ((), False),
        (("W0",), True),
        (("W3", "W10"), False),
        (("W1", "W2", "W3"), True),
        (("NOT_A_WORD",), False),
    ],
)
@pytest.mark.parametrize("order", [3, 4])
def test_probabilities_sum_to_one(corpus, order, context, bos):
    arpa_path = ngram.build_lm(
        corpus / "train.txt", corpus / f"o{order}.arpa", order, "python", None
    )
    model = kenlm.Model(str(arpa_path))
    vocab = [g[0] for g in arpa.read_arpa(arpa_path).logprobs[0] if g != ("<s>",)]
    state = _state_after(model, context, bos)
    total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_estimator_probabilities_sum_to_one_in_float64(corpus):
    lm = kneser_ney.estimate_kneser_ney(
        kneser_ney.read_sentences(corpus / "train.txt"), 3
    )
    vocab = [g[0] for g in lm.logprobs[0] if g != ("<s>",)]
    for context in [(), ("<s>",), ("W5",), ("<s>", "W7"), ("W7", "W2")]:
        total = sum(10 ** lm.log10_prob(w, context) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9)


def test_frequent_ngram_beats_unseen(corpus, model3):
    counts = kneser_ney.count_ngrams(kneser_ney.read_sentences(corpus / "train.txt"), 3)
    (w1, w2, w3), _ = max(
        ((g, c) for g, c in counts[2].items() if "<s>" not in g and "</s>" not in g),
        key=lambda item: item[1],
    )
    unseen = next(w for w in VOCAB if (w1, w2, w) not in counts[2])
    state = _state_after(model3, (w1, w2), bos=False)
    frequent = model3.BaseScore(state, w3, kenlm.State())
    assert frequent > model3.BaseScore(state, unseen, kenlm.State())
    assert frequent > model3.BaseScore(state, "NOT_A_WORD", kenlm.State())


def test_heldout_perplexity_trigram_below_unigram(corpus, arpa3):
    unigram = kneser_ney.estimate_kneser_ney(
        kneser_ney.read_sentences(corpus / "train.txt"), 1
    )
    ppl1 = kneser_ney.perplexity(unigram, corpus / "test.txt")
    ppl3 = kneser_ney.perplexity(arpa3, corpus / "test.txt")
    assert ppl3 < 0.5 * ppl1


def test_discounts():
    d1, d2, d3 = kneser_ney.kn_discounts([1] * 8 + [2] * 4 + [3] * 2 + [4])
    y = 8 / (8 + 2 * 4)
    assert (d1, d2, d3) == pytest.approx(
        (1 - 2 * y * 4 / 8, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2)
    )
    assert kneser_ney.kn_discounts([1, 1, 2, 3]) == kneser_ney.FALLBACK_DISCOUNTS


def test_sentence_markers_in_text_are_rejected():
    with pytest.raises(ValueError, match="sentence 2"):
        kneser_ney.count_ngrams([["A"], ["<s>", "B"]], 2)


LMPLZ = ngram.find_kenlm_tool("lmplz")


@pytest.mark.skipif(
    LMPLZ is None,
    reason="optional comparison with KenLM's lmplz: lmplz not found on PATH or "
    "in $KENLM_BIN",
)
def test_matches_lmplz(corpus, tmp_path):
    for order in (2, 3, 4):
        ours = ngram.build_lm(
            corpus / "train.txt", tmp_path / f"ours{order}.arpa", order, "python", None
        )
        theirs = ngram.build_lm(
            corpus / "train.txt", tmp_path / f"kenlm{order}.arpa", order, "lmplz"
        )
        ppl_ours = kneser_ney.perplexity(ours, corpus / "test.txt")
        ppl_theirs = kneser_ney.perplexity(theirs, corpus / "test.txt")
        assert ppl_ours == pytest.approx(ppl_theirs, rel=0.01)
        a, b = kenlm.Model(str(ours)), kenlm.Model(str(theirs))
        for line in (corpus / "test.txt").read_text().splitlines()[:50]:
            for x, y in zip(a.full_scores(line), b.full_scores(line)):
                assert x[0] == pytest.approx(y[0], abs=0.02)
