"""The base class of the dynamic exit policies: a criterion vs a threshold.

An :class:`ExitPolicy` computes one criterion value per running utterance
from an exit's :class:`~modules.exits.observation.ExitObservation` and
compares it with its ``threshold`` (strictly below, strictly above, or at
least). ``mode="utterance"`` decides per utterance; ``mode="batch"`` compares
the batch mean of the values, so the whole batch exits together. A NaN value
never passes. Settings are validated on construction, with a ``ValueError``
naming the offending key; the policies themselves are in
:mod:`modules.exits.policies`.
"""

from __future__ import annotations

import math
from typing import ClassVar

__all__ = ["ExitPolicy", "POLICY_MODES", "DECODER_KINDS", "real_number"]

POLICY_MODES = ("utterance", "batch")
DECODER_KINDS = ("greedy", "beam")


def real_number(value):
    """``value`` as a float when it is a real number (bools and NaN excluded).

    Example
    -------
    >>> real_number(2), real_number("2"), real_number(True), real_number(math.nan)
    (2.0, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


class ExitPolicy:
    """Base class: a criterion per utterance compared with a threshold.

    Subclasses set ``name``, ``exit_when`` (``"below"``, ``"above"`` or
    ``"at_least"``), ``threshold_range`` (low, high, low inclusive, high
    inclusive) and implement :meth:`criterion`. ``history_size`` is how many
    previous exits' observations the policy reads (the runner keeps no more).

    Arguments
    ---------
    threshold : float
        Threshold of the criterion (checked against ``threshold_range``).
    mode : str
        ``"utterance"`` (decide per utterance) or ``"batch"`` (the batch mean
        of the criterion decides for the whole batch).
    decoder : str
        The decoder configured downstream, ``"greedy"`` or ``"beam"``; a
        policy that needs n-best hypotheses refuses ``"greedy"``.

    Example
    -------
    >>> import torch
    >>> class Largest(ExitPolicy):
    ...     name = "largest"
    ...     def criterion(self, obs, history):
    ...         return obs.max(-1).values
    >>> values = torch.tensor([[0.2, 0.9], [0.1, 0.3]])
    >>> Largest(0.5).decide(values, []), Largest(0.5, mode="batch").decide(values, [])
    (tensor([ True, False]), tensor([True, True]))
    """

    name: ClassVar[str] = ""
    exit_when: ClassVar[str] = "above"
    threshold_range: ClassVar[tuple] = (-math.inf, math.inf, False, False)
    history_size: ClassVar[int] = 0
    needs_nbest: ClassVar[bool] = False

    def __init__(self, threshold, mode="utterance", decoder="greedy"):
        if mode not in POLICY_MODES:
            raise ValueError(
                f"mode={mode!r} is not a policy mode; choose one of {POLICY_MODES}"
            )
        if decoder not in DECODER_KINDS:
            raise ValueError(
                f"decoder={decoder!r} is unknown; choose one of {DECODER_KINDS}"
            )
        if self.needs_nbest and decoder == "greedy":
            raise ValueError(
                f"policy={self.name!r} needs n-best hypotheses from a CTC beam "
                "search, but decoder='greedy' is configured: set decoder='beam' "
                "or choose a policy that works with greedy decoding"
            )
        self.threshold = self.check_threshold(threshold)
        self.mode = mode
        self.decoder = decoder

    @classmethod
    def range_text(cls):
        """The valid threshold range in interval notation."""
        low, high, low_in, high_in = cls.threshold_range
        return f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"

    @classmethod
    def check_threshold(cls, threshold):
        """``threshold`` as a float, or a ``ValueError`` naming the range."""
        value = real_number(threshold)
        low, high, low_in, high_in = cls.threshold_range
        inside = value is not None and (
            (low < value or (low_in and value == low))
            and (value < high or (high_in and value == high))
        )
        if not inside:
            raise ValueError(
                f"threshold={threshold!r} is not valid for policy={cls.name!r}: "
                f"expected a number in {cls.range_text()}"
            )
        return value

    def criterion(self, obs, history):
        """Criterion value per utterance, ``[b]`` (NaN: cannot decide)."""
        raise NotImplementedError

    def passes(self, values):
        """Where ``values`` meet the threshold (NaN never does)."""
        if self.exit_when == "below":
            return values < self.threshold
        if self.exit_when == "at_least":
            return values >= self.threshold
        return values > self.threshold

    def decide(self, obs, history):
        """``True`` for the utterances that exit at ``obs``, ``BoolTensor[b]``.

        Arguments
        ---------
        obs : ExitObservation
            This exit, for the utterances still running.
        history : list of ExitObservation
            The previous exits (oldest first, at most ``history_size``),
            restricted to the same utterances in the same order.
        """
        values = self.criterion(obs, history).float()
        if self.mode == "batch":
            values = values.mean().expand(values.shape)
        return self.passes(values)

    def __repr__(self):
        return f"{type(self).__name__}(threshold={self.threshold}, mode={self.mode!r})"
