"""Hand-made exit observations for the tests of ``modules/exits``."""

import torch

from modules.exits.observation import ExitObservation


def observation(log_probs, valid=None, hidden=None, index=1):
    """An :class:`ExitObservation` of hand-made log-posteriors."""
    batch, frames = log_probs.shape[:2]
    if valid is None:
        valid = torch.ones(batch, frames, dtype=torch.bool)
    if hidden is None:
        hidden = torch.zeros(batch, frames, 2)
    return ExitObservation(
        index, index, hidden, valid, torch.arange(batch), log_probs=log_probs
    )
