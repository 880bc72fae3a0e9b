"""Which split a benchmark reports on and which one it tunes on.

The LM weights (``tune`` ``each``/``last``) and the exit policies'
thresholds are chosen on a dev split and applied to the test set; they are
never chosen on the split they are reported on. :func:`check_dev_is_not_test`
refuses that before anything is loaded, from the command line
(:func:`benchmark.run.run_benchmark`) as from ``train.py``
(:func:`benchmark.preflight.check_benchmark_stage`).

Example
-------
>>> from benchmark.options import BenchmarkOptions
>>> hparams = {"dev_splits": ["dev-clean"], "test_splits": ["test-clean"]}
>>> opts = BenchmarkOptions(test_set="dev-clean")
>>> benchmark_splits(opts, hparams)
('dev-clean', 'dev-clean')
>>> check_dev_is_not_test(opts, "dev-clean", "dev-clean")
Traceback (most recent call last):
...
benchmark.errors.OptionError: dev_set 'dev-clean' is also the test set...
>>> check_dev_is_not_test(BenchmarkOptions(tune="none", policies="none"),
...                       "dev-clean", "dev-clean")
"""

from __future__ import annotations

from benchmark.errors import OptionError


def uses_lm(opts) -> bool:
    """Whether the options ask for LM passes (``lm`` not ``none``)."""
    return opts.lm is not None and str(opts.lm).lower() != "none"


def tuning_split(opts, hparams: dict) -> str | None:
    """The dev split: ``opts.dev_set``, else the YAML's first ``dev_splits``
    (None when neither is known)."""
    return opts.dev_set or (hparams.get("dev_splits") or [None])[0]


def benchmark_splits(opts, hparams: dict) -> tuple:
    """``(test_set, dev_set)``: the options' splits, else the YAML's first
    ``test_splits`` and ``dev_splits`` (None when unknown)."""
    test_set = opts.test_set or (hparams.get("test_splits") or [None])[0]
    return test_set, tuning_split(opts, hparams)


def tuned_on_dev(opts, multi_exit: bool) -> list[str]:
    """What the options choose on the dev split: the LM weights when tuned
    with an LM, the policies' thresholds on a model with several exits."""
    chosen = []
    if opts.tune != "none" and uses_lm(opts):
        chosen.append(f"the LM weights (tune={opts.tune})")
    if opts.policy_grid and multi_exit:
        chosen.append("the exit policies' thresholds")
    return chosen


def check_dev_is_not_test(opts, dev_set, test_set, multi_exit=False) -> None:
    """Refuse a dev split equal to the test set when something is chosen on it.

    Parameters
    ----------
    opts : benchmark.options.BenchmarkOptions
        The options (``tune``, ``lm``, ``policies``).
    dev_set, test_set : str or None
        The resolved splits (:func:`benchmark_splits`).
    multi_exit : bool
        Whether the model has several exits (the policies run only then).

    Raises
    ------
    benchmark.errors.OptionError
        Naming ``--dev_set``/``--test_set`` and the YAML keys, and the fix.
    """
    chosen = tuned_on_dev(opts, multi_exit)
    if dev_set is None or dev_set != test_set or not chosen:
        return
    raise OptionError(
        f"dev_set {dev_set!r} is also the test set: {' and '.join(chosen)} would "
        "be chosen on the split they are reported on. Give another split with "
        "--dev_set / --test_set (train.py: benchmark_options.dev_set, "
        "benchmark_test_splits, dev_splits), or use --tune none with fixed "
        "--alpha/--beta and --policies none."
    )
