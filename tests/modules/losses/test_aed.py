"""The AED loss: BOS/EOS targets, padding-masked label-smoothed CE, the joint
CTC/attention sum over exits."""

import math

import pytest
import torch

from modules.losses.aed import (
    JointCTCAttentionLoss,
    attention_ce_loss,
    teacher_forcing_targets,
)
from modules.losses.distillation import PseudoLabelKDLoss
from modules.losses.exit_losses import EarlyExitCTCLoss

VOCAB = 9


def test_teacher_forcing_targets_put_bos_and_eos_on_the_decoder_side_only():
    tokens = torch.tensor([[5, 6, 7], [8, 9, 0], [4, 0, 0]])
    lens = torch.tensor([1.0, 2 / 3, 1 / 3])
    targets = teacher_forcing_targets(tokens, lens, bos_index=2, eos_index=3)
    assert targets.tokens_bos.tolist() == [[2, 5, 6, 7], [2, 8, 9, 0], [2, 4, 0, 0]]
    assert targets.tokens_eos.tolist() == [[5, 6, 7, 3], [8, 9, 3, 0], [4, 3, 0, 0]]
    torch.testing.assert_close(targets.rel_lens, torch.tensor([1.0, 0.75, 0.5]))
    assert tokens.tolist() == [[5, 6, 7], [8, 9, 0], [4, 0, 0]]


def smoothed_ce(log_probs, targets, smoothing):
    """Reference: mean over positions of (1 - s) NLL + s * mean_v(-log p_v)."""
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    uniform = -log_probs.mean(-1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def test_ce_is_the_label_smoothed_mean_over_valid_positions():
    torch.manual_seed(0)
    log_probs = torch.randn(1, 4, VOCAB).log_softmax(-1)
    targets = torch.tensor([[5, 6, 7, 3]])
    loss = attention_ce_loss(log_probs, targets, torch.ones(1), label_smoothing=0.1)
    torch.testing.assert_close(loss, smoothed_ce(log_probs[0], targets[0], 0.1))


def test_padding_changes_nothing_in_the_ce():
    torch.manual_seed(0)
    short = torch.randn(1, 3, VOCAB).log_softmax(-1)
    long = torch.randn(1, 5, VOCAB).log_softmax(-1)
    alone = [
        attention_ce_loss(short, torch.tensor([[5, 6, 3]]), torch.ones(1), 0.1),
        attention_ce_loss(long, torch.tensor([[4, 5, 6, 7, 3]]), torch.ones(1), 0.1),
    ]
    garbage = torch.randn(1, 2, VOCAB).log_softmax(-1)
    batch = torch.cat([torch.cat([short, garbage], dim=1), long])
    targets = torch.tensor([[5, 6, 3, 0, 0], [4, 5, 6, 7, 3]])
    together = attention_ce_loss(batch, targets, torch.tensor([0.6, 1.0]), 0.1)
    torch.testing.assert_close(together, (alone[0] + alone[1]) / 2)
    other_garbage = batch.clone()
    other_garbage[0, 3:] = torch.randn(2, VOCAB).log_softmax(-1)
    again = attention_ce_loss(other_garbage, targets, torch.tensor([0.6, 1.0]), 0.1)
    torch.testing.assert_close(again, together)


def exit_outputs(num_exits):
    torch.manual_seed(0)
    ctc = [torch.randn(2, 8, VOCAB).log_softmax(-1) for _ in range(num_exits)]
    dec = [torch.randn(2, 4, VOCAB).log_softmax(-1) for _ in range(num_exits)]
    tokens = torch.tensor([[5, 6, 7], [8, 4, 0]])
    token_lens = torch.tensor([1.0, 2 / 3])
    return (
        ctc,
        dec,
        tokens,
        token_lens,
        teacher_forcing_targets(tokens, token_lens, 2, 3),
    )


def test_joint_loss_weights_ctc_and_attention_per_exit():
    ctc, dec, tokens, token_lens, targets = exit_outputs(2)
    lens = torch.tensor([1.0, 0.75])
    loss = JointCTCAttentionLoss(
        EarlyExitCTCLoss(weights=[0.5, 1.0]),
        ctc_weight=0.3,
        label_smoothing=0.1,
        attention_weights=[0.5, 1.0],
        num_exits=2,
    )
    total = loss(ctc, lens, tokens, token_lens, dec, targets)
    ctc_terms = [EarlyExitCTCLoss()([lp], lens, tokens, token_lens) for lp in ctc]
    ce_terms = [
        attention_ce_loss(lp, targets.tokens_eos, targets.rel_lens, 0.1) for lp in dec
    ]
    expected = sum(
        w * (0.3 * c + 0.7 * a) for w, c, a in zip([0.5, 1.0], ctc_terms, ce_terms)
    )
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(torch.stack(loss.last_attention), torch.stack(ce_terms))
    torch.testing.assert_close(torch.stack(loss.last_ctc), torch.stack(ctc_terms))


def test_manual_activation_uses_the_first_exits_weights():
    ctc, dec, tokens, token_lens, targets = exit_outputs(3)
    loss = JointCTCAttentionLoss(
        EarlyExitCTCLoss(weights=[1.0, 2.0, 4.0], num_exits=3),
        ctc_weight=0.0,
        attention_weights=[1.0, 2.0, 4.0],
        num_exits=3,
    )
    total = loss(ctc[:1], torch.ones(2), tokens, token_lens, dec[:1], targets)
    ce = attention_ce_loss(dec[0], targets.tokens_eos, targets.rel_lens)
    torch.testing.assert_close(total, ce)
    assert len(loss.last_attention) == 1


def test_ctc_weight_one_is_the_ctc_exit_loss():
    ctc, dec, tokens, token_lens, targets = exit_outputs(2)
    loss = JointCTCAttentionLoss(EarlyExitCTCLoss(), ctc_weight=1.0)
    total = loss(ctc, torch.ones(2), tokens, token_lens, dec, targets)
    expected = EarlyExitCTCLoss()(ctc, torch.ones(2), tokens, token_lens)
    assert math.isclose(total.item(), expected.item(), rel_tol=1e-6)


def test_the_teacher_goes_to_the_ctc_side():
    loss = JointCTCAttentionLoss(PseudoLabelKDLoss(alpha=0.3), ctc_weight=0.5)
    assert loss.uses_teacher
    assert not JointCTCAttentionLoss(EarlyExitCTCLoss()).uses_teacher


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ctc_weight": -0.1}, "ctc_weight=-0.1 must be in"),
        ({"ctc_weight": 1.5}, "ctc_weight=1.5 must be in"),
        ({"label_smoothing": 1.0}, "label_smoothing=1.0"),
        ({"attention_weights": [1.0], "num_exits": 2}, "attention_weights has 1"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JointCTCAttentionLoss(EarlyExitCTCLoss(), **kwargs)
