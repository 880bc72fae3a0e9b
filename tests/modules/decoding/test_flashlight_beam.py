"""Tests for modules.decoding.flashlight_beam: flashlight-text's lexicon
decoder on a hand-written bigram ARPA LM and hand-made log-probabilities.

The LM knows "THE CAT SAT" well and "THE HAT" and "... DOG" badly; the
acoustics prefer "HAT" by a small margin (``cat_or_hat``), so the LM weight
decides between the two.
"""

import pytest
import torch

from modules.decoding.flashlight_beam import (
    FlashlightLMDecoder,
    fewest_pieces_spelling,
    lexicon_pieces,
    merge_order_spelling,
    word_spellings,
)
from modules.decoding.lm_files import LMError
from tests.modules.decoding.test_lm_beam import LABELS, REFERENCE, cat_or_hat, frames

ARPA = """\\data\\
ngram 1=9
ngram 2=9

\\1-grams:
-99\t<s>\t-0.5
-1.0\t</s>\t0
-2.0\t<unk>\t0
-0.8\tTHE\t-0.5
-1.0\tCAT\t-0.5
-1.0\tHAT\t-0.5
-1.0\tSAT\t-0.5
-1.0\tA\t-0.5
-1.0\tDOG\t-0.5

\\2-grams:
-0.1\t<s>\tTHE
-0.3\tTHE\tCAT
-2.0\tTHE\tHAT
-0.2\tCAT\tSAT
-0.2\tHAT\tSAT
-0.3\tSAT\t</s>
-3.0\tSAT\tDOG
-4.0\tCAT\tDOG
-0.3\tDOG\t</s>

\\end\\
"""


@pytest.fixture(scope="module")
def arpa(tmp_path_factory):
    path = tmp_path_factory.mktemp("flashlight") / "bigram.arpa"
    path.write_text(ARPA)
    return str(path)


def decode(decoder, log_probs):
    """Words of one utterance ``[T, V]``."""
    return decoder.decode(log_probs.unsqueeze(0), torch.ones(1))[0]


def test_spellings_follow_the_pieces():
    ids = lexicon_pieces(LABELS)
    assert "<pad>" not in ids and "<unk>" not in ids
    assert word_spellings("CAT", ids) == [(ids["▁C"], ids["AT"])]
    assert word_spellings("THE", ids) == [(ids["▁THE"],)]
    assert word_spellings("ZEBRA", ids) == []  # no piece covers Z
    # BPE merge order (lowest id first) can differ from the fewest pieces
    pieces = {"▁": 2, "A": 3, "B": 4, "C": 5, "BC": 6, "▁A": 7, "▁AB": 8}
    assert merge_order_spelling("▁ABC", pieces) == (7, 6)
    assert fewest_pieces_spelling("▁ABC", pieces) == (8, 5)


def test_lm_flips_the_acoustic_choice(arpa):
    log_probs = cat_or_hat()
    assert decode(FlashlightLMDecoder(LABELS, arpa, 0.0, 0.0, 8), log_probs) == [
        "THE",
        "HAT",
        "SAT",
    ]
    assert (
        decode(FlashlightLMDecoder(LABELS, arpa, 1.0, 0.0, 8), log_probs) == REFERENCE
    )


def test_set_weights_takes_effect(arpa):
    decoder = FlashlightLMDecoder(LABELS, arpa, 0.0, 0.0, 8)
    decoder.set_weights(1.0, 0.0)
    assert (decoder.alpha, decoder.beta) == (1.0, 0.0)
    assert decode(decoder, cat_or_hat()) == REFERENCE
    decoder.set_weights(0.0, 0.0)
    assert decode(decoder, cat_or_hat()) == ["THE", "HAT", "SAT"]
    decoder.set_weights(0.0, -20.0)  # beta is the word score: each word costs 20
    assert decode(decoder, cat_or_hat()) == []


def test_a_last_piece_held_two_frames_keeps_its_word(arpa):
    """'DOG' fills two frames: the word must be emitted on the second one
    (the doubled last piece of the lexicon), else the held frame is charged
    as a blank and the unlikely 'SAT DOG' is dropped."""
    held = torch.cat([cat_or_hat(-0.2), frames({"▁DOG": 0.995}, {"▁DOG": 0.995})])
    decoder = FlashlightLMDecoder(LABELS, arpa, 1.0, 0.0, 8)
    assert decode(decoder, held) == [*REFERENCE, "DOG"]


def test_empty_utterance_and_padding(arpa):
    decoder = FlashlightLMDecoder(LABELS, arpa, 1.0, 0.0, 8)
    assert decoder.decode_one(cat_or_hat()[:0].numpy()) == ""
    padded = torch.cat([cat_or_hat(), frames({"▁DOG": 0.995}, {"▁DOG": 0.995})])
    batch = torch.stack([padded, padded])
    words = decoder.decode(batch, torch.tensor([1.0, 8 / 10]))
    assert words == [[*REFERENCE, "DOG"], REFERENCE]


def test_an_lm_without_a_word_list_is_refused(arpa):
    with pytest.raises(LMError, match="needs the LM's words"):
        FlashlightLMDecoder(LABELS, arpa, 1.0, 0.0, 8, unigrams=set())
