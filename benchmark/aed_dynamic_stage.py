"""Dynamic exits of an AED in the benchmark: thresholds chosen on dev,
measured on test against the reference exit's joint beam search.

Every ``(policy, threshold)`` of the options' grid
(:func:`benchmark.policy_sweep.policy_points`) decodes dev and test with
:class:`DynamicJointDecoding`: the encoder runs exit by exit, the policy
reads each exit's CTC posteriors and stops the utterances it is sure of, and
only the exit an utterance took decodes it, with its joint CTC/attention beam
search (:mod:`modules.exits.aed_dynamic`). WER, exits and MACs (encoder,
the heads the policy read, the decoders that ran) are counted on that very
pass. Per policy the threshold is chosen on dev as for the CTC policies
(:func:`benchmark.policy_sweep.choose_per_policy`: the cheapest whose dev WER
is within ``policy_tolerance`` of the reference exit's joint-beam dev WER);
the chosen points (every point with ``policy_timing="all"``) are timed
alternately with the reference exit (:func:`benchmark.paired_timing.
alternate`). The result is a :class:`benchmark.policy_results.
PolicySweepResult`, so the policy report's tables, CSV and plot apply.

The dev split is the policies' (``dev_set``, else the YAML's first
``dev_splits``), cut to ``tune_max_utts`` utterances: every threshold costs
a beam search of it.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from benchmark.aed_macs import count_decoding
from benchmark.aed_searches import ExitSearch
from benchmark.context import BenchmarkContext
from benchmark.devices import put_model_on
from benchmark.experiment import EvalSet, load_split
from benchmark.options import MIN_POLICY_ROUNDS
from benchmark.paired_timing import alternate
from benchmark.passes import summarize_passes, timed_pass, warm_up
from benchmark.policy_results import (
    PointTiming,
    PolicyPointResult,
    PolicySweepResult,
    ReferenceResult,
    SplitMeasurement,
    StaticPoint,
)
from benchmark.policy_sweep import (
    choose_per_policy,
    exit_statistics,
    mark_results,
    policy_points,
)
from benchmark.results import DeviceTiming
from benchmark.variants import PolicyVariant, Variant
from modules.decoding.lm_beam import word_error_rate
from modules.exits.aed_dynamic import decode_exit_groups, dynamic_exit_states


class DynamicJointDecoding(PolicyVariant):
    """A policy point of an AED: exits chosen from the CTC posteriors, each
    utterance decoded by its exit's joint beam search only.

    As :class:`benchmark.variants.PolicyVariant`, it records the exits of
    every batch it runs (``reset``, ``summary``); calling it decodes a batch
    into word lists. Like :class:`benchmark.aed_searches.ExitSearch`, it
    has an :attr:`encoder` pass and :meth:`words`, timed apart.

    Arguments
    ---------
    policy : modules.exits.exit_policy.ExitPolicy
        The exit policy.
    searches : dict
        Exit -> its joint :class:`benchmark.aed_searches.ExitSearch`.
    name : str
        Row name in the report.
    """

    def __init__(self, policy, searches, name):
        super().__init__(policy)
        self.searches = searches
        self.name = name

    def encode(self, model, wavs, rel_lens):
        """The encoder pass with the policy
        (:func:`modules.exits.aed_dynamic.dynamic_exit_states`), recorded."""
        states = dynamic_exit_states(model, wavs, rel_lens, self.policy)
        self.exit_index.append(states.exit_index.cpu())
        self.layers_run.append(states.layers_run.cpu())
        return states

    def words(self, states, rel_lens, searches=None) -> list:
        """Word lists: every exit's joint beam search (of ``searches``,
        default: the decoding's) on its utterances."""
        searches = searches or self.searches

        def decode(exit_index, hidden, lens):
            return searches[exit_index].words(hidden, lens)

        return decode_exit_groups(states, rel_lens, decode)

    def counted_words(self, meter):
        """:meth:`words`, its MACs and steps counted by ``meter``
        (:mod:`benchmark.aed_macs`)."""
        counted = {k: search.counted(meter) for k, search in self.searches.items()}
        return partial(self.words, searches=counted)

    def __call__(self, model, wavs, rel_lens):
        return self.words(self.encode(model, wavs, rel_lens), rel_lens)

    @property
    def encoder(self) -> Variant:
        """The encoder pass as a variant (its output: the exit groups)."""
        return Variant(self.name, self.encode)

    @property
    def pipeline(self) -> Variant:
        """Encoder pass then decoding, as a variant recording the exits."""
        return Variant(self.name, self)


def measure_split(model, unit, split: EvalSet, bar) -> SplitMeasurement:
    """WER, exits and MACs of a decoding over ``split``, in one pass.

    Arguments
    ---------
    model : modules.models.aed_early_exit.EarlyExitAED
        The model.
    unit : object
        A static exit's :class:`benchmark.aed_searches.ExitSearch` or a
        :class:`DynamicJointDecoding`.
    split : benchmark.experiment.EvalSet
        The batches.
    bar : bool
        Show a tqdm bar.

    Returns
    -------
    benchmark.policy_results.SplitMeasurement
        MACs counted on that pass (:func:`benchmark.aed_macs.count_decoding`):
        all, and the encoder layers alone.
    """
    if isinstance(unit, PolicyVariant):
        unit.reset()
    desc = f"{unit.name} {split.name}" if bar else None
    macs, hyps = count_decoding(model, unit, split.batches, split.audio_s, desc)
    for key in ("decoding_macs_per_audio_second", "decoding_steps"):
        macs.pop(key)
    return SplitMeasurement(
        wer=word_error_rate(split.ids, hyps, split.references),
        **exit_statistics(unit.pipeline, len(hyps)),
        **macs,
    )


