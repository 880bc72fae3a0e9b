"""Tests for modules.decoding.arpa: ARPA files that KenLM reads, the Python
scorer, and LM path validation."""

import gzip

import kenlm
import pytest

from modules.decoding import arpa


@pytest.fixture(scope="module")
def model3(arpa3):
    return kenlm.Model(str(arpa3))


def test_arpa_parses_with_kenlm(arpa3, model3):
    assert arpa.lm_format(arpa3) == "arpa"
    assert model3.order == 3
    text = arpa3.read_text()
    parsed = arpa.read_arpa(arpa3)
    for n, level in enumerate(parsed.logprobs, 1):
        assert f"ngram {n}={len(level)}\n" in text
    unigrams = parsed.logprobs[0]
    assert {("<s>",), ("</s>",), ("<unk>",)} <= set(unigrams)
    assert text.rstrip().endswith("\\end\\")


def test_python_scorer_matches_kenlm(corpus, arpa3, model3):
    lm = arpa.read_arpa(arpa3)
    for line in (corpus / "test.txt").read_text().splitlines()[:30]:
        assert lm.sentence_log10(line.split()) == pytest.approx(
            model3.score(line), abs=1e-4
        )


def test_valid_lm_paths(arpa3, tmp_path):
    gzipped = tmp_path / "lm.arpa.gz"
    gzipped.write_bytes(gzip.compress(arpa3.read_bytes()))
    assert arpa.lm_format(gzipped) == "arpa.gz"
    assert arpa.read_arpa(gzipped).logprobs == arpa.read_arpa(arpa3).logprobs
    commented = tmp_path / "commented.arpa"
    commented.write_text("# made by hand\n\n" + arpa3.read_text())
    assert arpa.load_lm_path(commented) == commented.resolve()
    kenlm.Model(str(commented))
    binary = tmp_path / "fake.bin"
    binary.write_bytes(arpa.KENLM_MAGIC + b" format version 5\n\0" + bytes(64))
    assert arpa.lm_format(binary) == "kenlm"


@pytest.mark.parametrize(
    "name, content, error",
    [
        ("missing.arpa", None, FileNotFoundError),
        ("words.txt", b"HELLO WORLD\n", ValueError),
        ("empty.arpa", b"", ValueError),
        ("noise.bin", bytes(range(256)), ValueError),
        ("text.gz", gzip.compress(b"HELLO\n"), ValueError),
        ("broken.gz", b"\x1f\x8b\x08garbage", ValueError),
        ("failed.bin", arpa.KENLM_MAGIC + b" incomplete\n", ValueError),
    ],
)
def test_bad_lm_paths_raise_clear_errors(tmp_path, name, content, error):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=name):
        arpa.load_lm_path(path)


def test_directory_is_not_an_lm(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"):
        arpa.load_lm_path(tmp_path)
