"""Dynamic exit policies: at each exit, decide which utterances stop there.

A policy looks at what one exit produced for the utterances still running
(an :class:`~modules.exits.observation.ExitObservation`) and at the
observations of the previous exits (the ``history``, restricted to the same
utterances), and returns a boolean per utterance: ``True`` means "take this
exit, compute nothing more". The runner
:func:`modules.exits.dynamic.dynamic_exit_forward` calls it during the forward
pass and shrinks the batch as utterances leave.

Every policy computes one *criterion value* per utterance
(:meth:`~modules.exits.exit_policy.ExitPolicy.criterion`) and compares it
with its ``threshold``:

============== ================================================ =============
policy         criterion (per utterance)                        exits when
============== ================================================ =============
``entropy``    mean over valid frames of the posterior entropy  value < t
               (nats); ``t >= 0``
``confidence`` mean over valid frames of the max posterior;     value > t
               ``t`` in (0, 1]
``posterior``  posterior of the best hypothesis of a CTC beam   value > t
               search, softmax over its n-best scores;
               ``t`` in (0, 1]; needs ``decoder="beam"``
``similarity`` mean over valid frames of the cosine similarity  value > t
               of this exit's and the previous exit's hidden
               states; ``t`` in [-1, 1]; NaN (never exits) at
               exit 1
``patience``   how many immediately preceding exits produced    value >= k
               the same greedy transcript as this one; ``t = k``
               a positive integer
============== ================================================ =============

Comparisons are strict for thresholds, so the end of each range that the
criterion can reach (entropy ``0``, confidence / posterior / similarity
``1``) never triggers: a convenient "always run to the last exit" setting.
``patience=k`` means that the last ``k`` exits produced the same transcript
as the current one (``k + 1`` consecutive exits agree); the earliest exit it
can take is ``k + 1``.

``mode="utterance"`` (default) decides per utterance. ``mode="batch"``
compares the batch mean of the per-utterance values (every utterance weighs
the same) with the threshold, so the whole batch exits together, as in the
published study. A NaN value (no previous exit yet) never passes, in either
mode.

Policies are built by name with :func:`build_policy`; invalid settings raise
a ``ValueError`` naming the offending key (``policy``, ``threshold``,
``mode``, ``decoder``, ``topk``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from modules.exits.exit_policy import ExitPolicy, real_number
from modules.nn.lengths import masked_mean

__all__ = [
    "EntropyPolicy",
    "ConfidencePolicy",
    "PosteriorPolicy",
    "SimilarityPolicy",
    "PatiencePolicy",
    "POLICIES",
    "build_policy",
]


class EntropyPolicy(ExitPolicy):
    """Exit when the mean frame entropy (nats) is below the threshold.

    Example
    -------
    >>> from modules.exits.observation import ExitObservation
    >>> uniform = torch.full((1, 3, 4), 0.25).log()
    >>> obs = ExitObservation(1, 1, torch.zeros(1, 3, 2),
    ...     torch.ones(1, 3, dtype=torch.bool), torch.tensor([0]),
    ...     log_probs=uniform)
    >>> policy = EntropyPolicy(0.5)
    >>> policy.criterion(obs, []), policy.decide(obs, [])
    (tensor([1.3863]), tensor([False]))
    """

    name = "entropy"
    exit_when = "below"
    threshold_range = (0.0, math.inf, True, False)

    def criterion(self, obs, history):
        """Mean over valid frames of ``-sum_v p log p``."""
        entropy = torch.special.entr(obs.log_probs.exp()).sum(-1)
        return masked_mean(entropy, obs.output_valid)


class ConfidencePolicy(ExitPolicy):
    """Exit when the mean over valid frames of the max posterior is high.

    Example
    -------
    >>> from modules.exits.observation import ExitObservation
    >>> probs = torch.tensor([[[0.9, 0.1], [0.3, 0.7]]])
    >>> obs = ExitObservation(1, 1, torch.zeros(1, 2, 2),
    ...     torch.ones(1, 2, dtype=torch.bool), torch.tensor([0]),
    ...     log_probs=probs.log())
    >>> ConfidencePolicy(0.75).decide(obs, [])
    tensor([True])
    """

    name = "confidence"
    threshold_range = (0.0, 1.0, False, True)

    def criterion(self, obs, history):
        """Mean over valid frames of ``max_v p``."""
        return masked_mean(obs.log_probs.max(-1).values.exp(), obs.output_valid)


class SimilarityPolicy(ExitPolicy):
    """Exit when this exit's hidden states resemble the previous exit's.

    The criterion is the mean over valid frames of the cosine similarity of
    the two exits' representations (what the heads read); it is NaN at the
    first exit, which therefore never exits.

    Example
    -------
    >>> from modules.exits.observation import ExitObservation
    >>> valid = torch.ones(1, 2, dtype=torch.bool)
    >>> first = ExitObservation(1, 1, torch.ones(1, 2, 3), valid,
    ...     torch.tensor([0]), log_probs=torch.zeros(1, 2, 1))
    >>> second = ExitObservation(2, 2, 2 * torch.ones(1, 2, 3), valid,
    ...     torch.tensor([0]), log_probs=torch.zeros(1, 2, 1))
    >>> policy = SimilarityPolicy(0.9)
    >>> policy.decide(first, []), policy.decide(second, [first])
    (tensor([False]), tensor([True]))
    """

    name = "similarity"
    threshold_range = (-1.0, 1.0, True, True)
    history_size = 1

    def criterion(self, obs, history):
        """Mean cosine similarity with the previous exit (NaN at exit 1)."""
        if not history:
            return torch.full(obs.utterances.shape, math.nan, device=obs.hidden.device)
        cosine = F.cosine_similarity(obs.hidden, history[-1].hidden, dim=-1)
        return masked_mean(cosine.clamp(-1.0, 1.0), obs.valid)


class PatiencePolicy(ExitPolicy):
    """Exit when the last ``k`` exits gave the same greedy transcript.

    ``threshold`` is the patience ``k`` (a positive integer): the current
    exit and the ``k`` exits before it must agree, so ``k + 1`` consecutive
    exits produce one transcript. The criterion is the number of immediately
    preceding exits (at most ``k`` are kept) that agree with the current one.

    Example
    -------
    >>> from modules.exits.observation import ExitObservation
    >>> def exit_with(index, token):
    ...     lp = torch.nn.functional.one_hot(torch.tensor([[token]]), 3)
    ...     return ExitObservation(index, index, torch.zeros(1, 1, 2),
    ...         torch.ones(1, 1, dtype=torch.bool), torch.tensor([0]),
    ...         log_probs=lp.float().log())
    >>> exits = [exit_with(1, 2), exit_with(2, 1), exit_with(3, 1)]
    >>> policy = PatiencePolicy(1)
    >>> [policy.decide(e, exits[:i]).item() for i, e in enumerate(exits)]
    [False, False, True]
    """

    name = "patience"
    exit_when = "at_least"
    threshold_range = (1, math.inf, True, False)

    def __init__(self, threshold, mode="utterance", decoder="greedy"):
        super().__init__(threshold, mode, decoder)
        self.threshold = int(self.threshold)

    @property
    def history_size(self):
        """The ``k`` previous exits compared with the current one."""
        return self.threshold

    @classmethod
    def check_threshold(cls, threshold):
        """A positive integer (``2.0`` is accepted as ``2``)."""
        value = real_number(threshold)
        if value is None or value < 1 or not float(value).is_integer():
            raise ValueError(
                f"threshold={threshold!r} is not valid for policy='patience': "
                "expected an integer k >= 1 (the number of previous exits "
                "that must agree with the current one)"
            )
        return value

    def criterion(self, obs, history):
        """Previous exits in a row whose transcript equals the current one."""
        streaks = []
        for row, current in enumerate(obs.transcripts):
            streak = 0
            for previous in reversed(history):
                if previous.transcripts[row] != current:
                    break
                streak += 1
            streaks.append(float(streak))
        return torch.tensor(streaks)


class PosteriorPolicy(ExitPolicy):
    """Exit when the beam search's best hypothesis has a high posterior.

    Each utterance's valid frames are decoded by a CTC beam search that
    returns its ``topk`` best hypotheses with their scores (``lm_score``:
    the CTC score, plus the LM score when the searcher has an LM); the
    criterion is the softmax over these n-best scores, taken at the best
    hypothesis: ``1 / sum_j exp(s_j - s_best)``, 1 when the search found a
    single hypothesis.

    Arguments
    ---------
    threshold, mode, decoder
        As for :class:`ExitPolicy`; ``decoder`` must be ``"beam"``.
    searcher : callable, optional
        A SpeechBrain CTC beam searcher (``speechbrain.decoders.ctc``) or
        anything called as ``searcher(log_probs [1, T, V])`` that returns
        ``[[hypothesis, ...]]``, best first, each with an ``lm_score``. Its
        ``topk`` must be at least 2. Default: a ``CTCBeamSearcher`` without
        LM over the model's token ids (blank ``blank_index``), built on
        first use.
    beam_size, topk : int
        Beam width and n-best size of the default searcher.
    blank_index : int
        CTC blank of the default searcher.

    Example
    -------
    >>> from modules.exits.observation import ExitObservation
    >>> probs = torch.tensor([[[0.1, 0.6, 0.3]]])  # blank, token 1, token 2
    >>> obs = ExitObservation(1, 1, torch.zeros(1, 1, 2),
    ...     torch.ones(1, 1, dtype=torch.bool), torch.tensor([0]),
    ...     log_probs=probs.log())
    >>> policy = PosteriorPolicy(0.5, decoder="beam", topk=3)
    >>> policy.criterion(obs, [])
    tensor([0.6000])
    """

    name = "posterior"
    threshold_range = (0.0, 1.0, False, True)
    needs_nbest = True

    def __init__(
        self,
        threshold,
        mode="utterance",
        decoder="beam",
        searcher=None,
        beam_size=10,
        topk=5,
        blank_index=0,
    ):
        super().__init__(threshold, mode, decoder)
        if searcher is not None:
            topk = getattr(searcher, "topk", 2)
        if isinstance(topk, bool) or not isinstance(topk, int) or topk < 2:
            raise ValueError(
                f"topk={topk!r}: policy='posterior' needs n-best hypotheses, "
                "so the beam search must return topk >= 2 of them (build a "
                "SpeechBrain searcher with topk >= 2 and prune_history=False)"
            )
        self.searcher = searcher
        self.beam_size = beam_size
        self.topk = topk
        self.blank_index = blank_index

    def _searcher(self, vocab_size):
        """The configured searcher, or the default one for ``vocab_size``."""
        if self.searcher is None:
            from speechbrain.decoders.ctc import CTCBeamSearcher

            self.searcher = CTCBeamSearcher(
                blank_index=self.blank_index,
                vocab_list=[f"\u2581{i}" for i in range(vocab_size)],
                beam_size=self.beam_size,
                topk=self.topk,
                prune_history=False,
            )
        return self.searcher

    def criterion(self, obs, history):
        """Posterior of the best of the n-best hypotheses, per utterance."""
        log_probs = obs.log_probs.detach().float().cpu()
        searcher = self._searcher(log_probs.shape[-1])
        values = []
        for row, length in enumerate(obs.lengths.tolist()):
            hyps = searcher(log_probs[row : row + 1, :length])[0]
            scores = torch.tensor([float(h.lm_score) for h in hyps])
            values.append(float(scores.softmax(0)[0]) if len(hyps) else math.nan)
        return torch.tensor(values)


POLICIES = {
    policy.name: policy
    for policy in (
        EntropyPolicy,
        ConfidencePolicy,
        PosteriorPolicy,
        SimilarityPolicy,
        PatiencePolicy,
    )
}
"""Policy name -> class."""


def build_policy(name, threshold, mode="utterance", decoder="greedy", **kwargs):
    """Build a policy by name, validating every setting.

    Arguments
    ---------
    name : str
        One of :data:`POLICIES`.
    threshold : float or int
        The policy's threshold (patience: the integer ``k``).
    mode : str
        ``"utterance"`` or ``"batch"``.
    decoder : str
        The decoder configured downstream (``"greedy"`` or ``"beam"``);
        ``posterior`` needs ``"beam"``.
    **kwargs
        Passed to the policy's class (``posterior``: ``searcher``,
        ``beam_size``, ``topk``, ``blank_index``).

    Returns
    -------
    ExitPolicy

    Example
    -------
    >>> build_policy("entropy", 0.05)
    EntropyPolicy(threshold=0.05, mode='utterance')
    >>> build_policy("entropy", -1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: threshold=-1.0 ... expected a number in [0.0, inf)
    >>> build_policy("posterior", 0.9, decoder="greedy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: policy='posterior' needs n-best hypotheses ...
    """
    if name not in POLICIES:
        raise ValueError(
            f"policy={name!r} is unknown; valid policies: {', '.join(POLICIES)}"
        )
    return POLICIES[name](threshold, mode=mode, decoder=decoder, **kwargs)
