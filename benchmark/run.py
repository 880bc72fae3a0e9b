#!/usr/bin/env python3
"""Benchmark a trained experiment: WER, time and MACs of every variant.

    python -m benchmark.run EXP [--test_set test-clean] [--lm auto|PATH|none]
        [--devices auto|cpu|cuda|cpu,cuda] [--no_gpu] [--repeats 3]
        [--threads N] [--output DIR] ...

``EXP`` is a folder made by ``train.py`` (``hyperparams.yaml``, ``save/``,
``manifests/``, ``tokenizer/``). The best checkpoint (lowest validation WER)
is loaded and, for every *variant* of the model (by default every exit of an
early-exit model; exit ``k`` runs only the layers up to ``k``):

* MACs are counted on every test batch (mean per batch, as published, and
  per second of audio) and the parameters the variant uses are counted;
* the whole test set is decoded on CPU, and on GPU when there is one, without
  LM (greedy, as the test stage of ``train.py``) and with an n-gram LM
  (SpeechBrain's CTC beam search + KenLM, weights tuned on dev);
* every pass is timed after a warm-up, with a fixed thread count, under
  ``torch.inference_mode()``, with the device synchronised around each timed
  region; network and decoding times are kept apart; passes are repeated and
  summarised by their median (min and max kept);
* the LM beam search is cross-checked with pyctcdecode on the same
  log-probabilities and LM.

On a model with several exits, the dynamic exit policies of
:mod:`modules.exits.policies` are benchmarked too (``--policies none`` turns them
off): every ``(policy, threshold)`` of a grid runs the dynamic forward on
dev and on test (WER, exits, MACs counted on that forward); per policy the
threshold is chosen on dev (the cheapest within ``policy_tolerance`` of the
last exit's dev WER) and the chosen points are timed, with the LM, like the
exits (:mod:`benchmark.policy_sweep`).

Results go to ``EXP/benchmark/<test set>/`` (or ``--output``):
``report.md``, ``results.json``, ``results.csv``, ``policies.csv`` and PNG
plots. From Python,
:func:`run_benchmark` does the same (``train.py`` calls it at the end of
training when asked).

This module holds the options, the orchestration and the command line; the
pieces live in :mod:`benchmark.experiment` (experiment folder and data),
:mod:`benchmark.variants` (variants, MACs and parameters),
:mod:`benchmark.passes` (timed passes), :mod:`modules.decoding.lm_beam` (greedy and
LM decoding), :mod:`benchmark.policy_sweep` (exit policies) and
:mod:`benchmark.report` (outputs).

Adding a variant (e.g. a layer-removal setting): write a function
``model, wavs, rel_lens -> log_probs [B, T, V]`` and register a builder in
:data:`benchmark.variants.VARIANT_BUILDERS` that returns
:class:`benchmark.variants.Variant` objects; MACs, parameters, timing and WER
are then measured for it like for the exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from benchmark.experiment import (
    BatchedUtterances,
    BenchmarkError,
    Experiment,
    audio_seconds,
    load_experiment,
    load_split,
)
from benchmark.passes import put_model_on, time_on_device
from benchmark.policy_sweep import (
    EvalSet,
    check_policy_options,
    mark_results,
    policy_points,
    sweep_policies,
    timing_fields,
)
from benchmark.report import write_outputs
from benchmark.timing import Stopwatch, machine_facts, set_threads
from benchmark.variants import (
    VARIANT_BUILDERS,
    Variant,
    build_variants,
    exit_variants,
    measure_cost,
)
from modules.data.tokenizer import ctc_labels
from modules.decoding import lm_beam as decoding
from modules.decoding.greedy import greedy_words

logger = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


@dataclass
class Options:
    """Everything :func:`run_benchmark` can be told (CLI flags of the same
    names).

    Attributes
    ----------
    test_set, dev_set : str, optional
        Manifest names; default: the YAML's first test and dev splits.
    lm : str, optional
        ``"auto"`` (build from the corpus LM text), a path, or ``"none"``.
    lm_order : int
        Order of a built LM.
    lm_cache : str, optional
        Folder of a built LM (default: ``<data_folder>/lm`` for the built-in
        corpus, else ``EXP/lm``).
    devices : str
        ``"auto"`` (CPU, plus GPU when present), or a comma-separated list of
        ``cpu``/``cuda``; naming ``cuda`` without a GPU is an error.
    repeats : int
        Timed passes without LM per variant and device.
    lm_repeats : int
        Timed passes with LM per variant and device (beam search is slow).
    warmup_batches : int
        Untimed batches (first, middle, last) before each timing.
    threads : int, optional
        CPU threads (``torch.set_num_threads``); default: torch's.
    beam_size : int
        Beam width of the LM searches.
    alphas, betas : sequence of float
        Grid for the LM weight and word insertion bonus.
    tune : str
        ``"each"`` (tune every variant on dev), ``"last"`` (tune the last
        variant, apply to all) or ``"none"`` (use ``alpha``/``beta``).
    alpha, beta : float
        Weights used when ``tune="none"``.
    tune_max_utts : int, optional
        Dev utterances used for tuning (evenly spread; None: all).
    pyctcdecode : str
        Cross-check with pyctcdecode on ``"each"``/``"last"``/``"none"``
        variant(s).
    variants : sequence of str
        Keys of :data:`VARIANT_BUILDERS`.
    policies : str or sequence of str
        Dynamic exit policies (:mod:`modules.exits.policies`) run on an early-exit
        model: ``"auto"`` (every policy ``policy_decoder`` allows),
        ``"none"`` (off), or names.
    policy_thresholds : dict, optional
        ``{policy: [threshold, ...]}`` replacing the default grids of
        :data:`benchmark.policy_sweep.DEFAULT_GRIDS`.
    policy_mode : str
        ``"utterance"`` (each utterance exits on its own) or ``"batch"``.
    policy_decoder : str
        ``"greedy"``, or ``"beam"``: the posterior policy's n-best CTC beam
        search (no LM); the posterior policy needs it.
    policy_tolerance : float
        A threshold is chosen on dev when its dev WER is at most
        ``(1 + policy_tolerance)`` times the last exit's.
    policy_timing : str
        Time the dev-chosen thresholds only (``"chosen"``) or every
        threshold (``"all"``, greedy passes; LM passes stay chosen-only).
    policy_lm : bool
        LM passes (WER+LM, CPU+LM time) for the dev-chosen thresholds.
    batch_size : int, optional
        Test batch size (default: the YAML's ``test_dataloader_opts``).
    max_utts : int, optional
        Use only this many test utterances (smoke tests).
    output : str, optional
        Output folder (default ``EXP/benchmark/<test set>``).
    progressbar : bool
        Show tqdm progress bars.
    """

    test_set: str | None = None
    dev_set: str | None = None
    lm: str | None = "auto"
    lm_order: int = 4
    lm_cache: str | None = None
    devices: str = "auto"
    repeats: int = 3
    lm_repeats: int = 1
    warmup_batches: int = 3
    threads: int | None = None
    beam_size: int = 100
    alphas: tuple = decoding.DEFAULT_ALPHAS
    betas: tuple = decoding.DEFAULT_BETAS
    tune: str = "each"
    alpha: float = 0.5
    beta: float = 1.0
    tune_max_utts: int | None = 200
    pyctcdecode: str = "each"
    variants: tuple = ("exits",)
    policies: str | tuple = "auto"
    policy_thresholds: dict | None = None
    policy_mode: str = "utterance"
    policy_decoder: str = "greedy"
    policy_tolerance: float = 0.10
    policy_timing: str = "chosen"
    policy_lm: bool = True
    policy_grid: dict = field(init=False, default_factory=dict)
    batch_size: int | None = None
    max_utts: int | None = None
    output: str | None = None
    progressbar: bool = True

    def __post_init__(self):
        """Reject unknown choices, variants and policy settings early
        (``BenchmarkError``); resolve ``policy_grid``."""
        for name in ("tune", "pyctcdecode"):
            if getattr(self, name) not in ("each", "last", "none"):
                raise BenchmarkError(f"{name} must be each, last or none")
        if self.repeats < 1 or self.lm_repeats < 1:
            raise BenchmarkError("repeats and lm_repeats must be >= 1")
        unknown = set(self.variants) - set(VARIANT_BUILDERS)
        if unknown:
            raise BenchmarkError(
                f"unknown variants {sorted(unknown)}; known: {sorted(VARIANT_BUILDERS)}"
            )
        self.policy_grid = check_policy_options(self)


# --------------------------------------------------------------------------
# Shared state
# --------------------------------------------------------------------------


@dataclass
class Context(BatchedUtterances):
    """What every variant's benchmark shares.

    Attributes
    ----------
    exp : Experiment
        The loaded experiment.
    opts : Options
        The benchmark's options.
    devices : list of str
        Devices to time on (first: the one whose WERs are reported).
    batches : list of benchmark.experiment.Batch
        Test batches, in memory.
    audio_s : float
        Unpadded test audio duration.
    test_set, dev_set : str
        Manifest names (``dev_set`` None when the LM is not tuned).
    dev_batches : list of benchmark.experiment.Batch, optional
        Dev batches for LM weight tuning.
    lm : modules.decoding.lm_beam.LMInfo, optional
        The LM (None: no LM passes).
    decoder, pyctcdecode : modules.decoding.lm_beam.LMDecoder, optional
        SpeechBrain's LM searcher and, once needed, pyctcdecode's.
    fixed_weights : dict, optional
        LM weights applied to every variant (``tune`` ``"none"``/``"last"``).
    policy_dev : benchmark.policy_sweep.EvalSet, optional
        The dev split the policies' thresholds are chosen on (None: no
        policy benchmark).
    notes : list of str
        Notes for the report (skipped passes, ...).
    """

    exp: Experiment
    opts: Options
    devices: list
    batches: list
    audio_s: float
    test_set: str
    dev_set: str | None = None
    dev_batches: list | None = None
    lm: decoding.LMInfo | None = None
    decoder: decoding.LMDecoder | None = None
    pyctcdecode: decoding.LMDecoder | None = None
    fixed_weights: dict | None = None
    policy_dev: EvalSet | None = None
    notes: list = field(default_factory=list)

    def wer(self, hypotheses) -> float:
        """Test-set WER of ``hypotheses`` (batch order)."""
        return decoding.word_error_rate(self.ids, hypotheses, self.references)

    def greedy(self, log_probs, rel_lens):
        """Greedy decoding as in the test stage of ``train.py``."""
        blank = self.exp.hparams.get("blank_index", 0)
        return greedy_words(log_probs, rel_lens, self.exp.tokenizer, blank)


# --------------------------------------------------------------------------
# One variant
# --------------------------------------------------------------------------


def lm_weights_for(ctx: Context, variant: Variant) -> dict:
    """Set the decoder's (alpha, beta) for ``variant``: fixed, or tuned on
    the dev log-probabilities of this variant (untimed CPU pass)."""
    if ctx.fixed_weights is not None:
        weights = ctx.fixed_weights
        ctx.decoder.set_weights(weights["alpha"], weights["beta"])
        return weights
    model = ctx.exp.model
    put_model_on(model, "cpu")
    dev = []
    with torch.inference_mode():
        for batch in ctx.dev_batches:
            dev.append((variant(model, batch.wavs, batch.rel_lens), batch.rel_lens))
    ids = [i for b in ctx.dev_batches for i in b.ids]
    refs = [w for b in ctx.dev_batches for w in b.words]
    tuned = decoding.tune_lm_weights(
        ctx.decoder,
        dev,
        ids,
        refs,
        ctx.opts.alphas,
        ctx.opts.betas,
        progressbar=ctx.opts.progressbar,
    )
    return {
        **tuned,
        "tuned_on": ctx.dev_set,
        "tuned_variant": variant.name,
        "dev_utts": len(ids),
    }


def compare_pyctcdecode(ctx: Context, kept) -> dict:
    """pyctcdecode on the log-probs and LM of a SpeechBrain LM pass: WERs,
    decoding times and their ratio (pyctcdecode / SpeechBrain)."""
    log_probs, sb_hyps, sb_seconds = kept
    sb = ctx.decoder
    if ctx.pyctcdecode is None:  # loading the LM once is enough
        ctx.pyctcdecode = decoding.PyctcdecodeDecoder(
            sb.labels,
            sb.lm_path,
            sb.alpha,
            sb.beta,
            sb.beam_size,
            sb.blank_index,
            unigrams=sb.unigrams,
        )
    other = ctx.pyctcdecode
    other.set_weights(sb.alpha, sb.beta)
    watch = Stopwatch("cpu")
    with watch:
        hyps = decoding.decode_all(
            other, log_probs, ctx.opts.progressbar, "pyctcdecode LM"
        )
    same = sum(a == b for a, b in zip(hyps, sb_hyps)) / max(len(hyps), 1)
    return {
        "wer_lm": ctx.wer(hyps),
        "speechbrain_wer_lm": ctx.wer(sb_hyps),
        "decode_s": watch.seconds,
        "speechbrain_decode_s": sb_seconds,
        "time_ratio": watch.seconds / sb_seconds if sb_seconds > 0 else None,
        "same_hypothesis_fraction": same,
    }


def train_wer(exp: Experiment, test_set: str, variant: Variant):
    """The variant's WER in ``wer_summary.json`` (static exits), if any."""
    path = exp.folder / "wer_summary.json"
    if variant.exit_index is None or not path.is_file():
        return None
    wers = json.loads(path.read_text()).get(test_set, {}).get("wer", [])
    return wers[variant.exit_index - 1] if len(wers) >= variant.exit_index else None


