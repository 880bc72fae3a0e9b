"""The variants' stage: cost, timed passes and WERs of every variant.

Each variant (:mod:`benchmark.variants`) gets its MACs and parameters
(:func:`benchmark.cost.measure_cost`), its LM weights
(:func:`benchmark.lm_setup.lm_weights_for`), timed passes on every device
(:func:`benchmark.passes.time_on_device`) and, when asked, the pyctcdecode
cross-check of its LM pass.

Example
-------
>>> from pathlib import Path
>>> from types import SimpleNamespace
>>> from benchmark.variants import Variant
>>> exp = SimpleNamespace(folder=Path("/nonexistent"))
>>> train_wer(exp, "test-clean", Variant("exit1", None, 1, 2)) is None
True
"""

from __future__ import annotations

import json

from benchmark.context import BenchmarkContext
from benchmark.cost import measure_cost
from benchmark.experiment import Experiment
from benchmark.lm_setup import lm_weights_for
from benchmark.passes import time_on_device
from benchmark.results import PyctcdecodeComparison, VariantResult
from benchmark.timing import Stopwatch
from benchmark.variants import Variant
from modules.decoding.lm_beam import decode_all


def compare_pyctcdecode(ctx: BenchmarkContext, kept) -> PyctcdecodeComparison:
    """pyctcdecode on the log-probs and LM of a SpeechBrain LM pass: WERs,
    decoding times and their ratio (pyctcdecode / SpeechBrain)."""
    log_probs, sb_hyps, sb_seconds = kept
    sb, other = ctx.lm.decoder, ctx.lm.cross_check
    other.set_weights(sb.alpha, sb.beta)
    watch = Stopwatch("cpu")
    with watch:
        hyps = decode_all(other, log_probs, ctx.opts.progressbar, "pyctcdecode LM")
    same = sum(a == b for a, b in zip(hyps, sb_hyps)) / max(len(hyps), 1)
    return PyctcdecodeComparison(
        wer_lm=ctx.wer(hyps),
        speechbrain_wer_lm=ctx.wer(sb_hyps),
        decode_s=watch.seconds,
        speechbrain_decode_s=sb_seconds,
        time_ratio=watch.seconds / sb_seconds if sb_seconds > 0 else None,
        same_hypothesis_fraction=same,
    )


def train_wer(exp: Experiment, test_set: str, variant: Variant):
    """The variant's WER in ``wer_summary.json`` (static exits), if any."""
    path = exp.folder / "wer_summary.json"
    if variant.exit_index is None or not path.is_file():
        return None
    wers = json.loads(path.read_text()).get(test_set, {}).get("wer", [])
    return wers[variant.exit_index - 1] if len(wers) >= variant.exit_index else None


def benchmark_variant(
    ctx: BenchmarkContext, variant: Variant, compare: bool
) -> VariantResult:
    """Cost, per-device timing and WER (with and without LM) of a variant;
    ``compare``: cross-check its LM pass with pyctcdecode."""
    cost = measure_cost(
        ctx.exp.model, variant, ctx.batches, ctx.audio_s, ctx.opts.progressbar
    )
    lm_weights = None
    if ctx.lm is not None:
        lm_weights = lm_weights_for(ctx.lm, ctx.exp.model, variant, ctx.opts)
    devices, comparison = {}, None
    for device in ctx.devices:
        keep = compare and device == ctx.devices[0]
        devices[device], kept = time_on_device(ctx, variant, device, keep, ctx.decoder)
        if kept:
            comparison = compare_pyctcdecode(ctx, kept)
    first = devices[ctx.devices[0]]
    return VariantResult(
        name=variant.name,
        exit=variant.exit_index,
        layer=variant.layer,
        **cost,
        lm_weights=lm_weights,
        devices=devices,
        pyctcdecode=comparison,
        wer=first.wer,
        wer_lm=first.wer_lm,
        wer_train=train_wer(ctx.exp, ctx.test_set, variant),
    )


def benchmark_variants(ctx: BenchmarkContext, variants: list) -> list[VariantResult]:
    """Benchmark every variant; the pyctcdecode check runs, when the LM is
    on, on each variant or (``pyctcdecode="last"``) on the reference exit's
    (:attr:`benchmark.experiment.Experiment.reference_exit`)."""
    reference = ctx.exp.reference_variant(variants)
    rows = []
    for variant in variants:
        check = ctx.opts.pyctcdecode
        compare = check == "each" or (check == "last" and variant is reference)
        rows.append(benchmark_variant(ctx, variant, compare and ctx.lm is not None))
    return rows
