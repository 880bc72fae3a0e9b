"""Timed passes of a variant over the test set on one device.

Every pass runs after a warm-up, under ``torch.inference_mode()``, with the
device synchronised around each timed region (:class:`benchmark.timing.
Stopwatch`); network and decoding times are kept apart, and ``wall_s`` covers
the whole loop. Passes are repeated and summarised by their median (min and
max kept), first without LM (greedy), then with the LM decoder.

Example
-------
>>> passes = [{"net_s": 1.0, "decode_s": 1.0, "wall_s": 2.5}]
>>> summary = summarize_passes(passes, audio_s=4.0)
>>> summary["total_s"]["median"], summary["rtf"]
(2.0, 0.5)
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch
from tqdm import tqdm

from benchmark.context import BenchmarkContext
from benchmark.devices import put_model_on
from benchmark.results import DeviceTiming
from benchmark.timing import Stopwatch, real_time_factor, summarize
from benchmark.variants import Variant


def warm_up(model, variant, batches, device, count) -> None:
    """Run ``count`` untimed batches: the shortest, middle and longest first
    (so that buffers reach their largest size), then the others in turn."""
    if count <= 0:
        return
    n = len(batches)
    order = list(dict.fromkeys([0, n // 2, n - 1, *range(n)]))
    with torch.inference_mode():
        for i in range(count):
            batch = batches[order[i % n]]
            variant(model, batch.wavs.to(device), batch.rel_lens.to(device))


def timed_pass(model, variant, batches, device, decode, keep=False, desc=None):
    """One timed pass over ``batches``.

    Per batch, the network then ``decode(log_probs, rel_lens)`` run, each
    timed separately with the device synchronised.

    Parameters
    ----------
    model : torch.nn.Module
        The model, already on ``device``.
    variant : benchmark.variants.Variant
        How to run it.
    batches : list of benchmark.experiment.Batch
        Batches in memory (moved to ``device`` inside the network timing).
    device : str
        ``"cpu"`` or ``"cuda"``.
    decode : callable
        ``decode(log_probs, rel_lens) -> list of word lists``.
    keep : bool
        Keep every batch's log-probabilities and lengths (on CPU).
    desc : str, optional
        Progress-bar description; None: no bar.

    Returns
    -------
    tuple
        ``({"net_s", "decode_s", "wall_s"}, hypotheses, kept)``, ``kept``
        being ``[(log_probs, rel_lens), ...]`` (empty unless ``keep``).
    """
    net, dec = Stopwatch(device), Stopwatch(device)
    hyps, kept = [], []
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in tqdm(batches, dynamic_ncols=True, disable=desc is None, desc=desc):
            with net:
                rel_lens = batch.rel_lens.to(device)
                log_probs = variant(model, batch.wavs.to(device), rel_lens)
            with dec:
                hyps.extend(decode(log_probs, rel_lens))
            if keep:
                kept.append((log_probs.cpu(), rel_lens.cpu()))
    wall = time.perf_counter() - start
    return {"net_s": net.seconds, "decode_s": dec.seconds, "wall_s": wall}, hyps, kept


def summarize_passes(passes, audio_s) -> dict:
    """Median/min/max of net, decode, total (net + decode) and wall time,
    and the real-time factor of the median total over ``audio_s``."""
    totals = [p["net_s"] + p["decode_s"] for p in passes]
    summary = {k: summarize([p[k] for p in passes]) for k in passes[0]}
    summary["total_s"] = summarize(totals)
    summary["rtf"] = real_time_factor(summary["total_s"]["median"], audio_s)
    return summary


def _bar(ctx, text):
    """Progress-bar description, or None when bars are off."""
    return text if ctx.opts.progressbar else None


def repeated_passes(ctx, variant, device, decode, label, count, keep=False):
    """``count`` timed passes over the test batches of ``ctx``.

    ``label`` names the decoder in the progress bar; ``keep`` keeps the
    first pass's log-probs. Returns the :func:`timed_pass` results.
    """
    return [
        timed_pass(
            ctx.exp.model,
            variant,
            ctx.batches,
            device,
            decode,
            keep=keep and r == 0,
            desc=_bar(ctx, f"{variant.name} {device} {label} {r + 1}/{count}"),
        )
        for r in range(count)
    ]


def time_on_device(
    ctx: BenchmarkContext, variant: Variant, device: str, keep: bool, decoder
):
    """Timed passes of one variant on one device, without then with LM.

    Parameters
    ----------
    ctx : benchmark.context.BenchmarkContext
        The test batches, model and options.
    variant : benchmark.variants.Variant
        How to run the model.
    device : str
        ``"cpu"`` or ``"cuda"``.
    keep : bool
        Keep the log-probabilities of the first LM pass (for the LM
        decoders' cross-check).
    decoder : modules.decoding.lm_beam.LMDecoder, optional
        The LM decoder, its weights set; None: no LM passes.

    Returns
    -------
    tuple
        The :class:`benchmark.results.DeviceTiming` (times, RTF, WERs)
        and, if ``keep``, the first LM pass's ``[(log_probs, rel_lens),
        ...]`` on CPU (else None).
    """
    opts = ctx.opts
    put_model_on(ctx.exp.model, device)
    warm_up(ctx.exp.model, variant, ctx.batches, device, opts.warmup_batches)
    passes = repeated_passes(ctx, variant, device, ctx.greedy, "greedy", opts.repeats)
    greedy = summarize_passes([p[0] for p in passes], ctx.audio_s)
    result, kept = DeviceTiming(greedy, ctx.wer(passes[0][1])), None
    if decoder is not None:
        result, kept = add_lm_passes(ctx, variant, device, decoder, result, keep)
    put_model_on(ctx.exp.model, "cpu")
    return result, kept


def add_lm_passes(ctx, variant, device, decoder, result: DeviceTiming, keep: bool):
    """``result`` with ``opts.lm_repeats`` timed LM passes of ``variant`` on
    ``device`` (model already there) and, if ``keep``, the first one's
    log-probabilities (see :func:`time_on_device`)."""
    passes = repeated_passes(
        ctx, variant, device, decoder.decode, "LM", ctx.opts.lm_repeats, keep
    )
    lm = summarize_passes([p[0] for p in passes], ctx.audio_s)
    result = replace(result, lm=lm, wer_lm=ctx.wer(passes[0][1]))
    kept = passes[0][2] if keep else None
    return result, kept
