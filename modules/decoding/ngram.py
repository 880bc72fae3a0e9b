"""ARPA n-gram language models for CTC beam search with KenLM / pyctcdecode.

``build_lm`` turns a text file (one sentence per line, words separated by
spaces, e.g. LibriSpeech's ``librispeech-lm-norm.txt``; ``.gz`` accepted) into
an n-gram LM with interpolated modified Kneser-Ney smoothing:

* with KenLM's ``lmplz`` when the executable is found (``kenlm_bin``
  argument, ``$KENLM_BIN`` directory or ``PATH``), else with the pure-Python
  estimator of this module, which writes the same kind of ARPA file (on the
  test corpus its bigram model equals lmplz's and its 3/4-gram log10
  probabilities are within 0.005 of lmplz's, whose count-of-counts for lower
  orders can differ by one from the textbook ones used here). It keeps every
  n-gram in memory (~400 bytes each; about 1 GB and 15 s per million words of
  text at order 4), so it suits transcripts; use lmplz or OpenSLR's
  pre-built ``4-gram.arpa.gz`` for LibriSpeech-LM-scale text;
* then into a KenLM binary with ``build_binary`` when that is found,
  otherwise the ARPA file is used directly (``kenlm.Model`` reads both);
* idempotently: a JSON sidecar records the text's SHA-256 and the options,
  and a second call with the same text and options reuses the files.

``load_lm_path`` validates an external LM (ARPA, gzipped ARPA or KenLM
binary, e.g. OpenSLR's ``4-gram.arpa.gz``) before a long decoding run.

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

Examples
--------
>>> import pathlib, tempfile
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "text.txt").write_text("A B C\\nA B D\\nB C\\n")
>>> options = dict(order=3, tool="python", binary=None)
>>> lm = build_lm(tmp / "text.txt", tmp / "lm.arpa", **options)
>>> lm_format(lm)
'arpa'
>>> build_lm(tmp / "text.txt", tmp / "lm.arpa", **options) == lm  # reused
True
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import shutil
import subprocess
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NGramLM",
    "build_arpa",
    "build_lm",
    "count_ngrams",
    "estimate_kneser_ney",
    "find_kenlm_tool",
    "kn_discounts",
    "adjust_counts",
    "lm_format",
    "load_lm_path",
    "perplexity",
    "read_arpa",
    "read_sentences",
    "write_arpa",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
KENLM_MAGIC = b"mmap lm http://kheafield.com/code"
"""Start of every KenLM binary file (``lm/binary_format.cc``): complete files
continue with `` format version 5``, failed builds with `` incomplete``."""
GZIP_MAGIC = b"\x1f\x8b"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
_SIDECAR_VERSION = 1
_PYTHON_SIZE_WARNING = 200 * 2**20  # bytes of text


# --------------------------------------------------------------------------
# Validating LM files
# --------------------------------------------------------------------------


def _first_arpa_line(handle) -> bytes:
    """First line that is neither blank nor a ``#`` comment (KenLM's rule)."""
    for _ in range(1000):
        line = handle.readline(4096)
        if not line:
            return b""
        if line.strip() and not line.startswith(b"#"):
            return line.strip()
    return b""


def lm_format(path: str | os.PathLike) -> str:
    """Identify an LM file: ``"kenlm"`` (binary), ``"arpa"`` or ``"arpa.gz"``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or is not a file.
    ValueError
        If it is neither ARPA (first non-comment line ``\\data\\``), gzipped
        ARPA, nor a complete KenLM binary.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".arpa") as f:
    ...     _ = f.write("\\\\data\\\\\\nngram 1=1\\n")
    ...     f.flush()
    ...     lm_format(f.name)
    'arpa'
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"Language model file {str(path)!r} {what}.")
    with open(path, "rb") as handle:
        head = handle.read(len(KENLM_MAGIC) + 16)
    if head.startswith(KENLM_MAGIC):
        if b"incomplete" in head:
            raise ValueError(
                f"Language model file {str(path)!r} is an incomplete KenLM "
                "binary (build_binary did not finish)."
            )
        return "kenlm"
    gzipped = head.startswith(GZIP_MAGIC)
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            first = _first_arpa_line(handle)
    except (OSError, EOFError) as err:
        raise ValueError(
            f"Language model file {str(path)!r} is unreadable: {err}"
        ) from err
    if first != b"\\data\\":
        raise ValueError(
            f"Language model file {str(path)!r} is neither ARPA (its first "
            f"non-comment line {first[:40]!r} is not '\\data\\'), gzipped "
            f"ARPA, nor a KenLM binary (it starts with {head[:12]!r})."
        )
    return "arpa.gz" if gzipped else "arpa"


def load_lm_path(path: str | os.PathLike) -> Path:
    """Validate an external LM path and return it resolved.

    Accepts an ARPA file, a gzipped ARPA file or a KenLM binary; see
    :func:`lm_format` for the errors raised. ``kenlm.Model`` reads gzipped
    ARPA only when KenLM was built with zlib (the PyPI wheel is).
    """
    lm_format(path)
    return Path(path).resolve()


# --------------------------------------------------------------------------
# Counting and Kneser-Ney estimation
# --------------------------------------------------------------------------


def read_sentences(text_path: str | os.PathLike) -> Iterator[list[str]]:
    """Yield the whitespace-separated words of each non-empty line."""
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
    ``<s>`` unigram is dropped (it is never predicted)."""
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


