"""Waveform downsampling, alone and through the recipe YAMLs."""

import math
import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.downsampling import (
    Conv1DDownsampler,
    PoolingDownsampler,
    SignalDownsampler,
)

from benchmark import macs
from modules.nn.downsampling import WaveformDownsampler
from modules.nn.heads import UpsampledCTCHead
from modules.training.run_setup import configure_efficiency
from tests.paths import REPO_ROOT as ROOT

SAMPLE_RATE, NUM_SAMPLES = 16000, 8000


def expected_length(method, factor, kernel_size):
    if method == "signal":
        return math.ceil(NUM_SAMPLES / factor)
    return (NUM_SAMPLES - kernel_size) // factor + 1


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("method", ["signal", "conv", "avg"])
def test_shapes_and_rates(method, factor):
    down = WaveformDownsampler(method, factor)
    lens = torch.tensor([1.0, 0.6])
    wavs, out_lens = down(torch.randn(2, NUM_SAMPLES), lens)
    assert wavs.shape == (2, expected_length(method, factor, down.kernel_size))
    assert torch.equal(out_lens, lens)
    assert down.output_sample_rate == SAMPLE_RATE / factor
    if method != "signal":
        assert down.kernel_size == {"conv": 40, "avg": 5}[method] * factor + 1


@pytest.mark.parametrize("method", ["none", None])
def test_none_keeps_the_waveform(method):
    wavs, lens = torch.randn(2, 100), torch.tensor([1.0, 0.5])
    down = WaveformDownsampler(method, 1)
    assert down(wavs, lens) == (wavs, lens)
    assert down.factor == 1 and list(down.parameters()) == []


def test_a_factor_without_a_method_is_an_error():
    with pytest.raises(
        ValueError, match="downsampling_factor=4 has no effect.*downsampling_method"
    ):
        WaveformDownsampler(None, 4)


def test_learned_conv_is_trainable():
    torch.manual_seed(0)
    down = WaveformDownsampler("conv", 2, kernel_size=9)
    params = list(down.parameters())
    assert [p.shape for p in params] == [(1, 1, 9), (1,)]
    assert all(p.requires_grad for p in params)
    wavs, lens = torch.randn(2, 400), torch.ones(2)
    before = down(wavs, lens)[0].detach()
    optimizer = torch.optim.SGD(down.parameters(), lr=0.1)
    down(wavs, lens)[0].pow(2).mean().backward()
    optimizer.step()
    assert not torch.allclose(down(wavs, lens)[0], before)


def test_conv_starts_as_a_low_pass_filter():
    down = WaveformDownsampler("conv", 2)
    constant = torch.full((1, 1000), 0.5)
    torch.testing.assert_close(
        down(constant, torch.ones(1))[0], torch.full((1, 460), 0.5)
    )
    random = WaveformDownsampler("conv", 2, conv_init="random").layer.weight
    assert not torch.allclose(random, down.layer.weight)


def test_avg_equals_hand_computation():
    wavs = torch.arange(10.0).unsqueeze(0)
    down, _ = WaveformDownsampler("avg", 3, kernel_size=4)(wavs, torch.ones(1))
    # windows [0..3], [3..6], [6..9]
    assert down.tolist() == [[1.5, 4.5, 7.5]]


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_signal_resampling_preserves_a_low_frequency_sine(factor):
    frequency = 200.0
    time = torch.arange(NUM_SAMPLES) / SAMPLE_RATE
    wave = torch.sin(2 * math.pi * frequency * time).unsqueeze(0)
    down = WaveformDownsampler("signal", factor)
    resampled = down(wave, torch.ones(1))[0][0]
    spectrum = torch.fft.rfft(resampled).abs()
    frequencies = torch.fft.rfftfreq(len(resampled), d=1 / down.output_sample_rate)
    assert abs(frequencies[spectrum.argmax()].item() - frequency) <= 2.0
    expected = torch.sin(
        2 * math.pi * frequency * torch.arange(len(resampled)) * factor / SAMPLE_RATE
    )
    middle = slice(50, -50)  # away from the edges of the sinc filter
    torch.testing.assert_close(resampled[middle], expected[middle], atol=0.02, rtol=0)


