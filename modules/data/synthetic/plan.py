"""The corpus plan: speakers, chapters, utterance texts and audio settings.

Everything random about the corpus is decided here, in one process, from
numpy Generators seeded with ``(seed, purpose, split, speaker)``; the audio
workers only execute the plan. The plan therefore depends on the seed and
the size alone, never on the number of workers or on what already exists.

Sizes are given in hours of audio: about 85 % goes to ``train-synth`` and
5 % to each evaluation split, which also gets at least
``min_eval_utterances`` utterances (so small corpora still have usable test
sets). The ``*-long`` sizes give every speaker one chapter of minutes
(:mod:`chapter_layout`), for long-form recordings. Each utterance is one
sentence of :mod:`grammar` whose estimated duration at the speaker's rate
lies within 2-12 s. Evaluation sentences are all different and never appear
in the training transcripts or the LM text.

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .chapter_layout import LONG_FORM_LAYOUTS, ChapterLayout
from .grammar import Grammar, UniformStream
from .noise import NOISE_KINDS
from .speakers import Speaker, sample_speakers

SPLITS = ("train-synth", "dev-clean", "test-clean", "test-other")
TRAIN_SPLIT = "train-synth"
SIZES = {"tiny": 0.03, "small": 2.0, "tiny-long": 0.03, "small-long": 2.0}
TRAIN_SHARE = 0.85
EVAL_SHARE = 0.05
# Duration model of eSpeak at 175 words per minute, fitted on the grammar.
SECONDS_PER_LETTER = 0.0613
SECONDS_OFFSET = 0.126
REFERENCE_RATE = 175
MIN_SECONDS = 2.4
MAX_SECONDS = 11.5
MEAN_SECONDS = 4.0
LEAD_SILENCE = (0.05, 0.3)
TRAIL_SILENCE = (0.0, 0.2)
PEAK_LEVEL = (0.3, 0.9)
# Background noise: a faint floor in the clean splits (no digital silence),
# coloured or babble noise at 25-40 dB SNR in test-other (corpus version 4).
# Training has no noise: at 5-20 dB (versions 1-3) the baseline read
# test-other's training voices at 60 % WER, against 11 % for test-clean.
CLEAN_NOISE = {"kinds": ("coloured",), "snr_db": (40.0, 55.0)}
SPLIT_NOISE = {
    "train-synth": CLEAN_NOISE,
    "dev-clean": CLEAN_NOISE,
    "test-clean": CLEAN_NOISE,
    "test-other": {"kinds": NOISE_KINDS, "snr_db": (25.0, 40.0)},
}
# Many speakers with little audio each (corpus version 3): with 150 s per
# training speaker (41 speakers in `small`) some of the 21 voice variants
# were never heard in training while test speakers could use them; with 30 s
# (204 speakers) each variant has at least 5. Evaluation splits get 40
# speakers of 5 utterances, as LibriSpeech's test sets have 40 speakers: a
# model scored 15.2 % and 11.4 % on two draws of 20 test-clean speakers.
TRAIN_SECONDS_PER_SPEAKER = 30
EVAL_UTTERANCES_PER_SPEAKER = 5
UTTERANCES_PER_CHAPTER = 15
MAX_CHAPTERS = 3
# Streams of the numpy Generators, the second seed word.
SPEAKER_STREAM, TEXT_STREAM, AUDIO_STREAM, LM_STREAM = range(4)


@dataclass(frozen=True)
class CorpusSize:
    """How much to generate.

    Arguments
    ---------
    hours : float
        Target audio duration, all splits together (approximate).
    min_eval_utterances : int
        Lower bound on the utterances of each evaluation split.
    lm_sentences : int
        Lines of the language model text.
    layout : ChapterLayout, optional
        One long chapter per speaker (the ``*-long`` sizes); None: the
        standard layout.
    """

    hours: float
    min_eval_utterances: int
    lm_sentences: int
    layout: ChapterLayout | None = None


@dataclass(frozen=True)
class Utterance:
    """One utterance to synthesise.

    Arguments
    ---------
    utt_id : str
        ``<speaker>-<chapter>-<number>``.
    transcript : str
        The LibriSpeech-style transcript.
    speech_text : str
        Text given to eSpeak.
    seed : int
        Seed of the noise Generator.
    lead_seconds : float
        Silence before the speech.
    trail_seconds : float
        Silence after the speech.
    peak : float
        Peak amplitude of the final waveform, full scale being 1.
    noise_kind : str
        One of :data:`noise.NOISE_KINDS`.
    snr_db : float
        SNR of the added noise.
    """

    utt_id: str
    transcript: str
    speech_text: str
    seed: int
    lead_seconds: float
    trail_seconds: float
    peak: float
    noise_kind: str
    snr_db: float


@dataclass(frozen=True)
class Chapter:
    """The utterances of one speaker's chapter.

    Arguments
    ---------
    speaker_id : int
        LibriSpeech-style speaker number.
    chapter_id : int
        LibriSpeech-style chapter number.
    speaker : Speaker
        The voice settings.
    utterances : tuple of Utterance
        In order.
    """

    speaker_id: int
    chapter_id: int
    speaker: Speaker
    utterances: tuple


def corpus_size(size="tiny", hours=None):
    """Resolve a named size or a number of hours to a :class:`CorpusSize`.

    Arguments
    ---------
    size : str
        A key of :data:`SIZES`: its hours are ignored when ``hours`` is
        given, its chapter layout (``*-long`` sizes) is kept.
    hours : float, optional
        Total hours of audio.

    Returns
    -------
    CorpusSize
        The derived quantities.

    Example
    -------
    >>> corpus_size("small").layout is None
    True
    >>> corpus_size("small-long", hours=1.0).layout.eval_speakers
    4
    """
    if hours is None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}: use one of {sorted(SIZES)}")
        hours = SIZES[size]
    if not hours > 0:
        raise ValueError(f"hours must be positive, got {hours}")
    return CorpusSize(
        hours=float(hours),
        min_eval_utterances=int(np.clip(round(100 * hours), 6, 200)),
        lm_sentences=int(np.clip(round(50_000 * hours), 2_000, 1_000_000)),
        layout=LONG_FORM_LAYOUTS.get(size),
    )


def estimate_seconds(transcript, rate):
    """Estimated eSpeak duration of ``transcript`` spoken at ``rate`` wpm."""
    letters = len(transcript) - transcript.count(" ")
    return SECONDS_OFFSET + SECONDS_PER_LETTER * letters * REFERENCE_RATE / rate


def split_targets(size):
    """Per split: (target seconds, minimum utterances, number of speakers)."""
    if size.layout is not None:
        return _long_chapter_targets(size)
    targets = {}
    for split in SPLITS:
        if split == TRAIN_SPLIT:
            seconds = TRAIN_SHARE * size.hours * 3600
            count = int(np.clip(round(seconds / TRAIN_SECONDS_PER_SPEAKER), 4, 2000))
            targets[split] = (seconds, 1, count)
            continue
        seconds = EVAL_SHARE * size.hours * 3600
        expected = max(size.min_eval_utterances, seconds / MEAN_SECONDS)
        count = int(np.clip(round(expected / EVAL_UTTERANCES_PER_SPEAKER), 2, 40))
        targets[split] = (seconds, size.min_eval_utterances, count)
    return targets


def _long_chapter_targets(size):
    """:func:`split_targets` of a size with one long chapter per speaker."""
    train_seconds = TRAIN_SHARE * size.hours * 3600
    targets = {
        TRAIN_SPLIT: (train_seconds, 1, size.layout.train_speakers(train_seconds))
    }
    for split in SPLITS[1:]:
        targets[split] = (
            size.layout.eval_seconds(),
            size.min_eval_utterances,
            size.layout.eval_speakers,
        )
    return targets


class _SpeakerDraw:
    """Sentence and audio-setting streams of one speaker of one split."""

    def __init__(self, seed, split_index, speaker_index, speaker):
        key = (split_index, speaker_index)
        self.text = UniformStream(np.random.default_rng([seed, TEXT_STREAM, *key]))
        self.audio = np.random.default_rng([seed, AUDIO_STREAM, *key])
        self.speaker = speaker
        self.noise = SPLIT_NOISE[SPLITS[split_index]]
        self.utterances = []

    def draw(self, grammar, excluded):
        """Add one utterance; return its estimated duration in seconds."""
        lead = self.audio.uniform(*LEAD_SILENCE)
        trail = self.audio.uniform(*TRAIL_SILENCE)
        while True:
            sentence = grammar.sample(self.text)
            speech = estimate_seconds(sentence.transcript, self.speaker.rate)
            seconds = lead + speech + trail
            if MIN_SECONDS <= seconds <= MAX_SECONDS:
                if sentence.transcript not in excluded:
                    break
        kinds = self.noise["kinds"]
        settings = {
            "noise_kind": kinds[int(self.audio.integers(len(kinds)))],
            "snr_db": float(self.audio.uniform(*self.noise["snr_db"])),
            "seed": int(self.audio.integers(2**31)),
            "lead_seconds": float(lead),
            "trail_seconds": float(trail),
            "peak": float(self.audio.uniform(*PEAK_LEVEL)),
        }
        self.utterances.append((sentence, settings))
        return seconds


def _draw_split(grammar, draws, target, excluded, unique):
    """Give utterances to the speakers in turn until the split is full."""
    seconds, minimum, _ = target
    total, count = 0.0, 0
    while total < seconds or count < minimum:
        draw = draws[count % len(draws)]
        total += draw.draw(grammar, excluded)
        if unique:
            excluded.add(draw.utterances[-1][0].transcript)
        count += 1


def _chapters(draw, speaker_id, chapter_ids, one_chapter):
    """Cut a speaker's utterances into chapters with LibriSpeech ids.

    ``one_chapter``: all of them in one chapter (long-chapter layouts).
    """
    count = len(draw.utterances)
    pieces = int(np.clip(count // UTTERANCES_PER_CHAPTER, 1, MAX_CHAPTERS))
    pieces = 1 if one_chapter else pieces
    chapters = []
    for piece, chapter_id in zip(np.array_split(np.arange(count), pieces), chapter_ids):
        utterances = []
        for number, index in enumerate(piece):
            sentence, settings = draw.utterances[index]
            utt_id = f"{speaker_id}-{chapter_id}-{number:04d}"
            utterances.append(
                Utterance(utt_id, sentence.transcript, sentence.speech_text, **settings)
            )
        chapters.append(
            Chapter(speaker_id, int(chapter_id), draw.speaker, tuple(utterances))
        )
    return chapters


def _speaker_draws(seed, targets, cover_variants):
    """Sample every split's speakers, disjoint across splits."""
    rng = np.random.default_rng([seed, SPEAKER_STREAM])
    taken, draws = set(), {}
    for split_index, split in enumerate(SPLITS):
        count = targets[split][2]
        speakers = sample_speakers(rng, split, count, taken, cover_variants)
        draws[split] = [
            _SpeakerDraw(seed, split_index, index, speaker)
            for index, speaker in enumerate(speakers)
        ]
    return draws, rng


