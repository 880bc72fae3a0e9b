"""Front-ends after a waveform downsampler: the frame rate drops with it."""

import pytest
import torch
from speechbrain.lobes.features import Fbank

from modules.nn.downsampling import WaveformDownsampler
from modules.nn.frontend import DownsampledFrontend, downsampled_fbank

SAMPLE_RATE = 16000


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_signal_then_fbank_with_scaled_hop_divides_the_frame_rate(factor):
    down = WaveformDownsampler("signal", factor)
    fbank = Fbank(sample_rate=down.output_sample_rate, hop_length=10 * factor)
    frontend = DownsampledFrontend(down, lambda wavs, lens: fbank(wavs))
    frames = frontend(torch.randn(1, SAMPLE_RATE), torch.ones(1)).shape[1]
    assert frames == Fbank()(torch.randn(1, SAMPLE_RATE)).shape[1] // factor + 1


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("method", ["signal", "conv", "avg"])
def test_downsampled_fbank_divides_the_frame_rate(method, factor):
    down = WaveformDownsampler(method, factor)
    fbank = downsampled_fbank(down, n_mels=20)
    frames = fbank(down(torch.randn(1, SAMPLE_RATE), torch.ones(1))[0]).shape[1]
    baseline = downsampled_fbank(WaveformDownsampler("none", 1), n_mels=20)
    assert baseline(torch.randn(1, SAMPLE_RATE)).shape[1] == 101
    assert abs(frames - 101 / factor) <= 1
    assert fbank.compute_STFT.hop_length == 160
    assert fbank.compute_STFT.win_length == 400