@pytest.mark.parametrize("factor", [1.5, 0, -2, "2", True, None])
def test_bad_factor_names_the_key(factor):
    with pytest.raises(ValueError, match="downsampling_factor"):
        WaveformDownsampler("conv", factor)


def test_integral_float_factor_is_accepted():
    assert WaveformDownsampler("avg", 3.0).factor == 3


def test_unknown_method_names_the_key_and_choices():
    with pytest.raises(
        ValueError, match="downsampling_method='pool'.*none, signal, conv, avg"
    ):
        WaveformDownsampler("pool", 2)


@pytest.mark.parametrize("kernel_size", [0, 2.5])
def test_bad_kernel_names_the_key(kernel_size):
    with pytest.raises(ValueError, match="downsampling_kernel"):
        WaveformDownsampler("avg", 2, kernel_size=kernel_size)


@pytest.mark.parametrize("method", ["conv", "avg"])
def test_kernel_longer_than_shortest_utterance(method):
    down = WaveformDownsampler(method, 2, kernel_size=81)
    with pytest.raises(
        ValueError, match=r"downsampling_kernel=81.*utterance 1 .*60 samples"
    ):
        down(torch.randn(2, 100), torch.tensor([1.0, 0.6]))
    assert down(torch.randn(2, 100), torch.tensor([1.0, 0.81]))[0].shape == (2, 10)


def test_kernel_longer_than_min_duration_is_a_start_up_error():
    WaveformDownsampler("conv", 4).check_min_duration(0.5)
    WaveformDownsampler("signal", 4).check_min_duration(0.0001)
    WaveformDownsampler("avg", 2, kernel_size=9000).check_min_duration(None)
    with pytest.raises(
        ValueError, match=r"downsampling_kernel=9000 .*min_duration=0.5 s = 8000"
    ):
        WaveformDownsampler("avg", 2, kernel_size=9000).check_min_duration(0.5)


# --------------------------------------------------------------------------
# SpeechBrain's speechbrain.lobes.downsampling, the reference it is not
# replaced by (see WaveformDownsampler)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_avg_equals_speechbrain_pooling_downsampler(factor):
    down = WaveformDownsampler("avg", factor)
    wavs = torch.randn(2, SAMPLE_RATE)
    reference = PoolingDownsampler(factor, down.kernel_size)(wavs)
    torch.testing.assert_close(down(wavs, torch.ones(2))[0], reference, atol=0, rtol=0)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_conv_equals_speechbrain_conv1d_downsampler_with_the_same_weights(factor):
    down = WaveformDownsampler("conv", factor)
    reference = Conv1DDownsampler(factor, down.kernel_size)
    assert [name for name, _ in reference.named_parameters()] == [
        "downsampler.conv.weight",
        "downsampler.conv.bias",
    ]
    assert not torch.allclose(reference.downsampler.conv.weight, down.layer.weight)
    with torch.no_grad():
        reference.downsampler.conv.weight.copy_(down.layer.weight)
        reference.downsampler.conv.bias.copy_(down.layer.bias)
        wavs = torch.randn(2, SAMPLE_RATE)
        torch.testing.assert_close(
            down(wavs, torch.ones(2))[0], reference(wavs), atol=0, rtol=0
        )


@pytest.mark.parametrize("factor", [2, 4])
def test_signal_equals_speechbrain_signal_downsampler_at_divisors_of_16000(factor):
    wavs = torch.randn(2, SAMPLE_RATE)
    ours = WaveformDownsampler("signal", factor)(wavs, torch.ones(2))[0]
    reference = SignalDownsampler(factor, SAMPLE_RATE)(wavs)
    torch.testing.assert_close(ours, reference, atol=0, rtol=0)


def test_speechbrain_signal_downsampler_rounds_the_rate_at_factor_3():
    wavs = torch.randn(1, SAMPLE_RATE)
    reference = SignalDownsampler(3, SAMPLE_RATE)
    assert reference.target_ds_rate == 5333
    assert reference(wavs).shape == (1, 5333)
    assert WaveformDownsampler("signal", 3)(wavs, torch.ones(1))[0].shape == (1, 5334)


