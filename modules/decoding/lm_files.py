"""Which language model a benchmark decodes with: an external file or one
built from the corpus LM text.

:func:`resolve_lm` validates an external ARPA / gzipped ARPA / KenLM binary
file, or builds (and caches) an n-gram LM from
``<data_folder>/librispeech-lm-norm.txt`` with
:func:`modules.decoding.ngram.build_lm`; it describes the result as an
:class:`LMInfo` and raises :class:`LMError` when no usable LM can be found.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from modules.decoding.arpa import lm_format, load_lm_path
from modules.decoding.ngram import build_lm

__all__ = [
    "LMError",
    "LMInfo",
    "LM_TEXT_NAME",
    "find_lm_text",
    "lm_cache_folder",
    "resolve_lm",
]

logger = logging.getLogger(__name__)

LM_TEXT_NAME = "librispeech-lm-norm.txt"


class LMError(RuntimeError):
    """Raised when no usable language model can be found or built."""


@dataclass
class LMInfo:
    """The LM a benchmark decodes with.

    Attributes
    ----------
    path : str
        File given to KenLM.
    source : str
        ``"external"`` or ``"built"``.
    format : str
        ``"kenlm"``, ``"arpa"`` or ``"arpa.gz"``.
    text : str, optional
        Training text of a built LM.
    order : int, optional
        N-gram order of a built LM.

    Examples
    --------
    >>> LMInfo("lm.arpa", "external", "arpa")
    LMInfo(path='lm.arpa', source='external', format='arpa', text=None, order=None)
    """

    path: str
    source: str
    format: str
    text: str | None = None
    order: int | None = None


def find_lm_text(data_folder: str, search_roots=()) -> Path:
    """The corpus LM text ``<data_folder>/librispeech-lm-norm.txt``.

    A relative ``data_folder`` is tried from the current directory, then from
    each of ``search_roots`` (e.g. the project root that training ran from).

    Examples
    --------
    >>> find_lm_text("/no/such/corpus")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modules.decoding.lm_files.LMError: No LM text found (tried /no/such/corpus/...
    """
    folder = Path(data_folder)
    candidates = [folder] if folder.is_absolute() else []
    if not folder.is_absolute():
        candidates = [Path.cwd() / folder] + [Path(r) / folder for r in search_roots]
    for candidate in candidates:
        for name in (LM_TEXT_NAME, LM_TEXT_NAME + ".gz"):
            if (candidate / name).is_file():
                return candidate / name
    tried = ", ".join(str(c / LM_TEXT_NAME) for c in candidates)
    raise LMError(
        f"No LM text found (tried {tried}). Give an ARPA or KenLM binary "
        "with --lm PATH, or --lm none to skip LM decoding."
    )


def lm_cache_folder(text, fallback) -> Path:
    """Where LMs built from the LM text ``text`` are kept: ``<its folder>/lm``
    for the built-in synthetic corpus (shared by every experiment on it),
    else ``fallback`` (a real LibriSpeech folder is never written to).

    Example
    -------
    >>> lm_cache_folder("/no/such/corpus/text.txt", "exp/lm")
    PosixPath('exp/lm')
    """
    from modules.data.synthetic.generate import MARKER_NAME

    folder = Path(text).parent
    if (folder / MARKER_NAME).is_file() and os.access(folder, os.W_OK):
        return folder / "lm"
    return Path(fallback)


def resolve_lm(lm, data_folder, cache_folder, order, search_roots=()):
    """Validate an external LM or build one from the corpus LM text.

    Parameters
    ----------
    lm : str or None
        ``"auto"`` (build an ``order``-gram Kneser-Ney LM from
        ``<data_folder>/librispeech-lm-norm.txt`` into ``cache_folder``,
        reused when the text and options are unchanged), ``"none"``/None (no
        LM), or the path of an ARPA / gzipped ARPA / KenLM binary file.
    data_folder : str
        Corpus folder holding the LM text.
    cache_folder : str
        Where a built LM is kept.
    order : int
        N-gram order of a built LM.
    search_roots : sequence of str
        Extra roots for a relative ``data_folder``.

    Returns
    -------
    LMInfo or None

    Examples
    --------
    >>> resolve_lm("none", "data", "cache", order=4) is None
    True
    """
    if lm is None or str(lm).lower() == "none":
        return None
    if str(lm) != "auto":
        try:
            path = load_lm_path(lm)
        except (FileNotFoundError, ValueError) as error:
            raise LMError(f"--lm {lm}: {error}") from error
        return LMInfo(str(path), "external", lm_format(path))
    text = find_lm_text(data_folder, search_roots)
    arpa = Path(cache_folder) / f"lm_{order}gram.arpa"
    logger.info("Building (or reusing) a %d-gram LM from %s", order, text)
    path = build_lm(text, arpa, order=order)
    return LMInfo(str(path), "built", lm_format(path), str(text), order)
