"""The n-gram LM of the benchmark: its decoders and their weights.

:func:`build_lm_setup` resolves the LM (built from the corpus text, a path,
or none), sets up SpeechBrain's LM searcher (and pyctcdecode's, for the
cross-check) and the dev batches the weights are tuned on;
:func:`lm_weights_for` gives every variant its ``(alpha, beta)``: fixed, or
tuned on that variant's dev log-probabilities.

Example
-------
>>> setup = LMSetup(None, None, None, None, None, {"alpha": 0.5, "beta": 1.0})
>>> setup.tuned
False
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.devices import put_model_on
from benchmark.experiment import Experiment, load_split
from modules.data.tokenizer import ctc_labels
from modules.decoding.lm_beam import (
    LMDecoder,
    PyctcdecodeDecoder,
    SpeechBrainLMDecoder,
    tune_lm_weights,
)
from modules.decoding.lm_files import LMInfo, find_lm_text, resolve_lm

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LMSetup:
    """The LM and what its passes need.

    Attributes
    ----------
    info : modules.decoding.lm_files.LMInfo
        The resolved LM.
    decoder : modules.decoding.lm_beam.LMDecoder
        SpeechBrain's LM searcher.
    cross_check : modules.decoding.lm_beam.LMDecoder, optional
        pyctcdecode's searcher on the same LM (None: no cross-check).
    dev_set : str, optional
        The split the weights are tuned on (None: not tuned).
    dev_batches : list of benchmark.experiment.Batch, optional
        Its batches.
    fixed_weights : dict, optional
        Weights applied to every variant (``tune`` ``"none"``/``"last"``);
        None: every variant is tuned.
    """

    info: LMInfo
    decoder: LMDecoder
    cross_check: LMDecoder | None
    dev_set: str | None
    dev_batches: list | None
    fixed_weights: dict | None

    @property
    def tuned(self) -> bool:
        """Whether every variant gets its own tuned weights."""
        return self.fixed_weights is None


def default_lm_cache(exp: Experiment, lm) -> Path:
    """Where a built LM is kept: ``<data_folder>/lm`` for the built-in
    synthetic corpus (shared by every experiment on it), else ``EXP/lm`` (a
    real LibriSpeech folder is never written to)."""
    from modules.data.synthetic.generate import MARKER_NAME

    if str(lm) != "auto":
        return exp.folder / "lm"
    text = find_lm_text(exp.hparams.get("data_folder", ""), [PROJECT_ROOT])
    if (text.parent / MARKER_NAME).is_file() and os.access(text.parent, os.W_OK):
        return text.parent / "lm"
    return exp.folder / "lm"


def tune_on_dev(decoder, dev_set, dev_batches, model, variant, opts) -> dict:
    """Weights of the grid ``opts.alphas`` x ``opts.betas`` with the best
    dev WER for ``variant`` (untimed CPU pass), and where they come from."""
    put_model_on(model, "cpu")
    dev = []
    with torch.inference_mode():
        for batch in dev_batches:
            dev.append((variant(model, batch.wavs, batch.rel_lens), batch.rel_lens))
    ids = [i for b in dev_batches for i in b.ids]
    refs = [w for b in dev_batches for w in b.words]
    tuned = tune_lm_weights(
        decoder, dev, ids, refs, opts.alphas, opts.betas, progressbar=opts.progressbar
    )
    return {
        **tuned,
        "tuned_on": dev_set,
        "tuned_variant": variant.name,
        "dev_utts": len(ids),
    }


def lm_weights_for(setup: LMSetup, model, variant, opts) -> dict:
    """Set the decoder's (alpha, beta) for ``variant``: the fixed weights, or
    weights tuned on the dev log-probabilities of this variant."""
    if not setup.tuned:
        setup.decoder.set_weights(
            setup.fixed_weights["alpha"], setup.fixed_weights["beta"]
        )
        return setup.fixed_weights
    return tune_on_dev(
        setup.decoder, setup.dev_set, setup.dev_batches, model, variant, opts
    )


def _cross_check_decoder(decoder: LMDecoder) -> PyctcdecodeDecoder:
    """pyctcdecode's searcher with the settings of ``decoder``."""
    return PyctcdecodeDecoder(
        decoder.labels,
        decoder.lm_path,
        decoder.alpha,
        decoder.beta,
        decoder.beam_size,
        decoder.blank_index,
        unigrams=decoder.unigrams,
    )


def build_lm_setup(exp: Experiment, opts, last_variant, notes: list):
    """Resolve the LM, set up its decoders and the weights' tuning.

    Parameters
    ----------
    exp : benchmark.experiment.Experiment
        The experiment (hparams, tokenizer, model).
    opts : benchmark.options.BenchmarkOptions
        The options (``lm*``, ``tune*``, ``alpha``, ``beta``, ...).
    last_variant : benchmark.variants.Variant
        The variant tuned once when ``tune="last"``.
    notes : list of str
        Notes for the report, appended to.

    Returns
    -------
    LMSetup or None
        None when the LM is off.
    """
    hp = exp.hparams
    info = resolve_lm(
        opts.lm,
        hp.get("data_folder", ""),
        opts.lm_cache or default_lm_cache(exp, opts.lm),
        opts.lm_order,
        search_roots=[PROJECT_ROOT],
    )
    if info is None:
        notes.append("LM passes skipped: --lm none.")
        return None
    labels, blank = ctc_labels(exp.tokenizer), hp.get("blank_index", 0)
    decoder = SpeechBrainLMDecoder(
        labels, info.path, opts.alpha, opts.beta, opts.beam_size, blank
    )
    if decoder.unigrams is None:
        notes.append("LM vocabulary unknown (binary without ARPA).")
    dev_set = dev_batches = None
    fixed = {"alpha": opts.alpha, "beta": opts.beta, "tuned_on": None}
    if opts.tune != "none":
        dev_set = opts.dev_set or hp["dev_splits"][0]
        dev_batches = load_split(exp, dev_set, opts.batch_size, opts.tune_max_utts)
        fixed = None
    if opts.tune == "last":
        fixed = tune_on_dev(
            decoder, dev_set, dev_batches, exp.model, last_variant, opts
        )
    cross_check = None if opts.pyctcdecode == "none" else _cross_check_decoder(decoder)
    return LMSetup(info, decoder, cross_check, dev_set, dev_batches, fixed)