@dataclass
class NGramLM:
    """Back-off n-gram LM: log10 probabilities and backoff weights per order.

    ``logprobs[n - 1]`` and ``backoffs[n - 1]`` map n-gram tuples to log10
    values (no backoff for the highest order); ``discounts[n - 1]`` are the
    ``(D1, D2, D3+)`` used for order n.
    """

    order: int
    logprobs: list[dict[tuple, float]]
    backoffs: list[dict[tuple, float]]
    discounts: list[tuple[float, float, float]] | None = None

    def log10_prob(self, word: str, context: Iterable[str] = ()) -> float:
        """log10 p(word | context) with ARPA back-off, as KenLM computes it
        (words outside the vocabulary are mapped to ``<unk>``)."""
        unigrams = self.logprobs[0]
        word = word if (word,) in unigrams else UNK
        context = tuple(w if (w,) in unigrams else UNK for w in context)
        context = context[1 - self.order :] if self.order > 1 else ()
        penalty = 0.0
        while (*context, word) not in self.logprobs[len(context)]:
            penalty += self.backoffs[len(context) - 1].get(context, 0.0)
            context = context[1:]
        return penalty + self.logprobs[len(context)][(*context, word)]

    def sentence_log10(self, words: list[str]) -> float:
        """log10 probability of ``<s> words </s>`` (``<s>`` not scored)."""
        tokens = [BOS, *words, EOS]
        return sum(
            self.log10_prob(tokens[i], tokens[max(0, i - self.order + 1) : i])
            for i in range(1, len(tokens))
        )


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


