"""Paired timing of a policy point against the reference exit.

A machine's speed drifts (frequency scaling, other load: up to 1.4x over a
benchmark on a shared 2-core machine), so a saving computed from the
reference timed in one block and a point timed minutes later measures the
drift as much as the policy. The reference and the point are timed
*alternately* instead: reference, point, reference, point, ..., reference
(greedy passes over the test set). Each round's ratio is the point's time
over the mean of the two reference passes around it, which cancels a drift
that is steady over a round; the saving comes from the median of the
per-round ratios, whose spread (min, median, max) is reported.

Example
-------
>>> clock = iter(range(10, 100))  # a machine slowing down steadily
>>> def fake_pass(units):
...     return lambda r: ({"net_s": units * next(clock), "decode_s": 0.0}, [], [])
>>> _, _, ratios = alternate(fake_pass(2.0), fake_pass(1.0), rounds=3)
>>> [round(v, 3) for v in ratios["values"]], round(ratios["median"], 3)
([0.5, 0.5, 0.5], 0.5)
"""

from __future__ import annotations

from benchmark.context import BenchmarkContext
from benchmark.devices import put_model_on
from benchmark.options import MIN_POLICY_ROUNDS
from benchmark.passes import add_lm_passes, summarize_passes, timed_pass, warm_up
from benchmark.results import DeviceTiming
from benchmark.timing import summarize
from benchmark.variants import Variant


def pass_seconds(result) -> float:
    """Network + decoding seconds of a :func:`benchmark.passes.timed_pass`
    result."""
    return result[0]["net_s"] + result[0]["decode_s"]


def alternate(reference_pass, point_pass, rounds: int):
    """Time the reference and the point alternately, every point pass
    between two reference passes (``rounds + 1`` reference passes).

    Parameters
    ----------
    reference_pass, point_pass : callable
        ``pass(round) -> (times, hypotheses, kept)`` as
        :func:`benchmark.passes.timed_pass` returns (``times`` with
        ``net_s`` and ``decode_s``).
    rounds : int
        Point passes.

    Returns
    -------
    tuple
        ``(reference_results, point_results, ratios)``: the results of every
        pass, and :func:`benchmark.timing.summarize` of the per-round ratios
        ``point seconds / mean seconds of the reference passes around it``.
    """
    reference, point = [reference_pass(0)], []
    for r in range(rounds):
        point.append(point_pass(r))
        reference.append(reference_pass(r + 1))
    seconds = [pass_seconds(q) for q in reference]
    around = [(a + b) / 2 for a, b in zip(seconds, seconds[1:])]
    ratios = [pass_seconds(p) / s for p, s in zip(point, around)]
    return reference, point, summarize(ratios)


def time_paired_on_device(
    ctx: BenchmarkContext, reference: Variant, variant: Variant, device, decoder
):
    """Greedy passes of ``variant`` alternated with ``reference`` on
    ``device``, then its LM passes.

    Parameters
    ----------
    ctx : benchmark.context.BenchmarkContext
        The test batches, model and options (``repeats`` rounds, at least
        :data:`benchmark.options.MIN_POLICY_ROUNDS`).
    reference : benchmark.variants.Variant
        The reference exit.
    variant : benchmark.variants.Variant
        The policy point.
    device : str
        ``"cpu"`` or ``"cuda"``.
    decoder : modules.decoding.lm_beam.LMDecoder, optional
        The LM decoder, its weights set; None: no LM passes.

    Returns
    -------
    tuple
        The point's :class:`benchmark.results.DeviceTiming` (its greedy
        passes are those of the rounds) and the ratios' summary.
    """
    model, batches = ctx.exp.model, ctx.batches
    put_model_on(model, device)
    for timed in (reference, variant):
        warm_up(model, timed, batches, device, ctx.opts.warmup_batches)
    rounds = max(ctx.opts.repeats, MIN_POLICY_ROUNDS)

    def one_pass(timed: Variant):
        def run(r):
            desc = f"{timed.name} {device} paired {r + 1}"
            desc = desc if ctx.opts.progressbar else None
            return timed_pass(model, timed, batches, device, ctx.greedy, desc=desc)

        return run

    _, point, ratios = alternate(one_pass(reference), one_pass(variant), rounds)
    greedy = summarize_passes([p[0] for p in point], ctx.audio_s)
    result = DeviceTiming(greedy, ctx.wer(point[0][1]))
    if decoder is not None:
        result, _ = add_lm_passes(ctx, variant, device, decoder, result, False)
    put_model_on(model, "cpu")
    return result, ratios