def benchmark_variant(ctx: Context, variant: Variant, compare: bool) -> dict:
    """Cost, per-device timing and WER (with and without LM) of a variant."""
    row = {"name": variant.name, "exit": variant.exit_index, "layer": variant.layer}
    row.update(
        measure_cost(
            ctx.exp.model, variant, ctx.batches, ctx.audio_s, ctx.opts.progressbar
        )
    )
    if ctx.decoder is not None:
        row["lm_weights"] = lm_weights_for(ctx, variant)
    row["devices"] = {}
    for device in ctx.devices:
        keep = compare and device == ctx.devices[0]
        row["devices"][device], kept = time_on_device(ctx, variant, device, keep)
        if kept:
            row["pyctcdecode"] = compare_pyctcdecode(ctx, kept)
    first = row["devices"][ctx.devices[0]]
    row["wer"], row["wer_lm"] = first["wer"], first.get("wer_lm")
    row["wer_train"] = train_wer(ctx.exp, ctx.test_set, variant)
    return row


# --------------------------------------------------------------------------
# Whole benchmark
# --------------------------------------------------------------------------


def resolve_devices(devices: str = "auto"):
    """Devices to time on, and notes on skipped ones.

    Raises
    ------
    BenchmarkError
        If a GPU is named but torch sees none.
    """
    has_gpu = torch.cuda.is_available()
    if devices == "auto":
        if has_gpu:
            return ["cpu", "cuda"], []
        return ["cpu"], ["GPU passes skipped: torch sees no CUDA device."]
    names = [d.strip() for d in devices.split(",") if d.strip()]
    bad = [d for d in names if d not in ("cpu", "cuda")]
    if bad or not names:
        raise BenchmarkError(f"--devices {devices!r}: use auto or cpu,cuda")
    if "cuda" in names and not has_gpu:
        raise BenchmarkError(
            f"GPU timing was requested (--devices {devices}) but torch sees no "
            f"CUDA device (torch {torch.__version__}, CUDA build: "
            f"{torch.version.cuda or 'none'}). Use --no_gpu or --devices cpu."
        )
    notes = [] if "cuda" in names else ["GPU passes skipped: not requested."]
    return list(dict.fromkeys(names)), notes


