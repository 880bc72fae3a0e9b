"""Relative lengths (SpeechBrain's convention) to frame counts and masks.

The one home of these conversions: every loss, encoder, policy, decoder and
benchmark pass that needs the valid frames of a padded batch uses them, so
that they all round the same way (``round(rel * T)``, as SpeechBrain does).
"""

import torch


def absolute_lengths(rel_lens, max_len):
    """Valid frames per utterance, ``round(rel_lens * max_len)`` ``[B]`` long.

    Example
    -------
    >>> absolute_lengths(torch.tensor([1.0, 0.5]), 4)
    tensor([4, 2])
    """
    return (rel_lens * max_len).round().long()


def frame_lengths(rel_lens, max_len):
    """:func:`absolute_lengths` as a list of ints (on the CPU).

    Example
    -------
    >>> frame_lengths(torch.tensor([1.0, 0.46]), 10)
    [10, 5]
    """
    return absolute_lengths(rel_lens.float().cpu(), max_len).tolist()


def frame_mask(rel_lens, max_len):
    """Boolean ``[B, T]`` mask, True on the valid (non-padded) frames.

    Example
    -------
    >>> frame_mask(torch.tensor([1.0, 0.5]), 4)
    tensor([[ True,  True,  True,  True],
            [ True,  True, False, False]])
    """
    lens = absolute_lengths(rel_lens, max_len)
    steps = torch.arange(max_len, device=rel_lens.device)
    return steps.unsqueeze(0) < lens.unsqueeze(1)


def padding_mask(rel_lens, max_len):
    """Boolean ``[B, T]`` mask, True on padded frames (attention's key mask).

    Example
    -------
    >>> padding_mask(torch.tensor([1.0, 0.5]), 4).tolist()
    [[False, False, False, False], [False, False, True, True]]
    """
    return ~frame_mask(rel_lens, max_len)


def masked_mean(values, valid):
    """Mean of ``values [B, T]`` over each utterance's valid frames (0 if none).

    Example
    -------
    >>> values = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 2.0]])
    >>> valid = torch.tensor([[True, True, False], [True, True, True]])
    >>> masked_mean(values, valid)
    tensor([2., 2.])
    """
    valid = valid.to(values.dtype)
    return (values * valid).sum(1) / valid.sum(1).clamp(min=1.0)


def audio_seconds(rel_lens, num_samples, sample_rate):
    """Seconds of audio in a padded batch of ``num_samples`` per row.

    Example
    -------
    >>> audio_seconds(torch.tensor([1.0, 0.5]), 16000, 16000)
    1.5
    """
    return float((rel_lens * num_samples).sum()) / sample_rate