def plan_corpus(seed, size):
    """Decide the whole corpus.

    Arguments
    ---------
    seed : int
        The corpus seed.
    size : CorpusSize
        How much to generate.

    Returns
    -------
    dict
        Split -> list of :class:`Chapter`.
    set of str
        The evaluation transcripts, to keep out of the LM text.
    """
    grammar = Grammar()
    targets = split_targets(size)
    draws, rng = _speaker_draws(seed, targets, size.layout is not None)
    eval_sentences = set()
    # Evaluation splits first, so that training avoids all their sentences.
    for split in SPLITS[1:] + (TRAIN_SPLIT,):
        unique = split != TRAIN_SPLIT
        _draw_split(grammar, draws[split], targets[split], eval_sentences, unique)
    num_speakers = sum(len(d) for d in draws.values())
    speaker_ids = rng.choice(
        np.arange(10, max(10_000, 10 * num_speakers)), num_speakers, replace=False
    )
    chapter_ids = rng.choice(
        np.arange(10_000, 300_000), num_speakers * MAX_CHAPTERS, replace=False
    )
    plan, index = {}, 0
    for split in SPLITS:
        plan[split] = []
        for draw in draws[split]:
            ids = chapter_ids[index * MAX_CHAPTERS : (index + 1) * MAX_CHAPTERS]
            speaker_id = int(speaker_ids[index])
            one_chapter = size.layout is not None
            plan[split].extend(_chapters(draw, speaker_id, ids, one_chapter))
            index += 1
    return plan, eval_sentences


def lm_sentences(seed, count, excluded):
    """Draw the language model text.

    Arguments
    ---------
    seed : int
        The corpus seed.
    count : int
        Number of sentences.
    excluded : set of str
        Transcripts that must not appear (the evaluation sentences).

    Returns
    -------
    list of str
        Upper-case sentences, repeats allowed as in real text.
    """
    grammar = Grammar()
    stream = UniformStream(np.random.default_rng([seed, LM_STREAM]))
    sentences = []
    while len(sentences) < count:
        transcript = grammar.sample(stream).transcript
        if transcript not in excluded:
            sentences.append(transcript)
    return sentences
