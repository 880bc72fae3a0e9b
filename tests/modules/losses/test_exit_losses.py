"""Tests of modules/losses/exit_losses.py (the EE and confidence-weighted
losses, and the contract every loss shares) against hand enumeration of CTC
alignments."""

import math

import pytest
import torch

from modules.losses.distillation import DynamicKDLoss, LogitKDLoss, PseudoLabelKDLoss
from modules.losses.exit_losses import (
    ConfidenceWeightedCTCLoss,
    EarlyExitCTCLoss,
    ExitLoss,
)
from tests.modules.losses.ctc_reference import (
    DT,
    N_FRAMES,
    PROBS,
    REL_LENS,
    TARGETS,
    TOKEN_REL,
    TOKENS,
    batch_args,
    exits,
    ref_exit_ctc,
    ref_utt_ctc,
)


# ---------------------------------------------------------------------------
# Early-exit CTC
# ---------------------------------------------------------------------------
def test_ee_loss_value_and_logging():
    loss = EarlyExitCTCLoss(weights=[0.5, 2.0, 1.5], num_exits=3)
    total = loss(*batch_args())
    ctc = [ref_exit_ctc(lp) for lp in exits()]
    expected = 0.5 * ctc[0] + 2.0 * ctc[1] + 1.5 * ctc[2]
    assert total.item() == pytest.approx(expected, rel=1e-9)
    assert [c.item() for c in loss.last_ctc] == pytest.approx(ctc, rel=1e-9)
    assert sum(loss.last_per_exit).item() == pytest.approx(total.item())
    default = EarlyExitCTCLoss()(*batch_args())
    assert default.item() == pytest.approx(sum(ctc), rel=1e-9)


def test_ee_fewer_exits_truncates_weights():
    loss = EarlyExitCTCLoss(weights=[0.5, 2.0, 1.5], num_exits=3)
    total = loss(*batch_args(2))
    ctc = [ref_exit_ctc(lp) for lp in exits(2)]
    assert total.item() == pytest.approx(0.5 * ctc[0] + 2.0 * ctc[1], rel=1e-9)
    assert len(loss.last_per_exit) == 2
    with pytest.raises(ValueError, match="3 exits"):
        EarlyExitCTCLoss(num_exits=3)(exits(3) + exits(1), *batch_args()[1:])


# ---------------------------------------------------------------------------
# Confidence-weighted CTC
# ---------------------------------------------------------------------------
def ref_confidence(probs, n_frames, floor):
    best = [math.log(max(frame)) for frame in probs[:n_frames]]
    return max(floor, math.exp(sum(best) / len(best)))


@pytest.mark.parametrize("mode", ["inverse", "direct"])
def test_confidence_value(mode):
    floor = 0.5  # exit 1, utt 1: exp(mean log max) = sqrt(0.2) < 0.5
    loss = ConfidenceWeightedCTCLoss(floor=floor, mode=mode)
    total = loss(*batch_args())
    expected = 0.0
    for probs, lp in zip(PROBS, exits()):
        terms = []
        for b in range(2):
            conf = ref_confidence(probs[b], N_FRAMES[b], floor)
            ctc = ref_utt_ctc(lp[b], N_FRAMES[b], TARGETS[b]).item()
            terms.append(ctc / conf if mode == "inverse" else ctc * conf)
        expected += sum(terms) / 2
    assert total.item() == pytest.approx(expected, rel=1e-9)
    assert ref_confidence(PROBS[0][1], 2, floor) == floor


def test_confidence_floor_one_equals_ee():
    conf = ConfidenceWeightedCTCLoss(floor=1.0)(*batch_args())
    ee = EarlyExitCTCLoss()(*batch_args())
    assert conf.item() == pytest.approx(ee.item(), rel=1e-12)


def test_confidence_has_no_gradient():
    logits = [lp.clone().requires_grad_(True) for lp in exits()]
    loss = ConfidenceWeightedCTCLoss(floor=0.1)
    loss([lg.log_softmax(-1) for lg in logits], REL_LENS, TOKENS, TOKEN_REL).backward()
    ref_logits = [lp.clone().requires_grad_(True) for lp in exits()]
    ref = 0.0
    for probs, lg in zip(PROBS, ref_logits):
        lp = lg.log_softmax(-1)
        for b in range(2):
            conf = ref_confidence(probs[b], N_FRAMES[b], 0.1)  # a constant
            ref = ref + ref_utt_ctc(lp[b], N_FRAMES[b], TARGETS[b]) / conf / 2
    ref.backward()
    for got, want in zip(logits, ref_logits):
        torch.testing.assert_close(got.grad, want.grad)


