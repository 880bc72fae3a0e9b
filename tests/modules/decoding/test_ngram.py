"""Tests for modules.decoding.ngram: idempotent builds with the Python
estimator or KenLM's tools, and finding those tools."""

import os

import kenlm
import pytest

from modules.decoding import arpa, ngram


def test_build_is_idempotent(corpus, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text((corpus / "train.txt").read_text())
    options = dict(order=3, tool="python", binary=None)
    first = ngram.build_lm(text, tmp_path / "lm.arpa", **options)
    stamp = first.stat().st_mtime_ns
    assert ngram.build_lm(text, tmp_path / "lm.arpa", **options) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten
    ngram.build_lm(text, tmp_path / "lm.arpa", **{**options, "order": 2})
    assert arpa.read_arpa(first).order == 2  # new options: rebuilt
    text.write_text("A B C\nA B\n" * 20)
    ngram.build_lm(text, tmp_path / "lm.arpa", **{**options, "order": 2})
    assert len(arpa.read_arpa(first).logprobs[0]) == 6  # new text: rebuilt


def test_build_lm_rejects_bad_options(corpus, tmp_path):
    with pytest.raises(ValueError, match="order"):
        ngram.build_lm(corpus / "train.txt", tmp_path / "a.arpa", order=1)
    with pytest.raises(ValueError, match="tool"):
        ngram.build_lm(corpus / "train.txt", tmp_path / "a.arpa", tool="srilm")


@pytest.mark.skipif(
    ngram.find_kenlm_tool("build_binary") is None,
    reason="optional: KenLM's build_binary not found on PATH or in $KENLM_BIN",
)
def test_binary_build(corpus, tmp_path):
    lm = ngram.build_lm(corpus / "train.txt", tmp_path / "lm.arpa", 3, "python")
    assert lm.suffix == ".bin" and arpa.lm_format(lm) == "kenlm"
    arpa_model = kenlm.Model(str(tmp_path / "lm.arpa"))
    line = (corpus / "test.txt").read_text().splitlines()[0]
    assert kenlm.Model(str(lm)).score(line) == pytest.approx(
        arpa_model.score(line), abs=1e-4
    )


def test_kenlm_bin_environment_variable(tmp_path, monkeypatch):
    tool = tmp_path / "lmplz"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o755)
    monkeypatch.setenv("KENLM_BIN", str(tmp_path))
    assert ngram.find_kenlm_tool("lmplz") == tool
    assert ngram.find_kenlm_tool("lmplz", kenlm_bin=tmp_path / "none") == tool