def default_lm_cache(exp: Experiment, lm) -> Path:
    """Where a built LM is kept: ``<data_folder>/lm`` for the built-in
    synthetic corpus (shared by every experiment on it), else ``EXP/lm`` (a
    real LibriSpeech folder is never written to)."""
    from modules.data.synthetic import MARKER_NAME

    if str(lm) != "auto":
        return exp.folder / "lm"
    text = decoding.find_lm_text(exp.hparams.get("data_folder", ""), [PROJECT_ROOT])
    if (text.parent / MARKER_NAME).is_file() and os.access(text.parent, os.W_OK):
        return text.parent / "lm"
    return exp.folder / "lm"


def policy_dev_split(exp: Experiment, opts: Options, test_set: str, notes: list):
    """Name of the dev split the policies' thresholds are chosen on, or None
    (and a note) when no policy runs.

    Raises
    ------
    BenchmarkError
        If the dev split is the test set (thresholds are never tuned on it).
    """
    if not opts.policy_grid:
        notes.append("Dynamic exit policies skipped: --policies none.")
        return None
    if getattr(exp.model, "num_exits", 1) < 2:
        notes.append("Dynamic exit policies skipped: the model has a single exit.")
        return None
    dev_set = opts.dev_set or exp.hparams["dev_splits"][0]
    if dev_set == test_set:
        raise BenchmarkError(
            f"dev_set={dev_set!r} is the test set: the policies' thresholds "
            "must be chosen on another split (or use --policies none)"
        )
    return dev_set


