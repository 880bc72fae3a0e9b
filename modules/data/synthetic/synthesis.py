"""Audio rendering of planned chapters, run in worker processes.

Each worker owns one :class:`espeak.EspeakEngine`. For every utterance it
reloads the engine (so that the waveform depends on the utterance alone),
synthesises the text at 22050 Hz, resamples to 16 kHz, pads silence, adds
the planned background noise, scales to the planned peak and writes a 16-bit
FLAC.

Authors
 * efficient-asr contributors
"""

import os

import numpy as np
import soundfile
from scipy.signal import resample_poly

from .espeak import EspeakEngine
from .noise import add_noise, make_noise

SAMPLE_RATE = 16000
# 16000 / 22050 reduced to lowest terms.
RESAMPLE_UP, RESAMPLE_DOWN = 320, 441
FULL_SCALE = 32767

_engine = None


def start_engine(library, data):
    """Create this process's eSpeak engine (pool initializer).

    Arguments
    ---------
    library : str
        Path of ``libespeak-ng``.
    data : str or None
        Path of ``espeak-ng-data``.
    """
    global _engine
    _engine = EspeakEngine(library, data)


def stop_engine():
    """Unload this process's eSpeak engine."""
    global _engine
    if _engine is not None:
        _engine.close()
        _engine = None


def render_utterance(engine, speaker, utterance):
    """Synthesise one planned utterance.

    Arguments
    ---------
    engine : EspeakEngine
        The synthesiser; it is reset first.
    speaker : Speaker
        Voice settings.
    utterance : Utterance
        Text and audio settings.

    Returns
    -------
    numpy.ndarray
        int16 samples at 16 kHz.
    """
    engine.reset()
    raw = engine.synthesize(
        utterance.speech_text,
        speaker.voice_name,
        speaker.rate,
        speaker.pitch,
        speaker.pitch_range,
    )
    speech = resample_poly(raw / FULL_SCALE, RESAMPLE_UP, RESAMPLE_DOWN)
    lead = np.zeros(int(utterance.lead_seconds * SAMPLE_RATE))
    trail = np.zeros(int(utterance.trail_seconds * SAMPLE_RATE))
    audio = np.concatenate([lead, speech, trail])
    rng = np.random.default_rng(utterance.seed)
    noise = make_noise(rng, len(audio), SAMPLE_RATE, utterance.noise_kind)
    audio = add_noise(audio, noise, utterance.snr_db, SAMPLE_RATE)
    audio *= utterance.peak / max(np.abs(audio).max(), 1e-9)
    return np.round(audio * FULL_SCALE).astype(np.int16)


def render_chapter(task):
    """Write the FLAC files of one chapter (pool task).

    Arguments
    ---------
    task : tuple of (str, Chapter)
        The chapter folder and the planned chapter.

    Returns
    -------
    int
        Number of samples written.
    """
    folder, chapter = task
    written = 0
    for utterance in chapter.utterances:
        audio = render_utterance(_engine, chapter.speaker, utterance)
        path = os.path.join(folder, utterance.utt_id + ".flac")
        soundfile.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        written += len(audio)
    return written
