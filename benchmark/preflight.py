"""Checks of the benchmark stage of ``train.py``, before any training step.

The benchmark stage (``benchmark: True``) runs after training and testing;
:func:`check_benchmark_stage` refuses what would make it fail there (bad
``benchmark_options``, an LM path that is not an LM, splits it cannot use, a
dev split that is the test set) right after the YAML is loaded, and notes
what it will skip (no LM text for ``lm: auto``).

Example
-------
>>> hparams = {"benchmark": True, "benchmark_options": {"lm": "none"},
...            "dev_splits": ["dev-clean"], "test_splits": ["test-clean"]}
>>> check_benchmark_stage(hparams)
[]
>>> hparams["benchmark_test_splits"] = ["test-other"]
>>> check_benchmark_stage(hparams)
Traceback (most recent call last):
...
benchmark.errors.OptionError: benchmark_test_splits: ['test-other'] not in...
"""

from __future__ import annotations

from benchmark.errors import OptionError
from benchmark.lm_setup import auto_lm_text
from benchmark.options import BenchmarkOptions
from benchmark.splits import check_dev_is_not_test, tuning_split, uses_lm
from modules.data.datasets import wants_synthetic_corpus
from modules.decoding.arpa import load_lm_path
from modules.decoding.lm_files import LM_TEXT_NAME


def benchmark_test_sets(hparams: dict, opts: BenchmarkOptions) -> list:
    """The splits the stage benchmarks: ``benchmark_test_splits`` (default:
    every ``test_splits``), each of which must be a test split."""
    if opts.test_set is not None:
        raise OptionError(
            "benchmark_options.test_set: the stage benchmarks every split of "
            "benchmark_test_splits; remove test_set and list the splits there."
        )
    test_splits = list(hparams.get("test_splits") or [])
    wanted = list(hparams.get("benchmark_test_splits") or test_splits)
    unknown = [split for split in wanted if split not in test_splits]
    if unknown:
        raise OptionError(
            f"benchmark_test_splits: {unknown} not in test_splits {test_splits} "
            "(only test splits get manifests); add them to test_splits or "
            "remove them."
        )
    return wanted


def check_dev_split(hparams: dict, opts: BenchmarkOptions) -> None:
    """``benchmark_options.dev_set`` must be a split that gets a manifest."""
    known = list(hparams.get("dev_splits") or []) + list(
        hparams.get("test_splits") or []
    )
    if opts.dev_set is not None and opts.dev_set not in known:
        raise OptionError(
            f"benchmark_options.dev_set={opts.dev_set!r} is neither in dev_splits "
            f"nor in test_splits ({known}); choose one of them."
        )


def check_lm(hparams: dict, opts: BenchmarkOptions) -> list[str]:
    """An explicit LM must be an ARPA / gzipped ARPA / KenLM binary file;
    ``lm: auto`` without LM text gives a note (the stage skips LM passes)."""
    if not uses_lm(opts):
        return []
    if str(opts.lm) != "auto":
        try:
            load_lm_path(opts.lm)
        except (FileNotFoundError, ValueError) as error:
            raise OptionError(
                f"benchmark_options.lm={opts.lm!r}: {error} Give an ARPA, gzipped "
                "ARPA or KenLM binary file, auto or none."
            ) from error
        return []
    folder = hparams.get("data_folder", "")
    if wants_synthetic_corpus(hparams) or auto_lm_text(folder) is not None:
        return []
    return [
        f"no LM text found at {folder}/{LM_TEXT_NAME}: the benchmark stage will "
        "run without LM passes (give benchmark_options.lm a path to decode "
        "with an LM)"
    ]


def check_benchmark_stage(hparams: dict) -> list[str]:
    """Check the benchmark stage of a loaded training YAML before training.

    Parameters
    ----------
    hparams : dict
        The loaded YAML (``benchmark``, ``benchmark_options``,
        ``benchmark_test_splits``, ``dev_splits``, ``test_splits``,
        ``data_folder``, ``model``).

    Returns
    -------
    list of str
        Notes for the log (what the stage will skip); empty when the stage
        is off or will run in full.

    Raises
    ------
    benchmark.errors.OptionError
        A ``ValueError`` naming the key whose value the stage cannot use.
    """
    if not hparams.get("benchmark"):
        return []
    opts = BenchmarkOptions.from_mapping(hparams.get("benchmark_options"))
    test_sets = benchmark_test_sets(hparams, opts)
    check_dev_split(hparams, opts)
    dev_set = tuning_split(opts, hparams)
    multi_exit = getattr(hparams.get("model"), "num_exits", 1) > 1
    for test_set in test_sets:
        check_dev_is_not_test(opts, dev_set, test_set, multi_exit)
    return check_lm(hparams, opts)
