"""Block reading of recordings (modules/inference/audio_windows.py): what is
asked of the file, what the windows hold, and the files refused."""

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from modules.inference.audio_windows import AudioInputError, open_audio, read_windows
from modules.inference.frame_geometry import FrameGeometry, WindowPlan
from tests.modules.inference.fakes import SAMPLE_RATE, write_wav

# SSL-like geometry: windows read 80 samples more than their frames span.
PLAN = WindowPlan(FrameGeometry(stride=320, receptive_field=400), 3200, 960)


class SpyFile:
    """A SoundFile that records how many samples each read asks for."""

    def __init__(self, path):
        self.file = soundfile.SoundFile(path)
        self.requests = []

    def __getattr__(self, name):
        return getattr(self.file, name)

    def read(self, frames, **options):
        self.requests.append(frames)
        return self.file.read(frames, **options)


def noise(num_samples, channels=None, seed=0):
    shape = (num_samples,) if channels is None else (num_samples, channels)
    return np.random.default_rng(seed).uniform(-0.5, 0.5, shape).astype("float32")


def stored(path):
    """The samples of ``path`` as soundfile reads them."""
    return soundfile.read(path, dtype="float32")[0]


def test_reading_never_asks_for_more_than_a_window(tmp_path):
    path = write_wav(tmp_path / "long.wav", noise(60 * PLAN.hop + 123))
    samples = stored(path)
    spy = SpyFile(path)
    windows = list(read_windows(spy, PLAN))
    assert max(spy.requests) == PLAN.read_length
    assert spy.requests[1:-1] == [PLAN.hop] * (len(spy.requests) - 2)
    assert sum(spy.requests) == len(samples)
    assert [w.start for w in windows] == PLAN.starts(len(samples))
    for window in windows:
        expected = samples[window.start : window.start + PLAN.read_length]
        assert np.array_equal(window.wav.numpy(), expected)
    assert [w.is_last for w in windows].count(True) == 1 and windows[-1].is_last
    assert windows[-1].start + len(windows[-1].wav) == len(samples)


def test_a_recording_shorter_than_a_window_is_one_window(tmp_path):
    path = write_wav(tmp_path / "short.wav", noise(1000))
    samples = stored(path)
    with open_audio(path, PLAN) as audio:
        (window,) = read_windows(audio, PLAN)
    assert window.start == 0 and np.array_equal(window.wav.numpy(), samples)


def test_stereo_is_mixed_to_mono(tmp_path):
    path = write_wav(tmp_path / "stereo.flac", noise(5000, channels=2))
    samples = stored(path)
    with open_audio(path, PLAN) as audio:
        first = next(read_windows(audio, PLAN))
    expected = torch.from_numpy(samples[: PLAN.read_length].mean(axis=1))
    assert torch.allclose(first.wav, expected)


def test_other_sample_rates_are_resampled_window_by_window(tmp_path):
    rate = 44100
    samples = noise(3 * rate)
    path = write_wav(tmp_path / "cd.wav", samples, rate=rate)
    with open_audio(path, PLAN) as audio:
        windows = list(read_windows(audio, PLAN))
    whole = torchaudio.functional.resample(torch.from_numpy(samples), rate, SAMPLE_RATE)
    assert [w.start for w in windows] == PLAN.starts(len(whole))
    assert windows[-1].start + len(windows[-1].wav) == len(whole) == 3 * SAMPLE_RATE
    middle = windows[len(windows) // 2]
    inner = slice(100, len(middle.wav) - 100)  # away from the window's edges
    reference = whole[middle.start : middle.start + len(middle.wav)]
    assert torch.allclose(middle.wav[inner], reference[inner], atol=1e-3)


def test_unreadable_audio_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("not audio")
    with pytest.raises(AudioInputError, match="notes.wav: cannot be read as audio"):
        open_audio(path, PLAN)


def test_empty_audio_is_refused_naming_the_file(tmp_path):
    path = write_wav(tmp_path / "empty.wav", np.zeros(0))
    with pytest.raises(AudioInputError, match="empty.wav: the file holds no audio"):
        open_audio(path, PLAN)


def test_audio_shorter_than_the_receptive_field_is_refused(tmp_path):
    path = write_wav(tmp_path / "click.wav", noise(300))
    with pytest.raises(AudioInputError, match="click.wav: .* shorter than the model"):
        open_audio(path, PLAN)


def test_a_sample_rate_off_the_hop_grid_is_refused(tmp_path):
    path = write_wav(tmp_path / "odd.wav", noise(5000), rate=11025)
    with pytest.raises(AudioInputError, match="odd.wav: sample rate 11025 Hz"):
        open_audio(path, WindowPlan(FrameGeometry(10, 10), window=100, hop=10))
