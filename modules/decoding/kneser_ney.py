"""Interpolated modified Kneser-Ney estimation of n-gram LMs, in Python.

The estimator that :func:`modules.decoding.ngram.build_lm` uses when KenLM's
``lmplz`` is not found. It keeps every n-gram in memory (~400 bytes each;
about 1 GB and 15 s per million words of text at order 4), so it suits
transcripts. On the test corpus its bigram model equals lmplz's and its
3/4-gram log10 probabilities are within 0.005 of lmplz's (whose
count-of-counts for lower orders can differ by one from the textbook ones
used here).

Estimator (Chen & Goodman 1998; the variant lmplz implements): n-grams are
counted over ``<s> w1 ... wm </s>``. The highest order keeps raw counts;
lower orders use continuation counts (number of distinct left extensions),
except n-grams starting with ``<s>``, which keep raw counts. Per order, the
discounts ``D1, D2, D3+`` come from the count-of-counts ``t1..t4``
(``Y = t1 / (t1 + 2 t2)``, ``Dk = k - (k + 1) Y t_{k+1} / t_k``), falling back
to ``(0.5, 1.0, 1.5)`` when they are undefined (lmplz's
``--discount_fallback``). Then ``p(w | h) = (a(hw) - D(a(hw))) / a(h.) +
gamma(h) p(w | h')`` with ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) /
a(h.)``, and unigrams are interpolated with the uniform distribution over the
vocabulary (``</s>`` and ``<unk>`` included, ``<s>`` excluded). The ARPA
backoff weight of context ``h`` is ``gamma(h)``, so that every conditional
distribution sums to one.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from modules.decoding.arpa import BOS, EOS, UNK, NGramLM, load_lm_path

__all__ = [
    "adjust_counts",
    "count_ngrams",
    "estimate_kneser_ney",
    "kn_discounts",
    "perplexity",
    "read_sentences",
]

FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)


def read_sentences(text_path: str | os.PathLike) -> Iterator[list[str]]:
    """Yield the whitespace-separated words of each non-empty line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "text.txt"
    >>> _ = path.write_text("A B\\n\\n C \\n")
    >>> list(read_sentences(path))
    [['A', 'B'], ['C']]
    """
    opener = gzip.open if str(text_path).endswith(".gz") else open
    with opener(text_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            words = line.split()
            if words:
                yield words


def count_ngrams(sentences: Iterable[list[str]], order: int) -> list[Counter]:
    """Raw counts of all 1..order-grams of ``<s> w1 ... wm </s>``.

    Returns a list whose item ``n - 1`` maps n-gram tuples to counts.

    Examples
    --------
    >>> counts = count_ngrams([["A", "B"]], 2)
    >>> counts[1][("<s>", "A")], counts[0][("</s>",)]
    (1, 1)
    """
    counts = [Counter() for _ in range(order)]
    for number, words in enumerate(sentences, 1):
        if BOS in words or EOS in words:
            raise ValueError(f"sentence {number} contains {BOS} or {EOS}")
        tokens = (BOS, *words, EOS)
        for n, counter in enumerate(counts, 1):
            counter.update(tokens[i : i + n] for i in range(len(tokens) - n + 1))
    return counts


def adjust_counts(raw: list[Counter]) -> list[dict]:
    """Kneser-Ney adjusted counts: raw counts for the highest order and for
    n-grams starting with ``<s>``, continuation counts otherwise. The
    ``<s>`` unigram is dropped (it is never predicted).

    Examples
    --------
    >>> adjusted = adjust_counts(count_ngrams([["A", "B"], ["C", "B"]], 2))
    >>> adjusted[0][("B",)], adjusted[0][("A",)], adjusted[1][("A", "B")]
    (2, 1, 1)
    """
    adjusted = [dict(raw[-1])]
    for n in range(len(raw) - 1, 0, -1):  # lower order n, from order n + 1
        left_extensions = Counter(gram[1:] for gram in raw[n])
        adjusted.insert(
            0,
            {
                g: c if g[0] == BOS else left_extensions[g]
                for g, c in raw[n - 1].items()
            },
        )
    adjusted[0].pop((BOS,), None)
    return adjusted


def kn_discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts ``(D1, D2, D3+)`` from adjusted counts.

    Examples
    --------
    >>> [round(d, 3) for d in kn_discounts([1] * 8 + [2] * 4 + [3] * 2 + [4])]
    [0.5, 1.25, 2.0]
    >>> kn_discounts([5, 5])  # no singletons: fallback
    (0.5, 1.0, 1.5)
    """
    t = Counter(c for c in counts if 1 <= c <= 4)
    if min(t[1], t[2], t[3], t[4]) == 0:
        return FALLBACK_DISCOUNTS
    y = t[1] / (t[1] + 2 * t[2])
    discounts = tuple(k - (k + 1) * y * t[k + 1] / t[k] for k in (1, 2, 3))
    if not all(0 < d < k for k, d in zip((1, 2, 3), discounts)):
        return FALLBACK_DISCOUNTS
    return discounts


