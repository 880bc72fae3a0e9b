"""Synthetic background noise: a faint floor everywhere, louder in test-other.

Two kinds of noise are synthesised from a seeded numpy Generator, without
any recorded data:

* ``coloured``: Gaussian noise with a ``1 / f ** exponent`` power spectrum
  (0 is white, 1 pink, 2 brown);
* ``babble``: several "talkers", each white noise under its own slowly
  varying syllable-rate envelope, summed and given a long-term speech
  spectrum: speech-shaped noise fluctuating like a distant crowd.

:func:`add_noise` mixes either kind into speech at a given SNR.

Authors
 * efficient-asr contributors
"""

import numpy as np
from scipy.fft import next_fast_len

NOISE_KINDS = ("coloured", "babble")
MIN_FREQUENCY = 20.0
ENVELOPE_RATE = 100
SYLLABLE_SECONDS = 0.15
FRAME_SECONDS = 0.02
# Frames quieter than this, relative to the loudest one, are not speech.
ACTIVITY_THRESHOLD_DB = -35.0


def _shape_spectrum(signal, sample_rate, gain_fn):
    """Filter ``signal`` in the frequency domain by ``gain_fn(frequency)``."""
    size = next_fast_len(len(signal), real=True)
    spectrum = np.fft.rfft(signal, size)
    frequencies = np.fft.rfftfreq(size, 1.0 / sample_rate)
    spectrum *= gain_fn(np.maximum(frequencies, MIN_FREQUENCY))
    return np.fft.irfft(spectrum, size)[: len(signal)]


def coloured_noise(rng, num_samples, sample_rate, exponent):
    """Gaussian noise with a ``1 / f ** exponent`` power spectrum.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness.
    num_samples : int
        Length of the noise.
    sample_rate : int
        Sampling rate in Hz.
    exponent : float
        Spectral slope: 0 white, 1 pink, 2 brown.

    Returns
    -------
    numpy.ndarray
        The noise, float64.
    """
    white = rng.standard_normal(num_samples)
    return _shape_spectrum(white, sample_rate, lambda f: f ** (-exponent / 2))


def _speech_spectrum(frequency):
    """Amplitude of a long-term average speech spectrum (peak near 500 Hz)."""
    return (frequency / (frequency + 150.0)) / np.sqrt(1 + (frequency / 600.0) ** 2)


def _syllable_envelope(rng, num_samples, sample_rate):
    """A positive envelope fluctuating at syllable rate (about 3-7 Hz)."""
    frames = int(np.ceil(num_samples / sample_rate * ENVELOPE_RATE)) + 2
    width = int(SYLLABLE_SECONDS * ENVELOPE_RATE)
    smoothed = np.convolve(rng.standard_normal(frames), np.hanning(width), "same")
    envelope = np.maximum(smoothed, 0.0) ** 1.5
    positions = np.arange(num_samples) * (ENVELOPE_RATE / sample_rate)
    return np.interp(positions, np.arange(frames), envelope)


def babble_noise(rng, num_samples, sample_rate, talkers):
    """Speech-shaped noise with the amplitude fluctuations of ``talkers``.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness.
    num_samples : int
        Length of the noise.
    sample_rate : int
        Sampling rate in Hz.
    talkers : int
        Number of independent modulated sources summed.

    Returns
    -------
    numpy.ndarray
        The noise, float64.
    """
    # A sum of independent Gaussian sources with envelopes e_k is Gaussian
    # with envelope sqrt(sum e_k ** 2): one draw of white noise suffices.
    power = sum(
        _syllable_envelope(rng, num_samples, sample_rate) ** 2 for _ in range(talkers)
    )
    mixture = rng.standard_normal(num_samples) * np.sqrt(power)
    return _shape_spectrum(mixture, sample_rate, _speech_spectrum)


def make_noise(rng, num_samples, sample_rate, kind):
    """Draw noise of ``kind`` with random parameters.

    Arguments
    ---------
    rng : numpy.random.Generator
        Source of randomness.
    num_samples : int
        Length of the noise.
    sample_rate : int
        Sampling rate in Hz.
    kind : str
        One of :data:`NOISE_KINDS`.

    Returns
    -------
    numpy.ndarray
        The noise, float64.
    """
    if kind == "coloured":
        return coloured_noise(rng, num_samples, sample_rate, rng.uniform(0.0, 2.0))
    if kind == "babble":
        talkers = int(rng.integers(3, 8))
        return babble_noise(rng, num_samples, sample_rate, talkers)
    raise ValueError(f"unknown noise kind {kind!r}, expected one of {NOISE_KINDS}")


def active_power(signal, sample_rate):
    """Mean power of the frames of ``signal`` that contain speech.

    Arguments
    ---------
    signal : numpy.ndarray
        The speech.
    sample_rate : int
        Sampling rate in Hz.

    Returns
    -------
    float
        Mean square over frames within :data:`ACTIVITY_THRESHOLD_DB` of the
        loudest frame.
    """
    frame = int(FRAME_SECONDS * sample_rate)
    count = max(len(signal) // frame, 1)
    frames = np.resize(signal[: count * frame], (count, frame))
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    active = power >= power.max() * 10 ** (ACTIVITY_THRESHOLD_DB / 10)
    return float(np.mean(power[active]))


def add_noise(speech, noise, snr_db, sample_rate):
    """Mix ``noise`` into ``speech`` at ``snr_db`` (active speech power).

    Arguments
    ---------
    speech : numpy.ndarray
        Clean speech, float.
    noise : numpy.ndarray
        Noise of the same length.
    snr_db : float
        Target signal-to-noise ratio in dB.
    sample_rate : int
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        The noisy speech, float64.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> speech = np.sin(np.arange(16000) * 0.1)
    >>> noise = make_noise(rng, 16000, 16000, "babble")
    >>> noisy = add_noise(speech, noise, 10.0, 16000)
    >>> ratio = np.mean(speech**2) / np.mean((noisy - speech) ** 2)
    >>> round(10 * np.log10(ratio), 3)
    10.0
    """
    noise_power = float(np.mean(noise**2))
    target = active_power(speech, sample_rate) / 10 ** (snr_db / 10)
    return speech + noise * np.sqrt(target / max(noise_power, 1e-20))
