"""Training losses for early-exit CTC models: the shared contract.

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
* Batch reduction of a CTC term (:mod:`modules.losses.ctc`): per utterance,
  the CTC loss divided by its target length (at least 1), then the mean over
  the batch. This is SpeechBrain's ``ctc_loss(..., reduction="mean")``
  (torch's "mean"), used by every loss, so that pseudo-label KD with
  ``alpha=1`` equals the EE loss exactly. Impossible alignments give 0
  (``zero_infinity=True``).
* Teachers (the deepest exit, detached, or ``teacher_log_probs``) never
  receive a gradient.

This module holds the base class and the losses on the reference transcript
only (:class:`EarlyExitCTCLoss`, :class:`ConfidenceWeightedCTCLoss`);
:mod:`modules.losses.distillation` holds the distillation losses
(``uses_teacher = True``). A run selects its loss in YAML by class, e.g.
``loss_class: !name:modules.losses.distillation.DynamicKDLoss``, or builds
one directly with ``!new:modules.losses.exit_losses.EarlyExitCTCLoss``.
"""

from __future__ import annotations

import torch

from modules.losses.ctc import exit_ctc_loss, utterance_ctc_losses
from modules.nn.lengths import frame_mask

__all__ = [
    "ExitLoss",
    "EarlyExitCTCLoss",
    "ConfidenceWeightedCTCLoss",
    "check_per_exit_values",
]


def check_per_exit_values(values, key, num_exits):
    """Raise ValueError unless ``values`` has one entry per exit.

    Arguments
    ---------
    values : list
        The per-exit setting (e.g. weights).
    key : str
        Its name under ``loss.`` in the error message.
    num_exits : int, optional
        Number of model exits; nothing is checked when None.

    Example
    -------
    >>> check_per_exit_values([1.0, 2.0], "weights", 2)
    >>> check_per_exit_values([1.0], "weights", 2)
    Traceback (most recent call last):
        ...
    ValueError: loss.weights has 1 values but the model has 2 exits; give one weight per exit
    """  # noqa: E501
    if num_exits is not None and len(values) != num_exits:
        raise ValueError(
            f"loss.{key} has {len(values)} values but the model has "
            f"{num_exits} exits; give one weight per exit"
        )


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

    Attributes
    ----------
    uses_teacher : bool
        Class attribute: True for the losses that read ``teacher_log_probs``
        (the outputs of a frozen teacher model) when given; the others ignore
        that argument.

    Example
    -------
    >>> loss = EarlyExitCTCLoss(num_exits=2)
    >>> lp = [torch.randn(2, 5, 4).log_softmax(-1) for _ in range(2)]
    >>> tok = torch.tensor([[1, 2], [3, 0]])
    >>> total = loss(lp, torch.tensor([1.0, 0.6]), tok, torch.tensor([1.0, 0.5]))
    >>> total.dim(), len(loss.last_per_exit), len(loss.last_ctc)
    (0, 2, 2)
    """

    uses_teacher = False

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
            check_per_exit_values(weights, "weights", num_exits)
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
