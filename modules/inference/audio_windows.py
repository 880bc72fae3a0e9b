"""Reading a recording window by window, never all of it.

:func:`open_audio` opens any file soundfile reads and refuses, naming the
file, what cannot be transcribed (unreadable, empty, a sample rate that does
not map onto the model's frame grid). :func:`read_windows` then yields the
windows of a :class:`~modules.inference.frame_geometry.WindowPlan` as 16 kHz
mono tensors: it keeps one window of samples, drops ``hop`` of them and reads
the next ``hop`` from the file, so no request to the file is ever longer than
a window and memory does not grow with the recording.

Multi-channel audio is mixed down to mono (the mean of the channels). Audio at
another sample rate is resampled window by window
(``torchaudio.functional.resample``); the window's edges, where the
resampling filter sees no audio beyond the window, fall in the overlap that
the posterior merging averages away, as the encoder's own window edges do.
``soundfile.blocks`` is not used: its last block is the leftover after the
last full hop, not the window that ends at the recording's end, and it does
not resample.
"""

import math
from dataclasses import dataclass

import numpy as np
import soundfile
import torch
import torchaudio


class AudioInputError(ValueError):
    """An audio file that cannot be transcribed; the message names it."""


@dataclass(frozen=True)
class Window:
    """One window of a recording.

    Attributes
    ----------
    index : int
        0-based window number.
    start : int
        First sample, at the model's rate.
    wav : torch.Tensor
        The window's samples ``[n]`` at the model's rate, mono.
    is_last : bool
        Whether no window follows.
    """

    index: int
    start: int
    wav: torch.Tensor
    is_last: bool


def open_audio(path, plan):
    """Open ``path`` for :func:`read_windows`, after checking it.

    Arguments
    ---------
    path : str or pathlib.Path
        Any file soundfile (libsndfile) reads: WAV, FLAC, OGG, MP3, NIST
        SPHERE...
    plan : modules.inference.frame_geometry.WindowPlan
        The windows it will be read in.

    Returns
    -------
    soundfile.SoundFile
        Open; close it (or use it in a ``with`` block).

    Example
    -------
    >>> from modules.inference.frame_geometry import FrameGeometry, WindowPlan
    >>> plan = WindowPlan(FrameGeometry(640, 480), window=32000, hop=16000)
    >>> open_audio("/no/such.wav", plan)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modules.inference.audio_windows.AudioInputError: /no/such.wav: cannot be read...
    """
    try:
        audio = soundfile.SoundFile(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as error:
        raise AudioInputError(
            f"{path}: cannot be read as audio ({error}); give a file soundfile "
            "reads (WAV, FLAC, OGG, MP3, SPHERE...)"
        ) from error
    try:
        check_audio(path, audio, plan)
    except AudioInputError:
        audio.close()
        raise
    return audio


def check_audio(path, audio, plan):
    """Refuse an empty file, one too short for a frame, or a sample rate
    whose hop is not a whole number of samples."""
    rate = audio.samplerate
    if audio.frames <= 0:
        raise AudioInputError(f"{path}: the file holds no audio (0 samples)")
    geometry = plan.geometry
    if model_samples(audio.frames, rate, geometry.sample_rate) < (
        geometry.receptive_field
    ):
        raise AudioInputError(
            f"{path}: {audio.frames / rate:.4f} s of audio is shorter than the "
            f"model's receptive field ({geometry.seconds(geometry.receptive_field)}"
            " s): there is nothing to transcribe"
        )
    if (plan.hop * rate) % geometry.sample_rate:
        raise AudioInputError(
            f"{path}: sample rate {rate} Hz does not divide the hop "
            f"({geometry.seconds(plan.hop)} s) into whole samples; convert the "
            f"file to {geometry.sample_rate} Hz first"
        )


def model_samples(file_samples, file_rate, model_rate):
    """Samples at ``model_rate`` of ``file_samples`` at ``file_rate``.

    Example
    -------
    >>> model_samples(44100, 44100, 16000), model_samples(3, 44100, 16000)
    (16000, 2)
    """
    return math.ceil(file_samples * model_rate / file_rate)


def to_model_rate(block, file_rate, model_rate):
    """A ``[samples, channels]`` block as a mono ``[samples']`` tensor at
    ``model_rate``."""
    mono = torch.from_numpy(np.ascontiguousarray(block.mean(axis=1)))
    if file_rate == model_rate:
        return mono
    return torchaudio.functional.resample(mono, file_rate, model_rate)


def read_windows(audio, plan):
    """Yield the :class:`Window` s of ``audio`` for ``plan``.

    Arguments
    ---------
    audio : soundfile.SoundFile
        From :func:`open_audio` (anything with ``samplerate``, ``frames``
        and ``read(frames, dtype=..., always_2d=True)`` will do).
    plan : modules.inference.frame_geometry.WindowPlan
        Window, hop and frame geometry.

    Example
    -------
    >>> import io
    >>> from modules.inference.frame_geometry import FrameGeometry, WindowPlan
    >>> data = io.BytesIO()
    >>> soundfile.write(data, np.arange(100) / 100, 16000, format="WAV")
    >>> _ = data.seek(0)
    >>> plan = WindowPlan(FrameGeometry(10, 10), window=40, hop=20)
    >>> with soundfile.SoundFile(data) as audio:
    ...     print([(w.start, len(w.wav), w.is_last) for w in read_windows(audio, plan)])
    [(0, 40, False), (20, 40, False), (40, 40, False), (60, 40, True)]
    """
    rate, model_rate = audio.samplerate, plan.geometry.sample_rate
    total = model_samples(audio.frames, rate, model_rate)
    starts = plan.starts(total)
    read_length = math.ceil(plan.read_length * rate / model_rate)
    hop = plan.hop * rate // model_rate
    block = np.zeros((0, audio.channels), dtype="float32")
    for index, start in enumerate(starts):
        if index:
            block = block[hop:]
        wanted = min(read_length, audio.frames - start * rate // model_rate)
        if wanted > len(block):
            new = audio.read(wanted - len(block), dtype="float32", always_2d=True)
            block = np.concatenate([block, new])
        length = min(plan.read_length, total - start)
        wav = to_model_rate(block[:wanted], rate, model_rate)[:length]
        yield Window(index, start, wav, index == len(starts) - 1)
