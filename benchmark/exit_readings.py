"""What every exit says about every utterance, read once for offline replay.

:func:`read_exits` runs the static early-exit model once per batch and
keeps, for each utterance and exit, the greedy transcript, the LM beam
search's transcript (when an LM decoder is given) and the criteria of the
built policies that read one exit (``entropy`` and ``confidence``, computed
by their classes in :mod:`modules.exits.policies`, so their definitions
live in one place). :mod:`benchmark.policy_replay` replays exit rules on
these readings.

Example
-------
>>> class Letters:
...     def decode_ids(self, ids):
...         return "".join(" ab"[i] for i in ids)
>>> log_probs = torch.nn.functional.one_hot(torch.tensor([[1, 0, 2, 2]]), 3)
>>> log_probs = log_probs.float().clamp(min=1e-6).log()
>>> [reading] = exit_readings(log_probs, torch.ones(1), Letters())
>>> reading.greedy, reading.lm, round(reading.confidence, 3)
(('ab',), None, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark.experiment import Batch, Experiment
from modules.decoding.greedy import greedy_words
from modules.exits.observation import ExitObservation
from modules.exits.policies import ConfidencePolicy, EntropyPolicy
from modules.nn.lengths import frame_mask


@dataclass(frozen=True)
class ExitReading:
    """One utterance at one exit.

    Attributes
    ----------
    greedy : tuple of str
        Greedy transcript (words).
    lm : tuple of str or None
        LM beam search transcript (None without an LM decoder).
    entropy : float
        Mean frame entropy (nats), as :class:`EntropyPolicy` reads it.
    confidence : float
        Mean frame max posterior, as :class:`ConfidencePolicy` reads it.
    """

    greedy: tuple
    lm: tuple | None
    entropy: float
    confidence: float


@dataclass(frozen=True)
class UtteranceReadings:
    """One utterance: its reference words, duration and every exit's
    :class:`ExitReading` (exit 1 first)."""

    id: str
    words: tuple
    seconds: float
    exits: tuple


def exit_readings(log_probs, rel_lens, tokenizer, lm_decoder=None, blank=0):
    """The :class:`ExitReading` of every utterance of one exit's batch
    ``log_probs [B, T, V]``."""
    valid = frame_mask(rel_lens.to(log_probs.device), log_probs.shape[1])
    rows = torch.arange(log_probs.shape[0])
    obs = ExitObservation(0, 0, log_probs, valid, rows, log_probs=log_probs)
    entropy = EntropyPolicy(1.0).criterion(obs, []).tolist()
    confidence = ConfidencePolicy(0.5).criterion(obs, []).tolist()
    greedy = greedy_words(log_probs, rel_lens, tokenizer, blank)
    lm = lm_decoder.decode(log_probs, rel_lens) if lm_decoder else [None] * len(greedy)
    return [
        ExitReading(tuple(g), None if w is None else tuple(w), e, c)
        for g, w, e, c in zip(greedy, lm, entropy, confidence)
    ]


def batch_readings(exp: Experiment, batch: Batch, lm_decoder=None, lm_weights=None):
    """The :class:`UtteranceReadings` of one batch (one static forward);
    ``lm_weights``: ``(alpha, beta)`` of every exit, set on ``lm_decoder``
    before it decodes that exit (None: its own weights for all)."""
    with torch.inference_mode():
        per_exit_log_probs = exp.model(batch.wavs, batch.rel_lens)
    blank = exp.hparams.get("blank_index", 0)
    per_exit = []
    for index, log_probs in enumerate(per_exit_log_probs):
        if lm_decoder is not None and lm_weights is not None:
            lm_decoder.set_weights(*lm_weights[index])
        per_exit.append(
            exit_readings(log_probs, batch.rel_lens, exp.tokenizer, lm_decoder, blank)
        )
    sample_rate = exp.hparams.get("sample_rate", 16000)
    seconds = (batch.rel_lens * batch.wavs.shape[1] / sample_rate).tolist()
    return [
        UtteranceReadings(
            uid, tuple(batch.words[n]), seconds[n], tuple(e[n] for e in per_exit)
        )
        for n, uid in enumerate(batch.ids)
    ]


def read_exits(exp: Experiment, batches, lm_decoder=None, lm_weights=None) -> list:
    """:func:`batch_readings` of every batch, in batch order."""
    return [
        utterance
        for batch in batches
        for utterance in batch_readings(exp, batch, lm_decoder, lm_weights)
    ]
