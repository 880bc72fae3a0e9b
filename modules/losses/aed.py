"""Training loss of the early-exit attention encoder-decoder.

Per exit ``i``: ``ctc_weight * CTC_i + (1 - ctc_weight) * CE_i``, summed over
the exits. The CTC side is any exit loss of :mod:`modules.losses` (YAML
``loss_class`` / ``loss_options``, as in the CTC recipes: per-exit weights,
confidence weighting, distillation from the online or a frozen teacher); the
attention side is the label-smoothed cross-entropy of each exit's decoder,
weighted per exit by ``attention_weights``. With the same per-exit weights
``w`` on both sides (``loss_options: {weights: w}`` and ``attention_weights:
w``) the total is ``sum_i w_i (ctc_weight CTC_i + (1 - ctc_weight) CE_i)``.

Conventions (those of :mod:`modules.losses.exit_losses`):

* the decoder reads BOS + tokens and predicts tokens + EOS
  (:func:`teacher_forcing_targets`); the CTC targets have neither;
* CE is reduced like CTC: per utterance, the mean over its valid target
  positions (padding masked, so padding changes nothing), then the mean over
  the batch;
* with ``K`` exit outputs (manual exit activation) the first ``K`` weights are
  used.
"""

from dataclasses import dataclass

import torch
from speechbrain.nnet.losses import nll_loss

from modules.nn.lengths import absolute_lengths

__all__ = [
    "TeacherForcingTargets",
    "teacher_forcing_targets",
    "attention_ce_loss",
    "JointCTCAttentionLoss",
]


@dataclass
class TeacherForcingTargets:
    """Decoder input and targets of a batch.

    Arguments
    ---------
    tokens_bos : torch.Tensor
        Decoder input ``[B, U + 1]``: BOS, then the tokens, then padding.
    tokens_eos : torch.Tensor
        Targets ``[B, U + 1]``: the tokens, then EOS, then padding.
    rel_lens : torch.Tensor
        Relative lengths of both ``[B]`` (tokens + 1).
    """

    tokens_bos: torch.Tensor
    tokens_eos: torch.Tensor
    rel_lens: torch.Tensor


def teacher_forcing_targets(tokens, token_rel_lens, bos_index, eos_index, pad_index=0):
    """BOS/EOS sequences of a padded token batch (the CTC targets).

    Built on the batch rather than in the data pipeline, so that every dataset
    of the project serves both CTC and AED models.

    Arguments
    ---------
    tokens : torch.Tensor
        Padded tokens ``[B, U]`` without BOS/EOS.
    token_rel_lens : torch.Tensor
        Relative lengths ``[B]``.
    bos_index, eos_index, pad_index : int
        Special token ids.

    Returns
    -------
    TeacherForcingTargets

    Example
    -------
    >>> targets = teacher_forcing_targets(
    ...     torch.tensor([[5, 6, 7], [8, 9, 9]]), torch.tensor([1.0, 1 / 3]), 2, 3
    ... )
    >>> targets.tokens_bos.tolist(), targets.tokens_eos.tolist()
    ([[2, 5, 6, 7], [2, 8, 0, 0]], [[5, 6, 7, 3], [8, 3, 0, 0]])
    >>> targets.rel_lens
    tensor([1.0000, 0.5000])
    """
    batch, max_len = tokens.shape
    lens = absolute_lengths(token_rel_lens, max_len)
    positions = torch.arange(max_len + 1, device=tokens.device).unsqueeze(0)
    padded = torch.nn.functional.pad(tokens, (0, 1), value=pad_index)
    valid = positions < lens.unsqueeze(1)
    tokens_eos = padded.masked_fill(~valid, pad_index)
    tokens_eos = tokens_eos.masked_fill(positions == lens.unsqueeze(1), eos_index)
    bos = torch.full((batch, 1), bos_index, dtype=tokens.dtype, device=tokens.device)
    tokens_bos = torch.cat([bos, padded[:, :-1]], dim=1)
    tokens_bos = tokens_bos.masked_fill(positions > lens.unsqueeze(1), pad_index)
    rel_lens = (lens + 1).to(torch.float) / (max_len + 1)
    return TeacherForcingTargets(tokens_bos, tokens_eos, rel_lens)


def attention_ce_loss(log_probs, targets, rel_lens, label_smoothing=0.0):
    """Label-smoothed cross-entropy of one decoder, padding masked.

    SpeechBrain's ``nll_loss`` per utterance (``reduction="batch"``: the mean
    over its valid positions), then the mean over the batch.

    Arguments
    ---------
    log_probs : torch.Tensor
        Decoder log-posteriors ``[B, U, V]``.
    targets : torch.Tensor
        Target ids ``[B, U]``.
    rel_lens : torch.Tensor
        Relative target lengths ``[B]``.
    label_smoothing : float
        Probability mass spread over the vocabulary.

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Example
    -------
    >>> lp = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]]).log()
    >>> round(attention_ce_loss(lp, torch.tensor([[0, 1]]), torch.tensor([0.5])).item(), 4)
    0.6931
    """  # noqa: E501
    per_utterance = nll_loss(
        log_probs,
        targets,
        length=rel_lens,
        label_smoothing=label_smoothing,
        reduction="batch",
    )
    return per_utterance.mean()