def _context_stats(adjusted: dict, discounts: tuple) -> dict:
    """Per context ``h``: total adjusted count ``a(h.)`` and ``gamma(h)``."""
    stats = defaultdict(lambda: [0, 0.0])
    for gram, count in adjusted.items():
        entry = stats[gram[:-1]]
        entry[0] += count
        entry[1] += discounts[min(count, 3) - 1] if count else 0.0
    return {h: (total, mass / total) for h, (total, mass) in stats.items()}


def _interpolate(
    adjusted: dict, discounts: tuple, lower: dict | float
) -> tuple[dict, dict]:
    """Interpolated probabilities of one order. ``lower`` holds the
    probabilities of the order below (keyed by suffix), or the uniform
    probability for unigrams. Returns (probabilities, gammas per context)."""
    stats = _context_stats(adjusted, discounts)
    probs = {}
    for gram, count in adjusted.items():
        total, gamma = stats[gram[:-1]]
        discount = discounts[min(count, 3) - 1] if count else 0.0
        base = lower if isinstance(lower, float) else lower[gram[1:]]
        probs[gram] = (count - discount) / total + gamma * base
    return probs, {h: gamma for h, (_, gamma) in stats.items()}


def estimate_kneser_ney(sentences: Iterable[list[str]], order: int) -> NGramLM:
    """Interpolated modified Kneser-Ney LM of the given order.

    Examples
    --------
    >>> lm = estimate_kneser_ney([["A", "B"], ["A", "C"], ["B"]], order=2)
    >>> round(sum(10**p for g, p in lm.logprobs[0].items() if g != ("<s>",)), 9)
    1.0
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    adjusted = adjust_counts(count_ngrams(sentences, order))
    adjusted[0].setdefault((UNK,), 0)
    vocab_size = len(adjusted[0])  # includes </s> and <unk>, not <s>
    discounts = [kn_discounts(a.values()) for a in adjusted]
    probs, gammas = [], []
    for n in range(order):
        lower = probs[-1] if probs else 1.0 / vocab_size
        p, g = _interpolate(adjusted[n], discounts[n], lower)
        probs.append(p)
        gammas.append(g)
    return _to_log10(order, probs, gammas, discounts)


def _to_log10(order, probs, gammas, discounts) -> NGramLM:
    """Convert probabilities and context gammas into ARPA log10 values."""
    logprobs = [
        {g: math.log10(p) if p > 0 else -99.0 for g, p in level.items()}
        for level in probs
    ]
    logprobs[0][(BOS,)] = -99.0
    backoffs = []
    for n in range(order - 1):
        next_gammas = gammas[n + 1]
        backoffs.append(
            {
                g: math.log10(next_gammas[g]) if next_gammas.get(g) else 0.0
                for g in logprobs[n]
            }
        )
    backoffs.append({})
    return NGramLM(order, logprobs, backoffs, discounts)


def perplexity(lm: NGramLM | str | os.PathLike, text_path: str | os.PathLike) -> float:
    """Per-word perplexity of ``text_path`` (``</s>`` counted as a word,
    OOVs included) under ``lm``: an :class:`NGramLM` (scored in Python, any
    order) or an LM file (scored with the ``kenlm`` module, order >= 2).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "text.txt"
    >>> _ = path.write_text("A\\n")
    >>> lm = estimate_kneser_ney([["A"]], order=1)
    >>> round(perplexity(lm, path), 3)  # p(A) = p(</s>) = (1 - 0.5) / 2 + 0.5 / 3
    2.4
    """
    if isinstance(lm, NGramLM):
        score = lm.sentence_log10
    else:
        import kenlm

        model = kenlm.Model(str(load_lm_path(lm)))
        score = lambda words: model.score(" ".join(words))  # noqa: E731
    log10_total, count = 0.0, 0
    for sentence in read_sentences(text_path):
        log10_total += score(sentence)
        count += len(sentence) + 1
    return 10.0 ** (-log10_total / count)
