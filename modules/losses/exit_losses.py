"""Training losses for early-exit CTC models.

Every loss derives from :class:`ExitLoss` and is called as::

    total = loss(exit_log_probs, rel_lens, tokens, token_rel_lens,
                 teacher_log_probs=None)

where ``exit_log_probs`` is a list of ``K`` tensors ``[B, T, V]`` of
log-probabilities (log-softmax already applied), one per computed exit,
ordered from the shallowest to the deepest. ``K`` may be smaller than the
model's number of exits ``N`` (manual exit activation). ``total`` is a scalar.
After each call the module keeps, for logging only (detached):

* ``last_per_exit``: each exit's contribution to ``total`` (their sum is
  ``total``);
* ``last_ctc``: each exit's plain CTC loss on the reference ``tokens``
  (same definition for every loss, so runs with different losses compare).

Conventions shared by every loss
--------------------------------
* Lengths are relative (SpeechBrain): valid frames ``round(rel * T)``, valid
  target tokens ``round(rel * U)``; blank index 0 unless ``blank_index`` says
  otherwise.
* Batch reduction of a CTC term: per utterance, the CTC loss divided by its
  target length (at least 1), then the mean over the batch. This is
  SpeechBrain's ``ctc_loss(..., reduction="mean")`` (torch's "mean"), used by
  every loss, so that pseudo-label KD with ``alpha=1`` equals the EE loss
  exactly. Impossible alignments give 0 (``zero_infinity=True``).
* Teachers (the deepest exit, detached, or ``teacher_log_probs``) never
  receive a gradient.

Losses selectable from YAML (``!new:modules.losses.exit_losses.<Class>``) or by name via
:func:`build_exit_loss`: ``ee``, ``pseudo_kd``, ``dynamic_kd``,
``confidence``, ``logit_kd``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from speechbrain.nnet.losses import ctc_loss

from modules.decoding.greedy import greedy_ctc_decode, pad_hypotheses
from modules.nn.lengths import absolute_lengths, frame_mask

__all__ = [
    "ExitLoss",
    "EarlyExitCTCLoss",
    "PseudoLabelKDLoss",
    "DynamicKDLoss",
    "ConfidenceWeightedCTCLoss",
    "LogitKDLoss",
    "LOSS_CLASSES",
    "build_exit_loss",
    "exit_ctc_loss",
    "utterance_ctc_losses",
    "masked_kl_divergence",
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def exit_ctc_loss(log_probs, rel_lens, tokens, token_rel_lens, blank=0):
    """Batch CTC loss of one exit, with the project's reduction.

    Mean over the batch of (per-utterance CTC loss / target length), i.e.
    SpeechBrain's ``ctc_loss(..., reduction="mean")``.

    Arguments
    ---------
    log_probs : torch.Tensor
        Log-probabilities ``[B, T, V]``.
    rel_lens : torch.Tensor
        Relative input lengths ``[B]``.
    tokens : torch.Tensor
        Padded targets ``[B, U]`` (LongTensor).
    token_rel_lens : torch.Tensor
        Relative target lengths ``[B]``.
    blank : int
        Index of the CTC blank.

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Example
    -------
    >>> lp = torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]).log()
    >>> loss = exit_ctc_loss(lp, torch.ones(1), torch.tensor([[1]]), torch.ones(1))
    >>> round(loss.item(), 4)  # -log(3/4)
    0.2877
    """
    return ctc_loss(
        log_probs, tokens, rel_lens, token_rel_lens, blank, reduction="mean"
    )


def utterance_ctc_losses(log_probs, rel_lens, tokens, token_rel_lens, blank=0):
    """Per-utterance CTC losses divided by their target length.

    The mean of the result equals :func:`exit_ctc_loss`.

    Arguments
    ---------
    log_probs : torch.Tensor
        Log-probabilities ``[B, T, V]``.
    rel_lens : torch.Tensor
        Relative input lengths ``[B]``.
    tokens : torch.Tensor
        Padded targets ``[B, U]``.
    token_rel_lens : torch.Tensor
        Relative target lengths ``[B]``.
    blank : int
        Index of the CTC blank.

    Returns
    -------
    torch.Tensor
        ``[B]``, ``-log p(y_b | x_b) / max(1, |y_b|)`` (0 if impossible).

    Example
    -------
    >>> lp = torch.tensor([[[0.5, 0.5], [0.5, 0.5]]] * 2).log()
    >>> tok = torch.tensor([[1, 1], [1, 0]])
    >>> utterance_ctc_losses(lp, torch.ones(2), tok, torch.tensor([1.0, 0.5]))
    tensor([0.0000, 0.2877])
    """
    input_lens = absolute_lengths(rel_lens, log_probs.shape[1])
    target_lens = absolute_lengths(token_rel_lens, tokens.shape[1])
    losses = F.ctc_loss(
        log_probs.transpose(0, 1),
        tokens,
        input_lens,
        target_lens,
        blank=blank,
        reduction="none",
        zero_infinity=True,
    )
    return losses / target_lens.clamp(min=1).to(losses.dtype)


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


def _check_per_exit_values(values, key, num_exits):
    """Raise ValueError unless ``values`` has one entry per exit."""
    if num_exits is not None and len(values) != num_exits:
        raise ValueError(
            f"loss.{key} has {len(values)} values but the model has "
            f"{num_exits} exits; give one weight per exit"
        )


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------
class ExitLoss(torch.nn.Module):
    """Base class of the early-exit losses (the shared call contract).

    Subclasses implement :meth:`compute_terms`; :meth:`forward` validates the
    inputs, sums the per-exit contributions into a scalar and stores detached
    copies in ``last_per_exit`` and ``last_ctc`` for logging.

    Arguments
    ---------
    num_exits : int, optional
        Number of exits ``N`` of the model. When given, calls with more than
        ``N`` exit outputs raise; calls with ``K < N`` outputs (manual exit
        activation) are accepted, each subclass documents how.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> loss = EarlyExitCTCLoss(num_exits=2)
    >>> lp = [torch.randn(2, 5, 4).log_softmax(-1) for _ in range(2)]
    >>> tok = torch.tensor([[1, 2], [3, 0]])
    >>> total = loss(lp, torch.tensor([1.0, 0.6]), tok, torch.tensor([1.0, 0.5]))
    >>> total.dim(), len(loss.last_per_exit), len(loss.last_ctc)
    (0, 2, 2)
    """

    def __init__(self, num_exits=None, blank_index=0):
        super().__init__()
        if num_exits is not None and num_exits < 1:
            raise ValueError(f"num_exits must be >= 1, got {num_exits}")
        self.num_exits = num_exits
        self.blank_index = blank_index
        self.last_per_exit = []
        self.last_ctc = []

    def forward(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs=None
    ):
        """Compute the total loss.

        Arguments
        ---------
        exit_log_probs : list of torch.Tensor
            ``K`` log-probability tensors ``[B, T, V]``, shallowest first.
        rel_lens : torch.Tensor
            Relative input lengths ``[B]``.
        tokens : torch.Tensor
            Padded reference tokens ``[B, U]`` (no blanks).
        token_rel_lens : torch.Tensor
            Relative target lengths ``[B]``.
        teacher_log_probs : torch.Tensor, optional
            Log-probabilities ``[B, T', V]`` of an external (frozen) teacher's
            final exit; only the KD losses use it.

        Returns
        -------
        torch.Tensor
            Scalar loss, the sum of ``last_per_exit``.
        """
        self._check_exits(exit_log_probs)
        per_exit, ctc_terms = self.compute_terms(
            list(exit_log_probs), rel_lens, tokens, token_rel_lens, teacher_log_probs
        )
        self.last_per_exit = [term.detach() for term in per_exit]
        self.last_ctc = [term.detach() for term in ctc_terms]
        return torch.stack(per_exit).sum()

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Return ``(per_exit, ctc_terms)``: lists of ``K`` scalar tensors.

        ``per_exit[i]`` is exit ``i``'s contribution to the total loss and
        ``ctc_terms[i]`` its plain CTC loss on ``tokens``.
        """
        raise NotImplementedError

    def _check_exits(self, exit_log_probs):
        """Validate the number and shapes of the exit outputs."""
        if len(exit_log_probs) == 0:
            raise ValueError("exit_log_probs is empty: need at least one exit")
        if self.num_exits is not None and len(exit_log_probs) > self.num_exits:
            raise ValueError(
                f"got {len(exit_log_probs)} exit outputs but the model has "
                f"{self.num_exits} exits"
            )
        shape = exit_log_probs[0].shape
        if any(lp.shape != shape for lp in exit_log_probs):
            raise ValueError("all exit log-probs must share the shape [B, T, V]")

    def _ctc(self, log_probs, rel_lens, tokens, token_rel_lens):
        """Project-convention batch CTC loss of one exit."""
        return exit_ctc_loss(
            log_probs, rel_lens, tokens, token_rel_lens, self.blank_index
        )


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------
class EarlyExitCTCLoss(ExitLoss):
    """Weighted sum of the exits' CTC losses: ``L = sum_i w_i CTC_i(y)``.

    Arguments
    ---------
    weights : list of float, optional
        One weight per model exit (default: 1.0 for every exit). With ``K``
        exit outputs, the first ``K`` weights are used.
    num_exits : int, optional
        Number of model exits; if given, ``len(weights)`` must equal it.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> lp = [torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]).log()] * 2
    >>> loss = EarlyExitCTCLoss(weights=[1.0, 2.0])
    >>> total = loss(lp, torch.ones(1), torch.tensor([[1]]), torch.ones(1))
    >>> round(total.item(), 4)  # 3 * -log(3/4)
    0.863
    """

    def __init__(self, weights=None, num_exits=None, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        if weights is not None:
            _check_per_exit_values(weights, "weights", num_exits)
            weights = [float(w) for w in weights]
        self.weights = weights

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Per-exit ``w_i * CTC_i(y)``; see :meth:`ExitLoss.compute_terms`."""
        num = len(exit_log_probs)
        weights = self.weights or [1.0] * num
        if num > len(weights):
            raise ValueError(
                f"got {num} exit outputs but loss.weights has {len(weights)} values"
            )
        ctc_terms = [
            self._ctc(lp, rel_lens, tokens, token_rel_lens) for lp in exit_log_probs
        ]
        per_exit = [w * c for w, c in zip(weights[:num], ctc_terms)]
        return per_exit, ctc_terms


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
    >>> ee = EarlyExitCTCLoss()(lp, torch.ones(2), tok, tok_lens)
    >>> bool(kd == ee)
    True
    """

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

    def __init__(self, alphas, num_exits, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        _check_per_exit_values(alphas, "alphas", num_exits)
        if any(not 0.0 <= a <= 1.0 for a in alphas):
            raise ValueError(f"loss.alphas must lie in [0, 1], got {alphas}")
        self.alphas = [float(a) for a in alphas]

    def _alphas(self, num):
        """The first ``num`` configured weights."""
        return self.alphas[:num]


class ConfidenceWeightedCTCLoss(ExitLoss):
    """CTC losses weighted by each exit's (detached) frame confidence.

    For exit ``i`` and utterance ``b``: ``s = mean over valid frames of
    max_v log p(v | frame)``, ``c = max(floor, exp(s))`` without gradient;
    the utterance's CTC loss divided by its target length is divided by
    ``c`` ("inverse") or multiplied by ``c`` ("direct"); then the mean over
    the batch, summed over the ``K`` present exits (no per-exit weights, so
    ``K < N`` simply sums fewer exits). ``floor=1`` gives the EE loss.

    Arguments
    ---------
    floor : float
        Lower bound of ``c``, in (0, 1].
    mode : str
        "inverse" (default) or "direct".
    num_exits : int, optional
        Number of model exits ``N``.
    blank_index : int
        Index of the CTC blank.

    Example
    -------
    >>> lp = [torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]).log()]
    >>> loss = ConfidenceWeightedCTCLoss(floor=0.1)
    >>> total = loss(lp, torch.ones(1), torch.tensor([[1]]), torch.ones(1))
    >>> round(total.item(), 4)  # -log(3/4) / 0.5
    0.5754
    """

    MODES = ("inverse", "direct")

    def __init__(self, floor=0.1, mode="inverse", num_exits=None, blank_index=0):
        super().__init__(num_exits=num_exits, blank_index=blank_index)
        if mode not in self.MODES:
            raise ValueError(f"loss.mode must be one of {self.MODES}, got {mode!r}")
        if not 0.0 < floor <= 1.0:
            raise ValueError(f"loss.floor must be in (0, 1], got {floor}")
        self.floor = float(floor)
        self.mode = mode

    def confidence(self, log_probs, rel_lens):
        """Per-utterance confidence ``c`` ``[B]`` (detached, padding masked).

        Example
        -------
        >>> lp = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]).log()
        >>> loss = ConfidenceWeightedCTCLoss()
        >>> loss.confidence(lp, torch.tensor([0.5]))
        tensor([0.5000])
        """
        with torch.no_grad():
            best = log_probs.max(dim=-1).values
            mask = frame_mask(rel_lens, best.shape[1])
            best = torch.where(mask, best, torch.zeros_like(best))
            mean_best = best.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            return mean_best.exp().clamp(min=self.floor)

    def compute_terms(
        self, exit_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
    ):
        """Per-exit confidence-weighted CTC; ``ctc_terms`` are unweighted."""
        per_exit, ctc_terms = [], []
        for lp in exit_log_probs:
            utt = utterance_ctc_losses(
                lp, rel_lens, tokens, token_rel_lens, self.blank_index
            )
            conf = self.confidence(lp, rel_lens).to(utt.dtype)
            weighted = utt / conf if self.mode == "inverse" else utt * conf
            per_exit.append(weighted.mean())
            ctc_terms.append(utt.mean())
        return per_exit, ctc_terms


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


# ---------------------------------------------------------------------------
# Factory
# ---------------------------------------------------------------------------
LOSS_CLASSES = {
    "ee": EarlyExitCTCLoss,
    "pseudo_kd": PseudoLabelKDLoss,
    "dynamic_kd": DynamicKDLoss,
    "confidence": ConfidenceWeightedCTCLoss,
    "logit_kd": LogitKDLoss,
}


def build_exit_loss(name, num_exits, **kwargs):
    """Build an early-exit loss from its YAML name.

    Arguments
    ---------
    name : str
        Value of the YAML key ``loss_name``: one of ``ee``, ``pseudo_kd``,
        ``dynamic_kd``, ``confidence``, ``logit_kd``.
    num_exits : int
        Number of model exits ``N`` (per-exit weights are checked against it).
    **kwargs
        Constructor arguments of the chosen class (e.g. ``weights``,
        ``alpha``, ``alphas``, ``floor``, ``mode``, ``temperature``,
        ``kd_weight``, ``blank_index``).

    Returns
    -------
    ExitLoss
        The loss module.

    Example
    -------
    >>> build_exit_loss("dynamic_kd", 2, alphas=[0.8, 1.0]).alphas
    [0.8, 1.0]
    >>> build_exit_loss("ctc", 2)
    Traceback (most recent call last):
        ...
    ValueError: loss_name 'ctc' is unknown; valid names: ee, pseudo_kd, dynamic_kd, confidence, logit_kd
    """  # noqa: E501
    if name not in LOSS_CLASSES:
        valid = ", ".join(LOSS_CLASSES)
        raise ValueError(f"loss_name {name!r} is unknown; valid names: {valid}")
    return LOSS_CLASSES[name](num_exits=num_exits, **kwargs)
