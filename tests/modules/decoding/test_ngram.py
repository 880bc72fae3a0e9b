"""Tests for modules.decoding.ngram: our Kneser-Ney ARPA estimator, KenLM
compatibility, idempotent builds and LM path validation."""

import gzip
import os
import random

import pytest

from modules.decoding import ngram

kenlm = pytest.importorskip("kenlm")

VOCAB = [f"W{i}" for i in range(60)]


def synthetic_corpus(n_sentences: int, seed: int) -> str:
    """Sentences from one fixed random bigram chain (Zipf-like successor
    choice), so that held-out text has the same structure as training."""
    chain_rng = random.Random(1234)
    successors = {w: chain_rng.sample(VOCAB, 8) for w in ["<s>", *VOCAB]}
    weights = [1 / (k + 1) for k in range(8)]
    rng = random.Random(seed)
    lines = []
    for _ in range(n_sentences):
        word, sentence = "<s>", []
        while len(sentence) < 12 and (len(sentence) < 3 or rng.random() > 0.2):
            word = rng.choices(successors[word], weights)[0]
            sentence.append(word)
        lines.append(" ".join(sentence))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ngram")
    (root / "train.txt").write_text(synthetic_corpus(1000, seed=0))
    (root / "test.txt").write_text(synthetic_corpus(200, seed=1))
    return root


@pytest.fixture(scope="module")
def arpa3(corpus):
    return ngram.build_lm(
        corpus / "train.txt", corpus / "ours3.arpa", 3, tool="python", binary=None
    )


@pytest.fixture(scope="module")
def model3(arpa3):
    return kenlm.Model(str(arpa3))


def test_arpa_parses_with_kenlm(arpa3, model3):
    assert ngram.lm_format(arpa3) == "arpa"
    assert model3.order == 3
    text = arpa3.read_text()
    parsed = ngram.read_arpa(arpa3)
    for n, level in enumerate(parsed.logprobs, 1):
        assert f"ngram {n}={len(level)}\n" in text
    unigrams = parsed.logprobs[0]
    assert {("<s>",), ("</s>",), ("<unk>",)} <= set(unigrams)
    assert text.rstrip().endswith("\\end\\")


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
    arpa = ngram.build_lm(
        corpus / "train.txt", corpus / f"o{order}.arpa", order, "python", None
    )
    model = kenlm.Model(str(arpa))
    vocab = [g[0] for g in ngram.read_arpa(arpa).logprobs[0] if g != ("<s>",)]
    state = _state_after(model, context, bos)
    total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_estimator_probabilities_sum_to_one_in_float64(corpus):
    lm = ngram.estimate_kneser_ney(ngram.read_sentences(corpus / "train.txt"), 3)
    vocab = [g[0] for g in lm.logprobs[0] if g != ("<s>",)]
    for context in [(), ("<s>",), ("W5",), ("<s>", "W7"), ("W7", "W2")]:
        total = sum(10 ** lm.log10_prob(w, context) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9)


def test_python_scorer_matches_kenlm(corpus, arpa3, model3):
    lm = ngram.read_arpa(arpa3)
    for line in (corpus / "test.txt").read_text().splitlines()[:30]:
        assert lm.sentence_log10(line.split()) == pytest.approx(
            model3.score(line), abs=1e-4
        )


def test_frequent_ngram_beats_unseen(corpus, model3):
    counts = ngram.count_ngrams(ngram.read_sentences(corpus / "train.txt"), 3)
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
    unigram = ngram.estimate_kneser_ney(ngram.read_sentences(corpus / "train.txt"), 1)
    ppl1 = ngram.perplexity(unigram, corpus / "test.txt")
    ppl3 = ngram.perplexity(arpa3, corpus / "test.txt")
    assert ppl3 < 0.5 * ppl1


def test_discounts():
    d1, d2, d3 = ngram.kn_discounts([1] * 8 + [2] * 4 + [3] * 2 + [4])
    y = 8 / (8 + 2 * 4)
    assert (d1, d2, d3) == pytest.approx(
        (1 - 2 * y * 4 / 8, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2)
    )
    assert ngram.kn_discounts([1, 1, 2, 3]) == ngram.FALLBACK_DISCOUNTS


def test_sentence_markers_in_text_are_rejected():
    with pytest.raises(ValueError, match="sentence 2"):
        ngram.count_ngrams([["A"], ["<s>", "B"]], 2)


