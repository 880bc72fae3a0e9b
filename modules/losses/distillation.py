"""Distillation losses: the early exits learn from a teacher's outputs.

The teacher is the model's own deepest exit, detached ("online"), or the
final exit of a frozen model given as ``teacher_log_probs``; it never
receives a gradient. Pseudo-label KD (:class:`PseudoLabelKDLoss`,
:class:`DynamicKDLoss`) adds CTC terms on the teacher's greedy transcript;
:class:`LogitKDLoss` adds a frame-level KL divergence at a temperature. Every
loss here sets ``uses_teacher = True`` and follows the call contract of
:class:`modules.losses.exit_losses.ExitLoss`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modules.decoding.greedy import greedy_ctc_decode, pad_hypotheses
from modules.losses.exit_losses import ExitLoss, check_per_exit_values
from modules.nn.lengths import frame_mask

__all__ = [
    "PseudoLabelKDLoss",
    "DynamicKDLoss",
    "LogitKDLoss",
    "masked_kl_divergence",
]


def masked_kl_divergence(teacher_log_probs, student_log_probs, rel_lens, temperature):
    """Frame-level KL(teacher || student) at a temperature, padding masked.

    Both inputs are re-normalised at temperature ``t``:
    ``log_softmax(log_probs / t)`` (equal to ``log_softmax(logits / t)``
    since log-probabilities differ from logits by a per-frame constant).
    The KL of each valid frame is averaged over the valid frames of its
    utterance, then over the batch, and scaled by ``t ** 2``.

    Arguments
    ---------
    teacher_log_probs : torch.Tensor
        Teacher log-probabilities ``[B, T, V]`` (should be detached).
    student_log_probs : torch.Tensor
        Student log-probabilities ``[B, T, V]``.
    rel_lens : torch.Tensor
        Relative lengths ``[B]``.
    temperature : float
        Distillation temperature ``t > 0``.

    Returns
    -------
    torch.Tensor
        Scalar distillation loss.

    Example
    -------
    >>> p = torch.tensor([[[0.5, 0.5]]]).log()
    >>> q = torch.tensor([[[0.25, 0.75]]]).log()
    >>> kl = masked_kl_divergence(p, q, torch.ones(1), 1.0)
    >>> round(kl.item(), 4)  # 0.5 log(2) + 0.5 log(2/3)
    0.1438
    """
    teacher = F.log_softmax(teacher_log_probs / temperature, dim=-1)
    student = F.log_softmax(student_log_probs / temperature, dim=-1)
    frame_kl = F.kl_div(student, teacher, reduction="none", log_target=True)
    frame_kl = frame_kl.sum(dim=-1)
    mask = frame_mask(rel_lens, frame_kl.shape[1])
    frame_kl = torch.where(mask, frame_kl, torch.zeros_like(frame_kl))
    per_utt = frame_kl.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return per_utt.mean() * temperature**2


class _TeacherMixin:
    """Selection of the teacher and of the distilled exits (KD losses).

    * ``teacher_log_probs`` given (frozen teacher): it is the teacher, and the
      distilled exits are the present exits with index ``< N`` (``N`` is
      ``num_exits``, or ``K`` when unknown): all ``K`` of them when ``K < N``.
    * Otherwise (online): the deepest present exit (exit ``K``; exit ``N``
      when all exits are computed) is the teacher, detached, and exits
      ``1..K-1`` are distilled.
    """

    def _teacher(self, exit_log_probs, teacher_log_probs):
        """Return ``(teacher, num_distilled)``; the teacher is detached."""
        num = len(exit_log_probs)
        if teacher_log_probs is None:
            return exit_log_probs[-1].detach(), num - 1
        total = self.num_exits if self.num_exits is not None else num
        return teacher_log_probs.detach(), min(num, total - 1)


class _PseudoLabelKDBase(_TeacherMixin, ExitLoss):
    """Pseudo-label KD: ``sum_i a_i CTC_i(y) + sum_{i<N} (1-a_i) CTC_i(y_hat)``.

    ``y_hat`` is the greedy CTC transcript of the teacher (no gradient).
    Subclasses define the per-exit ``a_i`` through :meth:`_alphas`. The
    teacher and distilled exits follow :class:`_TeacherMixin`.
    """

    def _alphas(self, num):
        """Return the weights ``a_1..a_num`` of the present exits."""
        raise NotImplementedError

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Per-exit ``a_i CTC_i(y) + (1 - a_i) CTC_i(y_hat)``."""
        alphas = self._alphas(len(exit_log_probs))
        ctc_terms = [
            self._ctc(lp, rel_lens, tokens, token_rel_lens) for lp in exit_log_probs
        ]
        per_exit = [a * c for a, c in zip(alphas, ctc_terms)]
        teacher, num_kd = self._teacher(exit_log_probs, teacher_log_probs)
        if num_kd == 0 or all(a == 1.0 for a in alphas[:num_kd]):
            return per_exit, ctc_terms
        hyps = greedy_ctc_decode(teacher, rel_lens, self.blank_index)
        pseudo, pseudo_lens = pad_hypotheses(hyps, device=tokens.device)
        for i in range(num_kd):
            kd = self._ctc(exit_log_probs[i], rel_lens, pseudo, pseudo_lens)
            per_exit[i] = per_exit[i] + (1.0 - alphas[i]) * kd
        return per_exit, ctc_terms


