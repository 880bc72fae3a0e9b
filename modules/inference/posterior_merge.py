"""Merging the per-frame posteriors of overlapping windows, as they come.

Two ways (Flynn & Ragni, arXiv 2310.15672):

- ``average``: a frame's posterior is the mean of the *probabilities* every
  window covering it gave, then the log (with ``hop == window`` no frame is
  covered twice, so this is also the no-overlap case);
- ``centre``: a frame takes the posterior of the window in which it is most
  central (closest to the window's middle frame; ties go to the earlier
  window), as buffered CTC inference does.

:class:`PosteriorMerger` keeps only the frames that a later window may still
cover: after a window is added, :meth:`PosteriorMerger.pop_finished` hands
out every frame before the next window's first frame and forgets it, so the
buffer never holds more than one window of frames.
"""

import torch

MERGE_MODES = ("average", "centre")


class PosteriorMerger:
    """Running merge of windows' log-posteriors over a recording's frames.

    Arguments
    ---------
    mode : str
        ``average`` or ``centre`` (see the module documentation).

    Example
    -------
    >>> merger = PosteriorMerger("average")
    >>> merger.add(0, torch.tensor([[0.8, 0.2], [0.6, 0.4]]).log())
    >>> merger.add(1, torch.tensor([[0.2, 0.8], [0.5, 0.5]]).log())
    >>> merger.pop_finished().exp()
    tensor([[0.8000, 0.2000],
            [0.4000, 0.6000],
            [0.5000, 0.5000]])
    >>> merger.pending_frames
    0
    """

    def __init__(self, mode="average"):
        if mode not in MERGE_MODES:
            raise ValueError(
                f"mode={mode!r} is not a merge mode; choose one of {MERGE_MODES}"
            )
        self.mode = mode
        self.start = 0
        self.values = None
        self.weights = None
        self.peak_pending_frames = 0

    @property
    def pending_frames(self):
        """Frames held, waiting for later windows."""
        return 0 if self.values is None else self.values.shape[0]

    def _grow(self, end, vocab, device):
        """Extend the buffer so that it reaches recording frame ``end``."""
        missing = end - self.start - self.pending_frames
        if missing <= 0:
            return
        empty = 0.0 if self.mode == "average" else float("inf")
        values = torch.zeros(missing, vocab, dtype=torch.float64, device=device)
        weights = torch.full((missing,), empty, dtype=torch.float64, device=device)
        if self.values is None:
            self.values, self.weights = values, weights
        else:
            self.values = torch.cat([self.values, values])
            self.weights = torch.cat([self.weights, weights])

    def add(self, first_frame, log_probs):
        """Merge one window's log-posteriors ``[T, V]`` whose first frame is
        recording frame ``first_frame``."""
        end = self.start + self.pending_frames
        if first_frame < self.start or first_frame > end:
            raise ValueError(
                f"a window starting at frame {first_frame} does not continue the "
                f"frames merged so far (pending frames {self.start}..{end}): "
                "windows must come in order, without gaps"
            )
        frames = log_probs.shape[0]
        self._grow(first_frame + frames, log_probs.shape[1], log_probs.device)
        rows = slice(first_frame - self.start, first_frame - self.start + frames)
        new = log_probs.detach().to(torch.float64)
        if self.mode == "average":
            self.values[rows] += new.exp()
            self.weights[rows] += 1.0
        else:
            offsets = torch.arange(frames, dtype=torch.float64, device=new.device)
            distance = (offsets - (frames - 1) / 2).abs()
            better = distance < self.weights[rows]
            self.values[rows][better] = new[better]
            self.weights[rows][better] = distance[better]
        self.peak_pending_frames = max(self.peak_pending_frames, self.pending_frames)

    def pop_finished(self, next_first_frame=None):
        """Merged log-posteriors ``[F, V]`` (float32) of the frames before
        ``next_first_frame`` (all frames when None), which are forgotten."""
        if self.values is None:
            return torch.zeros(0, 0)
        count = self.pending_frames
        if next_first_frame is not None:
            count = min(count, max(0, next_first_frame - self.start))
        values, weights = self.values[:count], self.weights[:count]
        if self.mode == "average":
            merged = (values / weights.unsqueeze(1)).log()
        else:
            merged = values
        self.values, self.weights = self.values[count:], self.weights[count:]
        self.start += count
        return merged.float()
