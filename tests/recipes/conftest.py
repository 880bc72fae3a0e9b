"""Fixtures shared by the recipe tests."""

import pytest

from modules.data.synthetic.generate import generate_corpus


@pytest.fixture(scope="session")
def tiny_long_corpus(tmp_path_factory):
    """The built-in ``tiny-long`` corpus (one chapter of about 30 s per
    training speaker, 40 s per test speaker), generated once per test run."""
    folder = str(tmp_path_factory.mktemp("data") / "synthetic-tiny-long")
    generate_corpus(folder, size="tiny-long")
    return folder
