"""Tests of modules/losses/ctc.py against hand enumeration of CTC alignments."""

import math

import pytest
import torch

from modules.losses.ctc import exit_ctc_loss, utterance_ctc_losses
from modules.losses.exit_losses import EarlyExitCTCLoss
from tests.modules.losses.ctc_reference import (
    DT,
    N_FRAMES,
    REL_LENS,
    TARGETS,
    TOKEN_REL,
    TOKENS,
    alignment_prob,
    exits,
    ref_exit_ctc,
    ref_utt_ctc,
)


def test_reference_enumeration_by_hand():
    # T=2, V=2, y=[1]: alignments (1,1), (0,1), (1,0)
    probs = torch.tensor([[0.4, 0.6], [0.7, 0.3]], dtype=DT)
    by_hand = 0.6 * 0.3 + 0.4 * 0.3 + 0.6 * 0.7
    assert alignment_prob(probs, [1]).item() == pytest.approx(by_hand)
    loss = EarlyExitCTCLoss()(
        [probs.log().unsqueeze(0)],
        torch.ones(1),
        torch.tensor([[1]]),
        torch.ones(1),
    )
    assert loss.item() == pytest.approx(-math.log(0.72))


def test_exit_ctc_loss_matches_enumeration():
    for lp in exits():
        loss = exit_ctc_loss(lp, REL_LENS, TOKENS, TOKEN_REL)
        assert loss.item() == pytest.approx(ref_exit_ctc(lp), rel=1e-9)


def test_utterance_ctc_losses_per_utterance_and_mean():
    lp = exits(1)[0]
    per_utt = utterance_ctc_losses(lp, REL_LENS, TOKENS, TOKEN_REL)
    expected = [ref_utt_ctc(lp[b], N_FRAMES[b], TARGETS[b]).item() for b in range(2)]
    assert per_utt.tolist() == pytest.approx(expected, rel=1e-9)
    batch = exit_ctc_loss(lp, REL_LENS, TOKENS, TOKEN_REL)
    assert per_utt.mean().item() == pytest.approx(batch.item(), rel=1e-12)


def test_impossible_alignment_gives_zero():
    # one frame cannot emit two tokens
    lp = torch.tensor([[[0.5, 0.5]]], dtype=DT).log()
    args = (lp, torch.ones(1), torch.tensor([[1, 1]]), torch.ones(1))
    assert utterance_ctc_losses(*args).tolist() == [0.0]
    assert exit_ctc_loss(*args).item() == 0.0
