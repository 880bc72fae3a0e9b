"""What one exit produced for the utterances still running.

An :class:`ExitObservation` is what a dynamic exit policy
(:mod:`modules.exits.policies`) reads at each exit: the exit's input
representation, its log-posteriors (computed on first use), the valid frames
and greedy transcripts, for the rows of the batch that have not exited yet.
"""

from __future__ import annotations

from modules.decoding.greedy import greedy_ctc_decode

__all__ = ["ExitObservation"]


class ExitObservation:
    """What one exit produced for the utterances still running.

    Arguments
    ---------
    index : int
        1-based exit number.
    layer : int
        1-based number of the layer the exit sits after.
    hidden : torch.Tensor
        The exit's input representation ``[b, T, D]``.
    valid : torch.Tensor
        ``True`` on valid (non-padded) frames, ``[b, T]``.
    utterances : torch.Tensor
        Position of each row in the original batch, ``[b]``.
    head : callable, optional
        Maps ``hidden`` to logits; :attr:`log_probs` is computed from it on
        first use, so a policy that never reads it (``similarity``) costs no
        head computation for the utterances that go on.
    log_probs : torch.Tensor, optional
        Log-posteriors ``[b, T, V]``, when already known.

    Example
    -------
    >>> import torch
    >>> lp = torch.log(torch.tensor([[[0.1, 0.9], [0.8, 0.2]]]))
    >>> obs = ExitObservation(
    ...     1, 2, torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool),
    ...     torch.tensor([0]), log_probs=lp)
    >>> obs.transcripts, obs.lengths
    ([[1]], tensor([2]))
    """

    def __init__(
        self, index, layer, hidden, valid, utterances, head=None, log_probs=None
    ):
        if log_probs is None and head is None:
            raise ValueError("an ExitObservation needs log_probs or a head")
        self.index = index
        self.layer = layer
        self.hidden = hidden
        self.valid = valid
        self.utterances = utterances
        self.head = head
        self._log_probs = log_probs
        self._transcripts = None

    @property
    def log_probs(self):
        """Log-posteriors ``[b, T, V]`` (the head runs on first access)."""
        if self._log_probs is None:
            self._log_probs = self.head(self.hidden).log_softmax(-1)
        return self._log_probs

    @property
    def output_valid(self):
        """``valid`` at the frame rate of :attr:`log_probs`, ``[b, T']``.

        A CTC-upsampling head emits ``k`` outputs per encoder frame
        (``T' = k T``); each frame's validity is repeated ``k`` times.
        """
        frames, outputs = self.valid.shape[1], self.log_probs.shape[1]
        if outputs == frames:
            return self.valid
        if outputs % frames:
            raise ValueError(
                f"exit {self.index}: the head emits {outputs} frames for "
                f"{frames} encoder frames; expected a whole multiple"
            )
        return self.valid.repeat_interleave(outputs // frames, dim=1)

    @property
    def lengths(self):
        """Valid output frames per utterance (of :attr:`log_probs`), ``[b]``."""
        return self.output_valid.sum(1)

    @property
    def transcripts(self):
        """Greedy CTC transcripts (token ids, blank 0), computed once."""
        if self._transcripts is None:
            rel_lens = self.lengths / self.log_probs.shape[1]
            self._transcripts = greedy_ctc_decode(self.log_probs, rel_lens)
        return self._transcripts

    def select(self, rows):
        """The observation restricted to ``rows`` (LongTensor of positions).

        What was already computed (log-posteriors, transcripts) is kept;
        nothing new is computed.
        """
        known = self._log_probs
        selected = ExitObservation(
            self.index,
            self.layer,
            self.hidden.index_select(0, rows),
            self.valid.index_select(0, rows),
            self.utterances.index_select(0, rows),
            self.head,
            None if known is None else known.index_select(0, rows),
        )
        if self._transcripts is not None:
            selected._transcripts = [self._transcripts[i] for i in rows.tolist()]
        return selected
