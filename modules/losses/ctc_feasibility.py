"""Whether CTC can align an utterance's labels with its output frames.

CTC needs a frame per label plus one per repeated consecutive label. A
downsampled input (:mod:`modules.nn.downsampling`, f >= 3 with character
targets especially) can have fewer: these checks name the utterances instead
of letting the loss be silently zeroed or NaN, and point to the fixes
(``ctc_upsampling``: :class:`modules.nn.heads.UpsampledCTCHead`, or a lower
``downsampling_factor``).
"""

from modules.nn.lengths import frame_lengths


def ctc_min_frames(targets, target_lens):
    """Frames CTC needs per utterance: labels plus repeated consecutive labels.

    A blank must separate two equal consecutive labels, hence the repeats.

    Example
    -------
    >>> import torch
    >>> ctc_min_frames(torch.tensor([[1, 1, 2, 0], [3, 4, 4, 4]]), [3, 4])
    [4, 6]
    """
    needed = []
    for row, length in zip(targets, target_lens):
        labels = row[: int(length)]
        repeats = int((labels[1:] == labels[:-1]).sum()) if len(labels) > 1 else 0
        needed.append(int(length) + repeats)
    return needed


def check_ctc_feasible(frame_lens, target_lens, ids, targets=None):
    """Raise a clear error when an utterance has too few frames for CTC.

    Arguments
    ---------
    frame_lens : sequence of int or torch.Tensor
        Output frames per utterance
        (:func:`modules.nn.lengths.frame_lengths`, times the upsampling
        factor with :class:`modules.nn.heads.UpsampledCTCHead`).
    target_lens : sequence of int or torch.Tensor
        Labels per utterance.
    ids : sequence of str
        Utterance ids, named in the error.
    targets : torch.Tensor, optional
        Padded labels ``[B, U]``; repeated consecutive labels then count too
        (without them only the number of labels is checked).

    Example
    -------
    >>> check_ctc_feasible([5, 9], [5, 3], ["a", "b"])
    >>> import torch
    >>> targets = torch.tensor([[1, 1, 2], [1, 2, 3]])
    >>> check_ctc_feasible([3, 3], [3, 3], ["a", "b"], targets)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: CTC is infeasible for utterance a: 3 output frames, 4 needed (1 in...
    """
    if targets is None:
        needed = [int(n) for n in target_lens]
    else:
        needed = ctc_min_frames(targets, target_lens)
    short = [
        f"{uid}: {int(frames)} output frames, {need} needed"
        for uid, frames, need in zip(ids, frame_lens, needed)
        if int(frames) < need
    ]
    if short:
        raise ValueError(
            f"CTC is infeasible for utterance {'; '.join(short[:5])} "
            f"({len(short)} in the batch; CTC needs a frame per label plus one per "
            "repeated label). Set ctc_upsampling: True (or a larger integer) for "
            "the CTC upsampling head (UpsampledCTCHead), or lower "
            "downsampling_factor"
        )


def check_ctc_batch(log_probs, rel_lens, tokens, token_rel_lens, ids):
    """:func:`check_ctc_feasible` for one training batch of the recipes.

    Arguments
    ---------
    log_probs : torch.Tensor
        One exit's output ``[B, T, V]`` (every exit has the same ``T``).
    rel_lens : torch.Tensor
        Relative lengths of the utterances ``[B]``.
    tokens : torch.Tensor
        Padded targets ``[B, U]``.
    token_rel_lens : torch.Tensor
        Relative target lengths ``[B]``.
    ids : sequence of str
        Utterance ids.

    Example
    -------
    >>> import torch
    >>> tokens = torch.tensor([[5, 6, 7], [5, 5, 0]])
    >>> lens = torch.tensor([1.0, 2 / 3])
    >>> check_ctc_batch(torch.zeros(2, 4, 9), torch.ones(2), tokens, lens, ["a", "b"])
    >>> check_ctc_batch(
    ...     torch.zeros(2, 2, 9), torch.ones(2), tokens, lens, ["a", "b"]
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: CTC is infeasible for utterance a: 2 output frames, 3 needed; b: ...
    """
    frames = frame_lengths(rel_lens, log_probs.shape[1])
    labels = frame_lengths(token_rel_lens, tokens.shape[1])
    check_ctc_feasible(frames, labels, ids, tokens.cpu())
