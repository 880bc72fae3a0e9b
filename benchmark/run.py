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
  (``lm_decoder``: flashlight-text's lexicon decoder, pyctcdecode or
  SpeechBrain's CTC beam search, + KenLM; weights tuned on dev);
* every pass is timed after a warm-up, with a fixed thread count, under
  ``torch.inference_mode()``, with the device synchronised around each timed
  region; network and decoding times are kept apart; passes are repeated and
  summarised by their median (min and max kept);
* the other LM back ends (``cross_check_decoders``) decode the same
  log-probabilities with the same LM, each with its own tuned weights, in
  alternated timed rounds (:func:`benchmark.variant_stage.compare_decoders`).

With ``--quantization METHOD[,METHOD...]`` (a bare ``--quantization``: the
default method), each post-training quantization method adds a variant
running an int8 copy of the model, for the reference exit (``--quantization_exits
each``: every exit): WER, WER+LM, CPU time alternated with the fp32 exit, model
size and the fraction of MACs in int8 modules
(:mod:`benchmark.quantized_variants`); a quantization-aware experiment is
exported the same way.

On a model with several exits, the dynamic exit policies of
:mod:`modules.exits.policies` are benchmarked too (``--policies none`` turns them
off): every ``(policy, threshold)`` of a grid runs the dynamic forward on
dev and on test (WER, exits, MACs counted on that forward); per policy the
threshold is chosen on dev (the cheapest within ``policy_tolerance`` of the
reference exit's dev WER) and the chosen points are timed, with the LM,
alternately with the reference exit (:mod:`benchmark.policy_sweep`,
:mod:`benchmark.paired_timing`). The reference exit is the deepest trained
one: the last exit, or exit K of ``train_exits: K`` (the exits above it were
never trained); ``tune: last`` and ``cross_check: last`` use it too.

An early-exit attention encoder-decoder (AED) gets, besides its exits' CTC
rows (greedy CTC and CTC + LM), every exit's greedy attention decoding and
joint CTC/attention beam search (encoder and decoding timed apart, decoder
MACs counted on the real decoding pass) and dynamic exits decided from the
CTC heads, each exit decoding with its own decoder, in place of the CTC
policies (:mod:`benchmark.aed_stage`, report: :mod:`benchmark.aed_report`).

When the experiment holds the results of the long-form test stage
(``long_form/<split>/<mode>/summary.json``), the report gets a "Long-form"
section: their WERs, times and memory, with the MACs per audio second of
the windowed and the segmented pass counted here
(:mod:`benchmark.long_form_report`).

Results go to ``EXP/benchmark/<test set>/`` (or ``--output``):
``report.md``, ``results.json``, ``results.csv``, ``policies.csv`` and PNG
plots. From Python,
:func:`run_benchmark` does the same (``train.py`` calls it at the end of
training when asked).

This module holds the orchestration and the entry point; the pieces live in
:mod:`benchmark.options` (options and defaults), :mod:`benchmark.cli`
(command line), :mod:`benchmark.context` (what the stages share),
:mod:`benchmark.experiment` (experiment folder and data),
:mod:`benchmark.lm_setup` (the LM), :mod:`benchmark.variant_stage` and
:mod:`benchmark.variants` (variants, MACs and parameters),
:mod:`benchmark.passes` (timed passes), :mod:`benchmark.policy_stage` and
:mod:`benchmark.policy_sweep` (exit policies), :mod:`benchmark.results` and
:mod:`benchmark.policy_results` (the typed rows of the results) and
:mod:`benchmark.report` (outputs).

Adding a variant (e.g. a layer-removal setting): write a function
``model, wavs, rel_lens -> log_probs [B, T, V]`` and register a builder in
:data:`benchmark.variants.VARIANT_BUILDERS` that returns
:class:`benchmark.variants.Variant` objects; MACs, parameters, timing and WER
are then measured for it like for the exits.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmark.aed_report import write_aed_outputs
from benchmark.aed_searches import is_aed
from benchmark.aed_stage import benchmark_aed
from benchmark.cli import option_mapping, parse_args
from benchmark.context import BenchmarkContext, build_context
from benchmark.devices import resolve_devices
from benchmark.errors import BenchmarkError
from benchmark.experiment import load_experiment, read_plain_hparams
from benchmark.long_form_report import long_form_results
from benchmark.options import BenchmarkOptions
from benchmark.policy_stage import benchmark_policies
from benchmark.quantized_variants import (
    fix_quantized_weights,
    quantization_notes,
    quantized_variants,
)
from benchmark.report import write_outputs
from benchmark.splits import benchmark_splits, check_dev_is_not_test
from benchmark.timing import machine_facts, set_threads
from benchmark.variant_stage import benchmark_variants
from benchmark.variants import build_variants
from modules.decoding.lm_decoders import DECODER_TITLES
from modules.decoding.lm_files import LMError

logger = logging.getLogger(__name__)

EFFICIENCY_KEYS = (
    "num_layers", "keep_layers", "downsampling_method", "downsampling_factor",
    "ctc_upsampling", "weight_quantization",
)  # fmt: skip
"""YAML keys recorded in ``results.json`` (``efficiency``) for the sweeps'
checks (:func:`benchmark.aggregate.baseline_checks`)."""


def describe_lm(ctx: BenchmarkContext) -> dict | None:
    """The ``lm`` entry of ``results.json`` (None: no LM)."""
    if ctx.lm is None:
        return None
    unigrams = ctx.lm.decoder.unigrams
    return {
        **asdict(ctx.lm.info),
        "vocabulary": len(unigrams) if unigrams else None,
        "decoder": DECODER_TITLES[ctx.lm.reported],
        "cross_checks": list(ctx.lm.decoders)[1:],
        "beam_size": ctx.opts.beam_size,
    }


def describe(ctx: BenchmarkContext, threads: int) -> dict:
    """Everything but the per-variant rows of ``results.json``."""
    hp = ctx.exp.hparams
    return {
        "experiment": str(ctx.exp.folder),
        "experiment_name": hp.get("experiment_name", ctx.exp.folder.name),
        "checkpoint": ctx.exp.checkpoint,
        "test_set": ctx.test_set,
        "dev_set": ctx.dev_set,
        "reference_exit": ctx.exp.reference_exit,
        "train_exits": hp.get("train_exits"),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "data": {
            "num_utts": len(ctx.ids),
            "num_batches": len(ctx.batches),
            "batch_size": max(len(b.ids) for b in ctx.batches),
            "audio_seconds": ctx.audio_s,
        },
        "settings": {
            **ctx.opts.settings(),
            "threads": threads,
            "devices": ctx.devices,
            "inference_mode": True,
        },
        "machine": machine_facts(),
        "efficiency": {key: hp.get(key) for key in EFFICIENCY_KEYS},
        "lm": describe_lm(ctx),
        "notes": list(ctx.notes),
    }


def check_splits_before_loading(experiment_folder, opts) -> None:
    """Refuse a dev split equal to the test set (LM weights tuned on the
    split they are reported on) from the saved YAML's split names, before
    any model is loaded (:func:`benchmark.splits.check_dev_is_not_test`)."""
    plain = read_plain_hparams(experiment_folder)
    test_set, dev_set = benchmark_splits(opts, plain)
    check_dev_is_not_test(opts, dev_set, test_set)


def run_benchmark(experiment_folder, **options) -> dict:
    """Benchmark a trained experiment folder; see the module docstring.

    Parameters
    ----------
    experiment_folder : str or Path
        Output folder of ``train.py``.
    **options
        Fields of :class:`benchmark.options.BenchmarkOptions`.

    Returns
    -------
    dict
        The results: the content of ``results.json``, its ``variants``
        (:class:`benchmark.results.VariantResult`) and ``policies``
        (:class:`benchmark.policy_results.PolicySweepResult`) as typed rows
        (written, with ``report.md``, ``results.csv`` and the plots, to
        ``results["output"]``); for an AED, also ``aed``
        (:class:`benchmark.aed_results.AEDResults`), its ``policies`` being
        its dynamic exits (:mod:`benchmark.aed_stage`).
    """
    opts = BenchmarkOptions.from_mapping(options)
    check_splits_before_loading(experiment_folder, opts)
    devices, device_notes = resolve_devices(opts.devices)
    previous_threads = torch.get_num_threads()
    threads = set_threads(opts.threads)
    try:
        exp = load_experiment(experiment_folder)
        notes = fix_quantized_weights(exp) + quantization_notes(opts, devices)
        variants = build_variants(exp.model, opts.variants)
        variants += quantized_variants(exp, opts)
        ctx = build_context(exp, opts, devices, device_notes, variants)
        rows = benchmark_variants(ctx, variants)
        if is_aed(exp.model):
            measured = benchmark_aed(ctx, rows)
        else:
            measured = {"variants": rows, "policies": benchmark_policies(ctx, rows)}
        notes += measured.pop("notes", [])
        long_form = long_form_results(exp, notes)
        results = {**describe(ctx, threads), **measured, **long_form}
        results["notes"] += notes
    finally:
        torch.set_num_threads(previous_threads)
    output = Path(opts.output or exp.folder / "benchmark" / ctx.test_set)
    results["output"] = str(output)
    (write_aed_outputs if "aed" in results else write_outputs)(results, output)
    return results


def main(argv=None) -> int:
    """Run the benchmark from the command line; print the report."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        results = run_benchmark(args.experiment_folder, **option_mapping(args))
    except (BenchmarkError, LMError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((Path(results["output"]) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
