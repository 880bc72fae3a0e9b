"""The variants' stage: cost, timed passes and WERs of every variant.

Each variant (:mod:`benchmark.variants`) gets its MACs and parameters
(:func:`benchmark.cost.measure_cost`), the size of the model it runs, its LM
weights (:func:`benchmark.lm_setup.set_lm_weights`), timed passes on every
device (:func:`benchmark.passes.time_on_device`; a quantized copy: on CPU,
alternated with its fp32 exit, :mod:`benchmark.quantized_variants`) and,
when asked, the cross-check of its LM pass by every LM back end
(:func:`compare_decoders`).

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
from benchmark.lm_setup import set_lm_weights
from benchmark.passes import time_on_device
from benchmark.quantized_variants import time_quantized
from benchmark.results import DecoderCheck, VariantResult
from benchmark.timing import Stopwatch, summarize
from benchmark.variants import Variant
from modules.compression.quantization import quantized_module_names, serialized_size_mb
from modules.decoding.lm_beam import decode_all

MIN_CROSS_CHECK_ROUNDS = 2
"""Fewest timed rounds of the LM back ends' cross-check (``lm_repeats``
when larger); each round decodes with every back end in turn."""


def compare_decoders(ctx: BenchmarkContext, log_probs, weights) -> list:
    """Every LM back end of ``ctx.lm`` on the log-probs of a variant's LM
    pass, each with its own ``weights`` (already set), timed on CPU in
    rounds that alternate the back ends (A B C A B C ...).

    Returns
    -------
    list of benchmark.results.DecoderCheck
        The reported back end first.
    """
    rounds = max(MIN_CROSS_CHECK_ROUNDS, ctx.opts.lm_repeats)
    times = {name: [] for name in ctx.lm.decoders}
    hyps = {}
    for _ in range(rounds):
        for name, decoder in ctx.lm.decoders.items():
            watch = Stopwatch("cpu")
            with watch:
                hyps[name] = decode_all(decoder, log_probs)
            times[name].append(watch.seconds)
    reported = hyps[ctx.lm.reported]
    count = max(len(reported), 1)
    return [
        DecoderCheck(
            decoder=name,
            alpha=weights[name]["alpha"],
            beta=weights[name]["beta"],
            wer_lm=ctx.wer(hyps[name]),
            decode_s=summarize(times[name]),
            same_hypothesis_fraction=sum(a == b for a, b in zip(hyps[name], reported))
            / count,
        )
        for name in ctx.lm.decoders
    ]


def train_wer(exp: Experiment, test_set: str, variant: Variant):
    """The variant's WER in ``wer_summary.json`` (static exits of the
    experiment's model, not quantized copies), if any."""
    path = exp.folder / "wer_summary.json"
    if variant.exit_index is None or variant.model is not None or not path.is_file():
        return None
    wers = json.loads(path.read_text()).get(test_set, {}).get("wer", [])
    return wers[variant.exit_index - 1] if len(wers) >= variant.exit_index else None


def time_variant(ctx: BenchmarkContext, variant: Variant, weights):
    """Timed passes of ``variant`` on every device (a quantized variant: on
    CPU, alternated with its fp32 exit) and, given the LM back ends'
    ``weights``, their cross-check on its first device's LM pass.

    Returns
    -------
    tuple
        ``(devices, checks, time_ratios)``: device -> :class:`benchmark.
        results.DeviceTiming`, the :class:`benchmark.results.DecoderCheck`
        list (or None) and, for a quantized variant, the per-device ratios
        to its fp32 exit (else None).
    """
    if variant.quantization is not None:
        devices, ratios = time_quantized(ctx, variant)
        return devices, None, ratios
    devices, checks = {}, None
    for device in ctx.devices:
        keep = weights is not None and device == ctx.devices[0]
        devices[device], kept = time_on_device(ctx, variant, device, keep, ctx.decoder)
        if kept:
            checks = compare_decoders(ctx, kept, weights)
    return devices, checks, None


def benchmark_variant(
    ctx: BenchmarkContext, variant: Variant, compare: bool
) -> VariantResult:
    """Cost, size, per-device timing and WER (with and without LM) of a
    variant; ``compare``: cross-check its LM pass with every LM back end."""
    model = variant.model if variant.model is not None else ctx.exp.model
    int8 = quantized_module_names(model)
    cost = measure_cost(
        ctx.exp.model, variant, ctx.batches, ctx.audio_s, ctx.opts.progressbar, int8
    )
    lm_weights = weights = None
    if ctx.lm is not None:
        names = list(ctx.lm.decoders) if compare else [ctx.lm.reported]
        weights = set_lm_weights(ctx.lm, ctx.exp.model, variant, ctx.opts, names)
        lm_weights = weights[ctx.lm.reported]
    devices, checks, ratios = time_variant(ctx, variant, weights if compare else None)
    first = next(iter(devices.values()))
    return VariantResult(
        name=variant.name,
        exit=variant.exit_index,
        layer=variant.layer,
        **cost,
        lm_weights=lm_weights,
        devices=devices,
        pyctcdecode=None,
        wer=first.wer,
        wer_lm=first.wer_lm,
        wer_train=train_wer(ctx.exp, ctx.test_set, variant),
        quantization=variant.quantization,
        size_mb=serialized_size_mb(model),
        time_ratios=ratios,
        decoder_checks=checks,
    )


def benchmark_variants(ctx: BenchmarkContext, variants: list) -> list[VariantResult]:
    """Benchmark every variant; the LM back ends' cross-check runs, when
    the LM is on with more than one back end, on each variant or
    (``cross_check="last"``) on the reference exit's
    (:attr:`benchmark.experiment.Experiment.reference_exit`), never on a
    quantized copy."""
    reference = ctx.exp.reference_variant(variants)
    several = ctx.lm is not None and len(ctx.lm.decoders) > 1
    rows = []
    for variant in variants:
        check = ctx.opts.cross_check
        compare = check == "each" or (check == "last" and variant is reference)
        compare = compare and variant.quantization is None
        rows.append(benchmark_variant(ctx, variant, compare and several))
    return rows
