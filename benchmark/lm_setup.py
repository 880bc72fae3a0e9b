"""The n-gram LM of the benchmark: its decoders and their weights.

:func:`build_lm_setup` resolves the LM (built from the corpus text, a path,
or none), sets up the reported LM searcher (``lm_decoder``) and the
cross-checking ones (``cross_check_decoders``) and the dev batches the
weights are tuned on; :func:`set_lm_weights` gives each decoder its
``(alpha, beta)`` for a variant: fixed, or tuned on that variant's dev
log-probabilities (the same grid and utterances for every decoder).

Example
-------
>>> setup = LMSetup(None, {"flashlight": None}, None, None, {"flashlight": {}})
>>> setup.reported, setup.tuned
('flashlight', False)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from benchmark.devices import put_model_on
from benchmark.experiment import Experiment, load_split
from benchmark.splits import tuning_split, uses_lm
from modules.data.tokenizer import ctc_labels
from modules.decoding.lm_beam import LMDecoder, read_unigrams, tune_lm_weights
from modules.decoding.lm_decoders import build_lm_decoder
from modules.decoding.lm_files import (
    LM_TEXT_NAME,
    LMError,
    LMInfo,
    find_lm_text,
    lm_cache_folder,
    resolve_lm,
)

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class LMSetup:
    """The LM and what its passes need.

    Attributes
    ----------
    info : modules.decoding.lm_files.LMInfo
        The resolved LM.
    decoders : dict
        Back-end name -> :class:`modules.decoding.lm_beam.LMDecoder` on this
        LM: the reported one (``lm_decoder``) first, then the cross-checks.
    dev_set : str, optional
        The split the weights are tuned on (None: not tuned).
    dev_batches : list of benchmark.experiment.Batch, optional
        Its batches.
    fixed_weights : dict, optional
        Back-end name -> weights applied to every variant (``tune``
        ``"none"``/``"last"``); None: every variant is tuned.
    """

    info: LMInfo
    decoders: dict
    dev_set: str | None
    dev_batches: list | None
    fixed_weights: dict | None

    @property
    def reported(self) -> str:
        """Name of the back end whose passes are reported."""
        return next(iter(self.decoders))

    @property
    def decoder(self) -> LMDecoder:
        """The reported LM searcher."""
        return self.decoders[self.reported]

    @property
    def tuned(self) -> bool:
        """Whether every variant gets its own tuned weights."""
        return self.fixed_weights is None


def auto_lm_text(data_folder) -> Path | None:
    """The corpus LM text that ``lm: auto`` builds from
    (:func:`modules.decoding.lm_files.find_lm_text`), or None when there is
    none (e.g. a LibriSpeech folder without the separate LM text download).

    Example
    -------
    >>> auto_lm_text("/no/such/corpus") is None
    True
    """
    try:
        return find_lm_text(data_folder, [PROJECT_ROOT])
    except LMError:
        return None


def missing_lm_text_note(data_folder) -> str:
    """The note of a run whose ``lm: auto`` found no LM text."""
    where = Path(data_folder) / LM_TEXT_NAME
    return (
        f"No LM text found at {where}: LM passes skipped (lm: auto). Put "
        f"{LM_TEXT_NAME} in the data folder or give --lm PATH (an ARPA or "
        "KenLM binary) to decode with an LM."
    )


def default_lm_cache(exp: Experiment, text: Path) -> Path:
    """Where an LM built from ``text`` is kept: ``<data_folder>/lm`` for the
    built-in synthetic corpus (shared by every experiment on it), else
    ``EXP/lm`` (:func:`modules.decoding.lm_files.lm_cache_folder`)."""
    return lm_cache_folder(text, exp.folder / "lm")


def resolve_benchmark_lm(exp: Experiment, opts, notes: list) -> LMInfo | None:
    """The LM of ``opts.lm``: None (and a note) when it is ``none`` or when
    ``auto`` finds no LM text; an explicit path that is not a usable LM
    raises :class:`modules.decoding.lm_files.LMError`."""
    data_folder = exp.hparams.get("data_folder", "")
    cache = exp.folder / "lm"
    if uses_lm(opts) and str(opts.lm) == "auto":
        text = auto_lm_text(data_folder)
        if text is None:
            note = missing_lm_text_note(data_folder)
            logger.warning(note)
            notes.append(note)
            return None
        cache = default_lm_cache(exp, text)
    info = resolve_lm(
        opts.lm, data_folder, opts.lm_cache or cache, opts.lm_order, [PROJECT_ROOT]
    )
    if info is None:
        notes.append("LM passes skipped: --lm none.")
    return info


def dev_log_probs(dev_batches, model, variant) -> list:
    """``[(log_probs, rel_lens), ...]`` of ``variant`` on the dev batches
    (untimed CPU pass)."""
    put_model_on(model, "cpu")
    with torch.inference_mode():
        return [
            (variant(model, batch.wavs, batch.rel_lens), batch.rel_lens)
            for batch in dev_batches
        ]


def tune_on_dev(name, setup: LMSetup, dev, variant, opts) -> dict:
    """Weights of the grid ``opts.alphas`` x ``opts.betas`` with the best
    dev WER of decoder ``name`` on ``dev`` (:func:`dev_log_probs` of
    ``variant``), and where they come from."""
    ids = [i for b in setup.dev_batches for i in b.ids]
    refs = [w for b in setup.dev_batches for w in b.words]
    tuned = tune_lm_weights(
        setup.decoders[name],
        dev,
        ids,
        refs,
        opts.alphas,
        opts.betas,
        progressbar=opts.progressbar,
    )
    return {
        **tuned,
        "decoder": name,
        "tuned_on": setup.dev_set,
        "tuned_variant": variant.name,
        "dev_utts": len(ids),
    }


def set_lm_weights(setup: LMSetup, model, variant, opts, names) -> dict:
    """Set the weights of the decoders ``names`` for ``variant``: the fixed
    weights, or weights tuned on the dev log-probabilities of this variant
    (computed once for all of them). Returns ``{name: weights}``."""
    if not setup.tuned:
        for name in names:
            weights = setup.fixed_weights[name]
            setup.decoders[name].set_weights(weights["alpha"], weights["beta"])
        return {name: setup.fixed_weights[name] for name in names}
    dev = dev_log_probs(setup.dev_batches, model, variant)
    return {name: tune_on_dev(name, setup, dev, variant, opts) for name in names}


def lm_weights_for(setup: LMSetup, model, variant, opts) -> dict:
    """Set the reported decoder's weights for ``variant``
    (:func:`set_lm_weights`) and return them."""
    names = [setup.reported]
    return set_lm_weights(setup, model, variant, opts, names)[setup.reported]


def build_decoders(exp: Experiment, opts, info: LMInfo, notes: list) -> dict:
    """Name -> decoder of ``opts.lm_decoder`` and, unless ``cross_check`` is
    ``"none"``, of ``opts.cross_check_decoders``, on the LM of ``info``."""
    names = [opts.lm_decoder]
    if opts.cross_check != "none":
        names += opts.cross_check_decoders
    unigrams = read_unigrams(info.path)
    if unigrams is None:
        notes.append("LM vocabulary unknown (binary without ARPA).")
    labels, blank = ctc_labels(exp.tokenizer), exp.hparams.get("blank_index", 0)
    return {
        name: build_lm_decoder(
            name,
            labels,
            info.path,
            opts.alpha,
            opts.beta,
            opts.beam_size,
            blank_index=blank,
            unigrams=unigrams,
        )
        for name in dict.fromkeys(names)
    }


def build_lm_setup(exp: Experiment, opts, reference_variant, notes: list):
    """Resolve the LM, set up its decoders and the weights' tuning.

    Parameters
    ----------
    exp : benchmark.experiment.Experiment
        The experiment (hparams, tokenizer, model).
    opts : benchmark.options.BenchmarkOptions
        The options (``lm*``, ``tune*``, ``alpha``, ``beta``, ...).
    reference_variant : benchmark.variants.Variant
        The variant tuned once when ``tune="last"``: the reference exit
        (:attr:`benchmark.experiment.Experiment.reference_exit`).
    notes : list of str
        Notes for the report, appended to.

    Returns
    -------
    LMSetup or None
        None when the LM is off or ``lm: auto`` found no LM text (a note
        says so).
    """
    info = resolve_benchmark_lm(exp, opts, notes)
    if info is None:
        return None
    decoders = build_decoders(exp, opts, info, notes)
    fixed = {
        name: {
            "alpha": opts.alpha,
            "beta": opts.beta,
            "decoder": name,
            "tuned_on": None,
        }
        for name in decoders
    }
    if opts.tune == "none":
        return LMSetup(info, decoders, None, None, fixed)
    dev_set = tuning_split(opts, exp.hparams)
    dev_batches = load_split(exp, dev_set, opts.batch_size, opts.tune_max_utts)
    setup = LMSetup(info, decoders, dev_set, dev_batches, None)
    if opts.tune == "last":
        weights = set_lm_weights(setup, exp.model, reference_variant, opts, decoders)
        setup = replace(setup, fixed_weights=weights)
    return setup
