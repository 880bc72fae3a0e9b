"""Decoding one exit of an attention encoder-decoder with SpeechBrain's
searchers: greedy attention decoding, and joint CTC/attention beam search
(``S2STransformerBeamSearcher`` with a ``CTCScorer`` on the exit's CTC head,
and optionally a ``KenLMScorer`` with a token-level n-gram:
:mod:`modules.decoding.token_lm`).

The searchers take the exit's decoder as an object with SpeechBrain's
``decode(tokens, encoder_out, enc_len)`` (e.g.
:class:`modules.models.aed_early_exit.ExitDecoder`), its output layer (a
SpeechBrain ``Linear``) and its CTC head, and run on that exit's hidden states
(:meth:`modules.models.aed_early_exit.EarlyExitAED.exit_hidden`).
"""

from dataclasses import dataclass
from functools import lru_cache

from speechbrain.decoders.scorer import CTCScorer, KenLMScorer, ScorerBuilder
from speechbrain.decoders.seq2seq import (
    S2STransformerBeamSearcher,
    S2STransformerGreedySearcher,
)


@dataclass(frozen=True)
class AEDSearchOptions:
    """Settings of the attention decoding (each from the YAML key in brackets).

    Arguments
    ---------
    bos_index, eos_index, blank_index : int
        Special token ids (``bos_index``, ``eos_index``, ``blank_index``).
    beam_size : int
        Beam of the joint search (``test_beam_size``).
    ctc_weight : float
        CTC share of the joint search's scores, in [0, 1]; 0: attention-only
        beam search (``decoding_ctc_weight``).
    length_normalization : bool
        Rank finished hypotheses by score / length (``length_normalization``).
    max_decode_ratio : float
        At most this many decoding steps per encoder frame
        (``max_decode_ratio``).
    ctc_scorer_beam_scale : float or None
        CTC prefix scores only for the ``int(scale * beam_size)`` best tokens
        of the decoder at each step (SpeechBrain's partial scorer, ESPnet's
        pre-beam); None: for the whole vocabulary, as SpeechBrain's
        LibriSpeech recipes (``ctc_scorer_beam_scale``).
    """

    bos_index: int
    eos_index: int
    blank_index: int
    beam_size: int
    ctc_weight: float
    length_normalization: bool
    max_decode_ratio: float
    ctc_scorer_beam_scale: float | None


def greedy_searcher(exit_decoder, output_layer, options):
    """SpeechBrain's greedy attention decoding of one exit.

    Example
    -------
    >>> import torch
    >>> from speechbrain.nnet.linear import Linear
    >>> class Decoder:  # a decoder that ignores its input
    ...     def decode(self, tgt, encoder_out, enc_len=None):
    ...         return torch.zeros(tgt.shape[0], tgt.shape[1], 4), None
    >>> out = Linear(input_size=4, n_neurons=6)
    >>> options = AEDSearchOptions(2, 3, 0, 4, 0.4, True, 1.0, None)
    >>> hyps, *_ = greedy_searcher(Decoder(), out, options)(
    ...     torch.rand(2, 5, 4), torch.ones(2)
    ... )
    >>> len(hyps)
    2
    """
    return S2STransformerGreedySearcher(
        modules=[exit_decoder, output_layer],
        bos_index=options.bos_index,
        eos_index=options.eos_index,
        min_decode_ratio=0.0,
        max_decode_ratio=options.max_decode_ratio,
    )


@lru_cache(maxsize=2)
def kenlm_scorer(path, tokens):
    """SpeechBrain's ``KenLMScorer`` of the n-gram file ``path`` over the
    pieces ``tokens`` (a tuple, indexed by token id), loaded once and shared
    by the searches that run one after another (e.g. every exit's): loading
    a large ARPA file takes seconds. It scores from an empty context (no
    ``<s>``), as SpeechBrain's scorer does."""
    return KenLMScorer(path, len(tokens), list(tokens))


def joint_beam_searcher(exit_decoder, output_layer, ctc_head, options, lm=None):
    """SpeechBrain's beam search of one exit, its CTC head scoring the
    prefixes with weight ``options.ctc_weight`` (none at 0), on every token
    or on the decoder's best ones (``options.ctc_scorer_beam_scale``), and
    a token-level n-gram ``lm`` (:class:`modules.decoding.token_lm.TokenLM`,
    SpeechBrain's ``KenLMScorer``) with weight ``lm.weight``, when given, on
    the ``int(scale * beam_size)`` best tokens after the attention (and
    full-vocabulary CTC) scores, scale 2 (SpeechBrain's default) when CTC
    scores every token: KenLM scores one token at a time in Python.

    SpeechBrain's scores: ``(1 - ctc_weight) attention + ctc_weight CTC +
    lm.weight LM`` (natural-log probabilities). No end-of-sentence threshold,
    as SpeechBrain's Transformer recipes.

    Example
    -------
    >>> import dataclasses, torch
    >>> from speechbrain.nnet.linear import Linear
    >>> class Decoder:
    ...     def decode(self, tgt, encoder_out, enc_len=None):
    ...         return torch.zeros(tgt.shape[0], tgt.shape[1], 4), None
    >>> out, ctc = Linear(input_size=4, n_neurons=6), torch.nn.Linear(4, 6)
    >>> options = AEDSearchOptions(2, 3, 0, 4, 0.4, True, 1.0, None)
    >>> searcher = joint_beam_searcher(Decoder(), out, ctc, options)
    >>> searcher.ctc_weight, list(searcher.scorer.full_scorers)
    (0.4, ['ctc'])
    >>> hyps, *_ = searcher(torch.rand(2, 5, 4), torch.tensor([1.0, 0.6]))
    >>> len(hyps)
    2
    >>> pre_beam = dataclasses.replace(options, ctc_scorer_beam_scale=1.5)
    >>> searcher = joint_beam_searcher(Decoder(), out, ctc, pre_beam)
    >>> list(searcher.scorer.partial_scorers), searcher.scorer.scorer_beam_scale
    (['ctc'], 1.5)
    """
    full, partial, weights = [], [], {}
    scale = options.ctc_scorer_beam_scale
    if options.ctc_weight > 0:
        ctc = CTCScorer(
            ctc_fc=ctc_head,
            blank_index=options.blank_index,
            eos_index=options.eos_index,
        )
        (partial if scale else full).append(ctc)
        weights["ctc"] = options.ctc_weight
    if lm is not None:
        partial.append(kenlm_scorer(lm.path, lm.tokens))
        weights["kenlm"] = lm.weight
    scorer = None
    if weights:
        scorer = ScorerBuilder(
            weights=weights,
            full_scorers=full,
            partial_scorers=partial,
            scorer_beam_scale=scale or 2,
        )
    return S2STransformerBeamSearcher(
        modules=[exit_decoder, output_layer],
        bos_index=options.bos_index,
        eos_index=options.eos_index,
        min_decode_ratio=0.0,
        max_decode_ratio=options.max_decode_ratio,
        beam_size=options.beam_size,
        scorer=scorer,
        using_eos_threshold=False,
        length_normalization=options.length_normalization,
    )


def hypotheses_words(hyps, tokenizer):
    """Token-id hypotheses of a searcher as word lists.

    Example
    -------
    >>> class Letters:
    ...     def decode_ids(self, ids):
    ...         return "".join(" ab"[i] for i in ids)
    >>> hypotheses_words([[1, 0, 2], []], Letters())
    [['a', 'b'], []]
    """
    return [tokenizer.decode_ids([int(i) for i in hyp]).split() for hyp in hyps]
