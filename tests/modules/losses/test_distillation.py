"""Tests of modules/losses/distillation.py (pseudo-label, dynamic and logit
KD) against hand enumeration of CTC alignments."""

import math

import pytest
import torch

from modules.decoding.greedy import greedy_ctc_decode
from modules.losses.distillation import (
    DynamicKDLoss,
    LogitKDLoss,
    PseudoLabelKDLoss,
    masked_kl_divergence,
)
from modules.losses.exit_losses import EarlyExitCTCLoss
from tests.modules.losses.ctc_reference import (
    DT,
    N_FRAMES,
    PROBS,
    REL_LENS,
    TEACHER_HYPS,
    TOKEN_REL,
    TOKENS,
    batch_args,
    exits,
    ref_exit_ctc,
)


# ---------------------------------------------------------------------------
# Pseudo-label KD and dynamic KD
# ---------------------------------------------------------------------------
def test_pseudo_kd_online_value():
    alpha = 0.7
    lps = exits()
    total = PseudoLabelKDLoss(alpha=alpha, num_exits=3)(*batch_args())
    ctc = [ref_exit_ctc(lp) for lp in lps]
    kd = [ref_exit_ctc(lp, TEACHER_HYPS) for lp in lps[:2]]
    expected = alpha * sum(ctc) + (1 - alpha) * sum(kd)
    assert total.item() == pytest.approx(expected, rel=1e-9)