def make_context(exp: Experiment, opts: Options, devices: list) -> Context:
    """Load the test (and dev) batches and the LM decoder."""
    hp = exp.hparams
    test_set = opts.test_set or hp["test_splits"][0]
    batches = load_split(exp, test_set, opts.batch_size, opts.max_utts)
    ctx = Context(
        exp,
        opts,
        devices,
        batches,
        audio_seconds(batches, hp.get("sample_rate", 16000)),
        test_set,
    )
    policy_dev = policy_dev_split(exp, opts, test_set, ctx.notes)
    add_lm_decoder(ctx)
    if policy_dev is not None:
        dev_batches = load_split(exp, policy_dev, opts.batch_size)
        ctx.policy_dev = EvalSet(policy_dev, dev_batches)
    return ctx


def add_lm_decoder(ctx: Context) -> None:
    """Resolve the LM and set up its decoder and dev batches in ``ctx``."""
    exp, opts, hp = ctx.exp, ctx.opts, ctx.exp.hparams
    ctx.lm = decoding.resolve_lm(
        opts.lm,
        hp.get("data_folder", ""),
        opts.lm_cache or default_lm_cache(exp, opts.lm),
        opts.lm_order,
        search_roots=[PROJECT_ROOT],
    )
    if ctx.lm is None:
        ctx.notes.append("LM passes skipped: --lm none.")
        return
    labels = ctc_labels(exp.tokenizer)
    ctx.decoder = decoding.SpeechBrainLMDecoder(
        labels,
        ctx.lm.path,
        opts.alpha,
        opts.beta,
        opts.beam_size,
        hp.get("blank_index", 0),
    )
    if ctx.decoder.unigrams is None:
        ctx.notes.append("LM vocabulary unknown (binary without ARPA).")
    if opts.tune == "none":
        ctx.fixed_weights = {"alpha": opts.alpha, "beta": opts.beta, "tuned_on": None}
    else:
        ctx.dev_set = opts.dev_set or hp["dev_splits"][0]
        ctx.dev_batches = load_split(
            exp, ctx.dev_set, opts.batch_size, opts.tune_max_utts
        )


