"""Teacher-student logit KD (modules/losses/teacher_student.py) against a hand
computation: CTC by enumeration of the alignments, the KL frame by frame."""

import math

import pytest
import torch

from modules.losses.teacher_student import TeacherStudentKDLoss
from tests.modules.losses.ctc_reference import (
    N_FRAMES,
    PROBS,
    REL_LENS,
    TOKEN_REL,
    TOKENS,
    exits,
    ref_exit_ctc,
)

# The teacher: exit 3 of the fixture; the student: exits 1 and 2.
TEACHER = 2


def hand_kl(teacher, student, temperature):
    """t^2 * batch mean of the per-utterance mean over the valid frames of
    KL(softmax(log p_t / t) || softmax(log p_s / t)), from probabilities."""
    per_utt = []
    for t_utt, s_utt, frames in zip(teacher, student, N_FRAMES):
        total = 0.0
        for frame in range(frames):
            pt = [p ** (1 / temperature) for p in t_utt[frame]]
            ps = [p ** (1 / temperature) for p in s_utt[frame]]
            pt = [p / sum(pt) for p in pt]
            ps = [p / sum(ps) for p in ps]
            total += sum(a * math.log(a / b) for a, b in zip(pt, ps))
        per_utt.append(total / frames)
    return temperature**2 * sum(per_utt) / len(per_utt)


def kd_call(loss, student=None, teacher=None):
    student = exits(2) if student is None else student
    teacher = exits()[TEACHER] if teacher is None else teacher
    return loss(student, REL_LENS, TOKENS, TOKEN_REL, teacher)


def test_every_exit_gets_ctc_and_kl_as_computed_by_hand():
    loss = TeacherStudentKDLoss(alpha=0.5, temperature=5.0, num_exits=2)
    total = kd_call(loss)
    expected = [
        0.5 * ref_exit_ctc(lp) + 0.5 * hand_kl(PROBS[TEACHER], PROBS[i], 5.0)
        for i, lp in enumerate(exits(2))
    ]
    assert total.item() == pytest.approx(sum(expected), rel=1e-9)
    for term, value in zip(loss.last_per_exit, expected):
        assert term.item() == pytest.approx(value, rel=1e-9)
    for term, lp in zip(loss.last_ctc, exits(2)):
        assert term.item() == pytest.approx(ref_exit_ctc(lp), rel=1e-9)


def test_alpha_weights_ctc_against_the_distillation():
    ctc_only = kd_call(TeacherStudentKDLoss(alpha=0.0))
    kd_only = kd_call(TeacherStudentKDLoss(alpha=1.0, temperature=2.0))
    assert ctc_only.item() == pytest.approx(sum(ref_exit_ctc(lp) for lp in exits(2)))
    expected = sum(hand_kl(PROBS[TEACHER], PROBS[i], 2.0) for i in range(2))
    assert kd_only.item() == pytest.approx(expected, rel=1e-9)


def test_padded_frames_do_not_count():
    student, teacher = exits(2), exits()[TEACHER]
    loss = TeacherStudentKDLoss(alpha=1.0)
    before = kd_call(loss, student, teacher)
    # utterance 2 has 2 valid frames: change its padded third frame
    noisy = [lp.clone() for lp in student]
    noisy[0][1, 2] = torch.tensor([0.98, 0.01, 0.01], dtype=noisy[0].dtype).log()
    other_teacher = teacher.clone()
    other_teacher[1, 2] = torch.tensor([0.01, 0.01, 0.98], dtype=teacher.dtype).log()
    assert kd_call(loss, noisy, other_teacher).item() == pytest.approx(before.item())
    noisy[0][1, 1] = noisy[0][1, 2]
    assert kd_call(loss, noisy, other_teacher).item() != pytest.approx(before.item())


def test_no_gradient_reaches_the_teacher():
    student = exits(2, requires_grad=True)
    teacher = exits()[TEACHER].requires_grad_(True)
    kd_call(TeacherStudentKDLoss(), student, teacher).backward()
    assert teacher.grad is None
    assert all(torch.count_nonzero(lp.grad) > 0 for lp in student)


def test_without_teacher_outputs_the_loss_is_the_ctc_loss():
    loss = TeacherStudentKDLoss()
    total = loss(exits(2), REL_LENS, TOKENS, TOKEN_REL)
    assert total.item() == pytest.approx(sum(ref_exit_ctc(lp) for lp in exits(2)))


def test_bad_settings_and_shapes_are_refused():
    with pytest.raises(ValueError, match=r"loss\.alpha must be in \[0, 1\]"):
        TeacherStudentKDLoss(alpha=1.5)
    with pytest.raises(ValueError, match=r"loss\.temperature must be > 0"):
        TeacherStudentKDLoss(temperature=0.0)
    longer = torch.zeros(2, 6, 3).log_softmax(-1)
    with pytest.raises(ValueError, match=r"\(2, 6, 3\) must match .* \(2, 3, 3\)"):
        kd_call(TeacherStudentKDLoss(), teacher=longer)
