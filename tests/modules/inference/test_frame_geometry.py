"""Frame stride and receptive field of the toolkit's front-ends
(modules/inference/frame_geometry.py), and the window plan's checks."""

import pytest
import torch
from speechbrain.lobes.features import Fbank
from speechbrain.nnet.CNN import Conv1d
from speechbrain.processing.features import InputNormalization

from modules.inference.frame_geometry import (
    FrameGeometry,
    measure_frame_geometry,
    plan_windows,
)
from modules.models.early_exit import EarlyExitCTC
from modules.nn.downsampling import WaveformDownsampler
from modules.nn.frontend import (
    DownsampledFeatureFrontend,
    FeatureFrontend,
    downsampled_fbank,
)
from modules.nn.ssl import build_ssl_encoder
from modules.nn.ssl_loading import TINY_CONFIG
from tests.modules.inference.fakes import PointwiseStack, local_model

WIDTH = 8


def subsampler(factor):
    return Conv1d(
        input_shape=[None, None, WIDTH],
        out_channels=WIDTH,
        kernel_size=factor,
        stride=factor,
        padding="valid",
    )


def fbank_model(factor=4, downsampling=None, ctc_upsampling=False):
    """Filterbank (10 ms hop) + stacking subsampling, optionally after a
    waveform downsampler, as in the Conformer recipes."""
    parts = {
        "normalizer": InputNormalization(norm_type="sentence"),
        "subsampler": subsampler(factor),
    }
    if downsampling is None:
        frontend = FeatureFrontend(Fbank(n_mels=WIDTH), **parts)
    else:
        down = WaveformDownsampler(*downsampling)
        features = downsampled_fbank(down, n_mels=WIDTH)
        frontend = DownsampledFeatureFrontend(down, features=features, **parts)
    stack = PointwiseStack(WIDTH, 1)
    return EarlyExitCTC(frontend, stack, WIDTH, 5, ctc_upsampling=ctc_upsampling).eval()


def ssl_model():
    frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    return EarlyExitCTC(frontend, stack, size, 5).eval()


def output_frames(model, num_samples):
    with torch.inference_mode():
        wav = torch.randn(1, num_samples)
        return model.exit_log_probs(wav, torch.ones(1), 1).shape[1]


@pytest.mark.parametrize(
    "build, stride, receptive_field, per_step",
    [
        # 160-sample hop x 4; a centred STFT frame per hop, 4 of them needed.
        (lambda: fbank_model(4), 640, 480, 1),
        (lambda: fbank_model(2), 320, 160, 1),
        # Waveform downsampling by 2 doubles the filterbank's hop.
        (lambda: fbank_model(4, ("avg", 2)), 1280, None, 1),
        (lambda: fbank_model(4, ctc_upsampling=True), 640, 480, 2),
        # TINY_CONFIG's CNN: kernels (10, 3), strides (5, 2).
        (ssl_model, 10, 20, 1),
        (lambda: local_model(stride=40, kernel=80), 40, 80, 1),
    ],
)
def test_geometry_of_each_front_end(build, stride, receptive_field, per_step):
    model = build()
    geometry = measure_frame_geometry(model)
    assert geometry.stride == stride and geometry.frames_per_step == per_step
    if receptive_field is not None:
        assert geometry.receptive_field == receptive_field
    for num_samples in (geometry.receptive_field, 3001, 16000, 21457):
        assert geometry.output_frames(num_samples) == output_frames(model, num_samples)


def test_a_front_end_with_an_irregular_frame_rate_is_refused():
    class Irregular(torch.nn.Module):
        def forward(self, wavs, rel_lens):
            frames = int(wavs.shape[1] ** 0.5)
            return torch.zeros(1, frames, 2)

    model = torch.nn.Module()
    model.frontend = Irregular()
    with pytest.raises(ValueError, match="regular grid"):
        measure_frame_geometry(model)


GEOMETRY = FrameGeometry(stride=640, receptive_field=480)


def test_default_hop_is_an_eighth_of_the_window_on_the_frame_grid():
    plan = plan_windows(GEOMETRY, 20.48)
    assert (plan.window, plan.hop) == (327680, 40960)
    assert plan_windows(GEOMETRY, 20).hop == 62 * 640
    assert plan_windows(GEOMETRY, 0.04).hop == 640
    assert plan_windows(GEOMETRY, 20, hop=2.56).hop == 40960


@pytest.mark.parametrize(
    "window, hop, message",
    [
        (20.01, None, "window=20.01 s is not a positive multiple"),
        (-4, None, "window=-4 s is not a positive multiple"),
        (20, 2.5, "hop=2.5 s is not a positive multiple .* hop=2.48 or hop=2.52"),
        (20, 20.04, "hop=20.04 s is larger than window=20"),
        (20, 0, "hop=0 s is not a positive multiple"),
    ],
)
def test_bad_window_or_hop_is_refused_naming_the_key(window, hop, message):
    with pytest.raises(ValueError, match=message):
        plan_windows(GEOMETRY, window, hop)


def test_window_shorter_than_the_receptive_field_is_refused():
    geometry = FrameGeometry(stride=320, receptive_field=400)
    with pytest.raises(ValueError, match="window=0.02 s is shorter than the model"):
        plan_windows(geometry, 0.02)
    assert plan_windows(geometry, 0.04).read_length == 720


def test_probing_moves_no_statistics_and_keeps_the_mode():
    model = fbank_model(4)
    normalizer = InputNormalization(norm_type="global")
    model.frontend.normalizer = normalizer
    with torch.no_grad():
        model.frontend(torch.randn(2, 16000), torch.ones(2))
    mean, count = normalizer.glob_mean.clone(), normalizer.count
    model.train()
    assert measure_frame_geometry(model).stride == 640
    assert model.frontend.training and normalizer.count == count
    assert torch.equal(normalizer.glob_mean, mean)