def test_build_is_idempotent(corpus, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((corpus / "train.txt").read_text())
    options = dict(order=3, tool="python", binary=None)
    first = ngram.build_lm(text, tmp_path / "lm.arpa", **options)
    stamp = first.stat().st_mtime_ns
    assert ngram.build_lm(text, tmp_path / "lm.arpa", **options) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten
    ngram.build_lm(text, tmp_path / "lm.arpa", **{**options, "order": 2})
    assert ngram.read_arpa(first).order == 2  # new options: rebuilt
    text.write_text("A B C\nA B\n" * 20)
    ngram.build_lm(text, tmp_path / "lm.arpa", **{**options, "order": 2})
    assert len(ngram.read_arpa(first).logprobs[0]) == 6  # new text: rebuilt


def test_build_lm_rejects_bad_options(corpus, tmp_path):
    with pytest.raises(ValueError, match="order"):
        ngram.build_lm(corpus / "train.txt", tmp_path / "a.arpa", order=1)
    with pytest.raises(ValueError, match="tool"):
        ngram.build_lm(corpus / "train.txt", tmp_path / "a.arpa", tool="srilm")


def test_valid_lm_paths(arpa3, tmp_path):
    gzipped = tmp_path / "lm.arpa.gz"
    gzipped.write_bytes(gzip.compress(arpa3.read_bytes()))
    assert ngram.lm_format(gzipped) == "arpa.gz"
    assert ngram.read_arpa(gzipped).logprobs == ngram.read_arpa(arpa3).logprobs
    commented = tmp_path / "commented.arpa"
    commented.write_text("# made by hand\n\n" + arpa3.read_text())
    assert ngram.load_lm_path(commented) == commented.resolve()
    kenlm.Model(str(commented))
    binary = tmp_path / "fake.bin"
    binary.write_bytes(ngram.KENLM_MAGIC + b" format version 5\n\0" + bytes(64))
    assert ngram.lm_format(binary) == "kenlm"


@pytest.mark.parametrize(
    "name, content, error",
    [
        ("missing.arpa", None, FileNotFoundError),
        ("words.txt", b"HELLO WORLD\n", ValueError),
        ("empty.arpa", b"", ValueError),
        ("noise.bin", bytes(range(256)), ValueError),
        ("text.gz", gzip.compress(b"HELLO\n"), ValueError),
        ("broken.gz", b"\x1f\x8b\x08garbage", ValueError),
        ("failed.bin", ngram.KENLM_MAGIC + b" incomplete\n", ValueError),
    ],
)
def test_bad_lm_paths_raise_clear_errors(tmp_path, name, content, error):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=name):
        ngram.load_lm_path(path)


def test_directory_is_not_an_lm(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"):
        ngram.load_lm_path(tmp_path)


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
        ppl_ours = ngram.perplexity(ours, corpus / "test.txt")
        ppl_theirs = ngram.perplexity(theirs, corpus / "test.txt")
        assert ppl_ours == pytest.approx(ppl_theirs, rel=0.01)
        a, b = kenlm.Model(str(ours)), kenlm.Model(str(theirs))
        for line in (corpus / "test.txt").read_text().splitlines()[:50]:
            for x, y in zip(a.full_scores(line), b.full_scores(line)):
                assert x[0] == pytest.approx(y[0], abs=0.02)


@pytest.mark.skipif(
    ngram.find_kenlm_tool("build_binary") is None,
    reason="optional: KenLM's build_binary not found on PATH or in $KENLM_BIN",
)
def test_binary_build(corpus, tmp_path):
    lm = ngram.build_lm(corpus / "train.txt", tmp_path / "lm.arpa", 3, "python")
    assert lm.suffix == ".bin" and ngram.lm_format(lm) == "kenlm"
    arpa = kenlm.Model(str(tmp_path / "lm.arpa"))
    line = (corpus / "test.txt").read_text().splitlines()[0]
    assert kenlm.Model(str(lm)).score(line) == pytest.approx(arpa.score(line), abs=1e-4)


def test_kenlm_bin_environment_variable(tmp_path, monkeypatch):
    tool = tmp_path / "lmplz"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o755)
    monkeypatch.setenv("KENLM_BIN", str(tmp_path))
    assert ngram.find_kenlm_tool("lmplz") == tool
    assert ngram.find_kenlm_tool("lmplz", kenlm_bin=tmp_path / "none") == tool
