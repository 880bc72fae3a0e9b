"""CTC beam search with an n-gram LM for the benchmark, and LM weight tuning.

Beam-search back ends share one interface (:class:`LMDecoder`); two are
here:

* :class:`SpeechBrainLMDecoder` wraps SpeechBrain's
  ``speechbrain.decoders.ctc.CTCBeamSearcher`` with a KenLM scorer;
* :class:`PyctcdecodeDecoder` wraps ``pyctcdecode.build_ctcdecoder`` (the
  reference implementation SpeechBrain's searcher was adapted from).

flashlight-text's lexicon decoder is the third
(:mod:`modules.decoding.flashlight_beam`); :mod:`modules.decoding.
lm_decoders` names them all. The benchmark reports one and cross-checks WER
and speed with the others on the same log-probabilities and LM.

Labels are the tokenizer's pieces by id. SentencePiece marks the start of a
word with ``"▁"``: both searchers detect that (``is_spm`` / BPE style), start
a new word at every ``"▁"`` piece and strip the marker, so the hypothesis is
a string of words that the LM scores word by word. Id 0 (``<pad>``) is the
CTC blank: SpeechBrain's searcher finds it by index, pyctcdecode by name.

Without an LM the benchmark decodes greedily exactly as the test stage of
``train.py`` does (:func:`modules.decoding.greedy.greedy_words`), so that its
WERs equal ``wer_summary.json`` on the same checkpoint.

The LM itself comes from :func:`modules.decoding.lm_files.resolve_lm`: an
external ARPA/binary file, or one built (and cached) from the corpus LM text
with :func:`modules.decoding.ngram.build_lm`.
"""

from __future__ import annotations

import gzip
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from speechbrain.utils.metric_stats import ErrorRateStats

from modules.decoding.arpa import BOS, EOS, UNK, lm_format, load_lm_path
from modules.nn.lengths import frame_lengths

SPECIAL_WORDS = (BOS, EOS, UNK)


# --------------------------------------------------------------------------
# WER
# --------------------------------------------------------------------------


def word_error_rate(ids, hypotheses, references) -> float:
    """Corpus WER in percent with SpeechBrain's ``ErrorRateStats``.

    Examples
    --------
    >>> wer = word_error_rate(["a", "b"], [["X", "Y"], ["Z"]], [["X", "Y"], ["W"]])
    >>> round(wer, 2)
    33.33
    """
    stats = ErrorRateStats()
    stats.append(list(ids), list(hypotheses), list(references))
    return float(stats.summarize("error_rate"))


# --------------------------------------------------------------------------
# Beam search with an LM
# --------------------------------------------------------------------------


def read_unigrams(lm_path: str | os.PathLike) -> set[str] | None:
    """Words of an LM's unigram section, for the searchers' partial-word
    check (and flashlight's lexicon).

    A KenLM binary does not list its words readably: the ARPA file next to it
    (same stem, as :func:`modules.decoding.ngram.build_lm` writes) is read instead,
    and None is returned if there is none (SpeechBrain's searcher and
    pyctcdecode then score every partial word as out of vocabulary, which
    costs accuracy; flashlight's decoder refuses to start).
    """
    path = Path(lm_path)
    if lm_format(path) == "kenlm":
        siblings = [path.with_suffix(".arpa"), path.with_suffix(".arpa.gz")]
        arpa = next((p for p in siblings if p.is_file()), None)
        if arpa is None:
            return None
        path = arpa
    opener = gzip.open if lm_format(path) == "arpa.gz" else open
    words, inside = set(), False
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and (line.startswith("\\") or not line):
                break
            elif inside:
                words.add(line.split()[1])
    return words - set(SPECIAL_WORDS)


@dataclass
class LMDecoder:
    """Beam search with an n-gram LM, one utterance at a time.

    Subclasses build ``self.searcher`` and implement :meth:`decode_one` and
    :meth:`set_weights`.

    Attributes
    ----------
    labels : list of str
        Token pieces by id.
    lm_path : str
        KenLM-readable LM (ARPA, gzipped ARPA or binary).
    alpha : float
        LM weight.
    beta : float
        Word insertion bonus.
    beam_size : int
        Beam width.
    blank_index : int
        CTC blank id.
    unigrams : set of str, optional
        LM vocabulary (default: read with :func:`read_unigrams`).
    """

    labels: list
    lm_path: str
    alpha: float
    beta: float
    beam_size: int
    blank_index: int = 0
    unigrams: set | None = field(default=None, repr=False)

    def __post_init__(self):
        self.lm_path = str(load_lm_path(self.lm_path))
        if self.unigrams is None:
            self.unigrams = read_unigrams(self.lm_path)
        self.searcher = self.build()

    def build(self):
        """Create the underlying searcher."""
        raise NotImplementedError

    def set_weights(self, alpha: float, beta: float) -> None:
        """Change the LM weight and the word insertion bonus."""
        raise NotImplementedError

    def decode_one(self, log_probs) -> str:
        """Decode one utterance's valid frames (``numpy [T, V]``) to text."""
        raise NotImplementedError

    def decode(self, log_probs: torch.Tensor, rel_lens: torch.Tensor):
        """Words of every utterance of a batch ``[B, T, V]``."""
        array = log_probs.detach().float().cpu().numpy()
        lengths = frame_lengths(rel_lens, log_probs.shape[1])
        return [
            self.decode_one(array[n, : lengths[n]]).split()
            for n in range(array.shape[0])
        ]


