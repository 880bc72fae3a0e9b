"""Streaming CTC decoders (modules/inference/streaming_decoding.py): fed in
chunks, they find what the whole-recording decoders find."""

import random

import pytest
import torch

from modules.decoding.greedy import greedy_ctc_decode
from modules.decoding.lm_beam import SpeechBrainLMDecoder
from modules.decoding.ngram import build_lm
from modules.inference.streaming_decoding import StreamingGreedy, StreamingLMSearch

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
def lm_decoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    (folder / "text.txt").write_text(LM_TEXT)
    path = build_lm(
        folder / "text.txt", folder / "lm.arpa", 3, tool="python", binary=None
    )
    return SpeechBrainLMDecoder(LABELS, str(path), 0.8, 1.0, beam_size=8)


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
