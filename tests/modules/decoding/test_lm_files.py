"""Tests for modules.decoding.lm_files: which LM a benchmark decodes with."""

import pytest

from modules.decoding.lm_files import LMError, find_lm_text, resolve_lm

LM_TEXT = "THE CAT SAT\n" * 20 + "A DOG SAT\nTHE HAT\nA HAT SAT ON A DOG\n"


def test_resolve_lm_builds_from_corpus_text_and_caches(tmp_path):
    data = tmp_path / "corpus"
    data.mkdir()
    (data / "librispeech-lm-norm.txt").write_text(LM_TEXT)
    info = resolve_lm("auto", str(data), str(tmp_path / "cache"), order=3)
    assert info.source == "built" and info.order == 3
    assert info.path.startswith(str(tmp_path / "cache"))
    again = resolve_lm("auto", str(data), str(tmp_path / "cache"), order=3)
    assert again.path == info.path
    assert resolve_lm(info.path, None, None, order=3).source == "external"
    assert resolve_lm("none", None, None, order=3) is None


def test_resolve_lm_errors(tmp_path):
    with pytest.raises(LMError, match="does not exist"):
        resolve_lm(str(tmp_path / "missing.arpa"), None, None, order=3)
    bogus = tmp_path / "bogus.arpa"
    bogus.write_text("this is not a language model\n")
    with pytest.raises(LMError, match="bogus.arpa"):
        resolve_lm(str(bogus), None, None, order=3)
    with pytest.raises(LMError, match="--lm PATH"):
        resolve_lm(
            "auto", str(tmp_path / "no-corpus"), str(tmp_path / "cache"), order=3
        )


def test_find_lm_text_tries_the_search_roots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "project"
    (root / "corpus").mkdir(parents=True)
    (root / "corpus" / "librispeech-lm-norm.txt.gz").write_bytes(b"")
    found = find_lm_text("corpus", search_roots=[str(root)])
    assert found == root / "corpus" / "librispeech-lm-norm.txt.gz"
    with pytest.raises(LMError, match="project/elsewhere/librispeech-lm-norm.txt"):
        find_lm_text("elsewhere", search_roots=[str(root)])