def end_scoring_beam_searcher(**kwargs):
    """SpeechBrain's ``CTCBeamSearcher`` that adds the LM's end-of-sentence
    score when a hypothesis is finished.

    SpeechBrain's ``finalize_decoding`` scores the last word without
    ``is_eos`` (pyctcdecode, which it was adapted from, passes it), so
    ``P(</s> | last words)`` never enters the ranking: hypotheses that stop
    mid-phrase are not penalised. Measured on the built-in corpus (last exit
    of the early-exit demo model, test-clean, 4-gram, beam 20): 32.02 % WER
    without the end score, pyctcdecode 31.67 %.
    """
    from speechbrain.decoders.ctc import CTCBeamSearcher

    class EndScoringCTCBeamSearcher(CTCBeamSearcher):
        scoring_end = False

        def finalize_decoding(self, *args, is_end=False, **kw):
            self.scoring_end = is_end
            try:
                return super().finalize_decoding(*args, is_end=is_end, **kw)
            finally:
                self.scoring_end = False

        def get_lm_beams(self, beams, lm_scores, partial_scores, is_eos=False):
            is_eos = is_eos or self.scoring_end
            return super().get_lm_beams(beams, lm_scores, partial_scores, is_eos)

    return EndScoringCTCBeamSearcher(**kwargs)


class SpeechBrainLMDecoder(LMDecoder):
    """SpeechBrain's ``CTCBeamSearcher`` + KenLM (pyctcdecode's defaults for
    pruning: tokens below log-prob -5 and beams 10 below the best are pruned,
    history pruned to the LM order), with the LM's end-of-sentence score
    added (:func:`end_scoring_beam_searcher`)."""

    def build(self):
        """``CTCBeamSearcher`` with the KenLM model and unigrams."""
        return end_scoring_beam_searcher(
            blank_index=self.blank_index,
            vocab_list=self.labels,
            kenlm_model_path=self.lm_path,
            unigrams=self.unigrams,
            alpha=self.alpha,
            beta=self.beta,
            beam_size=self.beam_size,
        )

    def set_weights(self, alpha: float, beta: float) -> None:
        """Change the scorer's weights (no LM reload)."""
        self.alpha, self.beta = alpha, beta
        self.searcher.alpha, self.searcher.beta = alpha, beta
        self.searcher.lm.alpha, self.searcher.lm.beta = alpha, beta

    def decode_one(self, log_probs) -> str:
        """Best hypothesis of one utterance."""
        return self.searcher.decode_log_probs(log_probs, log_probs.shape[0])[0].text


class PyctcdecodeDecoder(LMDecoder):
    """``pyctcdecode`` beam search on the same labels and LM."""

    def build(self):
        """``BeamSearchDecoderCTC`` with the KenLM model and unigrams."""
        from pyctcdecode import build_ctcdecoder

        labels = list(self.labels)
        labels[self.blank_index] = ""  # pyctcdecode finds the blank by name
        return build_ctcdecoder(
            labels,
            kenlm_model_path=self.lm_path,
            unigrams=self.unigrams,
            alpha=self.alpha,
            beta=self.beta,
        )

    def set_weights(self, alpha: float, beta: float) -> None:
        """Change the LM weights (no LM reload)."""
        self.alpha, self.beta = alpha, beta
        self.searcher.reset_params(alpha=alpha, beta=beta)

    def decode_one(self, log_probs) -> str:
        """Best hypothesis of one utterance."""
        return self.searcher.decode(log_probs, beam_width=self.beam_size)


def decode_all(decoder: LMDecoder, batches, progressbar=False, desc=None):
    """Decode ``[(log_probs, rel_lens), ...]``; returns all utterances' words."""
    from tqdm import tqdm

    hypotheses = []
    for log_probs, rel_lens in tqdm(
        batches, dynamic_ncols=True, disable=not progressbar, desc=desc
    ):
        hypotheses.extend(decoder.decode(log_probs, rel_lens))
    return hypotheses


def tune_lm_weights(
    decoder: LMDecoder,
    batches,
    ids,
    references,
    alphas,
    betas,
    progressbar=False,
) -> dict:
    """Grid search of ``(alpha, beta)`` on held-out (dev) log-probabilities.

    Parameters
    ----------
    decoder : LMDecoder
        Searcher whose weights are changed; left at the chosen values.
    batches : list of (torch.Tensor, torch.Tensor)
        Log-probabilities and relative lengths of the dev batches.
    ids, references : list
        Utterance ids and reference word lists, in batch order.
    alphas, betas : sequence of float
        The grid.

    Returns
    -------
    dict
        ``alpha``, ``beta`` (the lowest WER; ties go to the earlier grid
        point) and ``grid``: ``[{"alpha", "beta", "wer"}, ...]``.
    """
    grid = []
    for alpha, beta in itertools.product(alphas, betas):
        decoder.set_weights(alpha, beta)
        hyps = decode_all(decoder, batches, progressbar, f"tune a={alpha} b={beta}")
        grid.append(
            {
                "alpha": alpha,
                "beta": beta,
                "wer": word_error_rate(ids, hyps, references),
            }
        )
    best = min(grid, key=lambda point: point["wer"])
    decoder.set_weights(best["alpha"], best["beta"])
    return {"alpha": best["alpha"], "beta": best["beta"], "grid": grid}