EFFICIENCY_KEYS = (
    "num_layers", "keep_layers", "downsampling_method", "downsampling_factor",
    "ctc_upsampling",
)  # fmt: skip
"""YAML keys recorded in ``results.json`` (``efficiency``) for the sweeps'
checks (:func:`benchmark.aggregate.baseline_checks`)."""


def describe(ctx: Context, threads: int) -> dict:
    """Everything but the per-variant rows of ``results.json``."""
    hp, opts = ctx.exp.hparams, ctx.opts
    lm = None
    if ctx.lm is not None:
        unigrams = ctx.decoder.unigrams
        lm = {
            **asdict(ctx.lm),
            "vocabulary": len(unigrams) if unigrams else None,
            "decoder": "speechbrain.decoders.ctc.CTCBeamSearcher + end score",
            "beam_size": opts.beam_size,
        }
    return {
        "experiment": str(ctx.exp.folder),
        "experiment_name": hp.get("experiment_name", ctx.exp.folder.name),
        "checkpoint": ctx.exp.checkpoint,
        "test_set": ctx.test_set,
        "dev_set": ctx.dev_set,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "data": {
            "num_utts": len(ctx.ids),
            "num_batches": len(ctx.batches),
            "batch_size": max(len(b.ids) for b in ctx.batches),
            "audio_seconds": ctx.audio_s,
        },
        "settings": {
            **asdict(opts),
            "threads": threads,
            "devices": ctx.devices,
            "inference_mode": True,
        },
        "machine": machine_facts(),
        "efficiency": {key: hp.get(key) for key in EFFICIENCY_KEYS},
        "lm": lm,
        "notes": ctx.notes,
    }


