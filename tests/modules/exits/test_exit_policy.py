"""The policies' base class: threshold checks and the two decision modes
(modules/exits/exit_policy.py)."""

import math

import pytest
import torch

from modules.exits.exit_policy import ExitPolicy, real_number
from modules.exits.policies import build_policy
from tests.modules.exits.observations import observation


class Largest(ExitPolicy):
    """Test policy: the largest value of each row of ``obs``, in (0, 1]."""

    name = "largest"
    threshold_range = (0.0, 1.0, False, True)

    def criterion(self, obs, history):
        return obs.max(-1).values


def test_batch_mode_compares_the_batch_mean():
    uniform = torch.full((1, 2, 4), 0.25).log()
    certain = torch.tensor([[[0.97, 0.01, 0.01, 0.01]] * 2]).log()
    obs = observation(torch.cat([uniform, certain]))
    per_utt = build_policy("entropy", 0.8).criterion(obs, [])
    assert build_policy("entropy", 0.8).decide(obs, []).tolist() == [False, True]
    batch = build_policy("entropy", 0.8, mode="batch")
    assert per_utt.mean() < 0.8 and batch.decide(obs, []).tolist() == [True, True]
    stricter = build_policy("entropy", 0.5, mode="batch")
    assert stricter.decide(obs, []).tolist() == [False, False]


def test_nan_never_passes_in_either_mode():
    values = torch.tensor([[math.nan, 0.2], [0.9, 0.1]])
    assert Largest(0.5).decide(values, []).tolist() == [False, True]
    assert Largest(0.1, mode="batch").decide(values, []).tolist() == [False, False]


def test_threshold_range_and_real_numbers():
    assert Largest.range_text() == "(0.0, 1.0]"
    assert Largest.check_threshold(1) == 1.0
    values = (2, 0.5, "0.5", True, math.nan, None)
    assert [real_number(v) for v in values] == [2.0, 0.5, None, None, None, None]
    for bad in (0.0, 1.5, "0.5", True, math.nan, None):
        with pytest.raises(ValueError, match=r"policy='largest'.*\(0.0, 1.0\]"):
            Largest.check_threshold(bad)
