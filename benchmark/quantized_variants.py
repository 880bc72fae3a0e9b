"""Quantized variants: an int8 copy of the model, benchmarked like an exit.

For each post-training method of the ``quantization`` option
(:data:`modules.compression.quantization.PTQ_METHODS`), the experiment's
model is quantized once (:func:`modules.compression.qat_export.export_quantized`:
a quantization-aware model's weights keep their trained quantized values
first) and its reference exit (``quantization_exits: each``: every exit)
becomes a variant ``exit<k>+<method>`` running that copy. Its WERs come
from its own passes; its MACs are counted on the fp32 model (quantized
kernels are invisible to the counter, and compute the same products), with
the fraction in int8 modules; its greedy passes are timed on CPU alternately
with the same exit of the fp32 model (:mod:`benchmark.paired_timing`), so
that the time ratio int8 / fp32 is measured side by side. A
quantization-aware experiment's fp32 rows run its quantized weight values
(:func:`fix_quantized_weights`).

Example
-------
>>> from types import SimpleNamespace
>>> opts = SimpleNamespace(quantization=())
>>> quantized_variants(SimpleNamespace(model=None), opts)
[]
"""

from __future__ import annotations

from dataclasses import replace

from benchmark.context import BenchmarkContext
from benchmark.paired_timing import time_paired_on_device
from benchmark.variants import Variant, exit_variants
from modules.compression.qat import has_weight_quantization
from modules.compression.qat_export import (
    export_quantized,
    with_quantized_weights_fixed,
)
from modules.compression.quantization import PTQ_METHODS


def quantized_variants(exp, opts) -> list[Variant]:
    """Variants running a quantized copy of ``exp.model`` per method of
    ``opts.quantization``, for the reference exit or (``quantization_exits:
    each``) every exit.

    Parameters
    ----------
    exp : benchmark.experiment.Experiment
        The loaded experiment.
    opts : benchmark.options.BenchmarkOptions
        ``quantization``, ``quantization_exits``, ``quantization_keep_fp32``.

    Returns
    -------
    list of benchmark.variants.Variant
    """
    if not opts.quantization:
        return []
    exits = exit_variants(exp.model)
    if opts.quantization_exits == "last":
        exits = [exits[exp.reference_exit - 1]]
    variants = []
    for method in opts.quantization:
        model = export_quantized(exp.model, method, opts.quantization_keep_fp32)
        variants += [
            replace(v, name=f"{v.name}+{method}", quantization=method, model=model)
            for v in exits
        ]
    return variants


def time_quantized(ctx: BenchmarkContext, variant: Variant):
    """Greedy passes of a quantized variant on CPU alternated with its fp32
    exit's, then its LM passes (LM weights already set).

    Returns
    -------
    tuple
        ``({"cpu": DeviceTiming}, {"cpu": ratios})``, the ratios being the
        :func:`benchmark.timing.summarize` of the per-round time ratios
        quantized / fp32.
    """
    timing, ratios = time_paired_on_device(
        ctx, variant.on_given_model(), variant, "cpu", ctx.decoder
    )
    return {"cpu": timing}, {"cpu": ratios}


def fix_quantized_weights(exp) -> list[str]:
    """Prepare a quantization-aware experiment: ``exp.model`` becomes a copy
    whose parameters hold their quantized values
    (:func:`modules.compression.qat_export.with_quantized_weights_fixed`), so that
    its fp32 rows compute what the trained model computes in eval mode
    without re-quantizing the weights in every timed pass. Returns the
    report's note (none for a plain model)."""
    if not has_weight_quantization(exp.model):
        return []
    exp.model = with_quantized_weights_fixed(exp.model)
    return [
        "The model quantizes its weights in training (weight_quantization: "
        f"{exp.hparams.get('weight_quantization')}): its fp32 rows run the "
        "quantized weight values (fixed once, stored in fp32); its quantized "
        "rows are its export (modules.compression.qat_export.export_quantized)."
    ]


def quantization_notes(opts, devices) -> list[str]:
    """Report notes on the quantized variants (none without them)."""
    if not opts.quantization:
        return []
    notes = [
        "Quantized variants ("
        + ", ".join(_describe(m) for m in opts.quantization)
        + "): linear layers quantized except those matching "
        f"{list(opts.quantization_keep_fp32) or 'none'}; their other weight "
        "tensors (attention input projections, convolution kernels) stored "
        "in int8 and used in fp32; MACs counted on the "
        "fp32 model (quantized kernels are invisible to the MAC counter); "
        "timed on CPU, alternately with the same fp32 exit; no LM decoders "
        "cross-check."
    ]
    if any(device != "cpu" for device in devices):
        notes.append("Quantized variants are not timed on GPU (CPU int8 kernels).")
    return notes


def _describe(method: str) -> str:
    """``method`` and the arithmetic of its quantized layers."""
    arithmetic = "int8" if PTQ_METHODS[method].int8_arithmetic else "fp32"
    return f"{method}: int8 weights, {arithmetic} products"