# --------------------------------------------------------------------------
# The keys of the recipe YAMLs
# --------------------------------------------------------------------------


RECIPE = os.path.join(ROOT, "hparams", "conformer_ctc_baseline.yaml")


def load_recipe(tmp_path, **overrides):
    """The baseline recipe YAML with ``overrides`` (2 layers for speed)."""
    overrides = {"output_folder": str(tmp_path), "num_layers": 2, **overrides}
    with open(RECIPE) as fin:
        return load_hyperpyyaml(fin, overrides)


def encoder_frames(hparams, seconds=2):
    wavs = torch.randn(1, int(seconds * SAMPLE_RATE))
    return hparams["frontend"].eval()(wavs, torch.ones(1)).shape[1]


@pytest.mark.parametrize("method", ["signal", "conv", "avg"])
def test_recipe_yaml_divides_the_encoder_frames(tmp_path, method):
    baseline = encoder_frames(load_recipe(tmp_path))
    assert baseline == 50  # 2 s: 201 filterbank frames, stacked by 4
    for factor in (2, 3, 4):
        hparams = load_recipe(
            tmp_path, downsampling_method=method, downsampling_factor=factor
        )
        assert abs(encoder_frames(hparams) - baseline / factor) <= 1


def test_recipe_yaml_upsampling_heads(tmp_path):
    hparams = load_recipe(
        tmp_path, downsampling_method="avg", downsampling_factor=4, ctc_upsampling=True
    )
    model = hparams["model"].eval()
    assert all(isinstance(head, UpsampledCTCHead) for head in model.heads)
    log_probs = model(torch.randn(1, 2 * SAMPLE_RATE), torch.ones(1))[-1]
    assert log_probs.shape == (1, 2 * 12, hparams["output_neurons"])


def test_no_downsampling_keeps_the_parameter_names(tmp_path):
    names = set(load_recipe(tmp_path)["model"].state_dict())
    conv = load_recipe(tmp_path, downsampling_method="conv", downsampling_factor=2)
    assert not any("downsampler" in name for name in names)
    assert set(conv["model"].state_dict()) - names == {
        "frontend.downsampler.layer.weight",
        "frontend.downsampler.layer.bias",
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"downsampling_method": "pool"}, "downsampling_method='pool'"),
        ({"downsampling_method": "conv", "downsampling_factor": 1.5}, "factor=1.5"),
        ({"downsampling_method": "conv", "downsampling_factor": 0}, "factor=0"),
        ({"downsampling_factor": 2}, "downsampling_factor=2 has no effect"),
        ({"downsampling_method": "avg", "downsampling_kernel": 2.5}, "kernel=2.5"),
        ({"ctc_upsampling": "yes"}, "ctc_upsampling='yes'"),
    ],
)
def test_bad_recipe_keys_fail_at_load_naming_the_key(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        load_recipe(tmp_path, **overrides)


def test_start_up_checks_the_kernel_against_min_duration(tmp_path):
    hparams = load_recipe(
        tmp_path, downsampling_method="conv", downsampling_kernel=8001
    )
    with pytest.raises(ValueError, match="downsampling_kernel=8001.*min_duration"):
        configure_efficiency(hparams)
    hparams = load_recipe(tmp_path, downsampling_method="conv", min_duration=1.0)
    configure_efficiency(hparams)


def encoder_macs(model, wavs, rel_lens):
    """MACs of the encoder alone (front-end and heads excluded)."""
    return macs.encoder_macs(macs.count_macs(model, wavs, rel_lens, depth=2))


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_encoder_macs_drop_at_least_as_the_factor(tmp_path, factor):
    torch.manual_seed(0)
    wavs, lens = torch.randn(2, 4 * SAMPLE_RATE), torch.tensor([1.0, 0.8])
    baseline = encoder_macs(load_recipe(tmp_path)["model"], wavs, lens)
    hparams = load_recipe(
        tmp_path, downsampling_method="signal", downsampling_factor=factor
    )
    ratio = encoder_macs(hparams["model"], wavs, lens) / baseline
    # linear in frames, plus attention's quadratic term: 1/f^2 < ratio <= 1/f
    assert 1 / factor**2 < ratio <= 1.05 / factor
