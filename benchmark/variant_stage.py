"""The variants' stage: cost, timed passes and WERs of every variant.

Each variant (:mod:`benchmark.variants`) gets its MACs and parameters
(:func:`benchmark.cost.measure_cost`), the size of the model it runs, its LM
weights (:func:`benchmark.lm_setup.lm_weights_for`), timed passes on every
device (:func:`benchmark.passes.time_on_device`; a quantized copy: on CPU,
alternated with its fp32 exit, :mod:`benchmark.quantized_variants`) and,
when asked, the pyctcdecode cross-check of its LM pass.

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
from benchmark.quantized_variants import time_quantized
from benchmark.results import PyctcdecodeComparison, VariantResult
from benchmark.timing import Stopwatch
from benchmark.variants import Variant
from modules.compression.quantization import quantized_module_names, serialized_size_mb
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
    """The variant's WER in ``wer_summary.json`` (static exits of the
    experiment's model, not quantized copies), if any."""
    path = exp.folder / "wer_summary.json"
    if variant.exit_index is None or variant.model is not None or not path.is_file():
        return None
    wers = json.loads(path.read_text()).get(test_set, {}).get("wer", [])
    return wers[variant.exit_index - 1] if len(wers) >= variant.exit_index else None


def time_variant(ctx: BenchmarkContext, variant: Variant, compare: bool):
    """Timed passes of ``variant`` on every device (a quantized variant: on
    CPU, alternated with its fp32 exit) and, if ``compare``, the
    pyctcdecode check of its first device's LM pass.

    Returns
    -------
    tuple
        ``(devices, comparison, time_ratios)``: device -> :class:`benchmark.
        results.DeviceTiming`, the :class:`benchmark.results.
        PyctcdecodeComparison` (or None) and, for a quantized variant, the
        per-device ratios to its fp32 exit (else None).
    """
    if variant.quantization is not None:
        devices, ratios = time_quantized(ctx, variant)
        return devices, None, ratios
    devices, comparison = {}, None
    for device in ctx.devices:
        keep = compare and device == ctx.devices[0]
        devices[device], kept = time_on_device(ctx, variant, device, keep, ctx.decoder)
        if kept:
            comparison = compare_pyctcdecode(ctx, kept)
    return devices, comparison, None


def benchmark_variant(
    ctx: BenchmarkContext, variant: Variant, compare: bool
) -> VariantResult:
    """Cost, size, per-device timing and WER (with and without LM) of a
    variant; ``compare``: cross-check its LM pass with pyctcdecode."""
    model = variant.model if variant.model is not None else ctx.exp.model
    int8 = quantized_module_names(model)
    cost = measure_cost(
        ctx.exp.model, variant, ctx.batches, ctx.audio_s, ctx.opts.progressbar, int8
    )
    lm_weights = None
    if ctx.lm is not None:
        lm_weights = lm_weights_for(ctx.lm, ctx.exp.model, variant, ctx.opts)
    devices, comparison, ratios = time_variant(ctx, variant, compare)
    first = next(iter(devices.values()))
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
        quantization=variant.quantization,
        size_mb=serialized_size_mb(model),
        time_ratios=ratios,
    )


def benchmark_variants(ctx: BenchmarkContext, variants: list) -> list[VariantResult]:
    """Benchmark every variant; the pyctcdecode check runs, when the LM is
    on, on each variant or (``pyctcdecode="last"``) on the reference exit's
    (:attr:`benchmark.experiment.Experiment.reference_exit`), never on a
    quantized copy."""
    reference = ctx.exp.reference_variant(variants)
    rows = []
    for variant in variants:
        check = ctx.opts.pyctcdecode
        compare = check == "each" or (check == "last" and variant is reference)
        compare = compare and variant.quantization is None
        rows.append(benchmark_variant(ctx, variant, compare and ctx.lm is not None))
    return rows
