"""Tests of modules/decoding/greedy.py: best-path CTC decoding and padding."""

import torch

from modules.decoding.greedy import greedy_ctc_decode, pad_hypotheses
from modules.nn.lengths import absolute_lengths

# B=2, T=3, V=3; utterance 1 has 2 valid frames (rel 2/3).
# argmax [2, 0, 2] -> [2, 2]; valid frames [0, 1] -> [1]
# (its padding frame has argmax 2, which must be ignored)
PROBS = [
    [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7]],
    [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
]
REL_LENS = torch.tensor([1.0, 2.0 / 3.0], dtype=torch.float64)
HYPS = [[2, 2], [1]]


def test_greedy_decode_collapses_drops_blanks_and_masks_padding():
    lp = torch.tensor(PROBS, dtype=torch.float64).log()
    assert greedy_ctc_decode(lp, REL_LENS) == HYPS
    # Without masking, utterance 1 would read [1, 2].
    assert greedy_ctc_decode(lp, torch.ones(2)) == [[2, 2], [1, 2]]
    best = torch.tensor([[3, 3, 0, 3, 1, 1, 0], [0, 0, 0, 0, 0, 0, 0]])
    scores = torch.nn.functional.one_hot(best, 4).float()
    assert greedy_ctc_decode(scores, torch.ones(2)) == [[3, 3, 1], []]
    assert greedy_ctc_decode(scores, torch.tensor([0.0, 1.0])) == [[], []]
    # blank index other than 0
    assert greedy_ctc_decode(scores, torch.ones(2), blank=3) == [[0, 1, 0], [0]]


def test_pad_hypotheses_round_trip_and_empty():
    tokens, rel = pad_hypotheses([[2, 2], [1]])
    assert tokens.tolist() == [[2, 2], [1, 0]]
    assert rel.tolist() == [1.0, 0.5]
    tokens, rel = pad_hypotheses([[], []])
    assert tokens.shape == (2, 1) and rel.tolist() == [0.0, 0.0]
    hyps = [[1, 2, 3, 4, 5, 6, 7], [1, 2, 3], []]
    tokens, rel = pad_hypotheses(hyps)
    lens = absolute_lengths(rel, tokens.shape[1]).tolist()
    assert [row[:n] for row, n in zip(tokens.tolist(), lens)] == hyps
