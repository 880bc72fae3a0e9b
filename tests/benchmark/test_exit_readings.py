"""benchmark.exit_readings: every exit's transcripts and criteria."""

from types import SimpleNamespace

import torch

from benchmark.exit_readings import read_exits
from benchmark.experiment import Batch


class Letters:
    """Token 1 -> "a", token 2 -> "b" (0 is the blank)."""

    def decode_ids(self, ids):
        return "".join(" ab"[i] for i in ids)


class RecordingDecoder:
    """An LM decoder that remembers the weights each exit was decoded with."""

    def __init__(self):
        self.current, self.used = None, []

    def set_weights(self, alpha, beta):
        self.current = (alpha, beta)

    def decode(self, log_probs, rel_lens):
        self.used.append(self.current)
        return [["LM"]] * log_probs.shape[0]


def one_hot_log_probs(tokens):
    probs = torch.nn.functional.one_hot(torch.tensor([tokens]), 3).float()
    return probs.clamp(min=1e-6).log()


def test_each_exit_is_read_with_its_own_lm_weights():
    # Half the frames are valid: exit 2 reads "ab", not the padded "abb".
    exits = [one_hot_log_probs([1, 0, 0, 0]), one_hot_log_probs([1, 2, 0, 2])]
    exp = SimpleNamespace(
        model=lambda wavs, rel_lens: exits, hparams={}, tokenizer=Letters()
    )
    batch = Batch(["u1"], torch.zeros(1, 32000), torch.tensor([0.5]), [["ab"]])
    decoder = RecordingDecoder()
    [utterance] = read_exits(exp, [batch], decoder, [(0.3, 2.0), (1.0, 0.0)])
    assert decoder.used == [(0.3, 2.0), (1.0, 0.0)]
    assert utterance.seconds == 1.0 and utterance.words == ("ab",)
    assert [e.greedy for e in utterance.exits] == [("a",), ("ab",)]
    assert [e.lm for e in utterance.exits] == [("LM",), ("LM",)]
    # One-hot posteriors: no entropy, full confidence, over the valid frames.
    assert all(e.entropy < 1e-3 and e.confidence > 0.999 for e in utterance.exits)


def test_without_an_lm_only_greedy_transcripts_are_kept():
    exp = SimpleNamespace(
        model=lambda wavs, rel_lens: [one_hot_log_probs([2, 0])],
        hparams={},
        tokenizer=Letters(),
    )
    batch = Batch(["u1"], torch.zeros(1, 16000), torch.ones(1), [["b"]])
    [utterance] = read_exits(exp, [batch])
    assert utterance.exits[0].greedy == ("b",) and utterance.exits[0].lm is None
