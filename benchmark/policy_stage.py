"""The policies' stage: dynamic exit policies chosen on dev, measured on test.

Every ``(policy, threshold)`` of the grid runs on dev and on test
(:func:`benchmark.policy_sweep.sweep_policies`); the dev-chosen points (or,
with ``policy_timing="all"``, every point) are timed alternately with the
reference exit (:mod:`benchmark.paired_timing`), with the LM for the chosen
ones.

Example
-------
>>> from types import SimpleNamespace
>>> benchmark_policies(SimpleNamespace(policy_dev=None), []) is None
True
"""

from __future__ import annotations

from dataclasses import replace

from benchmark.context import BenchmarkContext
from benchmark.devices import put_model_on
from benchmark.experiment import EvalSet
from benchmark.lm_setup import lm_weights_for
from benchmark.paired_timing import time_paired_on_device
from benchmark.policy_results import PointTiming, PolicySweepResult, StaticPoint
from benchmark.policy_sweep import mark_results, policy_points, sweep_policies
from benchmark.variant_stage import benchmark_variant
from benchmark.variants import Variant, exit_variants


def time_point(
    ctx: BenchmarkContext, reference: Variant, variant: Variant, with_lm: bool
) -> tuple[PointTiming, dict]:
    """Timed passes of a policy point on every device, its greedy passes
    alternated with the reference exit's
    (:func:`benchmark.paired_timing.time_paired_on_device`); LM passes, with
    weights for this variant, only if ``with_lm`` and the LM is on.

    Returns
    -------
    tuple
        The :class:`benchmark.policy_results.PointTiming` and, per device,
        the summary of the per-round ratios point / reference.
    """
    decoder = ctx.decoder if with_lm else None
    lm_weights = None
    if decoder is not None:
        lm_weights = lm_weights_for(ctx.lm, ctx.exp.model, variant, ctx.opts)
    devices, ratios = {}, {}
    for device in ctx.devices:
        devices[device], ratios[device] = time_paired_on_device(
            ctx, reference, variant, device, decoder
        )
    timing = PointTiming.measured(devices, lm_weights, devices[ctx.devices[0]].wer_lm)
    return timing, ratios


def time_rows(ctx: BenchmarkContext, reference: Variant, points, rows) -> list:
    """The policy rows with their timing: the dev-chosen points (every point
    with ``policy_timing="all"``) are timed against ``reference``."""
    opts, timed_rows = ctx.opts, []
    for point, row in zip(points, rows):
        timing, ratios = PointTiming(), None
        if row.chosen or opts.policy_timing == "all":
            with_lm = row.chosen and opts.policy_lm
            timing, ratios = time_point(ctx, reference, point.variant, with_lm)
        test = row.test.with_timing(timing)
        timed_rows.append(replace(row, test=test, time_ratios=ratios))
    return timed_rows


def benchmark_policies(ctx: BenchmarkContext, rows: list) -> PolicySweepResult | None:
    """Dynamic exit policies: thresholds chosen on dev, measured on test.

    The reference is the deepest trained exit
    (:attr:`benchmark.experiment.Experiment.reference_exit`: the last one,
    or exit K of ``train_exits: K``): its row in ``rows`` (the
    :class:`benchmark.results.VariantResult` of the variants) when the exits
    were benchmarked, else it is benchmarked here. The timed points'
    greedy passes alternate with the reference's; their CPU and GPU time
    savings come from the median of the per-round ratios.

    Returns
    -------
    benchmark.policy_results.PolicySweepResult or None
        The ``policies`` entry of ``results.json`` (None: no policy ran).
    """
    if ctx.policy_dev is None:
        return None
    opts, model = ctx.opts, ctx.exp.model
    put_model_on(model, "cpu")
    reference = exit_variants(model)[ctx.exp.reference_exit - 1]
    points = policy_points(opts, ctx.exp.hparams.get("blank_index", 0))
    test = EvalSet(ctx.test_set, ctx.batches)
    reference_result, policy_rows = sweep_policies(
        model,
        points,
        reference,
        ctx.policy_dev,
        test,
        ctx.greedy,
        opts.policy_tolerance,
        opts.progressbar,
    )
    static = [r for r in rows if r.exit is not None and r.quantization is None]
    known = [r for r in static if r.exit == reference.exit_index]
    if not known:
        known = [benchmark_variant(ctx, reference, compare=False)]
        static.append(known[0])
    timing = PointTiming.of_variant(known[0])
    reference_result = replace(
        reference_result, test=reference_result.test.with_timing(timing)
    )
    timed_rows = time_rows(ctx, reference, points, policy_rows)
    static_points = [StaticPoint.of_variant(r) for r in static]
    marked, static_points = mark_results(reference_result, timed_rows, static_points)
    return PolicySweepResult(
        ctx.policy_dev.name,
        len(ctx.policy_dev.ids),
        reference_result,
        marked,
        static_points,
    )