def benchmark_variants(ctx: Context, variants: list) -> list[dict]:
    """Benchmark every variant (tuning once first if ``tune="last"``)."""
    opts = ctx.opts
    if ctx.decoder is not None and opts.tune == "last":
        ctx.fixed_weights = lm_weights_for(ctx, variants[-1])
    rows = []
    for index, variant in enumerate(variants):
        last = index == len(variants) - 1
        compare = opts.pyctcdecode == "each" or (opts.pyctcdecode == "last" and last)
        rows.append(benchmark_variant(ctx, variant, compare and ctx.lm is not None))
    return rows


def time_point(ctx: Context, variant: Variant, with_lm: bool) -> dict:
    """Timed passes of a policy point on every device (:func:`benchmark.
    policy_sweep.timing_fields`); LM passes, with weights for this variant,
    only if ``with_lm`` and the LM is on."""
    measured = {}
    timed = ctx
    if with_lm and ctx.decoder is not None:
        measured["lm_weights"] = lm_weights_for(ctx, variant)
    else:
        timed = replace(ctx, decoder=None)
    measured["devices"] = {
        device: time_on_device(timed, variant, device, False)[0]
        for device in ctx.devices
    }
    measured["wer_lm"] = measured["devices"][ctx.devices[0]].get("wer_lm")
    return timing_fields(measured)


