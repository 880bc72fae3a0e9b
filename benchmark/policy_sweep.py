"""Dynamic exit policies in the benchmark: threshold grids, sweeps, choices.

Every policy of :mod:`modules.exits.policies` is run over a grid of thresholds
with :func:`modules.exits.dynamic.dynamic_exit_forward`, which stops each
utterance at the exit its policy picks, so the compute measured is the
compute actually spent. The threshold is *chosen on dev and applied to
test*:

1. every ``(policy, threshold)`` runs over the dev set: greedy WER and the
   MACs counted on that very pass (:func:`benchmark.macs.run_and_count`);
2. per policy, the operating point is the cheapest threshold (MACs per
   second of audio) whose dev WER is at most ``(1 + tolerance)`` times the
   reference exit's dev WER, the last exit or exit K of ``train_exits: K``
   (:func:`choose_operating_point`);
3. every threshold then runs over the test set (for the curves), and the
   dev-chosen one is marked; the test set never influences the choice.

:func:`pareto_front` marks the points that no other point beats in both
compute and WER. The options are validated at start-up, before anything
expensive runs (:mod:`benchmark.policy_grid`).

Examples
--------
>>> dev = [(30.0, 20.0), (21.0, 21.5), (10.0, 40.0)]  # (MACs, WER) per threshold
>>> choose_operating_point(dev, reference_wer=20.0, tolerance=0.1)
(1, True)
>>> pareto_front([(1.0, 9.0), (2.0, 5.0), (3.0, 5.0), (4.0, 1.0)])
[True, True, False, True]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from benchmark.cost import count_split_macs
from benchmark.policy_results import (
    PolicyPointResult,
    ReferenceResult,
    RelativeChange,
    SplitMeasurement,
)
from benchmark.variants import PolicyVariant, Variant, VariantModule
from modules.decoding.lm_beam import word_error_rate
from modules.exits.policies import build_policy


@dataclass
class PolicyPoint:
    """One ``(policy, threshold)`` and the variant that runs it.

    Attributes
    ----------
    policy : str
        Policy name.
    threshold : float
        Its threshold.
    variant : benchmark.variants.Variant
        Runs :func:`modules.exits.dynamic.dynamic_exit_forward`; its ``run``
        is a :class:`modules.exits.dynamic.PolicyVariant` recording exits.
    """

    policy: str
    threshold: float
    variant: Variant


def policy_points(opts, blank_index) -> list[PolicyPoint]:
    """One :class:`PolicyPoint` per policy and threshold of
    ``opts.policy_grid`` (``opts``: a :class:`benchmark.options.
    BenchmarkOptions`; ``blank_index``: the CTC blank, for the posterior
    policy)."""
    points = []
    for name, grid in opts.policy_grid.items():
        extra = {"blank_index": blank_index} if name == "posterior" else {}
        for threshold in grid:
            policy = build_policy(
                name, threshold, opts.policy_mode, opts.policy_decoder, **extra
            )
            variant = Variant(f"{name}@{threshold:g}", PolicyVariant(policy))
            points.append(PolicyPoint(name, policy.threshold, variant))
    return points


def exit_statistics(variant, num_utts) -> dict:
    """Mean exit, mean layers run and utterances per exit of the last pass."""
    if isinstance(variant.run, PolicyVariant):
        summary = variant.run.summary()
        return {k: summary[k] for k in ("mean_exit", "mean_layers", "exit_counts")}
    return {
        "mean_exit": float(variant.exit_index),
        "mean_layers": float(variant.layer),
        "exit_counts": {variant.exit_index: num_utts},
    }


def measure_point(model, variant, split, decode, progressbar) -> SplitMeasurement:
    """Greedy WER, exits and MACs of ``variant`` over ``split`` in one pass.

    Every batch runs once under the MAC counter; its log-posteriors are
    decoded for the WER, so WER, exits and MACs describe the same pass.

    Parameters
    ----------
    model : torch.nn.Module
        The early-exit model.
    variant : benchmark.variants.Variant
        A policy point's variant, or a static exit.
    split : benchmark.experiment.EvalSet
        The batches.
    decode : callable
        ``decode(log_probs, rel_lens) -> list of word lists``.
    progressbar : bool
        Show a tqdm bar.

    Returns
    -------
    benchmark.policy_results.SplitMeasurement
        Its WER, exits and MACs (not timed).
    """
    module = VariantModule(model, variant).eval()
    if isinstance(variant.run, PolicyVariant):
        variant.run.reset()
    hyps = []
    macs = count_split_macs(
        module,
        split.batches,
        split.audio_s,
        on_output=lambda log_probs, b: hyps.extend(decode(log_probs, b.rel_lens)),
        desc=f"{variant.name} {split.name}" if progressbar else None,
    )
    return SplitMeasurement(
        wer=word_error_rate(split.ids, hyps, split.references),
        **exit_statistics(variant, len(hyps)),
        **macs,
    )


# --------------------------------------------------------------------------
# Choice on dev, Pareto front, relative numbers
# --------------------------------------------------------------------------


def choose_operating_point(points: Sequence, reference_wer, tolerance):
    """The cheapest point whose WER is within tolerance of the reference.

    Parameters
    ----------
    points : sequence of (float, float)
        ``(cost, wer)`` per threshold, measured on dev.
    reference_wer : float
        The reference exit's dev WER.
    tolerance : float
        Allowed relative WER increase (0.1: 10 %).

    Returns
    -------
    tuple
        ``(index, meets_tolerance)``. When no point meets the tolerance,
        the most accurate one (then the cheapest) is returned with False.
    """
    limit = (1.0 + tolerance) * reference_wer
    order = range(len(points))
    within = [i for i in order if points[i][1] <= limit]
    if within:
        return min(within, key=lambda i: (points[i][0], points[i][1], i)), True
    return min(order, key=lambda i: (points[i][1], points[i][0], i)), False


def pareto_front(points: Sequence) -> list[bool]:
    """For each ``(cost, wer)``, whether no other point dominates it.

    A point is dominated by one that is no worse in both and strictly
    better in one; identical points do not dominate each other.
    """
    return [
        not any(c <= cost and w <= wer and (c < cost or w < wer) for c, w in points)
        for cost, wer in points
    ]


def saving(value, reference):
    """``100 * (1 - value / reference)``: % saved (None if unknown)."""
    if value is None or not reference:
        return None
    return 100.0 * (1.0 - value / reference)


def change(value, reference):
    """``100 * (value / reference - 1)``: relative % change (None if unknown)."""
    if value is None or reference is None or reference == 0:
        return None
    return 100.0 * (value / reference - 1.0)


def ratio_saving(ratios: dict | None, device: str):
    """``100 * (1 - median ratio)`` of a paired timing on ``device`` (None
    when not timed there)."""
    if not ratios or device not in ratios:
        return None
    return 100.0 * (1.0 - ratios[device]["median"])


def relative_to(point: SplitMeasurement, reference: SplitMeasurement, ratios=None):
    """MAC, encoder MAC and time savings and relative WER changes, in %.

    ``point`` and ``reference`` are test measurements; ``ratios`` (device ->
    summary of the per-round time ratios point / reference, timed
    alternately) give the time savings, their median ratio. The time savings
    and the WER+LM change are None where either was not timed.

    Returns
    -------
    benchmark.policy_results.RelativeChange
    """
    return RelativeChange(
        mac_saving_pct=saving(
            point.macs_per_audio_second, reference.macs_per_audio_second
        ),
        encoder_mac_saving_pct=saving(
            point.encoder_macs_per_audio_second,
            reference.encoder_macs_per_audio_second,
        ),
        time_saving_pct=ratio_saving(ratios, "cpu"),
        gpu_time_saving_pct=ratio_saving(ratios, "cuda"),
        wer_change_pct=change(point.wer, reference.wer),
        wer_lm_change_pct=change(point.wer_lm, reference.wer_lm),
    )


# --------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------


def choose_per_policy(points, dev, reference_wer, tolerance) -> list:
    """``(chosen, meets_tolerance)`` of every point (grid order), from its
    dev measurement: per policy, :func:`choose_operating_point`;
    ``meets_tolerance`` is None on the points not chosen."""
    marks = [(False, None)] * len(points)
    for policy in dict.fromkeys(p.policy for p in points):
        mine = [i for i, p in enumerate(points) if p.policy == policy]
        costs = [(dev[i].macs_per_audio_second, dev[i].wer) for i in mine]
        index, meets = choose_operating_point(costs, reference_wer, tolerance)
        marks[mine[index]] = (True, meets)
    return marks


def sweep_policies(model, points, reference, dev, test, decode, tolerance, bar):
    """Measure every point on dev, choose per policy, measure all on test.

    Parameters
    ----------
    model : torch.nn.Module
        The early-exit model (on CPU).
    points : list of PolicyPoint
        The grid.
    reference : benchmark.variants.Variant
        The reference exit, static (the deepest trained one).
    dev, test : benchmark.experiment.EvalSet
        The splits (dev chooses, test reports).
    decode : callable
        Greedy decoding, ``decode(log_probs, rel_lens) -> word lists``.
    tolerance : float
        See :func:`choose_operating_point`.
    bar : bool
        Progress bars.

    Returns
    -------
    tuple
        ``(reference_result, rows)``: the reference exit's
        :class:`benchmark.policy_results.ReferenceResult` and one
        :class:`benchmark.policy_results.PolicyPointResult` per point in
        grid order, measured on dev and test, not yet timed nor marked.
    """
    ref_dev = measure_point(model, reference, dev, decode, bar)
    dev_rows = [measure_point(model, p.variant, dev, decode, bar) for p in points]
    marks = choose_per_policy(points, dev_rows, ref_dev.wer, tolerance)
    ref_test = measure_point(model, reference, test, decode, bar)
    rows = [
        PolicyPointResult(
            policy=point.policy,
            threshold=point.threshold,
            name=point.variant.name,
            dev=point_dev,
            chosen=chosen,
            meets_tolerance=meets,
            test=measure_point(model, point.variant, test, decode, bar),
        )
        for point, point_dev, (chosen, meets) in zip(points, dev_rows, marks)
    ]
    ref = ReferenceResult(reference.name, reference.layer, ref_dev, ref_test)
    return ref, rows


def mark_results(reference, rows, static) -> tuple[list, list]:
    """The rows with their savings relative to the reference exit and Pareto
    flags.

    Every policy row gets ``relative`` (:func:`relative_to` its test
    measurement and the reference exit's, with its paired timing) and
    ``pareto``: whether its test
    ``(MACs per audio second, WER)`` is on the front of all points, the
    policies' and the static exits' together.

    Parameters
    ----------
    reference : benchmark.policy_results.ReferenceResult
        The reference exit, its ``test`` measurement timed.
    rows : list of benchmark.policy_results.PolicyPointResult
        Policy rows of :func:`sweep_policies`.
    static : list of benchmark.policy_results.StaticPoint
        The benchmarked static exits.

    Returns
    -------
    tuple
        ``(rows, static)``: new rows and static points, marked.
    """
    measured = [row.test for row in rows] + static
    front = pareto_front([(p.macs_per_audio_second, p.wer) for p in measured])
    marked = [
        replace(
            row,
            relative=relative_to(row.test, reference.test, row.time_ratios),
            pareto=flag,
        )
        for row, flag in zip(rows, front)
    ]
    points = [replace(p, pareto=flag) for p, flag in zip(static, front[len(rows) :])]
    return marked, points
