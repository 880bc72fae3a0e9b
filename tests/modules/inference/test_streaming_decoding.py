"""Streaming CTC decoders (modules/inference/streaming_decoding.py): fed in
chunks, they find what the whole-recording decoders find."""

import random

import pytest
import torch

from modules.decoding.flashlight_beam import FlashlightLMDecoder
from modules.decoding.greedy import greedy_ctc_decode
from modules.decoding.lm_beam import SpeechBrainLMDecoder
from modules.decoding.ngram import build_lm
from modules.inference.streaming_decoding import (
    StreamingFlashlightSearch,
    StreamingGreedy,
    StreamingLMSearch,
    streaming_lm_search,
)

LABELS = ["<pad>", "<unk>", "▁THE", "▁C", "▁H", "AT", "▁S", "▁A", "▁DOG"]
LM_TEXT = "THE CAT SAT\n" * 20 + "A DOG SAT\nTHE HAT\nA HAT SAT ON A DOG\n"


class PieceTokenizer:
    def decode_ids(self, ids):
        return "".join(LABELS[i] for i in ids).replace("▁", " ").strip()


def peaky_log_probs(frames, vocab, seed):
    """Random posteriors with runs of the same best unit (so that repeats
    cross chunk boundaries), blank-heavy."""
    generator = torch.Generator().manual_seed(seed)
    runs = torch.randint(0, vocab, (frames // 3 + 1,), generator=generator)
    best = runs.repeat_interleave(3)[:frames]
    best[torch.rand(frames, generator=generator) < 0.3] = 0
    logits = torch.randn(frames, vocab, generator=generator)
    logits[torch.arange(frames), best] += 4.0
    return logits.log_softmax(-1)


def random_chunks(log_probs, seed):
    """``log_probs`` cut at random places (empty chunks included)."""
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(log_probs.shape[0] + 1), 12))
    bounds = [0, *cuts, log_probs.shape[0]]
    return [log_probs[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("seed", range(5))
def test_streaming_greedy_equals_greedy_on_the_whole(seed):
    log_probs = peaky_log_probs(200, len(LABELS), seed)
    decoder = StreamingGreedy(PieceTokenizer())
    for chunk in random_chunks(log_probs, seed):
        decoder.feed(chunk)
    whole = greedy_ctc_decode(log_probs.unsqueeze(0), torch.ones(1))[0]
    assert decoder.tokens == whole and len(whole) > 20
    assert decoder.finish() == PieceTokenizer().decode_ids(whole).split()


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    (folder / "text.txt").write_text(LM_TEXT)
    return build_lm(
        folder / "text.txt", folder / "lm.arpa", 3, tool="python", binary=None
    )


@pytest.fixture(scope="module")
def lm_decoder(lm_path):
    return SpeechBrainLMDecoder(LABELS, str(lm_path), 0.8, 1.0, beam_size=8)


@pytest.fixture(scope="module")
def flashlight_decoder(lm_path):
    return FlashlightLMDecoder(LABELS, str(lm_path), 0.8, 1.0, beam_size=8)


@pytest.mark.parametrize("seed", range(2))
def test_streaming_lm_search_equals_the_search_on_the_whole(lm_decoder, seed):
    log_probs = peaky_log_probs(150, len(LABELS), seed)
    search = StreamingLMSearch(lm_decoder)
    peak_cache = 0
    for chunk in random_chunks(log_probs, seed):
        search.feed(chunk)
        peak_cache = max(peak_cache, search.cache_entries)
    words = search.finish()
    assert words == lm_decoder.decode_one(log_probs.numpy()).split()
    assert len(words) > 10
    # The LM scores kept between chunks are those of the live beams only.
    assert peak_cache <= lm_decoder.beam_size


@pytest.mark.parametrize("seed", range(3))
def test_streaming_flashlight_with_pruning_equals_the_search_on_the_whole(
    flashlight_decoder, seed
):
    log_probs = peaky_log_probs(400, len(LABELS), seed)
    whole = flashlight_decoder.decode_one(log_probs.numpy()).split()
    search = StreamingFlashlightSearch(flashlight_decoder, look_back=40)
    for chunk in random_chunks(log_probs, seed):
        search.feed(chunk)
    assert search.committed, "400 frames with look_back 40 must prune"
    assert search.finish() == whole
    assert len(whole) > 20


def test_streaming_flashlight_holds_a_bounded_number_of_frames(flashlight_decoder):
    search = StreamingFlashlightSearch(flashlight_decoder, look_back=30)
    for chunk in peaky_log_probs(600, len(LABELS), 7).split(25):
        search.feed(chunk)
        assert search.unpruned <= 2 * 30 + 25


def test_each_lm_decoder_gets_its_streaming_search(lm_decoder, flashlight_decoder):
    assert isinstance(streaming_lm_search(lm_decoder), StreamingLMSearch)
    assert isinstance(
        streaming_lm_search(flashlight_decoder), StreamingFlashlightSearch
    )