def benchmark_policies(ctx: Context, rows: list) -> dict | None:
    """Dynamic exit policies: thresholds chosen on dev, measured on test.

    Every ``(policy, threshold)`` is run on dev and on test (WER, exits,
    MACs counted on the dynamic forward); the dev-chosen points (or, with
    ``policy_timing="all"``, every point) are timed like the exits, with
    the LM for the chosen ones. The last exit is the reference: its row in
    ``rows`` when the exits were benchmarked, else it is benchmarked here.

    Returns
    -------
    dict or None
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
    static = [r for r in rows if r["exit"] is not None]
    known = [r for r in static if r["exit"] == last.exit_index]
    if not known:
        static.append(benchmark_variant(ctx, last, compare=False))
    reference["test"].update(timing_fields((known or static)[-1]))
    for point, row in zip(points, policy_rows):
        timed = row["chosen"] or opts.policy_timing == "all"
        with_lm = row["chosen"] and opts.policy_lm
        measured = time_point(ctx, point.variant, with_lm) if timed else None
        row["test"].update(measured or timing_fields({}))
    return {
        "dev_set": ctx.policy_dev.name,
        "dev_utts": len(ctx.policy_dev.ids),
        "reference": reference,
        "rows": policy_rows,
        "static": mark_results(reference, policy_rows, static),
    }


def run_benchmark(experiment_folder, **options) -> dict:
    """Benchmark a trained experiment folder; see the module docstring.

    Parameters
    ----------
    experiment_folder : str or Path
        Output folder of ``train.py``.
    **options
        Fields of :class:`Options`.

    Returns
    -------
    dict
        The content of ``results.json`` (also written, with ``report.md``,
        ``results.csv`` and the plots, to ``results["output"]``).
    """
    opts = Options(**options)
    devices, device_notes = resolve_devices(opts.devices)
    previous_threads = torch.get_num_threads()
    threads = set_threads(opts.threads)
    try:
        exp = load_experiment(experiment_folder)
        ctx = make_context(exp, opts, devices)
        ctx.notes.extend(device_notes)
        rows = benchmark_variants(ctx, build_variants(exp.model, opts.variants))
        policies = benchmark_policies(ctx, rows)
        results = {**describe(ctx, threads), "variants": rows, "policies": policies}
    finally:
        torch.set_num_threads(previous_threads)
    output = Path(opts.output or exp.folder / "benchmark" / ctx.test_set)
    results["output"] = str(output)
    write_outputs(results, output)
    return results


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _floats(text: str) -> tuple:
    """``"0.3,0.6"`` -> ``(0.3, 0.6)`` (a CLI grid)."""
    return tuple(float(x) for x in text.split(",") if x.strip())


def _policy_grid(text: str) -> tuple:
    """``"entropy=0.05,0.1"`` -> ``("entropy", (0.05, 0.1))``."""
    name, sep, grid = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected POLICY=T1,T2,...")
    try:
        return name.strip(), _floats(grid)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """The ``--policy*`` options (see :class:`Options`)."""
    p.add_argument(
        "--policies",
        default="auto",
        help="dynamic exit policies: auto | none | comma-separated names "
        "(entropy, confidence, posterior, similarity, patience)",
    )
    p.add_argument(
        "--policy_thresholds",
        type=_policy_grid,
        action="append",
        metavar="POLICY=T1,T2,...",
        help="threshold grid of one policy (repeatable; default grids otherwise)",
    )
    p.add_argument("--policy_mode", default="utterance", help="utterance | batch")
    p.add_argument(
        "--policy_decoder",
        default="greedy",
        help="greedy | beam (n-best CTC beam search; the posterior policy needs it)",
    )
    p.add_argument(
        "--policy_tolerance",
        type=float,
        default=0.10,
        help="dev choice: cheapest threshold with WER <= (1 + tol) x last exit's",
    )
    p.add_argument(
        "--policy_timing",
        default="chosen",
        help="chosen | all: which thresholds get timed passes",
    )
    p.add_argument(
        "--no_policy_lm",
        dest="policy_lm",
        action="store_false",
        help="no LM passes for the chosen policy thresholds",
    )


def parse_args(argv) -> argparse.Namespace:
    """Command-line options (see :class:`Options` for their meaning)."""
    p = argparse.ArgumentParser(
        prog="python -m benchmark.run",
        description="Benchmark a trained experiment folder (WER, time, MACs).",
    )
    p.add_argument("experiment_folder", help="output folder of train.py")
    p.add_argument("--test_set", help="test split (default: the first in the YAML)")
    p.add_argument("--dev_set", help="split for LM weight tuning (default: dev)")
    p.add_argument("--lm", default="auto", help="auto | PATH (ARPA/binary) | none")
    p.add_argument("--lm_order", type=int, default=4, help="n-gram order (auto)")
    p.add_argument("--lm_cache", help="folder for a built LM")
    p.add_argument("--devices", default="auto", help="auto | cpu | cuda | cpu,cuda")
    p.add_argument("--no_gpu", action="store_true", help="same as --devices cpu")
    p.add_argument("--repeats", type=int, default=3, help="timed greedy passes")
    p.add_argument("--lm_repeats", type=int, default=1, help="timed LM passes")
    p.add_argument("--warmup_batches", type=int, default=3, help="untimed batches")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    p.add_argument("--beam_size", type=int, default=100, help="LM beam size")
    p.add_argument(
        "--alphas", type=_floats, default=decoding.DEFAULT_ALPHAS, help="LM weights"
    )
    p.add_argument(
        "--betas", type=_floats, default=decoding.DEFAULT_BETAS, help="word bonuses"
    )
    p.add_argument(
        "--tune",
        choices=("each", "last", "none"),
        default="each",
        help="tune (alpha, beta) on dev per variant, once on the last, or not",
    )
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight (no tuning)")
    p.add_argument("--beta", type=float, default=1.0, help="word bonus (no tuning)")
    p.add_argument("--tune_max_utts", type=int, default=200, help="dev utterances")
    p.add_argument(
        "--pyctcdecode",
        choices=("each", "last", "none"),
        default="each",
        help="variants cross-checked with pyctcdecode",
    )
    p.add_argument(
        "--variants",
        type=lambda t: tuple(t.split(",")),
        default=("exits",),
        help="comma-separated builders of benchmark.variants.VARIANT_BUILDERS",
    )
    add_policy_args(p)
    p.add_argument("--batch_size", type=int, help="test batch size")
    p.add_argument("--max_utts", type=int, help="use only the first N utterances")
    p.add_argument("--output", help="report folder (default EXP/benchmark/<set>)")
    p.add_argument("--no_progressbar", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the benchmark from the command line; print the report."""
    args = vars(parse_args(sys.argv[1:] if argv is None else argv))
    if args.pop("no_gpu"):
        args["devices"] = "cpu"
    args["progressbar"] = not args.pop("no_progressbar")
    args["policy_thresholds"] = dict(args["policy_thresholds"] or ())
    folder = args.pop("experiment_folder")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        results = run_benchmark(folder, **args)
    except (BenchmarkError, decoding.LMError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((Path(results["output"]) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
