"""What every stage of a benchmark run shares, built once at start-up.

:func:`build_context` loads the test batches, the LM and its decoders
(:mod:`benchmark.lm_setup`) and the dev split the exit policies' thresholds
are chosen on; the :class:`BenchmarkContext` it returns is not changed
afterwards.

Example
-------
>>> import torch
>>> from benchmark.experiment import Batch
>>> batch = Batch(["a"], torch.zeros(1, 16000), torch.tensor([1.0]), [["HI"]])
>>> ctx = BenchmarkContext(None, None, ["cpu"], [batch], 1.0, "test", None, None, ())
>>> ctx.ids, ctx.wer([["HI"]]), ctx.dev_set
(['a'], 0.0, None)
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.experiment import (
    BatchedUtterances,
    EvalSet,
    Experiment,
    load_split,
    split_seconds,
)
from benchmark.lm_setup import LMSetup, build_lm_setup
from benchmark.options import BenchmarkOptions
from benchmark.splits import benchmark_splits, check_dev_is_not_test, tuning_split
from modules.decoding.greedy import greedy_words
from modules.decoding.lm_beam import word_error_rate


@dataclass(frozen=True)
class BenchmarkContext(BatchedUtterances):
    """What every variant's benchmark shares.

    Attributes
    ----------
    exp : benchmark.experiment.Experiment
        The loaded experiment.
    opts : benchmark.options.BenchmarkOptions
        The benchmark's options.
    devices : list of str
        Devices to time on (first: the one whose WERs are reported).
    batches : list of benchmark.experiment.Batch
        Test batches, in memory.
    audio_s : float
        Unpadded test audio duration.
    test_set : str
        Manifest name of the test set.
    lm : benchmark.lm_setup.LMSetup, optional
        The LM and its decoders (None: no LM passes).
    policy_dev : benchmark.experiment.EvalSet, optional
        The dev split the policies' thresholds are chosen on (None: no
        policy benchmark).
    notes : tuple of str
        Notes for the report (skipped passes, ...).
    """

    exp: Experiment
    opts: BenchmarkOptions
    devices: list
    batches: list
    audio_s: float
    test_set: str
    lm: LMSetup | None
    policy_dev: EvalSet | None
    notes: tuple

    @property
    def dev_set(self) -> str | None:
        """The split the LM weights are tuned on (None: not tuned)."""
        return self.lm.dev_set if self.lm is not None else None

    @property
    def decoder(self):
        """The LM decoder (None: no LM)."""
        return self.lm.decoder if self.lm is not None else None

    def wer(self, hypotheses) -> float:
        """Test-set WER of ``hypotheses`` (batch order)."""
        return word_error_rate(self.ids, hypotheses, self.references)

    def greedy(self, log_probs, rel_lens):
        """Greedy decoding as in the test stage of ``train.py``."""
        blank = self.exp.hparams.get("blank_index", 0)
        return greedy_words(log_probs, rel_lens, self.exp.tokenizer, blank)


def policy_dev_split(exp: Experiment, opts, test_set: str, notes: list):
    """Name of the dev split the policies' thresholds are chosen on, or None
    (and a note) when no policy runs.

    Raises
    ------
    benchmark.errors.OptionError
        If the dev split is the test set (thresholds are never tuned on it).
    """
    if not opts.policy_grid:
        notes.append("Dynamic exit policies skipped: --policies none.")
        return None
    if getattr(exp.model, "num_exits", 1) < 2:
        notes.append("Dynamic exit policies skipped: the model has a single exit.")
        return None
    dev_set = tuning_split(opts, exp.hparams)
    check_dev_is_not_test(opts, dev_set, test_set, multi_exit=True)
    return dev_set


def build_context(exp, opts, devices, device_notes, variants) -> BenchmarkContext:
    """Load the test (and dev) batches and set up the LM.

    Parameters
    ----------
    exp : benchmark.experiment.Experiment
        The loaded experiment.
    opts : benchmark.options.BenchmarkOptions
        The options.
    devices : list of str
        Devices to time on (:func:`benchmark.devices.resolve_devices`).
    device_notes : list of str
        Notes on the devices skipped.
    variants : list of benchmark.variants.Variant
        The variants (the reference exit's, :attr:`benchmark.experiment.
        Experiment.reference_exit`, is tuned once when ``tune="last"``).

    Returns
    -------
    BenchmarkContext
    """
    hp = exp.hparams
    test_set, _ = benchmark_splits(opts, hp)
    batches = load_split(exp, test_set, opts.batch_size, opts.max_utts)
    audio_s = split_seconds(batches, hp.get("sample_rate", 16000))
    notes = []
    policy_dev = policy_dev_split(exp, opts, test_set, notes)
    lm = build_lm_setup(exp, opts, exp.reference_variant(variants), notes)
    if policy_dev is not None:
        policy_dev = EvalSet(policy_dev, load_split(exp, policy_dev, opts.batch_size))
    notes.extend(device_notes)
    return BenchmarkContext(
        exp, opts, devices, batches, audio_s, test_set, lm, policy_dev, tuple(notes)
    )
