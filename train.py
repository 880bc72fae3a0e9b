#!/usr/bin/env python3
"""Train and test a model described by a YAML: CTC (plain or early-exit), or
an early-exit attention encoder-decoder, whose YAML names its Brain
(``brain_class``), start-up set-up (``run_setup_builder``) and, where the
training data is not the segmented manifests, what builds it
(``train_data_builder``, called with the YAML and the tokenizer).

    python train.py hparams/conformer_ctc_baseline.yaml [--key=value ...]

By default the data is the built-in synthetic corpus, generated once into
``data_folder``; ``--data_folder=/path/to/LibriSpeech`` (with the matching
``--train_splits`` etc., see ``hparams/*_librispeech.yaml``) trains on real
LibriSpeech. Multi-process training: ``torchrun --nproc_per_node=N train.py
hparams/x.yaml``.

After the test stage (per-exit WER, ``wer_summary.md``), ``long_form_window:
SECONDS`` adds the long-form test stage
(:mod:`modules.inference.long_form_stage`: ``long_form/<split>/<mode>/``,
``wer_long_form.md``), and ``benchmark: True`` the benchmark stage.
"""

import json
import logging
import os
import sys
import time

import speechbrain as sb
import torch

from benchmark.preflight import check_benchmark_stage
from modules.data.datasets import (
    build_datasets,
    prepare_data,
    train_loader_kwargs,
)
from modules.inference.long_form_stage import TABLE_NAME as LONG_FORM_TABLE
from modules.inference.long_form_stage import run_long_form_stage
from modules.training.ctc_brain import EarlyExitCTCBrain
from modules.training.run_setup import (
    build_run_setup,
    build_run_tokenizer,
    load_training_hparams,
)
from modules.training.wer_report import write_wer_summary

logger = logging.getLogger(__name__)


def load_hparams(argv):
    """Parse the command line, create the experiment folder, load the YAML."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    with open(hparams_file) as fin:
        hparams = load_training_hparams(fin.read(), overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    return hparams, run_opts


def run_tests(brain, hparams, tests):
    """Per-exit WER on every test set, plus the summary files.

    The tested checkpoint is the one with the lowest dev WER of the ranking
    exit (the deepest trained exit), which the summary records.
    """
    exit_layers = brain.run_setup.model.exit_layers
    results = {}
    for name, dataset in tests.items():
        wers = brain.evaluate_test_set(name, dataset, hparams["test_dataloader_opts"])
        results[name] = {
            "exit_layers": exit_layers,
            "ranking_exit": brain.run_setup.ranking_exit,
            "wer": wers["greedy"],
            "num_utts": len(dataset),
        }
        for decoder, per_exit in wers.items():
            if decoder != "greedy":
                results[name][f"wer_{decoder}"] = per_exit
                results[name]["beam_size"] = hparams["test_beam_size"]
    if sb.utils.distributed.if_main_process():
        write_wer_summary(results, hparams["output_folder"])
    return results


def main(argv):
    """Prepare data, train, test (and the long-form and benchmark stages)."""
    hparams, run_opts = load_hparams(argv)
    run_setup = hparams.get("run_setup_builder", build_run_setup)(hparams)
    for note in check_benchmark_stage(hparams):
        logger.warning(note)
    prepare_data(hparams)
    tokenizer = build_run_tokenizer(hparams, run_setup)
    train_set, dev_set, tests = build_datasets(hparams, tokenizer)
    if "train_data_builder" in hparams:  # e.g. context-length chunks
        train_set = hparams["train_data_builder"](hparams, tokenizer)

    brain = hparams.get("brain_class", EarlyExitCTCBrain)(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
        run_setup=run_setup,
        tokenizer=tokenizer,
    )
    start = time.time()
    brain.fit(
        hparams["epoch_counter"],
        train_set,
        dev_set,
        train_loader_kwargs=train_loader_kwargs(hparams, train_set),
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    train_seconds = time.time() - start
    results = run_tests(brain, hparams, tests)
    long_form = run_long_form_stage(hparams)
    if sb.utils.distributed.if_main_process():
        summary = {
            "fit_wall_seconds_this_run": train_seconds,
            "last_epoch_train_stats": getattr(brain, "train_stats", None),
            "test": results,
        }
        write_run_summary(hparams["output_folder"], summary, long_form)
        if hparams.get("benchmark"):
            run_benchmark_stage(hparams)
    end_process_group()


def end_process_group():
    """Leave the DDP process group, if any (NCCL warns of leaked resources
    when a process exits inside one)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def write_run_summary(folder, summary, long_form):
    """``run_summary.json`` (with the long-form stage's results under
    ``long_form`` when it ran), and the WER tables in the log."""
    tables = {"Per-exit WER": "wer_summary.md"}
    if long_form is not None:
        summary["long_form"] = long_form
        tables["Long-form WER"] = LONG_FORM_TABLE
    with open(os.path.join(folder, "run_summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for title, name in tables.items():
        path = os.path.join(folder, name)
        if os.path.exists(path):  # no WER table without a test set
            with open(path) as fin:
                logger.info("%s:\n%s", title, fin.read())


def run_benchmark_stage(hparams):
    """The benchmark stage (``benchmark: True``) on ``benchmark_test_splits``
    (default: every test set)."""
    from benchmark.run import run_benchmark

    for test_set in hparams.get("benchmark_test_splits") or hparams["test_splits"]:
        run_benchmark(
            hparams["output_folder"],
            test_set=test_set,
            **(hparams.get("benchmark_options") or {}),
        )


if __name__ == "__main__":
    main(sys.argv[1:])
