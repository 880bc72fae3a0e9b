"""The LM beam-search back ends by name, and building one.

Three back ends share the interface of
:class:`modules.decoding.lm_beam.LMDecoder`:

* ``speechbrain``: SpeechBrain's ``CTCBeamSearcher`` + KenLM, with the
  LM's end-of-sentence score (:class:`modules.decoding.lm_beam.
  SpeechBrainLMDecoder`);
* ``pyctcdecode``: pyctcdecode's beam search (:class:`modules.decoding.
  lm_beam.PyctcdecodeDecoder`), which SpeechBrain's was adapted from;
* ``flashlight``: flashlight-text's lexicon decoder (:class:`modules.
  decoding.flashlight_beam.FlashlightLMDecoder`).

The benchmark reports one of them (its ``lm_decoder`` option) and decodes
the same log-probabilities with the others as a cross-check.

Example
-------
>>> sorted(DECODERS)
['flashlight', 'pyctcdecode', 'speechbrain']
>>> check_decoder_names(["flashlight", "kenlm"], "lm_decoder")
Traceback (most recent call last):
...
ValueError: lm_decoder: unknown LM decoder(s) ['kenlm']; choose from flashlight, ...
"""

from __future__ import annotations

from modules.decoding.flashlight_beam import FlashlightLMDecoder
from modules.decoding.lm_beam import LMDecoder, PyctcdecodeDecoder, SpeechBrainLMDecoder

DECODERS = {
    "speechbrain": SpeechBrainLMDecoder,
    "pyctcdecode": PyctcdecodeDecoder,
    "flashlight": FlashlightLMDecoder,
}
"""Back-end name -> :class:`modules.decoding.lm_beam.LMDecoder` subclass."""

DECODER_TITLES = {
    "speechbrain": "SpeechBrain's CTCBeamSearcher + KenLM (with end score)",
    "pyctcdecode": "pyctcdecode + KenLM",
    "flashlight": "flashlight-text's LexiconDecoder + KenLM",
}
"""Back-end name -> what reports call it."""


def check_decoder_names(names, key: str) -> tuple:
    """``names`` as a tuple, each checked to be a key of :data:`DECODERS`.

    Raises
    ------
    ValueError
        Naming ``key`` and the unknown names.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in DECODERS]
    if unknown:
        raise ValueError(
            f"{key}: unknown LM decoder(s) {unknown}; choose from "
            f"{', '.join(sorted(DECODERS))}"
        )
    return names


def build_lm_decoder(name: str, labels, lm_path, alpha, beta, beam_size, **kw):
    """The back end ``name`` on ``labels`` and the LM at ``lm_path``
    (``kw``: ``blank_index``, ``unigrams``).

    Example
    -------
    >>> build_lm_decoder("kenlm", [], "lm.arpa", 0.5, 1.0, 20)
    Traceback (most recent call last):
    ...
    ValueError: lm_decoder: unknown LM decoder(s) ['kenlm']; choose from ...
    """
    check_decoder_names([name], "lm_decoder")
    decoder: LMDecoder = DECODERS[name](labels, lm_path, alpha, beta, beam_size, **kw)
    return decoder