def test_confidence_masks_padding():
    lp = exits(1)[0]
    loss = ConfidenceWeightedCTCLoss()
    conf = loss.confidence(lp, REL_LENS)
    wild = lp.clone()
    wild[1, 2] = torch.tensor([40.0, -7.0, 3.0])
    torch.testing.assert_close(loss.confidence(wild, REL_LENS), conf)
    alone = loss.confidence(lp[1:, :2], torch.ones(1, dtype=DT))
    torch.testing.assert_close(alone, conf[1:])


def test_confidence_validates_arguments():
    with pytest.raises(ValueError, match="mode"):
        ConfidenceWeightedCTCLoss(mode="sqrt")
    for floor in (0.0, 1.5):
        with pytest.raises(ValueError, match="floor"):
            ConfidenceWeightedCTCLoss(floor=floor)


# ---------------------------------------------------------------------------
# All losses: padding, fewer exits, construction, YAML
# ---------------------------------------------------------------------------
ALL_KWARGS = {
    EarlyExitCTCLoss: {"weights": [0.5, 1.0, 2.0]},
    PseudoLabelKDLoss: {"alpha": 0.7},
    DynamicKDLoss: {"alphas": [0.6, 0.8, 1.0]},
    ConfidenceWeightedCTCLoss: {"floor": 0.1},
    LogitKDLoss: {"temperature": 2.0, "kd_weight": 0.5},
}
LOSS_CLASSES = sorted(ALL_KWARGS, key=lambda cls: cls.__name__)
TEACHER_LOSSES = (PseudoLabelKDLoss, DynamicKDLoss, LogitKDLoss)


def build(loss_class, num_exits=3):
    """The loss of ``loss_class`` with its test arguments."""
    return loss_class(num_exits=num_exits, **ALL_KWARGS[loss_class])


@pytest.mark.parametrize("loss_class", LOSS_CLASSES, ids=lambda cls: cls.__name__)
def test_padding_frames_do_not_change_any_loss(loss_class):
    loss = build(loss_class)
    tokens, token_rel = TOKENS[1:, :1], torch.ones(1, dtype=DT)
    alone = loss([lp[1:, :2] for lp in exits()], torch.ones(1), tokens, token_rel)
    padded = [lp[1:].clone() for lp in exits()]
    for i, lp in enumerate(padded):
        lp[0, 2] = torch.tensor([9.0 * i, -5.0, 30.0])  # arbitrary values
    rel = torch.tensor([2.0 / 3.0], dtype=DT)
    torch.testing.assert_close(loss(padded, rel, tokens, token_rel), alone)


@pytest.mark.parametrize("loss_class", LOSS_CLASSES, ids=lambda cls: cls.__name__)
def test_fewer_exits_than_model(loss_class):
    loss = build(loss_class)
    for num in (1, 2):
        total = loss(*batch_args(num))
        assert total.dim() == 0 and torch.isfinite(total)
        assert len(loss.last_per_exit) == num == len(loss.last_ctc)
        assert sum(loss.last_per_exit).item() == pytest.approx(total.item())
    with pytest.raises(ValueError, match="4 exit outputs"):
        loss(exits(3) + exits(1), REL_LENS, TOKENS, TOKEN_REL)


def test_construction_and_errors():
    for loss_class in ALL_KWARGS:
        loss = build(loss_class)
        assert type(loss) is loss_class and loss.num_exits == 3
    msg = r"loss\.weights has 2 values but the model has 3 exits"
    with pytest.raises(ValueError, match=msg):
        EarlyExitCTCLoss(num_exits=3, weights=[1.0, 1.0])


def test_uses_teacher_marks_the_distillation_losses():
    assert ExitLoss.uses_teacher is False
    for loss_class in ALL_KWARGS:
        assert loss_class.uses_teacher is (loss_class in TEACHER_LOSSES)
        assert build(loss_class).uses_teacher is loss_class.uses_teacher


def test_hyperpyyaml_construction():
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(
        """
num_exits: 3
loss: !new:modules.losses.distillation.DynamicKDLoss
    alphas: [0.6, 0.8, 1.0]
    num_exits: !ref <num_exits>
loss_class: !name:modules.losses.exit_losses.ConfidenceWeightedCTCLoss
"""
    )
    assert isinstance(hparams["loss"], DynamicKDLoss)
    assert hparams["loss"].alphas == [0.6, 0.8, 1.0]
    loss = hparams["loss_class"](num_exits=3, floor=0.2)
    assert isinstance(loss, ConfidenceWeightedCTCLoss) and loss.floor == 0.2