class PseudoLabelKDLoss(_PseudoLabelKDBase):
    """Pseudo-label KD with one weight ``a`` for every exit.

    ``L = a * sum_{i=1..N} CTC_i(y) + (1 - a) * sum_{i=1..N-1} CTC_i(y_hat)``
    where ``y_hat`` is the greedy transcript of the teacher's final exit:
    the model's own deepest exit, detached ("online", published a = 0.7), or
    ``teacher_log_probs`` from a frozen model (published a = 0.3). With
    ``K < N`` exit outputs see :class:`_TeacherMixin`: online, exit ``K`` is
    the teacher and exits ``1..K-1`` are distilled; with a frozen teacher all
    ``K`` are distilled.

    Arguments
    ---------
    alpha : float
        Weight ``a`` in [0, 1] of the reference-transcript CTC terms.
    num_exits : int, optional
        Number of model exits ``N``.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> lp = [torch.randn(2, 6, 5).log_softmax(-1) for _ in range(3)]
    >>> tok, tok_lens = torch.tensor([[1, 2], [3, 0]]), torch.tensor([1.0, 0.5])
    >>> kd = PseudoLabelKDLoss(alpha=1.0)(lp, torch.ones(2), tok, tok_lens)
    >>> from modules.losses.exit_losses import EarlyExitCTCLoss
    >>> ee = EarlyExitCTCLoss()(lp, torch.ones(2), tok, tok_lens)
    >>> bool(kd == ee)
    True
    """

    uses_teacher = True

    def __init__(self, alpha=0.7, num_exits=None, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"loss.alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)

    def _alphas(self, num):
        """Every present exit gets ``alpha``."""
        return [self.alpha] * num


class DynamicKDLoss(_PseudoLabelKDBase):
    """Pseudo-label KD with a weight per exit (dynamic KD).

    ``L = sum_i a_i CTC_i(y) + sum_{i<N} (1 - a_i) CTC_i(y_hat)``. With
    ``K < N`` exit outputs the first ``K`` weights are used; the teacher and
    distilled exits follow :class:`_TeacherMixin` (online: exit ``K`` is the
    teacher, so its ``(1 - a_K)`` share is dropped).

    Arguments
    ---------
    alphas : list of float
        One weight ``a_i`` in [0, 1] per exit; published
        ``[0.65, 0.70, 0.75, 0.80, 0.85, 1.00]``.
    num_exits : int
        Number of model exits; must equal ``len(alphas)``.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> loss = DynamicKDLoss([0.65, 0.70, 0.75, 0.80, 0.85, 1.00], num_exits=6)
    >>> lp = [torch.randn(1, 6, 4).log_softmax(-1) for _ in range(6)]
    >>> total = loss(lp, torch.ones(1), torch.tensor([[1, 2]]), torch.ones(1))
    >>> DynamicKDLoss([0.7, 1.0], num_exits=3)
    Traceback (most recent call last):
        ...
    ValueError: loss.alphas has 2 values but the model has 3 exits; give one weight per exit
    """  # noqa: E501

    uses_teacher = True

    def __init__(self, alphas, num_exits, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        check_per_exit_values(alphas, "alphas", num_exits)
        if any(not 0.0 <= a <= 1.0 for a in alphas):
            raise ValueError(f"loss.alphas must lie in [0, 1], got {alphas}")
        self.alphas = [float(a) for a in alphas]

    def _alphas(self, num):
        """The first ``num`` configured weights."""
        return self.alphas[:num]


class LogitKDLoss(_TeacherMixin, ExitLoss):
    """CTC on every exit plus logit distillation into the earlier exits.

    ``L = sum_i CTC_i(y) + kd_weight * sum_{i<N} KD_i`` with
    ``KD_i = t^2 * KL(softmax(z_N / t) || softmax(z_i / t))`` averaged over
    valid frames (per utterance, then over the batch); see
    :func:`masked_kl_divergence`. Additive mixing (not ``(1-w)/w``): the CTC
    part keeps the EE scale and ``kd_weight=0`` is exactly the EE loss. The
    teacher is the deepest present exit, detached, or ``teacher_log_probs``
    (same frame rate required); with ``K < N`` outputs see
    :class:`_TeacherMixin`.

    Arguments
    ---------
    temperature : float
        Softmax temperature ``t > 0``.
    kd_weight : float
        Weight (>= 0) of each distillation term.
    num_exits : int, optional
        Number of model exits ``N``.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> lp = [torch.randn(2, 6, 5).log_softmax(-1) for _ in range(3)]
    >>> loss = LogitKDLoss(temperature=2.0, kd_weight=0.5)
    >>> tok = torch.tensor([[1, 2], [3, 0]])
    >>> total = loss(lp, torch.ones(2), tok, torch.tensor([1.0, 0.5]))
    >>> float(loss.last_per_exit[-1]) == float(loss.last_ctc[-1])
    True
    """

    uses_teacher = True
    # A frozen teacher must have the student's frame rate (start-up check).
    frame_level_teacher = True

    def __init__(self, temperature=2.0, kd_weight=0.5, num_exits=None, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        if temperature <= 0:
            raise ValueError(f"loss.temperature must be > 0, got {temperature}")
        if kd_weight < 0:
            raise ValueError(f"loss.kd_weight must be >= 0, got {kd_weight}")
        self.temperature = float(temperature)
        self.kd_weight = float(kd_weight)

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Per-exit ``CTC_i(y) + kd_weight * KD_i``."""
        ctc_terms = [
            self._ctc(lp, rel_lens, tokens, token_rel_lens) for lp in exit_log_probs
        ]
        per_exit = list(ctc_terms)
        teacher, num_kd = self._teacher(exit_log_probs, teacher_log_probs)
        if teacher.shape != exit_log_probs[0].shape:
            raise ValueError(
                f"teacher log-probs {tuple(teacher.shape)} must match the exits' "
                f"{tuple(exit_log_probs[0].shape)} (same frame rate and vocabulary)"
            )
        if self.kd_weight == 0:
            return per_exit, ctc_terms
        for i in range(num_kd):
            kd = masked_kl_divergence(
                teacher, exit_log_probs[i], rel_lens, self.temperature
            )
            per_exit[i] = per_exit[i] + self.kd_weight * kd
        return per_exit, ctc_terms
