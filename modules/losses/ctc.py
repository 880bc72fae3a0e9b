"""The project's CTC loss of one exit: SpeechBrain's reduction, per batch or
per utterance.

Per utterance, the CTC loss is divided by its target length (at least 1);
the batch value is the mean over the utterances. This is SpeechBrain's
``ctc_loss(..., reduction="mean")`` (torch's "mean"), which every loss of
:mod:`modules.losses` uses. Impossible alignments give 0
(``zero_infinity=True``).
"""

from __future__ import annotations

import torch.nn.functional as F
from speechbrain.nnet.losses import ctc_loss

from modules.nn.lengths import absolute_lengths

__all__ = ["exit_ctc_loss", "utterance_ctc_losses"]


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
    >>> import torch
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
    >>> import torch
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