class JointCTCAttentionLoss(torch.nn.Module):
    """``ctc_weight * CTC exit loss + (1 - ctc_weight) * sum_i a_i CE_i``.

    Arguments
    ---------
    ctc_loss : modules.losses.exit_losses.ExitLoss
        The CTC side over the exits (``loss_class`` with ``loss_options``).
    ctc_weight : float
        Weight of the CTC side, in [0, 1] (YAML key ``ctc_weight``).
    label_smoothing : float
        Of the cross-entropy, in [0, 1) (YAML key ``label_smoothing``).
    attention_weights : list of float, optional
        ``a_i``, one per exit (YAML key ``attention_weights``); None: 1.0.
    num_exits : int, optional
        Number of model exits, to check ``attention_weights``.

    Attributes
    ----------
    last_ctc, last_attention : list of torch.Tensor
        After each call, every exit's plain CTC and CE loss (detached).

    Example
    -------
    >>> from modules.losses.exit_losses import EarlyExitCTCLoss
    >>> loss = JointCTCAttentionLoss(EarlyExitCTCLoss(), ctc_weight=0.5)
    >>> ctc = [torch.tensor([[[0.5, 0.5], [0.5, 0.5]]]).log()]
    >>> dec = [torch.tensor([[[0.5, 0.5]]]).log()]
    >>> targets = TeacherForcingTargets(None, torch.tensor([[1]]), torch.ones(1))
    >>> total = loss(ctc, torch.ones(1), torch.tensor([[1]]), torch.ones(1), dec, targets)
    >>> round(total.item(), 4)  # (-log(3/4) - log(1/2)) / 2
    0.4904
    >>> JointCTCAttentionLoss(EarlyExitCTCLoss(), ctc_weight=1.3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: ctc_weight=1.3 must be in [0, 1] ...
    """  # noqa: E501

    def __init__(
        self,
        ctc_loss,
        ctc_weight=0.3,
        label_smoothing=0.0,
        attention_weights=None,
        num_exits=None,
    ):
        super().__init__()
        if not isinstance(ctc_weight, (int, float)) or not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(
                f"ctc_weight={ctc_weight!r} must be in [0, 1] (the CTC share of "
                "each exit's loss; the attention decoder gets 1 - ctc_weight)"
            )
        if not isinstance(label_smoothing, (int, float)) or not (
            0.0 <= label_smoothing < 1.0
        ):
            raise ValueError(
                f"label_smoothing={label_smoothing!r} must be in [0, 1) "
                "(0.1 in SpeechBrain's recipes, 0 for none)"
            )
        if attention_weights is not None and num_exits is not None:
            if len(attention_weights) != num_exits:
                raise ValueError(
                    f"attention_weights has {len(attention_weights)} values but "
                    f"the model has {num_exits} exits; give one per exit, or "
                    "null for 1.0 each"
                )
        self.ctc_loss = ctc_loss
        self.ctc_weight = float(ctc_weight)
        self.label_smoothing = float(label_smoothing)
        self.attention_weights = attention_weights
        self.last_ctc = []
        self.last_attention = []

    @property
    def uses_teacher(self):
        """Whether the CTC side reads a frozen teacher's log-posteriors."""
        return self.ctc_loss.uses_teacher

    def forward(
        self,
        ctc_log_probs,
        rel_lens,
        tokens,
        token_rel_lens,
        decoder_log_probs,
        targets,
        teacher_log_probs=None,
    ):
        """Total loss of ``K`` exits (shallowest first).

        Arguments
        ---------
        ctc_log_probs : list of torch.Tensor
            CTC log-posteriors ``[B, T, V]`` per exit.
        rel_lens : torch.Tensor
            Relative input lengths ``[B]``.
        tokens, token_rel_lens : torch.Tensor
            CTC targets (no BOS/EOS) and their relative lengths.
        decoder_log_probs : list of torch.Tensor
            Teacher-forced decoder log-posteriors ``[B, U + 1, V]`` per exit.
        targets : TeacherForcingTargets
            ``tokens_eos`` and ``rel_lens`` are the CE targets.
        teacher_log_probs : torch.Tensor, optional
            A frozen teacher's log-posteriors, for the CTC side.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        ctc_total = self.ctc_loss(
            ctc_log_probs, rel_lens, tokens, token_rel_lens, teacher_log_probs
        )
        ce_terms = [
            attention_ce_loss(
                lp, targets.tokens_eos, targets.rel_lens, self.label_smoothing
            )
            for lp in decoder_log_probs
        ]
        weights = self.attention_weights or [1.0] * len(ce_terms)
        attention_total = sum(w * ce for w, ce in zip(weights, ce_terms))
        self.last_ctc = self.ctc_loss.last_ctc
        self.last_attention = [ce.detach() for ce in ce_terms]
        return self.ctc_weight * ctc_total + (1.0 - self.ctc_weight) * attention_total
