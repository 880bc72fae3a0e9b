"""Windowed inference over a whole recording, in memory bounded by a window.

:func:`transcribe_windows` runs the model on every window of a recording
(:func:`modules.inference.audio_windows.read_windows`), places each window's
log-posteriors on the recording's frame grid, merges the overlaps
(:class:`~modules.inference.posterior_merge.PosteriorMerger`) and hands the
finished frames to a streaming decoder
(:mod:`modules.inference.streaming_decoding`) as it goes: nothing it keeps
grows with the recording except the transcript and one small record per
window.

:func:`exit_scorer` makes the per-window model call for any early-exit CTC
model of the toolkit: a fixed exit (only its layers run), or a dynamic exit
policy of :mod:`modules.exits` deciding per window.
"""

import time
from dataclasses import dataclass, field

import torch

from modules.exits.dynamic import dynamic_exit_forward


@dataclass(frozen=True)
class WindowRecord:
    """What one window did.

    Attributes
    ----------
    index : int
        0-based window number.
    start, end : float
        Seconds of the recording the window read.
    exit : int
        The exit its posteriors came from.
    seconds : float
        Wall-clock time of its forward pass, merge and decoding.
    """

    index: int
    start: float
    end: float
    exit: int
    seconds: float


@dataclass
class LongFormResult:
    """The transcript of one recording and how it was obtained.

    Attributes
    ----------
    words : list of str
        The transcript.
    audio_seconds : float
        Length of the recording.
    seconds : float
        Wall-clock time of the whole transcription (reading included).
    frames : int
        Output frames of the recording.
    windows : list of WindowRecord
        One record per window.
    peak_pending_frames : int
        Most frames the merger held at once (at most a window's).

    Example
    -------
    >>> result = LongFormResult(["HI"], audio_seconds=10.0, seconds=0.5)
    >>> result.text, result.real_time_factor
    ('HI', 0.05)
    """

    words: list
    audio_seconds: float
    seconds: float
    frames: int = 0
    windows: list = field(default_factory=list)
    peak_pending_frames: int = 0

    @property
    def text(self):
        """The transcript as one string."""
        return " ".join(self.words)

    @property
    def real_time_factor(self):
        """Processing time per second of audio."""
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0


def exit_scorer(model, exit_index=None, policy=None, device="cpu"):
    """The per-window model call: ``wav [n] -> (log_probs [T, V], exit)``.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        Any early-exit CTC model (SSL ones included), in eval mode.
    exit_index : int, optional
        Fixed 1-based exit (only its layers run).
    policy : modules.exits.exit_policy.ExitPolicy, optional
        Decides the exit of every window instead (exclusive with
        ``exit_index``).
    device : str or torch.device
        Where the model is.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from modules.models.early_exit import EarlyExitCTC
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> encoder = ConformerLayerStack(
    ...     ConformerEncoder(num_layers=2, d_model=8, d_ffn=16, nhead=2))
    >>> frames = lambda wavs, lens: wavs.reshape(1, -1, 8)
    >>> model = EarlyExitCTC(frames, encoder, 8, 5, exit_every=1).eval()
    >>> log_probs, exit_taken = exit_scorer(model, 1)(torch.rand(80))
    >>> log_probs.shape, exit_taken
    (torch.Size([10, 5]), 1)
    """
    if (exit_index is None) == (policy is None):
        raise ValueError("give exactly one of exit_index and policy")
    if exit_index is not None:
        model.check_exit(exit_index)

    def score(wav):
        wavs, lens = wav.unsqueeze(0).to(device), torch.ones(1, device=device)
        with torch.inference_mode():
            if policy is None:
                return model.exit_log_probs(wavs, lens, exit_index)[0], exit_index
            result = dynamic_exit_forward(model, wavs, lens, policy)
        return result.log_probs[0], int(result.exit_index[0])

    return score


def transcribe_windows(windows, plan, scorer, merger, decoder, on_window=None):
    """Transcribe a recording from its windows.

    Arguments
    ---------
    windows : iterable of modules.inference.audio_windows.Window
        The recording's windows, in order.
    plan : modules.inference.frame_geometry.WindowPlan
        The plan they were read with.
    scorer : callable
        ``wav -> (log_probs [T, V], exit)``, e.g. :func:`exit_scorer`.
    merger : modules.inference.posterior_merge.PosteriorMerger
        Merges the overlaps (fresh for every recording).
    decoder : object
        ``feed(log_probs [F, V])`` for finished frames and ``finish() ->
        words`` (:mod:`modules.inference.streaming_decoding`).
    on_window : callable, optional
        Called with every :class:`WindowRecord` (a progress bar).

    Returns
    -------
    LongFormResult
    """
    geometry = plan.geometry
    began = time.perf_counter()
    records, frames, audio_end = [], 0, 0
    for window in windows:
        tic = time.perf_counter()
        log_probs, exit_taken = scorer(window.wav)
        expected = geometry.output_frames(len(window.wav))
        if log_probs.shape[0] != expected:
            raise RuntimeError(
                f"window {window.index} gave {log_probs.shape[0]} frames where the "
                f"measured frame geometry {geometry} predicts {expected}"
            )
        first = geometry.first_frame(window.start)
        merger.add(first, log_probs)
        upto = None if window.is_last else geometry.first_frame(window.start + plan.hop)
        finished = merger.pop_finished(upto)
        decoder.feed(finished)
        frames += finished.shape[0]
        audio_end = window.start + len(window.wav)
        record = WindowRecord(
            window.index,
            geometry.seconds(window.start),
            geometry.seconds(audio_end),
            exit_taken,
            time.perf_counter() - tic,
        )
        records.append(record)
        if on_window is not None:
            on_window(record)
    words = decoder.finish()
    return LongFormResult(
        words,
        audio_seconds=geometry.seconds(audio_end),
        seconds=time.perf_counter() - began,
        frames=frames,
        windows=records,
        peak_pending_frames=merger.peak_pending_frames,
    )
