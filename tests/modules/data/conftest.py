"""Fixtures of the data package tests."""

import pytest


@pytest.fixture
def tree(make_librispeech):
    """A LibriSpeech-shaped ``train-synth`` split of six utterances."""
    return make_librispeech("train-synth")
