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
   last exit's dev WER (:func:`choose_operating_point`);
3. every threshold then runs over the test set (for the curves), and the
   dev-chosen one is marked; the test set never influences the choice.

:func:`pareto_front` marks the points that no other point beats in both
compute and WER. :func:`resolve_policy_grid` validates the options at
start-up, before anything expensive runs.

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
from dataclasses import dataclass

from tqdm import tqdm

from benchmark.experiment import BatchedUtterances, BenchmarkError, audio_seconds
from benchmark.macs import encoder_macs, run_and_count
from benchmark.report import DEVICE_KEYS
from benchmark.variants import PolicyVariant, Variant, VariantModule
from modules.decoding.lm_beam import word_error_rate
from modules.exits.policies import DECODER_KINDS, POLICIES, POLICY_MODES, build_policy

DEFAULT_GRIDS = {
    "entropy": (0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    "confidence": (0.6, 0.7, 0.8, 0.9, 0.95),
    "posterior": (0.5, 0.7, 0.9, 0.95, 0.99),
    "similarity": (0.5, 0.8, 0.9, 0.95, 0.99),
    "patience": (1, 2, 3),
}
"""Default thresholds per policy. Entropy (nats) and similarity extend the
published ranges (0.01-0.10 and 0.90-0.99) towards weaker models, whose
posteriors are flatter and whose layers differ more."""

POLICY_TIMING = ("chosen", "all")


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def _names(policies, decoder) -> list[str]:
    """Policy names from ``"auto"``, ``"none"`` (or None), ``"a,b"`` or a
    sequence."""
    if policies is None:
        return []
    if isinstance(policies, str):
        if policies == "auto":
            skip = "posterior" if decoder == "greedy" else None
            return [name for name in POLICIES if name != skip]
        if policies == "none":
            return []
        policies = [p.strip() for p in policies.split(",") if p.strip()]
    names = list(dict.fromkeys(policies))
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise BenchmarkError(
            f"policies={unknown}: unknown policy; choose among "
            f"{', '.join(POLICIES)}, or 'auto' / 'none'"
        )
    return names


def _grid(name, thresholds) -> tuple:
    """The grid of ``name``: its entry in ``thresholds``, else the default."""
    grid = thresholds.get(name, DEFAULT_GRIDS[name])
    if isinstance(grid, (int, float, str)):
        grid = (grid,)
    if not grid:
        raise BenchmarkError(f"policy_thresholds[{name!r}] is empty")
    return tuple(grid)


def resolve_policy_grid(policies, thresholds, mode, decoder) -> dict:
    """Validated ``{policy: thresholds}`` of the benchmark (empty: none).

    Every policy is built once with every threshold, so that a bad setting
    fails at start-up with the option named.

    Parameters
    ----------
    policies : str or sequence of str
        ``"auto"`` (every policy the decoder allows), ``"none"`` or None
        (no policy), or names (a sequence or a comma-separated string).
    thresholds : dict, optional
        ``{policy: [threshold, ...]}`` replacing :data:`DEFAULT_GRIDS`
        entries.
    mode : str
        ``"utterance"`` or ``"batch"``.
    decoder : str
        ``"greedy"`` or ``"beam"`` (the posterior policy needs ``"beam"``).

    Returns
    -------
    dict

    Raises
    ------
    BenchmarkError
        Naming the option (``policies``, ``policy_thresholds``,
        ``policy_mode``, ``policy_decoder``) and what is wrong with it.
    """
    if mode not in POLICY_MODES:
        raise BenchmarkError(f"policy_mode={mode!r}: choose one of {POLICY_MODES}")
    if decoder not in DECODER_KINDS:
        raise BenchmarkError(
            f"policy_decoder={decoder!r}: choose one of {DECODER_KINDS}"
        )
    thresholds = dict(thresholds or {})
    unknown = sorted(set(thresholds) - set(POLICIES))
    if unknown:
        raise BenchmarkError(
            f"policy_thresholds: unknown policies {unknown}; known: "
            f"{', '.join(POLICIES)}"
        )
    grids = {name: _grid(name, thresholds) for name in _names(policies, decoder)}
    for name, grid in grids.items():
        if POLICIES[name].needs_nbest and decoder == "greedy":
            raise BenchmarkError(
                f"policy_decoder='greedy': policy {name!r} needs the n-best "
                "hypotheses of a CTC beam search; set policy_decoder='beam' or "
                "leave it out of policies"
            )
        for threshold in grid:
            try:
                build_policy(name, threshold, mode, decoder)
            except ValueError as error:
                raise BenchmarkError(f"policy_thresholds[{name!r}]: {error}") from None
    return grids


def check_policy_options(opts) -> dict:
    """Validate the ``policy_*`` options of a :class:`benchmark.run.Options`
    and return its ``{policy: thresholds}`` grid (see
    :func:`resolve_policy_grid`)."""
    tolerance = opts.policy_tolerance
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        tolerance = -1
    if not tolerance >= 0:
        raise BenchmarkError(
            f"policy_tolerance={opts.policy_tolerance!r}: expected a number >= 0"
        )
    if opts.policy_timing not in POLICY_TIMING:
        raise BenchmarkError(
            f"policy_timing={opts.policy_timing!r}: choose one of {POLICY_TIMING}"
        )
    return resolve_policy_grid(
        opts.policies, opts.policy_thresholds, opts.policy_mode, opts.policy_decoder
    )


# --------------------------------------------------------------------------
# Points and their measurement
# --------------------------------------------------------------------------


@dataclass
class EvalSet(BatchedUtterances):
    """A split in memory: batches, reference words, audio duration.

    Attributes
    ----------
    name : str
        Manifest name.
    batches : list of benchmark.experiment.Batch
        The padded batches.
    """

    name: str
    batches: list

    @property
    def audio_s(self):
        """Unpadded audio duration in seconds."""
        return audio_seconds(self.batches)


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


def policy_points(opts, blank_index=0) -> list[PolicyPoint]:
    """One :class:`PolicyPoint` per policy and threshold of
    ``opts.policy_grid`` (``opts``: a :class:`benchmark.run.Options`)."""
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


def measure_point(model, variant, split, decode, progressbar=False) -> dict:
    """Greedy WER, exits and MACs of ``variant`` over ``split`` in one pass.

    Every batch runs once under the MAC counter; its log-posteriors are
    decoded for the WER, so WER, exits and MACs describe the same pass.

    Parameters
    ----------
    model : torch.nn.Module
        The early-exit model.
    variant : benchmark.variants.Variant
        A policy point's variant, or a static exit.
    split : EvalSet
        The batches.
    decode : callable
        ``decode(log_probs, rel_lens) -> list of word lists``.
    progressbar : bool
        Show a tqdm bar.

    Returns
    -------
    dict
        ``wer``, ``mean_exit``, ``mean_layers``, ``exit_counts``,
        ``macs_total``, ``macs_per_batch``, ``macs_per_audio_second`` and
        ``encoder_macs_per_audio_second``.
    """
    module = VariantModule(model, variant).eval()
    if isinstance(variant.run, PolicyVariant):
        variant.run.reset()
    hyps, macs, encoder = [], 0, 0
    desc = f"{variant.name} {split.name}"
    for batch in tqdm(split.batches, disable=not progressbar, desc=desc):
        log_probs, report = run_and_count(module, batch.wavs, batch.rel_lens, depth=3)
        hyps.extend(decode(log_probs, batch.rel_lens))
        macs, encoder = macs + report.total, encoder + encoder_macs(report, "model.")
    audio = split.audio_s
    return {
        "wer": word_error_rate(split.ids, hyps, split.references),
        **exit_statistics(variant, len(hyps)),
        "macs_total": macs,
        "macs_per_batch": macs / len(split.batches),
        "macs_per_audio_second": macs / audio,
        "encoder_macs_per_audio_second": encoder / audio,
    }


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
        The last exit's dev WER.
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


def timing_fields(measured: dict) -> dict:
    """What the timed passes of a variant or point measured.

    ``devices`` (per-device timing summaries), ``lm_weights``, ``wer_lm``
    and ``cpu_s`` / ``gpu_s``: the median time of a greedy pass over the
    test set (network + decoding), None when not timed on that device.
    """
    fields = {k: measured.get(k) for k in ("devices", "lm_weights", "wer_lm")}
    devices = measured.get("devices") or {}
    for device, prefix in DEVICE_KEYS.items():
        greedy = devices.get(device, {}).get("greedy")
        fields[f"{prefix}_s"] = greedy["total_s"]["median"] if greedy else None
    return fields


def relative_to(point: dict, reference: dict) -> dict:
    """MAC, encoder MAC and time savings and relative WER changes, in %.

    ``point`` and ``reference`` hold ``macs_per_audio_second``,
    ``encoder_macs_per_audio_second``, ``wer`` and, when measured,
    ``cpu_s``, ``gpu_s`` and ``wer_lm`` (None: not measured).
    """
    return {
        "mac_saving_pct": saving(
            point["macs_per_audio_second"], reference["macs_per_audio_second"]
        ),
        "encoder_mac_saving_pct": saving(
            point["encoder_macs_per_audio_second"],
            reference["encoder_macs_per_audio_second"],
        ),
        "time_saving_pct": saving(point.get("cpu_s"), reference.get("cpu_s")),
        "gpu_time_saving_pct": saving(point.get("gpu_s"), reference.get("gpu_s")),
        "wer_change_pct": change(point["wer"], reference["wer"]),
        "wer_lm_change_pct": change(point.get("wer_lm"), reference.get("wer_lm")),
    }


# --------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------


def sweep_policies(model, points, reference, dev, test, decode, tolerance, bar=False):
    """Measure every point on dev, choose per policy, measure all on test.

    Parameters
    ----------
    model : torch.nn.Module
        The early-exit model (on CPU).
    points : list of PolicyPoint
        The grid.
    reference : benchmark.variants.Variant
        The last exit, static.
    dev, test : EvalSet
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
        ``(reference_row, rows)``: the last exit's ``dev`` and ``test``
        measurements, and one row per point in grid order with ``policy``,
        ``threshold``, ``name``, ``dev``, ``test``, ``chosen`` and (chosen
        rows) ``meets_tolerance``.
    """
    ref = {"name": reference.name, "layer": reference.layer}
    ref["dev"] = measure_point(model, reference, dev, decode, bar)
    rows = []
    for point in points:
        row = {"policy": point.policy, "threshold": point.threshold}
        row["name"] = point.variant.name
        row["dev"] = measure_point(model, point.variant, dev, decode, bar)
        rows.append(row)
    for policy in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == policy]
        costs = [(r["dev"]["macs_per_audio_second"], r["dev"]["wer"]) for r in mine]
        index, meets = choose_operating_point(costs, ref["dev"]["wer"], tolerance)
        for i, row in enumerate(mine):
            row["chosen"] = i == index
        mine[index]["meets_tolerance"] = meets
    ref["test"] = measure_point(model, reference, test, decode, bar)
    for point, row in zip(points, rows):
        row["test"] = measure_point(model, point.variant, test, decode, bar)
    return ref, rows


def mark_results(reference, rows, static_rows) -> list[dict]:
    """Add the savings relative to the last exit and the Pareto flags.

    Every policy row gets ``relative`` (:func:`relative_to` its test
    measurement and the last exit's) and ``pareto``: whether its test
    ``(MACs per audio second, WER)`` is on the front of all points, the
    policies' and the static exits' together.

    Parameters
    ----------
    reference : dict
        The last exit, with its ``test`` measurement (and timing fields).
    rows : list of dict
        Policy rows of :func:`sweep_policies`, with ``test`` measured.
    static_rows : list of dict
        Benchmarked static exits (``name``, ``layer``, ``wer``,
        ``macs_per_audio_second``).

    Returns
    -------
    list of dict
        The static exits as points, each with its ``pareto`` flag.
    """
    keys = ("name", "layer", "wer", "macs_per_audio_second")
    static = [{k: r[k] for k in keys} for r in static_rows]
    for row in rows:
        row["relative"] = relative_to(row["test"], reference["test"])
    measured = [r["test"] for r in rows] + static
    front = pareto_front([(p["macs_per_audio_second"], p["wer"]) for p in measured])
    for item, flag in zip(rows + static, front):
        item["pareto"] = flag
    return static
