"""ARPA n-gram language models: file formats, parsing and writing.

:func:`lm_format` identifies an LM file (ARPA, gzipped ARPA or KenLM
binary, e.g. OpenSLR's ``4-gram.arpa.gz``) and :func:`load_lm_path` validates
an external LM before a long decoding run. :class:`NGramLM` holds a back-off
model's log10 probabilities in memory and scores text as KenLM does;
:func:`read_arpa` and :func:`write_arpa` convert it from and to the standard
ARPA text format.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NGramLM",
    "lm_format",
    "load_lm_path",
    "read_arpa",
    "write_arpa",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
KENLM_MAGIC = b"mmap lm http://kheafield.com/code"
"""Start of every KenLM binary file (``lm/binary_format.cc``): complete files
continue with `` format version 5``, failed builds with `` incomplete``."""
GZIP_MAGIC = b"\x1f\x8b"


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

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     load_lm_path(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: Language model file ... is a directory, not a file.
    """
    lm_format(path)
    return Path(path).resolve()


@dataclass
class NGramLM:
    """Back-off n-gram LM: log10 probabilities and backoff weights per order.

    ``logprobs[n - 1]`` and ``backoffs[n - 1]`` map n-gram tuples to log10
    values (no backoff for the highest order); ``discounts[n - 1]`` are the
    ``(D1, D2, D3+)`` used for order n.

    Examples
    --------
    >>> lm = NGramLM(
    ...     2,
    ...     [{("<s>",): -99.0, ("A",): -0.3, ("</s>",): -0.3}, {("<s>", "A"): 0.0}],
    ...     [{("<s>",): -0.5}, {}],
    ... )
    >>> lm.log10_prob("A", ["<s>"]), lm.log10_prob("</s>", ["<s>"])
    (0.0, -0.8)
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


def write_arpa(lm: NGramLM, path: str | os.PathLike) -> Path:
    """Write ``lm`` as a standard ARPA file (sorted n-grams).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> lm = NGramLM(1, [{("A",): -0.3, ("</s>",): -0.3}], [{}])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lm.arpa"
    >>> read_arpa(write_arpa(lm, path)).logprobs == lm.logprobs
    True
    >>> path.read_text().splitlines()[1]
    'ngram 1=2'
    """
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
    """Parse an ARPA file (plain or gzipped) into an :class:`NGramLM`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> lm = NGramLM(2, [{("A",): -0.3}, {("A", "A"): -0.1}], [{("A",): -0.2}, {}])
    >>> path = write_arpa(lm, pathlib.Path(tempfile.mkdtemp()) / "lm.arpa")
    >>> read_arpa(path) == lm
    True
    """
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
