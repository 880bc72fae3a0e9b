"""Teacher-student logit distillation into a smaller (early-exit) student.

The teacher is another trained model, frozen (YAML key ``teacher``, see
:mod:`modules.compression.teachers`); its log-probabilities arrive as
``teacher_log_probs`` at the student's frame rate and vocabulary (checked at
start-up). Every exit of the student is distilled from that one teacher
output ("Listen to the Teacher": ``(1 - a) * CTC + a * T^2 * KL`` per frame).
"""

from __future__ import annotations

from modules.losses.distillation import masked_kl_divergence
from modules.losses.exit_losses import ExitLoss

__all__ = ["TeacherStudentKDLoss"]


class TeacherStudentKDLoss(ExitLoss):
    """CTC plus logit distillation from a frozen teacher, on every exit.

    For each present exit ``i`` of the student:
    ``L_i = (1 - a) * CTC_i(y) + a * t^2 * KL(softmax(z_t / t) || softmax(z_i / t))``
    where the KL term is averaged over the valid frames of each utterance
    (padding masked), then over the batch
    (:func:`modules.losses.distillation.masked_kl_divergence`), and ``z_t``
    are the teacher's (detached) log-probabilities. The total is
    ``sum_i L_i``; ``last_per_exit[i]`` is ``L_i`` and ``last_ctc[i]`` is
    ``CTC_i(y)``. Unlike :class:`modules.losses.distillation.LogitKDLoss`,
    the student's last exit is distilled too (the teacher is another model).
    Without ``teacher_log_probs`` (validation and test: the Brain runs the
    teacher for training only) the loss is ``sum_i CTC_i(y)``, so that dev
    losses compare with those of a student trained alone; the start-up
    checks refuse a training run without a teacher.

    Arguments
    ---------
    alpha : float
        Weight ``a`` in [0, 1] of the distillation term (published 0.5).
    temperature : float
        Softmax temperature ``t > 0`` (published 5).
    num_exits : int, optional
        Number of student exits ``N``.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> import torch
    >>> student = [torch.randn(2, 6, 5).log_softmax(-1) for _ in range(2)]
    >>> teacher = torch.randn(2, 6, 5).log_softmax(-1)
    >>> tokens, token_lens = torch.tensor([[1, 2], [3, 0]]), torch.tensor([1.0, 0.5])
    >>> loss = TeacherStudentKDLoss(alpha=0.0)
    >>> total = loss(student, torch.ones(2), tokens, token_lens, teacher)
    >>> bool(total == sum(loss.last_ctc))
    True
    >>> kd = TeacherStudentKDLoss(alpha=0.5)
    >>> bool(kd(student, torch.ones(2), tokens, token_lens, teacher) > total / 2)
    True
    >>> bool(kd(student, torch.ones(2), tokens, token_lens) == total)
    True
    """

    uses_teacher = True
    # Start-up checks (modules.training.run_setup): a frozen teacher must be
    # given, and it must have the student's frame rate and vocabulary.
    requires_teacher = True
    frame_level_teacher = True

    def __init__(self, alpha=0.5, temperature=5.0, num_exits=None, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"loss.alpha must be in [0, 1], got {alpha}")
        if temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        self.alpha = float(alpha)
        self.temperature = float(temperature)

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Per-exit ``(1 - a) * CTC_i + a * KD_i`` (``CTC_i`` without teacher)."""
        ctc_terms = [
            self._ctc(lp, rel_lens, tokens, token_rel_lens) for lp in exit_log_probs
        ]
        if teacher_log_probs is None:
            return list(ctc_terms), ctc_terms
        teacher = teacher_log_probs.detach()
        if teacher.shape != exit_log_probs[0].shape:
            raise ValueError(
                f"teacher log-probs {tuple(teacher.shape)} must match the "
                f"student's {tuple(exit_log_probs[0].shape)} (same frame rate "
                "and vocabulary)"
            )
        per_exit = [
            (1.0 - self.alpha) * ctc
            + self.alpha * masked_kl_divergence(teacher, lp, rel_lens, self.temperature)
            for lp, ctc in zip(exit_log_probs, ctc_terms)
        ]
        return per_exit, ctc_terms
