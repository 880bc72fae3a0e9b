"""Fixtures of the n-gram LM tests: a synthetic corpus and a trigram ARPA
LM estimated from it in Python."""

import pytest

from modules.decoding import ngram
from tests.modules.decoding.lm_corpus import synthetic_corpus


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
