"""CTC by explicit enumeration of every alignment, and the loss tests' batch.

The reference the losses of ``modules/losses`` are tested against: ``V ** T``
paths, summed by hand, with the project's reduction (per utterance divided by
the target length, then the batch mean).
"""

import itertools

import torch

DT = torch.float64


def collapse(path, blank=0):
    """Collapse repeats, then drop blanks."""
    out, prev = [], None
    for sym in path:
        if sym != prev and sym != blank:
            out.append(sym)
        prev = sym
    return out


def alignment_prob(probs, target):
    """Sum over all paths of probs [T, V] that collapse to target."""
    num_frames, vocab = probs.shape
    total = probs.new_zeros(())
    for path in itertools.product(range(vocab), repeat=num_frames):
        if collapse(path) == list(target):
            prob = probs.new_ones(())
            for t, sym in enumerate(path):
                prob = prob * probs[t, sym]
            total = total + prob
    return total


def ref_utt_ctc(log_probs, n_frames, target):
    """-log p(target) / max(1, |target|) for one utterance [T, V]."""
    prob = alignment_prob(log_probs[:n_frames].exp(), target)
    return -torch.log(prob) / max(1, len(target))


def ref_ctc(log_probs, n_frames, targets):
    """Batch mean of ref_utt_ctc (the project's reduction)."""
    terms = [ref_utt_ctc(lp, n, y) for lp, n, y in zip(log_probs, n_frames, targets)]
    return torch.stack(terms).mean()


# ---------------------------------------------------------------------------
# Fixture: B=2, T=3, V=3; utterance 1 has 2 valid frames (rel 2/3)
# ---------------------------------------------------------------------------
PROBS = [
    # exit 1
    [
        [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.2, 0.5]],
        [[0.5, 0.2, 0.3], [0.4, 0.4, 0.2], [0.1, 0.1, 0.8]],
    ],
    # exit 2
    [
        [[0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]],
        [[0.3, 0.3, 0.4], [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]],
    ],
    # exit 3: argmax [2, 0, 2] -> [2, 2]; valid frames [0, 1] -> [1]
    # (its padding frame has argmax 2, which must be ignored)
    [
        [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7]],
        [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
    ],
]
N_FRAMES = [3, 2]
REL_LENS = torch.tensor([1.0, 2.0 / 3.0], dtype=DT)
TARGETS = [[1, 2], [2]]
TOKENS = torch.tensor([[1, 2], [2, 0]])
TOKEN_REL = torch.tensor([1.0, 0.5], dtype=DT)
TEACHER_HYPS = [[2, 2], [1]]


def exits(num=3, requires_grad=False):
    """Log-prob tensors [2, 3, 3] of the first num fixture exits."""
    out = [torch.tensor(p, dtype=DT).log() for p in PROBS[:num]]
    return [lp.requires_grad_(requires_grad) for lp in out]


def batch_args(num=3):
    return exits(num), REL_LENS, TOKENS, TOKEN_REL


def ref_exit_ctc(lp, targets=TARGETS):
    return ref_ctc(lp.detach(), N_FRAMES, targets).item()
