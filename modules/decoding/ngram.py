"""Building n-gram LMs for CTC beam search with KenLM / pyctcdecode.

``build_lm`` turns a text file (one sentence per line, words separated by
spaces, e.g. LibriSpeech's ``librispeech-lm-norm.txt``; ``.gz`` accepted) into
an n-gram LM with interpolated modified Kneser-Ney smoothing:

* with KenLM's ``lmplz`` when the executable is found (``kenlm_bin``
  argument, ``$KENLM_BIN`` directory or ``PATH``), else with the pure-Python
  estimator of :mod:`modules.decoding.kneser_ney`, which writes the same kind
  of ARPA file and keeps every n-gram in memory, so it suits transcripts; use
  lmplz or OpenSLR's pre-built ``4-gram.arpa.gz`` for LibriSpeech-LM-scale
  text;
* then into a KenLM binary with ``build_binary`` when that is found,
  otherwise the ARPA file is used directly (``kenlm.Model`` reads both);
* idempotently: a JSON sidecar records the text's SHA-256 and the options,
  and a second call with the same text and options reuses the files.

Examples
--------
>>> import pathlib, tempfile
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> _ = (tmp / "text.txt").write_text("A B C\\nA B D\\nB C\\n")
>>> options = dict(order=3, tool="python", binary=None)
>>> lm = build_lm(tmp / "text.txt", tmp / "lm.arpa", **options)
>>> from modules.decoding.arpa import lm_format
>>> lm_format(lm)
'arpa'
>>> build_lm(tmp / "text.txt", tmp / "lm.arpa", **options) == lm  # reused
True
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

from modules.decoding.arpa import load_lm_path, write_arpa
from modules.decoding.kneser_ney import estimate_kneser_ney, read_sentences

__all__ = ["build_arpa", "build_lm", "file_sha256", "find_kenlm_tool"]

_SIDECAR_VERSION = 1
_PYTHON_SIZE_WARNING = 200 * 2**20  # bytes of text


def find_kenlm_tool(name: str, kenlm_bin: str | os.PathLike | None = None):
    """Path of a KenLM executable (``lmplz``, ``build_binary``) or None.

    Looks in ``kenlm_bin``, then in the directory ``$KENLM_BIN``, then on
    ``PATH``.

    Examples
    --------
    >>> find_kenlm_tool("no-such-kenlm-tool") is None
    True
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


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (the key of the cached LM files)."""
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
    options.update(version=_SIDECAR_VERSION, text_sha256=file_sha256(text_path))
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