def time_paired(ctx: BenchmarkContext, reference, point, device):
    """Passes of ``point`` alternated with ``reference`` on ``device`` (both
    with an ``encoder`` variant, ``words`` and a ``pipeline`` for the
    warm-up), at least :data:`benchmark.options.MIN_POLICY_ROUNDS` rounds.

    Returns
    -------
    tuple
        The point's :class:`benchmark.results.DeviceTiming` and the summary
        of its per-round time ratios to the reference.
    """
    model, batches, opts = ctx.exp.model, ctx.batches, ctx.opts
    put_model_on(model, device)
    for timed in (reference, point):
        warm_up(model, timed.pipeline, batches, device, opts.warmup_batches)

    def one_pass(timed):
        def run(r):
            desc = f"{timed.name} {device} paired {r + 1}" if opts.progressbar else None
            return timed_pass(
                model, timed.encoder, batches, device, timed.words, desc=desc
            )

        return run

    rounds = max(opts.repeats, MIN_POLICY_ROUNDS)
    _, passes, ratios = alternate(one_pass(reference), one_pass(point), rounds)
    put_model_on(model, "cpu")
    greedy = summarize_passes([p[0] for p in passes], ctx.audio_s)
    return DeviceTiming(greedy, ctx.wer(passes[0][1])), ratios


def dynamic_points(ctx: BenchmarkContext, searches: dict) -> list:
    """``(point, decoding)`` per policy and threshold of the options' grid:
    the :class:`benchmark.policy_sweep.PolicyPoint` and its
    :class:`DynamicJointDecoding`."""
    blank = ctx.exp.hparams.get("blank_index", 0)
    return [
        (
            point,
            DynamicJointDecoding(
                point.variant.run.policy, searches, point.variant.name
            ),
        )
        for point in policy_points(ctx.opts, blank)
    ]


def measure_rows(ctx, model, points, dev, reference_dev) -> list:
    """Every point measured on dev and test, chosen per policy on dev."""
    bar, tolerance = ctx.opts.progressbar, ctx.opts.policy_tolerance
    test = EvalSet(ctx.test_set, ctx.batches)
    dev_rows = [measure_split(model, decoding, dev, bar) for _, decoding in points]
    marks = choose_per_policy(
        [p for p, _ in points], dev_rows, reference_dev.wer, tolerance
    )
    return [
        PolicyPointResult(
            policy=point.policy,
            threshold=point.threshold,
            name=decoding.name,
            dev=point_dev,
            chosen=chosen,
            meets_tolerance=meets,
            test=measure_split(model, decoding, test, bar),
        )
        for (point, decoding), point_dev, (chosen, meets) in zip(
            points, dev_rows, marks
        )
    ]


def time_rows(ctx, reference: ExitSearch, points, rows) -> list:
    """The rows with the timing of the chosen points (every point with
    ``policy_timing="all"``), alternated with the reference exit's."""
    timed = []
    for (_, decoding), row in zip(points, rows):
        if row.chosen or ctx.opts.policy_timing == "all":
            paired = {d: time_paired(ctx, reference, decoding, d) for d in ctx.devices}
            devices = {d: timing for d, (timing, _) in paired.items()}
            ratios = {d: ratio for d, (_, ratio) in paired.items()}
            test = row.test.with_timing(PointTiming.measured(devices, None, None))
            row = replace(row, test=test, time_ratios=ratios)
        timed.append(row)
    return timed


def static_measurement(row, num_utts) -> SplitMeasurement:
    """A static exit's benchmarked row as a test measurement, with its
    timing (every utterance at its exit)."""
    measurement = SplitMeasurement(
        wer=row.wer,
        mean_exit=float(row.exit),
        mean_layers=float(row.layer),
        exit_counts={row.exit: num_utts},
        macs_total=row.macs_total,
        macs_per_batch=row.macs_per_batch,
        macs_per_audio_second=row.macs_per_audio_second,
        encoder_macs_per_audio_second=row.encoder_macs_per_audio_second,
    )
    return measurement.with_timing(PointTiming.of_variant(row))


def benchmark_aed_dynamic(ctx: BenchmarkContext, searches: dict, joint_rows: list):
    """Dynamic exits of an AED, chosen on dev and measured on test.

    Parameters
    ----------
    ctx : benchmark.context.BenchmarkContext
        The benchmark's context (``policy_dev``: the dev split; None: no
        dynamic exits).
    searches : dict
        Exit -> its joint :class:`benchmark.aed_searches.ExitSearch`.
    joint_rows : list of benchmark.results.VariantResult
        The benchmarked joint decodings of every exit: the reference exit's
        test measurement and timing, and the static points of the Pareto
        front.

    Returns
    -------
    benchmark.policy_results.PolicySweepResult or None
    """
    if ctx.policy_dev is None:
        return None
    exp, opts = ctx.exp, ctx.opts
    put_model_on(exp.model, "cpu")
    dev_set = ctx.policy_dev.name
    dev = EvalSet(
        dev_set, load_split(exp, dev_set, opts.batch_size, opts.tune_max_utts)
    )
    reference = searches[exp.reference_exit]
    reference_dev = measure_split(exp.model, reference, dev, opts.progressbar)
    points = dynamic_points(ctx, searches)
    rows = measure_rows(ctx, exp.model, points, dev, reference_dev)
    rows = time_rows(ctx, reference, points, rows)
    known = next(r for r in joint_rows if r.exit == reference.exit_index)
    test = static_measurement(known, len(ctx.ids))
    result = ReferenceResult(reference.name, reference.layer, reference_dev, test)
    static = [StaticPoint.of_variant(r) for r in joint_rows]
    marked, static = mark_results(result, rows, static)
    return PolicySweepResult(dev.name, len(dev.ids), result, marked, static)
