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

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.devices import put_model_on
from benchmark.experiment import Experiment, load_split
from benchmark.splits import tuning_split, uses_lm
from modules.data.tokenizer import ctc_labels
from modules.decoding.lm_beam import (
    LMDecoder,
    PyctcdecodeDecoder,
    SpeechBrainLMDecoder,
    tune_lm_weights,
)
from modules.decoding.lm_files import (
    LM_TEXT_NAME,
    LMError,
    LMInfo,
    find_lm_text,
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
    ``EXP/lm`` (a real LibriSpeech folder is never written to)."""
    from modules.data.synthetic.generate import MARKER_NAME

    if (text.parent / MARKER_NAME).is_file() and os.access(text.parent, os.W_OK):
        return text.parent / "lm"
    return exp.folder / "lm"


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
    hp = exp.hparams
    info = resolve_benchmark_lm(exp, opts, notes)
    if info is None:
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
        dev_set = tuning_split(opts, hp)
        dev_batches = load_split(exp, dev_set, opts.batch_size, opts.tune_max_utts)
        fixed = None
    if opts.tune == "last":
        fixed = tune_on_dev(
            decoder, dev_set, dev_batches, exp.model, reference_variant, opts
        )
    cross_check = None if opts.pyctcdecode == "none" else _cross_check_decoder(decoder)
    return LMSetup(info, decoder, cross_check, dev_set, dev_batches, fixed)
