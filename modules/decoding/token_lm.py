"""Token-level n-gram LMs: the corpus LM text in the tokenizer's pieces.

SpeechBrain's ``KenLMScorer`` (the n-gram scorer of its attention beam
searches, :func:`modules.decoding.aed_search.joint_beam_searcher`) scores the
*tokens* a decoder emits, so its n-gram is over the experiment's
SentencePiece pieces (e.g. ``▁THE``, ``IR``), not over words.
:func:`build_token_lm` writes the LM text as pieces (one sentence per line,
pieces separated by spaces) and estimates an n-gram on it with
:func:`modules.decoding.ngram.build_lm` (KenLM's lmplz when found, else the
project's Kneser-Ney estimator), both cached in a folder named after the
tokenizer's fingerprint, so that another tokenizer never reuses them.
:class:`TokenLMRequest` is the YAML's ``decoding_lm`` keys, checked at
start-up and resolved into a :class:`TokenLM` once the tokenizer exists.

Example
-------
>>> import pathlib, tempfile
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "text.txt").write_text("AB A\\nB AB\\n")
>>> class Letters:  # a tokenizer whose pieces are letters
...     def encode(self, lines, out_type=str):
...         return [list(line.replace(" ", "_")) for line in lines]
...     def serialized_model_proto(self):
...         return b"letters"
>>> lm = build_token_lm(tmp / "text.txt", Letters(), tmp / "lm", order=3)
>>> (lm.parent / PIECES_NAME).read_text().splitlines()[0]
'A B _ A'
>>> build_token_lm(tmp / "text.txt", Letters(), tmp / "lm", order=3) == lm
True
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from modules.data.tokenizer import ctc_labels
from modules.decoding.kneser_ney import read_sentences
from modules.decoding.lm_files import find_lm_text, lm_cache_folder
from modules.decoding.ngram import build_lm, file_sha256

__all__ = [
    "KENLM_MAX_ORDER",
    "PIECES_NAME",
    "TokenLM",
    "TokenLMRequest",
    "build_token_lm",
    "tokenizer_fingerprint",
    "write_pieces",
]

PIECES_NAME = "pieces.txt"
"""The LM text in pieces, in a token LM's cache folder."""
KENLM_MAX_ORDER = 6
"""The highest order the ``kenlm`` module loads (its build's
``KENLM_MAX_ORDER``: 6 for the PyPI package; an 8-gram is refused on load)."""
_BATCH_LINES = 10000


def tokenizer_fingerprint(tokenizer) -> str:
    """First 16 hex digits of the SHA-256 of the tokenizer's model (its
    ``serialized_model_proto()``, as SentencePiece gives it).

    Example
    -------
    >>> class Model:
    ...     def serialized_model_proto(self):
    ...         return b"model"
    >>> tokenizer_fingerprint(Model())
    '9372c470eeadd5ec'
    """
    return hashlib.sha256(tokenizer.serialized_model_proto()).hexdigest()[:16]


def write_pieces(text_path, tokenizer, pieces_path) -> Path:
    """Write ``text_path``'s sentences as the tokenizer's pieces, one sentence
    a line, atomically; reused when the text and tokenizer are unchanged (a
    ``<pieces_path>.json`` sidecar records both).

    Example
    -------
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "text.txt").write_text("AB\\n")
    >>> class Letters:
    ...     def encode(self, lines, out_type=str):
    ...         return [list(line) for line in lines]
    ...     def serialized_model_proto(self):
    ...         return b"letters"
    >>> write_pieces(tmp / "text.txt", Letters(), tmp / "p.txt").read_text()
    'A B\\n'
    """
    pieces_path = Path(pieces_path)
    sidecar = pieces_path.with_name(pieces_path.name + ".json")
    key = {
        "text_sha256": file_sha256(text_path),
        "tokenizer": tokenizer_fingerprint(tokenizer),
    }
    if pieces_path.is_file() and sidecar.is_file():
        if json.loads(sidecar.read_text()) == key:
            return pieces_path
    pieces_path.parent.mkdir(parents=True, exist_ok=True)
    partial = pieces_path.with_name(pieces_path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as out:
        batch = []
        for words in read_sentences(text_path):
            batch.append(" ".join(words))
            if len(batch) == _BATCH_LINES:
                _write_encoded(out, tokenizer, batch)
                batch = []
        _write_encoded(out, tokenizer, batch)
    partial.replace(pieces_path)
    sidecar.write_text(json.dumps(key, indent=1) + "\n")
    return pieces_path


def _write_encoded(out, tokenizer, lines) -> None:
    """Write each line's pieces, space-separated, one line each."""
    for pieces in tokenizer.encode(lines, out_type=str) if lines else []:
        out.write(" ".join(pieces) + "\n")


def build_token_lm(text_path, tokenizer, cache_folder, order) -> Path:
    """Build (or reuse) an ``order``-gram LM over the tokenizer's pieces of
    ``text_path``, in ``<cache_folder>/tokens_<fingerprint>/``.

    Returns
    -------
    Path
        The LM file to give KenLM (ARPA, or a binary when KenLM's
        ``build_binary`` is found; :func:`modules.decoding.ngram.build_lm`).
    """
    folder = Path(cache_folder) / f"tokens_{tokenizer_fingerprint(tokenizer)}"
    pieces = write_pieces(text_path, tokenizer, folder / PIECES_NAME)
    return build_lm(pieces, folder / f"lm_{order}gram.arpa", order=order)


@dataclass(frozen=True)
class TokenLM:
    """A token-level n-gram ready for SpeechBrain's ``KenLMScorer``.

    Attributes
    ----------
    path : str
        The ARPA or KenLM binary file, over the tokenizer's pieces.
    weight : float
        Its weight in the beam search's scores.
    tokens : tuple of str
        The pieces indexed by token id (``KenLMScorer``'s ``token_list``).
    """

    path: str
    weight: float
    tokens: tuple


@dataclass(frozen=True)
class TokenLMRequest:
    """The ``decoding_lm`` keys of a YAML, checked at start-up.

    Attributes
    ----------
    source : str
        ``"auto"`` (build from the corpus LM text) or an LM file's path.
    weight : float
        ``decoding_lm_weight``.
    order : int
        ``decoding_lm_order``: the order of an ``auto`` LM.
    """

    source: str
    weight: float
    order: int

    def resolve(self, tokenizer, data_folder, cache_folder, search_roots=()):
        """The :class:`TokenLM`: the file of ``source``, or the one built
        from ``<data_folder>/librispeech-lm-norm.txt`` (a relative folder also
        tried under ``search_roots``) into the synthetic corpus's ``lm``
        folder, or else ``cache_folder``
        (:func:`modules.decoding.lm_files.lm_cache_folder`).

        Example
        -------
        >>> class Pieces:
        ...     def get_piece_size(self):
        ...         return 2
        ...     def id_to_piece(self, i):
        ...         return ["<pad>", "A"][i]
        >>> TokenLMRequest("x.arpa", 0.5, 6).resolve(Pieces(), "data", "lm")
        TokenLM(path='x.arpa', weight=0.5, tokens=('<pad>', 'A'))
        """
        path = self.source
        if self.source == "auto":
            text = find_lm_text(data_folder, search_roots)
            cache = lm_cache_folder(text, cache_folder)
            path = build_token_lm(text, tokenizer, cache, self.order)
        return TokenLM(os.fspath(path), self.weight, tuple(ctc_labels(tokenizer)))
