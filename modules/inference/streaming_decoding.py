"""CTC decoding of a recording whose frames arrive a few at a time.

:class:`StreamingGreedy` is the greedy decoder of
:mod:`modules.decoding.greedy` applied chunk by chunk, with the collapse of
repeated tokens carried across chunks; it keeps the tokens found (the
transcript) and one frame.

:class:`StreamingLMSearch` feeds the chunks to the SpeechBrain beam searcher
with an n-gram LM of :mod:`modules.decoding.lm_beam` through its own
frame-by-frame loop (``partial_decoding``), then scores the last word and the
end of sentence as :meth:`~modules.decoding.lm_beam.LMDecoder.decode_one`
does. Between chunks it keeps only what the search reads next: the beams
(each one's text so far and its word frames) and the LM scores of the live
beams' texts. The searcher's cache, keyed by whole transcripts, would
otherwise grow with the square of the recording's length.

:class:`StreamingFlashlightSearch` feeds the chunks to flashlight-text's
lexicon decoder (:mod:`modules.decoding.flashlight_beam`), whose C++ search
is incremental (``decode_step``). It keeps every hypothesis of every frame
unless pruned, so once more than ``look_back`` frames are decoded the words
of the best path up to ``look_back`` frames ago are committed and the older
hypotheses dropped (``prune``): memory is bounded by ``look_back``, and the
words equal a one-pass decoding unless the best path ``look_back`` frames
back changes later.

:func:`streaming_lm_search` picks the streaming search of an LM decoder.
"""

import torch
from speechbrain.decoders.ctc import CTCBeam

from modules.decoding.flashlight_beam import FlashlightLMDecoder
from modules.decoding.greedy import greedy_ctc_decode


class StreamingGreedy:
    """Greedy CTC over successive chunks of frames.

    Arguments
    ---------
    tokenizer : object
        Maps token ids to text (SentencePiece's ``decode_ids``), for
        :meth:`finish`.
    blank : int
        Index of the CTC blank.

    Example
    -------
    >>> import torch.nn.functional as F
    >>> class Letters:
    ...     def decode_ids(self, ids):
    ...         return "".join(" ab"[i] for i in ids)
    >>> best = torch.tensor([1, 1, 0, 2, 2, 2, 0, 1])
    >>> scores = F.one_hot(best, 3).float().log()
    >>> decoder = StreamingGreedy(Letters())
    >>> [decoder.feed(chunk) for chunk in (scores[:2], scores[2:4], scores[4:])]
    [[1], [2], [1]]
    >>> decoder.tokens, decoder.finish()
    ([1, 2, 1], ['aba'])
    """

    def __init__(self, tokenizer, blank=0):
        self.tokenizer = tokenizer
        self.blank = blank
        self.tokens = []
        self.last_frame = None

    def feed(self, log_probs):
        """Decode frames ``[F, V]`` that follow the ones already fed; return
        the new tokens."""
        if log_probs.shape[0] == 0:
            return []
        frames = log_probs
        if self.last_frame is not None:
            frames = torch.cat([self.last_frame, log_probs])
        new = greedy_ctc_decode(frames.unsqueeze(0), torch.ones(1), self.blank)[0]
        if self.last_frame is not None and int(self.last_frame.argmax()) != self.blank:
            new = new[1:]
        self.last_frame = log_probs[-1:]
        self.tokens.extend(new)
        return new

    def finish(self):
        """The words of all the tokens found."""
        return self.tokenizer.decode_ids(self.tokens).split()


class StreamingLMSearch:
    """CTC beam search with an n-gram LM over successive chunks of frames.

    Arguments
    ---------
    decoder : modules.decoding.lm_beam.SpeechBrainLMDecoder
        Its SpeechBrain searcher (labels, LM, weights, beam) is used.

    The words equal ``decoder.decode_one`` on all the frames at once.
    """

    def __init__(self, decoder):
        self.searcher = decoder.searcher
        lm = self.searcher.lm
        self.lm_scores = {("", False): (0.0, lm.get_start_state())} if lm else {}
        self.partial_scores = {}
        self.frames = 0
        self.beams = [
            CTCBeam(
                text="",
                full_text="",
                next_word="",
                partial_word="",
                last_token=None,
                last_token_index=None,
                text_frames=[],
                partial_frames=(-1, -1),
                score=0.0,
            )
        ]

    def feed(self, log_probs):
        """Extend the beams with frames ``[F, V]``."""
        if log_probs.shape[0] == 0:
            return
        array = log_probs.detach().float().cpu().numpy()
        self.beams = self.searcher.partial_decoding(
            array,
            len(array),
            self.beams,
            self.lm_scores,
            self.partial_scores,
            processed_frames=self.frames,
        )
        self.frames += len(array)
        live = {beam.text for beam in self.beams}
        self.lm_scores = {k: v for k, v in self.lm_scores.items() if k[0] in live}
        self.partial_scores = {}

    def finish(self):
        """Words of the best hypothesis, the last word and the end of
        sentence scored."""
        beams = self.searcher.finalize_decoding(
            self.beams,
            self.lm_scores,
            self.partial_scores,
            force_next_word=True,
            is_end=True,
        )
        return self.searcher.normalize_whitespace(beams[0].text).split()

    @property
    def cache_entries(self):
        """LM scores held (bounded by the beam, not the recording)."""
        return len(self.lm_scores)


class StreamingFlashlightSearch:
    """flashlight-text's lexicon decoder over successive chunks of frames.

    Arguments
    ---------
    decoder : modules.decoding.flashlight_beam.FlashlightLMDecoder
        Its lexicon, LM and weights are used (a new search is started).
    look_back : int
        Frames of hypotheses kept before the committed best path (at 25
        frames per second, 500 frames are 20 s).
    """

    LOOK_BACK = 500

    def __init__(self, decoder, look_back=LOOK_BACK):
        self.decoder = decoder
        self.searcher = decoder.new_searcher()
        self.searcher.decode_begin()
        self.look_back = look_back
        self.committed = []
        self.unpruned = 0

    def feed(self, log_probs):
        """Extend the search with frames ``[F, V]``; commit and prune once
        more than ``2 * look_back`` frames are held."""
        if log_probs.shape[0] == 0:
            return
        emissions = self.decoder.emissions(log_probs.detach().float().cpu().numpy())
        self.searcher.decode_step(emissions.ctypes.data, *emissions.shape)
        self.unpruned += emissions.shape[0]
        if self.unpruned > 2 * self.look_back:
            best = self.searcher.get_best_hypothesis(self.look_back)
            # Its last frame becomes the root of the next path: not yet.
            self.committed.extend(self.decoder.words(best.words[:-1]))
            self.searcher.prune(self.look_back)
            self.unpruned = self.look_back

    def finish(self):
        """Words of the best hypothesis: the committed ones and the rest."""
        self.searcher.decode_end()
        results = self.searcher.get_all_final_hypothesis()
        rest = self.decoder.words(results[0].words) if results else []
        return self.committed + rest


def streaming_lm_search(decoder):
    """The streaming search of ``decoder``: flashlight-text's incremental
    search for a :class:`~modules.decoding.flashlight_beam.FlashlightLMDecoder`,
    else SpeechBrain's (:class:`StreamingLMSearch`)."""
    if isinstance(decoder, FlashlightLMDecoder):
        return StreamingFlashlightSearch(decoder)
    return StreamingLMSearch(decoder)