def write_arpa(lm: NGramLM, path: str | os.PathLike) -> Path:
    """Write ``lm`` as a standard ARPA file (sorted n-grams)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as out:
        out.write("\\data\\\n")
        for n, level in enumerate(lm.logprobs, 1):
            out.write(f"ngram {n}={len(level)}\n")
        for n, level in enumerate(lm.logprobs, 1):
            out.write(f"\n\\{n}-grams:\n")
            backoffs = lm.backoffs[n - 1]
            for gram in sorted(level):
                line = f"{level[gram]:.7g}\t{' '.join(gram)}"
                if n < lm.order:
                    line += f"\t{backoffs.get(gram, 0.0):.7g}"
                out.write(line + "\n")
        out.write("\n\\end\\\n")
    return path


def read_arpa(path: str | os.PathLike) -> NGramLM:
    """Parse an ARPA file (plain or gzipped) into an :class:`NGramLM`."""
    opener = gzip.open if lm_format(path) == "arpa.gz" else open
    logprobs, backoffs, n = [], [], 0
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if not fields or fields[0] == "\\end\\":
                continue
            if fields[0].startswith("\\") and fields[0].endswith("-grams:"):
                n = int(fields[0][1:].split("-")[0])
            elif fields[0] == "ngram":
                logprobs.append({})
                backoffs.append({})
            elif n:
                gram = tuple(fields[1 : n + 1])
                logprobs[n - 1][gram] = float(fields[0])
                if len(fields) > n + 1:
                    backoffs[n - 1][gram] = float(fields[n + 1])
    return NGramLM(len(logprobs), logprobs, backoffs)


# --------------------------------------------------------------------------
# Building with KenLM's tools or the estimator above
# --------------------------------------------------------------------------


def find_kenlm_tool(name: str, kenlm_bin: str | os.PathLike | None = None):
    """Path of a KenLM executable (``lmplz``, ``build_binary``) or None.

    Looks in ``kenlm_bin``, then in the directory ``$KENLM_BIN``, then on
    ``PATH``.
    """
    for directory in (kenlm_bin, os.environ.get("KENLM_BIN")):
        if directory and os.access(Path(directory, name), os.X_OK):
            return Path(directory, name)
    found = shutil.which(name)
    return Path(found) if found else None


def _run(command: list, **kwargs) -> None:
    """Run a KenLM tool; raise with its stderr tail on failure."""
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))} failed ({done.returncode}):\n"
            f"{done.stderr[-2000:]}"
        )


def build_arpa(
    text_path: str | os.PathLike,
    arpa_path: str | os.PathLike,
    order: int = 4,
    tool: str = "auto",
    kenlm_bin: str | os.PathLike | None = None,
    memory: str = "20%",
) -> str:
    """Estimate an ARPA LM from ``text_path`` (always rebuilds).

    Parameters
    ----------
    tool : {"auto", "lmplz", "python"}
        ``"auto"`` uses lmplz when :func:`find_kenlm_tool` finds it.
    memory : str
        lmplz's ``-S`` (sorting memory), e.g. ``"20%"`` or ``"4G"``.

    Returns
    -------
    str
        The estimator used, ``"lmplz"`` or ``"python"``.
    """
    lmplz = find_kenlm_tool("lmplz", kenlm_bin) if tool != "python" else None
    if tool == "lmplz" and lmplz is None:
        raise FileNotFoundError("lmplz not found (kenlm_bin, $KENLM_BIN, PATH)")
    arpa_path = Path(arpa_path)
    arpa_path.parent.mkdir(parents=True, exist_ok=True)
    partial = arpa_path.with_name(arpa_path.name + ".partial")
    if lmplz is not None:
        command = [lmplz, "-o", str(order), "-S", memory, "--discount_fallback"]
        command += ["-T", str(arpa_path.parent), "--text", str(text_path)]
        _run(command + ["--arpa", str(partial)])
    else:
        if os.path.getsize(text_path) > _PYTHON_SIZE_WARNING:
            warnings.warn(
                f"Estimating from {text_path} in Python keeps all n-grams in "
                "memory; install KenLM's lmplz for text this large.",
                stacklevel=2,
            )
        write_arpa(estimate_kneser_ney(read_sentences(text_path), order), partial)
    partial.replace(arpa_path)
    return "lmplz" if lmplz is not None else "python"


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_options(order, tool, binary, kenlm_bin) -> dict:
    """The options that determine the output, with "auto" resolved."""
    if tool not in ("auto", "lmplz", "python"):
        raise ValueError(f"tool must be auto, lmplz or python, not {tool!r}")
    if binary not in ("auto", "probing", "trie", None):
        raise ValueError(f"binary must be auto, probing, trie or None: {binary!r}")
    has_lmplz = find_kenlm_tool("lmplz", kenlm_bin) is not None
    has_build_binary = find_kenlm_tool("build_binary", kenlm_bin) is not None
    if tool == "auto":
        tool = "lmplz" if has_lmplz else "python"
    if binary == "auto":
        binary = "probing" if has_build_binary else None
    return {"order": order, "tool": tool, "binary": binary}


def build_lm(
    text_path: str | os.PathLike,
    arpa_path: str | os.PathLike,
    order: int = 4,
    tool: str = "auto",
    binary: str | None = "auto",
    kenlm_bin: str | os.PathLike | None = None,
    memory: str = "20%",
) -> Path:
    """Build (or reuse) an n-gram LM and return the path to give KenLM.

    Parameters
    ----------
    text_path : path
        Training text, one sentence per line (``.gz`` accepted).
    arpa_path : path
        Where the ARPA file goes; the binary is ``arpa_path`` with suffix
        ``.bin`` and the sidecar ``<arpa_path>.json``.
    order : int
        N-gram order (3 or 4 typically).
    tool : {"auto", "lmplz", "python"}
        Estimator; see :func:`build_arpa`.
    binary : {"auto", "probing", "trie", None}
        KenLM binary type; ``"auto"`` means probing if ``build_binary`` is
        found, else no binary; None keeps the ARPA only.
    kenlm_bin, memory
        See :func:`find_kenlm_tool` and :func:`build_arpa`.

    Returns
    -------
    Path
        The KenLM binary if one was built, else the ARPA file.
    """
    if order < 2:
        raise ValueError(f"KenLM needs order >= 2, got {order}")
    arpa_path = Path(arpa_path)
    sidecar = arpa_path.with_name(arpa_path.name + ".json")
    options = _resolve_options(order, tool, binary, kenlm_bin)
    options.update(version=_SIDECAR_VERSION, text_sha256=_sha256(text_path))
    result = arpa_path.with_suffix(".bin") if options["binary"] else arpa_path
    if sidecar.is_file() and json.loads(sidecar.read_text()) == options:
        if result.is_file() and arpa_path.is_file():
            return load_lm_path(result)
    sidecar.unlink(missing_ok=True)
    build_arpa(text_path, arpa_path, order, options["tool"], kenlm_bin, memory)
    if options["binary"]:
        partial = result.with_name(result.name + ".partial")
        build_binary = find_kenlm_tool("build_binary", kenlm_bin)
        _run([build_binary, options["binary"], arpa_path, partial])
        partial.replace(result)
    sidecar.write_text(json.dumps(options, indent=1) + "\n")
    return load_lm_path(result)


def perplexity(lm: NGramLM | str | os.PathLike, text_path: str | os.PathLike) -> float:
    """Per-word perplexity of ``text_path`` (``</s>`` counted as a word,
    OOVs included) under ``lm``: an :class:`NGramLM` (scored in Python, any
    order) or an LM file (scored with the ``kenlm`` module, order >= 2)."""
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
