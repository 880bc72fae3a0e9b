"""The token-level n-gram of the AED joint search: the LM text in a real
SentencePiece tokenizer's pieces, the n-gram KenLM loads, and the cache (one
per tokenizer)."""

import csv
import os

import kenlm
import pytest

from modules.data.tokenizer import ctc_labels, train_tokenizer
from modules.decoding.token_lm import (
    PIECES_NAME,
    TokenLMRequest,
    build_token_lm,
    tokenizer_fingerprint,
)

SENTENCES = [
    "THE CAT SAT ON THE MAT",
    "A DOG RAN IN THE PARK",
    "THE BIRD SANG A SONG",
    "SHE READ THE BOOK TODAY",
]


def tokenizer(tmp_path, model_type, vocab_size=None):
    """A SentencePiece tokenizer trained on :data:`SENTENCES`."""
    manifest = tmp_path / f"{model_type}.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "duration", "wav", "spk_id", "wrd"])
        for i, text in enumerate(SENTENCES * 3):
            writer.writerow([f"u{i}", "1.0", f"/x/u{i}.flac", "1", text])
    return train_tokenizer(manifest, tmp_path / "tok", model_type, vocab_size)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("token_lm")
    (root / "librispeech-lm-norm.txt").write_text("\n".join(SENTENCES) + "\n")
    return root


def test_pieces_round_trip_and_kenlm_loads_the_lm(folder):
    bpe = tokenizer(folder, "bpe", 30)
    lm = build_token_lm(folder / "librispeech-lm-norm.txt", bpe, folder / "lm", 4)
    assert lm.parent.name == f"tokens_{tokenizer_fingerprint(bpe)}"
    lines = (lm.parent / PIECES_NAME).read_text().splitlines()
    assert ["".join(p.split()).replace("▁", " ").strip() for p in lines] == SENTENCES
    assert lines[0].split() == bpe.encode(SENTENCES[0], out_type=str)
    model = kenlm.Model(str(lm))
    assert model.order == 4
    seen, unseen = (" ".join(bpe.encode(s, out_type=str)) for s in SENTENCES[:2])
    assert model.score(seen) > model.score(" ".join(reversed(unseen.split())))


def test_the_cache_is_reused_and_another_tokenizer_gets_its_own(folder):
    text = folder / "librispeech-lm-norm.txt"
    bpe = tokenizer(folder, "bpe", 30)
    first = build_token_lm(text, bpe, folder / "lm", 4)
    os.utime(first, ns=(10**18, 10**18))
    assert build_token_lm(text, bpe, folder / "lm", 4) == first
    assert os.stat(first).st_mtime_ns == 10**18
    assert build_token_lm(text, bpe, folder / "lm", 3) != first  # other order
    char = tokenizer(folder, "char")
    other = build_token_lm(text, char, folder / "lm", 4)
    assert other.parent != first.parent
    pieces = (other.parent / PIECES_NAME).read_text().splitlines()[0].split()
    assert pieces[:3] == ["▁", "T", "H"]


def test_auto_request_resolves_to_the_built_lm_and_the_token_list(folder):
    bpe = tokenizer(folder, "bpe", 30)
    lm = TokenLMRequest("auto", 0.4, 4).resolve(bpe, folder, folder / "fallback")
    assert lm.path == os.fspath(
        build_token_lm(folder / "librispeech-lm-norm.txt", bpe, folder / "fallback", 4)
    )
    assert (lm.weight, lm.tokens) == (0.4, tuple(ctc_labels(bpe)))
