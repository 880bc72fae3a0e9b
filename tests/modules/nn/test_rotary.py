"""Rotary attention with a chosen base: the formula, SpeechBrain parity, and
SpeechBrain's own RoPEMHA left untouched."""

import math

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.nnet.attention import RoPEMHA

from modules.nn.rotary import (
    RoPEMHAWithTheta,
    rotary_frequencies,
    rotate_pairs,
    set_rope_theta,
)


def seeded_ropemha(width=16, heads=2):
    torch.manual_seed(0)
    return RoPEMHA(width, heads).eval()


def self_attention(module, x):
    with torch.no_grad():
        return module(x, x, x)[0]


@pytest.mark.parametrize("theta", [10000.0, 1.5e6])
def test_frequencies_are_theta_to_the_minus_2i_over_d(theta):
    head_dim = 6
    expected = [theta ** (-2 * i / head_dim) for i in range(head_dim // 2)]
    assert rotary_frequencies(head_dim, theta).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("theta", [10000.0, 1.5e6])
def test_each_pair_is_rotated_by_position_times_its_frequency(theta):
    torch.manual_seed(0)
    x = torch.randn(1, 7, 2, 4, dtype=torch.float64)
    rotated = rotate_pairs(x, theta)
    for t in range(7):
        for i in range(2):
            angle = t * theta ** (-2 * i / 4)
            a, b = x[0, t, 1, 2 * i].item(), x[0, t, 1, 2 * i + 1].item()
            expected = [
                a * math.cos(angle) - b * math.sin(angle),
                a * math.sin(angle) + b * math.cos(angle),
            ]
            got = rotated[0, t, 1, 2 * i : 2 * i + 2].tolist()
            assert got == pytest.approx(expected, abs=1e-12)


def test_half_precision_inputs_keep_their_dtype():
    torch.manual_seed(0)
    x = torch.randn(2, 9, 2, 8)
    rotated = rotate_pairs(x.to(torch.bfloat16), 1.5e6)
    assert rotated.dtype == torch.bfloat16
    torch.testing.assert_close(
        rotated.float(), rotate_pairs(x, 1.5e6), atol=0.05, rtol=0
    )


def test_scores_of_rotated_queries_and_keys_depend_only_on_the_offset():
    torch.manual_seed(0)
    q = torch.randn(1, 1, 1, 8, dtype=torch.float64).expand(1, 40, 1, 8)
    k = torch.randn(1, 1, 1, 8, dtype=torch.float64).expand(1, 40, 1, 8)
    rq, rk = rotate_pairs(q, 1.5e6)[0, :, 0], rotate_pairs(k, 1.5e6)[0, :, 0]
    assert (rq[3] @ rk[10]).item() == pytest.approx((rq[25] @ rk[32]).item())
    assert (rq[3] @ rk[10]).item() != pytest.approx((rq[3] @ rk[11]).item())


def test_theta_10000_is_speechbrains_ropemha():
    speechbrain = seeded_ropemha()
    ours = RoPEMHAWithTheta.from_speechbrain(speechbrain, 10000.0).eval()
    x = torch.rand(2, 30, 16)
    torch.testing.assert_close(
        self_attention(ours, x), self_attention(speechbrain, x), atol=1e-5, rtol=0
    )


def test_a_larger_theta_changes_the_attention():
    speechbrain = seeded_ropemha()
    short = RoPEMHAWithTheta.from_speechbrain(speechbrain, 10000.0).eval()
    long = RoPEMHAWithTheta.from_speechbrain(speechbrain, 1.5e6).eval()
    x = torch.rand(2, 30, 16)
    difference = (self_attention(short, x) - self_attention(long, x)).abs().max()
    assert difference > 1e-3


def test_speechbrains_ropemha_keeps_base_10000_next_to_ours():
    speechbrain = seeded_ropemha()
    x = torch.rand(2, 30, 16)
    base_10000 = RoPEMHAWithTheta.from_speechbrain(speechbrain, 10000.0).eval()
    expected = self_attention(base_10000, x)
    ours = RoPEMHAWithTheta.from_speechbrain(speechbrain, 1.5e6).eval()
    self_attention(ours, x)
    with pytest.raises(RuntimeError):  # a failing forward resets the base too
        self_attention(ours, torch.rand(2, 30, 12))
    torch.testing.assert_close(
        self_attention(speechbrain, x), expected, atol=1e-5, rtol=0
    )


def test_set_rope_theta_keeps_weights_and_keys():
    torch.manual_seed(0)
    encoder = ConformerEncoder(2, 16, 32, 2, attention_type="RoPEMHA")
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    set_rope_theta(encoder.layers, 1.5e6)
    assert all(layer.mha_layer.rope_theta == 1.5e6 for layer in encoder.layers)
    assert all(
        isinstance(layer.mha_layer, RoPEMHAWithTheta) for layer in encoder.layers
    )
    after = encoder.state_dict()
    assert sorted(after) == sorted(state)
    assert all(torch.equal(after[k], v) for k, v in state.items())


def test_odd_head_size_is_refused_with_the_keys_to_change():
    encoder = ConformerEncoder(1, 12, 16, 4, attention_type="RoPEMHA")
    with pytest.raises(ValueError, match="even head size .* d_model=12, nhead=4"):
        set_rope_theta(encoder.layers, 10000.0)
