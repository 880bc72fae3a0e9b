"""Greedy (best-path) CTC decoding: the one decoder every stage uses.

Token ids for the losses and policies (:func:`greedy_ctc_decode`), words for
the test stage and the benchmark (:func:`greedy_words`). SpeechBrain's
``ctc_greedy_decode`` does the same per utterance in Python; this one collapses
the whole batch with tensor operations, which the dynamic exit policies call
at every exit.
"""

import torch
import torch.nn.functional as F

from modules.nn.lengths import frame_mask


def greedy_ctc_decode(log_probs, rel_lens, blank=0):
    """Arg-max of each valid frame, repeats collapsed, blanks dropped.

    Arguments
    ---------
    log_probs : torch.Tensor
        Frame scores ``[B, T, V]`` (log-probabilities or logits).
    rel_lens : torch.Tensor
        Relative lengths ``[B]``.
    blank : int
        Index of the CTC blank.

    Returns
    -------
    list of list of int
        One token sequence per utterance (possibly empty).

    Example
    -------
    >>> best = torch.tensor([[1, 1, 0, 1, 2, 2], [0, 0, 0, 2, 2, 2]])
    >>> scores = F.one_hot(best, 3).float().log()
    >>> greedy_ctc_decode(scores, torch.tensor([1.0, 0.5]))
    [[1, 1, 2], []]
    """
    with torch.no_grad():
        best = log_probs.argmax(dim=-1)
        prev = F.pad(best[:, :-1], (1, 0), value=blank)
        keep = (best != prev) & (best != blank)
        keep &= frame_mask(rel_lens, best.shape[1])
    best, keep = best.cpu(), keep.cpu()
    return [seq[k].tolist() for seq, k in zip(best, keep)]


def greedy_words(log_probs, rel_lens, tokenizer, blank=0):
    """Greedy decoding into the words of every utterance.

    ``tokenizer`` maps ids to text (SentencePiece's ``decode_ids``).

    Example
    -------
    >>> class Letters:
    ...     def decode_ids(self, ids):
    ...         return "".join(" ab"[i] for i in ids)
    >>> scores = F.one_hot(torch.tensor([[1, 0, 2, 2]]), 3).float().log()
    >>> greedy_words(scores, torch.ones(1), Letters(), blank=0)
    [['ab']]
    """
    token_seqs = greedy_ctc_decode(log_probs, rel_lens, blank)
    return [tokenizer.decode_ids(seq).split() for seq in token_seqs]


def pad_hypotheses(hyps, device=None, pad_value=0):
    """Pad token sequences into a ``[B, max(1, longest)]`` batch with relative
    lengths (an empty hypothesis gets length 0), e.g. as CTC targets.

    Example
    -------
    >>> tokens, rel = pad_hypotheses([[3, 1], [], [2]])
    >>> tokens
    tensor([[3, 1],
            [0, 0],
            [2, 0]])
    >>> rel
    tensor([1.0000, 0.0000, 0.5000])
    """
    max_len = max([1] + [len(h) for h in hyps])
    tokens = torch.full((len(hyps), max_len), pad_value, dtype=torch.long)
    for row, hyp in enumerate(hyps):
        tokens[row, : len(hyp)] = torch.tensor(hyp, dtype=torch.long)
    lens = torch.tensor([len(h) for h in hyps], dtype=torch.float)
    return tokens.to(device), (lens / max_len).to(device)
