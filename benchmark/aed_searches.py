"""What the AED benchmark runs: one exit of an attention encoder-decoder
decoded by one of SpeechBrain's searchers.

An :class:`ExitSearch` is exit ``k``'s encoder pass (the layers up to ``k``:
:meth:`modules.models.aed_early_exit.EarlyExitAED.exit_hidden`) followed by
an autoregressive decoding with exit ``k``'s decoder: greedy attention
decoding or the joint CTC/attention beam search of
:mod:`modules.decoding.aed_search`, without or with a token-level n-gram
(``joint_lm``: :class:`modules.decoding.token_lm.TokenLM`), with the
experiment's YAML settings
(``test_beam_size``, ``decoding_ctc_weight``, ...:
:func:`modules.training.aed_setup.build_search_options`). The two halves
are separate, as :func:`benchmark.passes.timed_pass` times them:
:attr:`ExitSearch.encoder` is a :class:`benchmark.variants.Variant`
returning the exit's hidden states, :meth:`ExitSearch.words` decodes them;
:attr:`ExitSearch.pipeline` runs both (warm-up), and
:meth:`ExitSearch.counted_words` decodes with its MACs counted
(:mod:`benchmark.aed_macs`). Greedy CTC decoding of every exit is the CTC
benchmark's exit variants (:func:`benchmark.variants.exit_variants`).

Example
-------
>>> search = ExitSearch(2, 4, "joint", parts=(), options=None, tokenizer=None)
>>> search.name, search.encoder.name, search.pipeline.layer
('exit2-joint', 'exit2-joint', 4)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property, partial

from benchmark.variants import Variant
from modules.decoding.aed_search import (
    AEDSearchOptions,
    greedy_searcher,
    hypotheses_words,
    joint_beam_searcher,
)
from modules.decoding.token_lm import TokenLM
from modules.models.aed_early_exit import EarlyExitAED
from modules.training.aed_setup import build_search_options

AED_DECODERS = ("attention", "joint")
"""The decodings the AED benchmark measures with every exit's decoder:
greedy attention and the joint CTC/attention beam search; with a token
n-gram, also :data:`LM_DECODER`."""

LM_DECODER = "joint_lm"
"""The joint CTC/attention beam search with the token n-gram."""


def is_aed(model) -> bool:
    """Whether ``model`` is an early-exit attention encoder-decoder.

    Example
    -------
    >>> import torch
    >>> is_aed(torch.nn.Linear(2, 2))
    False
    """
    return isinstance(model, EarlyExitAED)


def _exit_hidden(model, wavs, rel_lens, exit_index):
    """Hidden states of exit ``exit_index`` (layers above it not run)."""
    return model.exit_hidden(wavs, rel_lens, exit_index)


def exit_parts(model, exit_index) -> tuple:
    """What a searcher of exit ``exit_index`` runs: its decoder (as
    SpeechBrain's searchers call it), output layer and CTC head."""
    return (
        model.exit_decoder(exit_index),
        model.output_layer(exit_index),
        model.head(exit_index),
    )


def build_searcher(decoder, parts, options, lm=None):
    """SpeechBrain's searcher ``decoder`` (one of :data:`AED_DECODERS` or
    :data:`LM_DECODER`, which scores with the token n-gram ``lm``) over an
    exit's ``parts`` (:func:`exit_parts`)."""
    exit_decoder, output_layer, head = parts
    if decoder == "attention":
        return greedy_searcher(exit_decoder, output_layer, options)
    lm = lm if decoder == LM_DECODER else None
    return joint_beam_searcher(exit_decoder, output_layer, head, options, lm)


@dataclass
class ExitSearch:
    """One exit decoded by one searcher.

    Attributes
    ----------
    exit_index, layer : int
        1-based exit and the layer it sits after.
    decoder : str
        One of :data:`AED_DECODERS` or :data:`LM_DECODER`.
    parts : tuple
        The exit's decoder, output layer and CTC head (:func:`exit_parts`).
    options : modules.decoding.aed_search.AEDSearchOptions
        The search settings.
    tokenizer : object
        Turns token ids into text (``decode_ids``).
    lm : modules.decoding.token_lm.TokenLM or None
        The token n-gram of :data:`LM_DECODER`.
    """

    exit_index: int
    layer: int
    decoder: str
    parts: tuple
    options: AEDSearchOptions
    tokenizer: object
    lm: TokenLM | None = None

    @property
    def name(self) -> str:
        """Row name in the report, ``exit<k>-<decoder>``."""
        return f"exit{self.exit_index}-{self.decoder}"

    @cached_property
    def searcher(self):
        """SpeechBrain's searcher: ``(hidden, rel_lens) -> (hypotheses, ...)``."""
        return build_searcher(self.decoder, self.parts, self.options, self.lm)

    @property
    def encoder(self) -> Variant:
        """The encoder pass up to the exit: ``(model, wavs, rel_lens) ->
        hidden states [B, T, D]``."""
        run = partial(_exit_hidden, exit_index=self.exit_index)
        return Variant(self.name, run, self.exit_index, self.layer)

    @property
    def pipeline(self) -> Variant:
        """The encoder pass then the decoding: ``(model, wavs, rel_lens) ->
        word lists``."""
        return Variant(self.name, self.decode_batch, self.exit_index, self.layer)

    def words(self, hidden, rel_lens) -> list:
        """Decode the exit's hidden states into word lists."""
        hypotheses, *_ = self.searcher(hidden, rel_lens)
        return hypotheses_words(hypotheses, self.tokenizer)

    def decode_batch(self, model, wavs, rel_lens) -> list:
        """Word lists of a batch: encoder pass, then decoding."""
        hidden = _exit_hidden(model, wavs, rel_lens, self.exit_index)
        return self.words(hidden, rel_lens)

    def counted(self, meter) -> ExitSearch:
        """The same search over parts ``meter`` counts
        (:meth:`benchmark.aed_macs.DecodingMeter.wrap`)."""
        return replace(self, parts=meter.wrap(self.parts))

    def counted_words(self, meter):
        """:meth:`words`, its MACs and steps counted by ``meter``."""
        return self.counted(meter).words


def exit_searches(model, hparams, tokenizer, lm=None) -> list[ExitSearch]:
    """An :class:`ExitSearch` per exit and decoder of :data:`AED_DECODERS`
    (and :data:`LM_DECODER` with a token n-gram ``lm``), exit by exit, with
    the search settings of the experiment's YAML.

    Parameters
    ----------
    model : modules.models.aed_early_exit.EarlyExitAED
        The trained model.
    hparams : dict
        The experiment's loaded YAML (``test_beam_size``,
        ``decoding_ctc_weight``, special token ids, ...).
    tokenizer : object
        The experiment's tokenizer.
    lm : modules.decoding.token_lm.TokenLM or None
        The token n-gram of the joint search with LM (None: not run).

    Returns
    -------
    list of ExitSearch
    """
    options = build_search_options(hparams)
    decoders = AED_DECODERS + ((LM_DECODER,) if lm is not None else ())
    return [
        ExitSearch(k, layer, decoder, exit_parts(model, k), options, tokenizer, lm)
        for k, layer in enumerate(model.exit_layers, start=1)
        for decoder in decoders
    ]