def test_pseudo_kd_frozen_teacher_with_empty_hypothesis():
    # teacher: utt 0 -> [1], utt 1 -> [] (all blank)
    teacher = torch.tensor(
        [
            [[0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.6, 0.3, 0.1]],
            [[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],
        ],
        dtype=DT,
    ).log()
    teacher.requires_grad_(True)
    lps = exits(2, requires_grad=True)
    loss = PseudoLabelKDLoss(alpha=0.3, num_exits=2)
    total = loss(lps, REL_LENS, TOKENS, TOKEN_REL, teacher_log_probs=teacher)
    ctc = [ref_exit_ctc(lp) for lp in lps]
    kd = ref_exit_ctc(lps[0], [[1], []])
    assert total.item() == pytest.approx(0.3 * sum(ctc) + 0.7 * kd, rel=1e-9)
    total.backward()
    assert teacher.grad is None
    assert torch.isfinite(lps[0].grad).all()


def test_pseudo_kd_online_no_gradient_into_teacher():
    logits = [lp.clone().requires_grad_(True) for lp in exits()]
    lps = [lg.log_softmax(-1) for lg in logits]
    # alpha = 0: the last exit appears only as the (detached) teacher
    total = PseudoLabelKDLoss(alpha=0.0)(lps, REL_LENS, TOKENS, TOKEN_REL)
    total.backward()
    assert torch.count_nonzero(logits[2].grad) == 0
    assert torch.count_nonzero(logits[0].grad) > 0


@pytest.mark.parametrize("num", [1, 2, 3])
def test_kd_with_alpha_one_equals_ee(num):
    ee = EarlyExitCTCLoss(num_exits=3)(*batch_args(num))
    kd = PseudoLabelKDLoss(alpha=1.0, num_exits=3)(*batch_args(num))
    dkd = DynamicKDLoss([1.0, 1.0, 1.0], num_exits=3)(*batch_args(num))
    assert torch.equal(kd, ee) and torch.equal(dkd, ee)


def test_dynamic_kd_value():
    alphas = [0.6, 0.8, 1.0]
    lps = exits()
    loss = DynamicKDLoss(alphas, num_exits=3)
    total = loss(*batch_args())
    ctc = [ref_exit_ctc(lp) for lp in lps]
    kd = [ref_exit_ctc(lp, TEACHER_HYPS) for lp in lps[:2]]
    expected = sum(a * c for a, c in zip(alphas, ctc))
    expected += 0.4 * kd[0] + 0.2 * kd[1]
    assert total.item() == pytest.approx(expected, rel=1e-9)
    assert loss.last_per_exit[2].item() == pytest.approx(ctc[2], rel=1e-9)


def test_dynamic_kd_fewer_exits_uses_deepest_present_exit_as_teacher():
    lps = exits(2)
    total = DynamicKDLoss([0.6, 0.8, 1.0], num_exits=3)(*batch_args(2))
    hyps = greedy_ctc_decode(lps[1], REL_LENS)
    assert hyps == [[1, 2], [2]]  # exit 2 argmax: [1, 0, 2] and [2, 0]
    ctc = [ref_exit_ctc(lp) for lp in lps]
    expected = 0.6 * ctc[0] + 0.8 * ctc[1] + 0.4 * ref_exit_ctc(lps[0], hyps)
    assert total.item() == pytest.approx(expected, rel=1e-9)


def test_pseudo_kd_fewer_exits_frozen_teacher_distills_all_present():
    lps = exits(2)
    teacher = exits()[2]
    total = PseudoLabelKDLoss(alpha=0.5, num_exits=3)(
        lps, REL_LENS, TOKENS, TOKEN_REL, teacher_log_probs=teacher
    )
    ctc = [ref_exit_ctc(lp) for lp in lps]
    kd = [ref_exit_ctc(lp, TEACHER_HYPS) for lp in lps]
    assert total.item() == pytest.approx(0.5 * sum(ctc) + 0.5 * sum(kd), rel=1e-9)


def test_dynamic_kd_wrong_length_names_the_key():
    with pytest.raises(ValueError, match=r"loss\.alphas has 5 values.*6 exits"):
        DynamicKDLoss([0.65, 0.70, 0.75, 0.80, 0.85], num_exits=6)
    with pytest.raises(ValueError, match="alphas"):
        DynamicKDLoss(num_exits=2, alphas=[0.5, 0.7, 1.0])


# ---------------------------------------------------------------------------
# Logit KD
# ---------------------------------------------------------------------------
def ref_logit_kd(teacher, student, n_frames, temp):
    """t^2 * mean over utterances of the mean over valid frames of KL."""
    per_utt = []
    for tb, sb, n in zip(teacher, student, n_frames):
        frame_kl = []
        for t in range(n):
            pt = [p ** (1 / temp) for p in tb[t]]
            ps = [p ** (1 / temp) for p in sb[t]]
            pt = [p / sum(pt) for p in pt]
            ps = [p / sum(ps) for p in ps]
            frame_kl.append(sum(a * math.log(a / b) for a, b in zip(pt, ps)))
        per_utt.append(sum(frame_kl) / n)
    return temp**2 * sum(per_utt) / len(per_utt)


def test_logit_kd_value():
    loss = LogitKDLoss(temperature=2.0, kd_weight=0.5, num_exits=3)
    total = loss(*batch_args())
    ctc = [ref_exit_ctc(lp) for lp in exits()]
    kd = [ref_logit_kd(PROBS[2], PROBS[i], N_FRAMES, 2.0) for i in range(2)]
    assert total.item() == pytest.approx(sum(ctc) + 0.5 * sum(kd), rel=1e-9)
    assert loss.last_per_exit[0].item() == pytest.approx(ctc[0] + 0.5 * kd[0])


def test_logit_kd_no_gradient_into_teacher():
    grads = []
    for kd_weight in (0.0, 0.5):
        logits = [lp.clone().requires_grad_(True) for lp in exits()]
        lps = [lg.log_softmax(-1) for lg in logits]
        LogitKDLoss(kd_weight=kd_weight)(lps, REL_LENS, TOKENS, TOKEN_REL).backward()
        grads.append([lg.grad for lg in logits])
    torch.testing.assert_close(grads[0][2], grads[1][2])
    assert not torch.allclose(grads[0][0], grads[1][0])
    teacher = exits()[2].requires_grad_(True)
    total = LogitKDLoss()(exits(2, True), REL_LENS, TOKENS, TOKEN_REL, teacher)
    total.backward()
    assert teacher.grad is None


def test_logit_kd_zero_weight_equals_ee():
    kd = LogitKDLoss(kd_weight=0.0)(*batch_args())
    assert torch.equal(kd, EarlyExitCTCLoss()(*batch_args()))


def test_masked_kl_divergence_value_and_padding():
    teacher, student = exits()[2], exits()[0]
    kl = masked_kl_divergence(teacher, student, REL_LENS, 2.0)
    assert kl.item() == pytest.approx(
        ref_logit_kd(PROBS[2], PROBS[0], N_FRAMES, 2.0), rel=1e-9
    )
    assert masked_kl_divergence(teacher, teacher, REL_LENS, 2.0).item() == 0.0
