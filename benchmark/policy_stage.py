"""The policies' stage: dynamic exit policies chosen on dev, measured on test.

Every ``(policy, threshold)`` of the grid runs on dev and on test
(:func:`benchmark.policy_sweep.sweep_policies`); the dev-chosen points (or,
with ``policy_timing="all"``, every point) are timed like the exits, with the
LM for the chosen ones.

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
from benchmark.passes import time_on_device
from benchmark.policy_results import PointTiming, PolicySweepResult, StaticPoint
from benchmark.policy_sweep import mark_results, policy_points, sweep_policies
from benchmark.variant_stage import benchmark_variant
from benchmark.variants import Variant, exit_variants


def time_point(ctx: BenchmarkContext, variant: Variant, with_lm: bool) -> PointTiming:
    """Timed passes of a policy point on every device; LM passes, with
    weights for this variant, only if ``with_lm`` and the LM is on."""
    decoder = ctx.decoder if with_lm else None
    lm_weights = None
    if decoder is not None:
        lm_weights = lm_weights_for(ctx.lm, ctx.exp.model, variant, ctx.opts)
    devices = {
        device: time_on_device(ctx, variant, device, False, decoder)[0]
        for device in ctx.devices
    }
    return PointTiming.measured(devices, lm_weights, devices[ctx.devices[0]].wer_lm)


def benchmark_policies(ctx: BenchmarkContext, rows: list) -> PolicySweepResult | None:
    """Dynamic exit policies: thresholds chosen on dev, measured on test.

    The last exit is the reference: its row in ``rows`` (the
    :class:`benchmark.results.VariantResult` of the variants) when the exits
    were benchmarked, else it is benchmarked here.

    Returns
    -------
    benchmark.policy_results.PolicySweepResult or None
        The ``policies`` entry of ``results.json`` (None: no policy ran).
    """
    if ctx.policy_dev is None:
        return None
    opts, model = ctx.opts, ctx.exp.model
    put_model_on(model, "cpu")
    last = exit_variants(model)[-1]
    points = policy_points(opts, ctx.exp.hparams.get("blank_index", 0))
    test = EvalSet(ctx.test_set, ctx.batches)
    reference, policy_rows = sweep_policies(
        model,
        points,
        last,
        ctx.policy_dev,
        test,
        ctx.greedy,
        opts.policy_tolerance,
        opts.progressbar,
    )
    static = [r for r in rows if r.exit is not None]
    known = [r for r in static if r.exit == last.exit_index]
    if not known:
        static.append(benchmark_variant(ctx, last, compare=False))
    timing = PointTiming.of_variant((known or static)[-1])
    reference = replace(reference, test=reference.test.with_timing(timing))
    timed_rows = []
    for point, row in zip(points, policy_rows):
        timed = row.chosen or opts.policy_timing == "all"
        with_lm = row.chosen and opts.policy_lm
        timing = time_point(ctx, point.variant, with_lm) if timed else PointTiming()
        timed_rows.append(replace(row, test=row.test.with_timing(timing)))
    static_points = [StaticPoint.of_variant(r) for r in static]
    marked, static_points = mark_results(reference, timed_rows, static_points)
    return PolicySweepResult(
        ctx.policy_dev.name, len(ctx.policy_dev.ids), reference, marked, static_points
    )
