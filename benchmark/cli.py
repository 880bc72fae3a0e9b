"""Command line of ``python -m benchmark.run``: flags named as the fields of
:class:`benchmark.options.BenchmarkOptions`, with its defaults.

Example
-------
>>> options = option_mapping(parse_args(["EXP", "--no_gpu", "--alphas=0.5,1"]))
>>> options["devices"], options["alphas"], options["beam_size"]
('cpu', (0.5, 1.0), 100)
>>> option_mapping(parse_args(["EXP", "--quantization"]))["quantization"]
'default'
"""

from __future__ import annotations

import argparse

from benchmark.options import (
    DEFAULT_QUANTIZATION,
    QUANTIZATION_EXITS,
    VARIANT_CHOICES,
    option_default,
)
from modules.compression.quantization import PTQ_METHODS
from modules.decoding.lm_decoders import DECODERS


def _floats(text: str) -> tuple:
    """``"0.3,0.6"`` -> ``(0.3, 0.6)`` (a CLI grid)."""
    return tuple(float(x) for x in text.split(",") if x.strip())


def named_grid(text: str) -> tuple:
    """``"entropy=0.05,0.1"`` -> ``("entropy", (0.05, 0.1))``."""
    name, sep, grid = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected POLICY=T1,T2,...")
    try:
        return name.strip(), _floats(grid)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def _option(p: argparse.ArgumentParser, name: str, help: str, **kwargs) -> None:
    """``--name``, its default taken from the options."""
    p.add_argument(f"--{name}", default=option_default(name), help=help, **kwargs)


def add_policy_args(p: argparse.ArgumentParser) -> None:
    """The ``--policy*`` options (see :class:`benchmark.options.
    BenchmarkOptions`)."""
    _option(
        p,
        "policies",
        "dynamic exit policies: auto | none | comma-separated names "
        "(entropy, confidence, posterior, similarity, patience)",
    )
    p.add_argument(
        "--policy_thresholds",
        type=named_grid,
        action="append",
        metavar="POLICY=T1,T2,...",
        help="threshold grid of one policy (repeatable; default grids otherwise)",
    )
    _option(p, "policy_mode", "utterance | batch")
    _option(
        p,
        "policy_decoder",
        "greedy | beam (n-best CTC beam search; the posterior policy needs it)",
    )
    _option(
        p,
        "policy_tolerance",
        "dev choice: cheapest threshold with WER <= (1 + tol) x the reference "
        "exit's (the last one, or exit K of train_exits: K)",
        type=float,
    )
    _option(p, "policy_timing", "chosen | all: which thresholds get timed passes")
    p.add_argument(
        "--no_policy_lm",
        dest="policy_lm",
        action="store_const",
        const=not option_default("policy_lm"),
        default=option_default("policy_lm"),
        help="no LM passes for the chosen policy thresholds",
    )


def add_quantization_args(p: argparse.ArgumentParser) -> None:
    """The ``--quantization*`` options (see :class:`benchmark.options.
    BenchmarkOptions`)."""
    p.add_argument(
        "--quantization",
        nargs="?",
        const="default",
        default=option_default("quantization"),
        help="post-training quantization methods, comma-separated "
        f"({', '.join(PTQ_METHODS)}); bare: the default, {DEFAULT_QUANTIZATION}",
    )
    _option(
        p,
        "quantization_exits",
        "last: quantize the reference exit's variant only; each: every exit's",
        choices=QUANTIZATION_EXITS,
    )
    _option(
        p,
        "quantization_keep_fp32",
        "comma-separated module-name patterns left in fp32 ('' for none)",
    )


def add_lm_args(p: argparse.ArgumentParser) -> None:
    """The LM options (see :class:`benchmark.options.BenchmarkOptions`)."""
    _option(p, "lm", "auto | PATH (ARPA/binary) | none")
    _option(p, "lm_order", "n-gram order (auto)", type=int)
    _option(p, "lm_cache", "folder for a built LM")
    _option(p, "beam_size", "LM beam size", type=int)
    _option(p, "alphas", "LM weights", type=_floats)
    _option(p, "betas", "word bonuses", type=_floats)
    _option(
        p,
        "tune",
        "tune (alpha, beta) on dev per variant, once on the reference exit "
        "(last: the last exit, or exit K of train_exits: K), or not",
        choices=VARIANT_CHOICES,
    )
    _option(p, "alpha", "LM weight (no tuning)", type=float)
    _option(p, "beta", "word bonus (no tuning)", type=float)
    _option(p, "tune_max_utts", "dev utterances", type=int)
    _option(
        p,
        "lm_decoder",
        "LM beam search reported (flashlight, pyctcdecode, speechbrain)",
        choices=sorted(DECODERS),
    )
    _option(
        p,
        "cross_check",
        "variants whose LM pass every back end of --cross_check_decoders "
        "decodes again, each with its own tuned weights (last: the reference exit)",
        choices=VARIANT_CHOICES,
    )
    p.add_argument(
        "--pyctcdecode",
        dest="cross_check",
        choices=VARIANT_CHOICES,
        help="old name of --cross_check",
    )
    _option(
        p,
        "cross_check_decoders",
        "comma-separated back ends compared with --lm_decoder",
    )


def parse_args(argv) -> argparse.Namespace:
    """Command-line options (see :class:`benchmark.options.BenchmarkOptions`
    for their meaning)."""
    p = argparse.ArgumentParser(
        prog="python -m benchmark.run",
        description="Benchmark a trained experiment folder (WER, time, MACs).",
    )
    p.add_argument("experiment_folder", help="output folder of train.py")
    _option(p, "test_set", "test split (default: the first in the YAML)")
    _option(p, "dev_set", "split for LM weight tuning (default: dev)")
    _option(p, "devices", "auto | cpu | cuda | cpu,cuda")
    p.add_argument("--no_gpu", action="store_true", help="same as --devices cpu")
    _option(p, "repeats", "timed greedy passes", type=int)
    _option(p, "lm_repeats", "timed LM passes", type=int)
    _option(p, "warmup_batches", "untimed batches", type=int)
    _option(p, "threads", "CPU threads (default: torch's)", type=int)
    add_lm_args(p)
    _option(
        p,
        "variants",
        "comma-separated builders of benchmark.variants.VARIANT_BUILDERS",
        type=lambda t: tuple(t.split(",")),
    )
    add_policy_args(p)
    add_quantization_args(p)
    _option(p, "batch_size", "test batch size", type=int)
    _option(p, "max_utts", "use only the first N utterances", type=int)
    _option(p, "output", "report folder (default EXP/benchmark/<set>)")
    p.add_argument("--no_progressbar", action="store_true")
    return p.parse_args(argv)


def option_mapping(args: argparse.Namespace) -> dict:
    """The options of parsed arguments (``--no_gpu`` and ``--no_progressbar``
    folded in), without the experiment folder."""
    options = vars(args).copy()
    if options.pop("no_gpu"):
        options["devices"] = "cpu"
    options["progressbar"] = not options.pop("no_progressbar")
    options["policy_thresholds"] = dict(options["policy_thresholds"] or ())
    options.pop("experiment_folder")
    return options
