"""The dynamic exit policies' criteria and settings (modules/exits/policies.py)."""

import math

import pytest
import torch

from modules.exits.policies import POLICIES, build_policy
from tests.modules.exits.observations import observation

VOCAB = 11


# ---------------------------------------------------------------------------
# Criteria on hand-made posteriors
# ---------------------------------------------------------------------------
def test_entropy_and_confidence_of_known_posteriors():
    uniform = torch.full((1, 3, VOCAB), 1.0 / VOCAB).log()
    peaked = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3]]), VOCAB)
    peaked = peaked.float().clamp(min=1e-30).log()
    # second utterance: 2 valid uniform frames, a padded one-hot frame
    mixed = torch.cat([uniform[:, :2], peaked[:, :1]], dim=1)
    valid = torch.tensor([[True] * 3, [True] * 3, [True, True, False]])
    obs = observation(torch.cat([uniform, peaked, mixed]), valid)
    entropy = build_policy("entropy", 0.1).criterion(obs, [])
    confidence = build_policy("confidence", 0.5).criterion(obs, [])
    torch.testing.assert_close(
        entropy, torch.tensor([math.log(VOCAB), 0.0, math.log(VOCAB)])
    )
    torch.testing.assert_close(confidence, torch.tensor([1 / VOCAB, 1.0, 1 / VOCAB]))
    assert build_policy("entropy", 0.1).decide(obs, []).tolist() == [False, True, False]
    assert build_policy("confidence", 0.5).decide(obs, []).tolist() == [
        False,
        True,
        False,
    ]


def test_similarity_of_known_hidden_states():
    base = torch.randn(3, 4, 6)
    later = torch.stack([base[0], -base[1], 2 * base[2]])
    later[2, 3] = -base[2, 3]  # a padded frame pointing the other way
    valid = torch.tensor([[True] * 4, [True] * 4, [True] * 3 + [False]])
    lp = torch.zeros(3, 4, 1)
    first = observation(lp, valid, base, index=1)
    second = observation(lp, valid, later, index=2)
    policy = build_policy("similarity", 0.9)
    assert policy.criterion(first, []).isnan().all()
    assert policy.decide(first, []).tolist() == [False, False, False]
    values = policy.criterion(second, [first])
    torch.testing.assert_close(values, torch.tensor([1.0, -1.0, 1.0]))
    assert policy.decide(second, [first]).tolist() == [True, False, True]


def test_patience_counts_agreeing_previous_exits():
    def exit_with(tokens, index):
        lp = torch.nn.functional.one_hot(torch.tensor(tokens), 4).float()
        return observation(lp.clamp(min=1e-30).log(), index=index)

    # utterance 0 says "1" at every exit; utterance 1 changes its mind
    exits = [
        exit_with([[1, 0], [2, 0]], 1),
        exit_with([[1, 1], [3, 0]], 2),
        exit_with([[0, 1], [3, 3]], 3),
    ]
    policy = build_policy("patience", 2)
    values = [policy.criterion(e, exits[:k][-2:]) for k, e in enumerate(exits)]
    assert [v.tolist() for v in values] == [[0, 0], [1, 0], [2, 1]]
    assert policy.decide(exits[2], exits[:2]).tolist() == [True, False]


def test_posterior_of_known_nbest():
    # one frame: blank 0.1, token 1 0.6, token 2 0.3 -> n-best "1", "2", ""
    frame = torch.tensor([0.1, 0.6, 0.3])
    # second utterance: the same frame then a padded frame that would add
    # more hypotheses if it were decoded
    lp = torch.stack([frame, torch.tensor([0.1, 0.3, 0.6])]).log().unsqueeze(0)
    lp = torch.cat([lp, lp])
    valid = torch.tensor([[True, False], [True, True]])
    policy = build_policy("posterior", 0.5, decoder="beam", topk=3)
    values = policy.criterion(observation(lp, valid), [])
    assert values[0].item() == pytest.approx(0.6, abs=1e-6)
    assert values[1].item() < 0.6


# ---------------------------------------------------------------------------
# Configuration errors
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("entropi", 0.1), {}, r"policy='entropi'.*entropy, confidence, posterior"),
        (("entropy", -0.1), {}, r"threshold=-0.1 .*\[0.0, inf\)"),
        (("entropy", math.inf), {}, r"threshold=inf"),
        (("entropy", math.nan), {}, r"threshold=nan"),
        (("entropy", "0.1"), {}, r"threshold='0.1'"),
        (("confidence", 0.0), {}, r"threshold=0.0 .*\(0.0, 1.0\]"),
        (("confidence", 1.5), {}, r"threshold=1.5 .*\(0.0, 1.0\]"),
        (("posterior", 0.0), {"decoder": "beam"}, r"threshold=0.0 .*\(0.0, 1.0\]"),
        (("similarity", 1.01), {}, r"threshold=1.01 .*\[-1.0, 1.0\]"),
        (("similarity", -2), {}, r"threshold=-2 .*\[-1.0, 1.0\]"),
        (("patience", 0), {}, r"threshold=0 .*integer k >= 1"),
        (("patience", 1.5), {}, r"threshold=1.5 .*integer k >= 1"),
        (("patience", True), {}, r"threshold=True"),
        (("entropy", 0.1), {"mode": "frame"}, r"mode='frame'.*utterance"),
        (("entropy", 0.1), {"decoder": "viterbi"}, r"decoder='viterbi'"),
        (("posterior", 0.9), {}, r"policy='posterior'.*decoder='greedy'"),
        (("posterior", 0.9), {"decoder": "greedy"}, r"decoder='greedy'"),
        (("posterior", 0.9), {"decoder": "beam", "topk": 1}, r"topk=1"),
    ],
)
def test_bad_settings_are_clear_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_policy(*args, **kwargs)


def test_posterior_refuses_a_searcher_without_nbest():
    from speechbrain.decoders.ctc import CTCBeamSearcher

    searcher = CTCBeamSearcher(blank_index=0, vocab_list=["\u2581a", "\u2581b"])
    with pytest.raises(ValueError, match="topk=1"):
        build_policy("posterior", 0.9, decoder="beam", searcher=searcher)


def test_registry_and_valid_settings():
    assert sorted(POLICIES) == [
        "confidence",
        "entropy",
        "patience",
        "posterior",
        "similarity",
    ]
    assert build_policy("patience", 2.0).threshold == 2
    assert build_policy("similarity", -1).threshold == -1.0
    assert build_policy("posterior", 1.0, decoder="beam").threshold == 1.0
