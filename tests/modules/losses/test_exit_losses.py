"""Tests of modules/losses/exit_losses.py against hand enumeration of CTC alignments."""

import itertools
import math

import pytest
import torch

from modules.decoding.greedy import greedy_ctc_decode, pad_hypotheses
from modules.losses.exit_losses import (
    LOSS_CLASSES,
    ConfidenceWeightedCTCLoss,
    DynamicKDLoss,
    EarlyExitCTCLoss,
    LogitKDLoss,
    PseudoLabelKDLoss,
    build_exit_loss,
)

DT = torch.float64


# ---------------------------------------------------------------------------
# Reference: CTC by explicit enumeration of every alignment (V ** T paths)
# ---------------------------------------------------------------------------
def collapse(path, blank=0):
    """Collapse repeats, then drop blanks."""
    out, prev = [], None
    for sym in path:
        if sym != prev and sym != blank:
            out.append(sym)
        prev = sym
    return out


def alignment_prob(probs, target):
    """Sum over all paths of probs [T, V] that collapse to target."""
    num_frames, vocab = probs.shape
    total = probs.new_zeros(())
    for path in itertools.product(range(vocab), repeat=num_frames):
        if collapse(path) == list(target):
            prob = probs.new_ones(())
            for t, sym in enumerate(path):
                prob = prob * probs[t, sym]
            total = total + prob
    return total


def ref_utt_ctc(log_probs, n_frames, target):
    """-log p(target) / max(1, |target|) for one utterance [T, V]."""
    prob = alignment_prob(log_probs[:n_frames].exp(), target)
    return -torch.log(prob) / max(1, len(target))


def ref_ctc(log_probs, n_frames, targets):
    """Batch mean of ref_utt_ctc (the project's reduction)."""
    terms = [ref_utt_ctc(lp, n, y) for lp, n, y in zip(log_probs, n_frames, targets)]
    return torch.stack(terms).mean()


# ---------------------------------------------------------------------------
# Fixture: B=2, T=3, V=3; utterance 1 has 2 valid frames (rel 2/3)
# ---------------------------------------------------------------------------
PROBS = [
    # exit 1
    [
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]],
        [[0.5, 0.2, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8]],
    ],
    # exit 2
    [
        [[0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]],
        [[0.3, 0.3, 0.4], [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]],
    ],
    # exit 3: argmax [2, 0, 2] -> [2, 2]; valid frames [0, 1] -> [1]
    # (its padding frame has argmax 2, which must be ignored)
    [
        [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7]],
        [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
    ],
]
N_FRAMES = [3, 2]
REL_LENS = torch.tensor([1.0, 2.0 / 3.0], dtype=DT)
TARGETS = [[1, 2], [2]]
TOKENS = torch.tensor([[1, 2], [2, 0]])
TOKEN_REL = torch.tensor([1.0, 0.5], dtype=DT)
TEACHER_HYPS = [[2, 2], [1]]


def exits(num=3, requires_grad=False):
    """Log-prob tensors [2, 3, 3] of the first num fixture exits."""
    out = [torch.tensor(p, dtype=DT).log() for p in PROBS[:num]]
    return [lp.requires_grad_(requires_grad) for lp in out]


def batch_args(num=3):
    return exits(num), REL_LENS, TOKENS, TOKEN_REL


def ref_exit_ctc(lp, targets=TARGETS):
    return ref_ctc(lp.detach(), N_FRAMES, targets).item()


# ---------------------------------------------------------------------------
# Reference enumeration sanity + greedy decoding
# ---------------------------------------------------------------------------
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


def test_greedy_decode_collapses_drops_blanks_and_masks_padding():
    lp = exits()[2]
    assert greedy_ctc_decode(lp, REL_LENS) == TEACHER_HYPS
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
    lens = (rel * tokens.shape[1]).round().long().tolist()
    assert [row[:n] for row, n in zip(tokens.tolist(), lens)] == hyps


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
        build_exit_loss("dynamic_kd", 2, alphas=[0.5, 0.7, 1.0])


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


# ---------------------------------------------------------------------------
# All losses: padding, fewer exits, factory, YAML
# ---------------------------------------------------------------------------
ALL_KWARGS = {
    "ee": {"weights": [0.5, 1.0, 2.0]},
    "pseudo_kd": {"alpha": 0.7},
    "dynamic_kd": {"alphas": [0.6, 0.8, 1.0]},
    "confidence": {"floor": 0.1},
    "logit_kd": {"temperature": 2.0, "kd_weight": 0.5},
}


@pytest.mark.parametrize("name", sorted(ALL_KWARGS))
def test_padding_frames_do_not_change_any_loss(name):
    loss = build_exit_loss(name, 3, **ALL_KWARGS[name])
    tokens, token_rel = TOKENS[1:, :1], torch.ones(1, dtype=DT)
    alone = loss([lp[1:, :2] for lp in exits()], torch.ones(1), tokens, token_rel)
    padded = [lp[1:].clone() for lp in exits()]
    for i, lp in enumerate(padded):
        lp[0, 2] = torch.tensor([9.0 * i, -5.0, 30.0])  # arbitrary values
    rel = torch.tensor([2.0 / 3.0], dtype=DT)
    torch.testing.assert_close(loss(padded, rel, tokens, token_rel), alone)


@pytest.mark.parametrize("name", sorted(ALL_KWARGS))
def test_fewer_exits_than_model(name):
    loss = build_exit_loss(name, 3, **ALL_KWARGS[name])
    for num in (1, 2):
        total = loss(*batch_args(num))
        assert total.dim() == 0 and torch.isfinite(total)
        assert len(loss.last_per_exit) == num == len(loss.last_ctc)
        assert sum(loss.last_per_exit).item() == pytest.approx(total.item())
    with pytest.raises(ValueError, match="4 exit outputs"):
        loss(exits(3) + exits(1), REL_LENS, TOKENS, TOKEN_REL)


def test_factory_names_and_errors():
    for name, kwargs in ALL_KWARGS.items():
        loss = build_exit_loss(name, 3, **kwargs)
        assert type(loss) is LOSS_CLASSES[name] and loss.num_exits == 3
    with pytest.raises(ValueError, match="loss_name") as err:
        build_exit_loss("kd", 3)
    assert all(name in str(err.value) for name in LOSS_CLASSES)
    msg = r"loss\.weights has 2 values but the model has 3 exits"
    with pytest.raises(ValueError, match=msg):
        build_exit_loss("ee", 3, weights=[1.0, 1.0])


def test_hyperpyyaml_construction():
    from hyperpyyaml import load_hyperpyyaml

    hparams = load_hyperpyyaml(
        """
num_exits: 3
loss: !new:modules.losses.exit_losses.DynamicKDLoss
    alphas: [0.6, 0.8, 1.0]
    num_exits: !ref <num_exits>
"""
    )
    assert isinstance(hparams["loss"], DynamicKDLoss)
    assert hparams["loss"].alphas == [0.6, 0.8, 1.0]
