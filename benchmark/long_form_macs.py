"""MACs per audio second of the two passes of a long-form evaluation.

A long-form evaluation (:mod:`modules.inference.long_form_eval`, run by the
long-form test stage of ``train.py``) decodes every recording window by
window and, for comparison, every utterance alone. Its ``summary.json``
holds the window, hop, exit and manifest; this module counts what the two
passes cost with :class:`benchmark.macs.MacCounter`, on the very call the
evaluation makes per window or utterance
(:func:`modules.inference.windowed_asr.exit_scorer`: the layers up to the
exit and its head). With a fixed exit the MACs depend only on the input's
length, so each length is counted once, on noise.

* Windowed: every window of every recording (:meth:`modules.inference.
  frame_geometry.WindowPlan.starts`), each at the length it reads (a full
  window, or less for the last one of a recording); the sum over the
  recordings' audio seconds. With hop ``h`` and window ``W`` this is about
  ``W / h`` times the MACs of one pass over the audio.
* Segmented: every utterance decoded alone. Counting every length would be
  slow on a large split, so the segments, sorted by length, are cut into at
  most ``max_counted`` groups of neighbouring lengths; the middle segment of
  each group is counted, and its MACs per second stand for its group's
  audio (exact when ``max_counted`` reaches the number of segments).

A dynamic exit policy decides per window from the audio itself; its MACs
are not counted here (:func:`long_form_macs` returns None).

Example
-------
>>> from modules.inference.frame_geometry import FrameGeometry, WindowPlan
>>> plan = WindowPlan(FrameGeometry(10, 10), window=40, hop=20)
>>> window_lengths(plan, 105)
[40, 40, 40, 40, 25]
>>> linear = lambda samples: 3 * samples  # MACs proportional to the input
>>> round(windowed_macs_per_second(linear, plan, [105]) / (3 * 16000), 4)
1.7619
>>> segmented_macs_per_second(linear, [30, 50, 25], 16000) / (3 * 16000)
1.0
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import soundfile
import torch

from benchmark.macs import MacCounter
from modules.inference.audio_windows import model_samples
from modules.inference.frame_geometry import measure_frame_geometry, plan_windows
from modules.inference.long_form_eval import read_recordings
from modules.inference.windowed_asr import exit_scorer

MAX_COUNTED_SEGMENTS = 32


def window_lengths(plan, num_samples):
    """Samples read by each window of a ``num_samples`` recording."""
    return [min(plan.read_length, num_samples - s) for s in plan.starts(num_samples)]


def windowed_macs_per_second(count, plan, recording_samples):
    """MACs per audio second of the windowed pass.

    Arguments
    ---------
    count : callable
        ``num_samples -> MACs`` of one forward pass.
    plan : modules.inference.frame_geometry.WindowPlan
        The evaluation's window and hop.
    recording_samples : list of int
        Length of every recording, in samples at the model's rate.

    Returns
    -------
    float
    """
    total = sum(
        count(length)
        for samples in recording_samples
        for length in window_lengths(plan, samples)
    )
    return total * plan.geometry.sample_rate / sum(recording_samples)


def segmented_macs_per_second(
    count, segment_samples, sample_rate, max_counted=MAX_COUNTED_SEGMENTS
):
    """MACs per audio second of the segmented pass (see the module
    docstring for the groups counted).

    Arguments
    ---------
    count : callable
        ``num_samples -> MACs`` of one forward pass.
    segment_samples : list of int
        Length of every utterance, in samples at the model's rate.
    sample_rate : int
        The model's sample rate.
    max_counted : int
        Most segments whose MACs are counted.

    Returns
    -------
    float
    """
    ordered = sorted(segment_samples)
    groups = np.array_split(np.array(ordered), min(max_counted, len(ordered)))
    total = 0.0
    for group in groups:
        middle = int(group[len(group) // 2])
        total += count(middle) / middle * int(group.sum())
    return total * sample_rate / sum(ordered)


def scorer_macs(scorer, device="cpu"):
    """``num_samples -> MACs`` of ``scorer`` on noise of that length,
    counted once per length."""

    @functools.cache
    def count(num_samples):
        noise = torch.randn(num_samples, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode(), MacCounter() as counter:
            scorer(noise.to(device))
        report = counter.report()
        if report.uncounted:
            warnings.warn(
                f"MACs of these ops were not counted: {report.uncounted}",
                stacklevel=2,
            )
        return report.total

    return count


def recording_samples(path, sample_rate):
    """Length of an audio file in samples at ``sample_rate``."""
    info = soundfile.info(path)
    return model_samples(info.frames, info.samplerate, sample_rate)


def long_form_macs(model, summary, max_counted=MAX_COUNTED_SEGMENTS):
    """MACs per audio second of both passes of one evaluation.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        The evaluated model, in eval mode.
    summary : dict
        Its ``summary.json`` (``window_seconds``, ``hop_seconds``, ``exit``,
        ``manifest``).
    max_counted : int
        Most utterances whose MACs are counted (segmented pass).

    Returns
    -------
    dict or None
        ``{"long_form": ..., "segmented": ...}``; None for a dynamic exit
        policy (no fixed exit).
    """
    if summary.get("exit") is None:
        return None
    geometry = measure_frame_geometry(model)
    plan = plan_windows(geometry, summary["window_seconds"], summary["hop_seconds"])
    device = next(model.parameters()).device
    count = scorer_macs(exit_scorer(model, summary["exit"], device=device), device)
    rate = geometry.sample_rate
    recordings = read_recordings(summary["manifest"])
    lengths = [recording_samples(r.wav, rate) for r in recordings]
    segments = [
        round(s.end * rate) - round(s.start * rate)
        for r in recordings
        for s in r.segments
    ]
    return {
        "long_form": windowed_macs_per_second(count, plan, lengths),
        "segmented": segmented_macs_per_second(count, segments, rate, max_counted),
    }
