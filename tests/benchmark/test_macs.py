"""Tests for benchmark.macs against hand-derived MAC counts.

Convention (see benchmark/macs.py): only the multiplications of matrix
products and convolutions are MACs; biases, norms, activations, softmax and
masking count 0. Attention costs ``Q K^T`` plus ``A V``.
"""

import io

import ptflops
import pytest
import speechbrain.lobes.models.transformer.Conformer as conformer
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.macs import MacCounter, count_macs, count_parameters

B, T, D, H = 2, 12, 16, 4  # batch, time, model dim, heads
DH = D // H


def approx(expected):
    """Model-level counts must match the analytic count within 1%."""
    return pytest.approx(expected, rel=0.01)


def attention_macs(batch, heads, t_q, t_k, d_head):
    """Q K^T plus A V."""
    return 2 * batch * heads * t_q * t_k * d_head


class Call(nn.Module):
    """Wrap a function of tensors as a module for ``count_macs``."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        self.mods = nn.ModuleDict(modules)

    def forward(self, *args):
        return self.fn(self.mods, *args)


@pytest.mark.parametrize(
    "shape", [(B, T, D), (T, B, D), (3, B, T, D), (B * T, D)], ids=str
)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_exact(shape, bias):
    x = torch.randn(*shape)
    if shape[0] == T:  # non-contiguous input: linear -> matmul + add
        x = torch.randn(B, T, D).transpose(0, 1)
    tokens = x.numel() // D
    report = count_macs(nn.Linear(D, 5, bias=bias), x)
    assert report.total == tokens * D * 5
    assert not report.uncounted


@pytest.mark.parametrize(
    "conv, in_shape, out_frames",
    [
        (nn.Conv1d(D, 8, 5), (B, D, T), T - 4),
        (nn.Conv1d(D, 8, 5, stride=2, padding=2), (B, D, T), T // 2),
        (nn.Conv1d(D, D, 7, padding=3, groups=D), (B, D, T), T),  # depthwise
        (nn.Conv1d(D, 8, 3, dilation=2, groups=2), (B, D, T), T - 4),
        (nn.Conv1d(1, 1, 81, stride=3), (B, 1, 400), (400 - 81) // 3 + 1),
    ],
    ids=["plain", "strided", "depthwise", "dilated_grouped", "downsample"],
)
def test_conv1d_exact(conv, in_shape, out_frames):
    c_out, c_in_per_group, kernel = conv.weight.shape
    report = count_macs(conv, torch.randn(*in_shape))
    assert report.total == B * out_frames * c_out * c_in_per_group * kernel
    assert report.by_op == {"aten.convolution": report.total}


def test_conv_transpose_and_conv2d_exact():
    deconv = nn.ConvTranspose1d(D, 8, 4, stride=2)
    # each input element is spread over out_channels x kernel outputs
    assert count_macs(deconv, torch.randn(B, D, T)).total == B * T * D * 8 * 4
    conv2d = nn.Conv2d(3, 6, (3, 5), padding=1)
    out = conv2d(torch.randn(B, 3, 10, 20))
    expected = out.numel() * 3 * 3 * 5
    assert count_macs(conv2d, torch.randn(B, 3, 10, 20)).total == expected


def test_agrees_with_ptflops_where_ptflops_is_right():
    """No bias, grad mode: ptflops' aten backend sees only mm and conv."""
    model = nn.Sequential(nn.Conv1d(D, D, 3, bias=False), nn.Flatten(0, 1))
    model.append(nn.Linear(T - 2, 7, bias=False))
    x = torch.randn(B, D, T)
    theirs, _ = ptflops.get_model_complexity_info(
        model,
        tuple(x.shape),
        input_constructor=lambda _: x,
        backend="aten",
        as_strings=False,
        print_per_layer_stat=False,
        ost=io.StringIO(),
    )
    assert count_macs(model, x).total == theirs


def _sdpa(mods, q, k, v, mask=None, causal=False):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)


@pytest.mark.parametrize("mask", [None, "bool", "float", "causal"])
def test_sdpa(mask):
    q, k, v = (torch.randn(B, H, T, DH) for _ in range(3))
    attn_mask = {
        "bool": torch.ones(T, T, dtype=torch.bool).tril(),
        "float": torch.zeros(B, 1, T, T),
    }.get(mask)
    report = count_macs(Call(_sdpa), q, k, v, attn_mask, mask == "causal")
    assert report.total == approx(attention_macs(B, H, T, T, DH))
    assert report.total == attention_macs(B, H, T, T, DH)


def test_sdpa_cross_attention_and_no_grad_path():
    """Tq != Tk, value dim != key dim; under no_grad (not inference mode)
    the mode sees the CPU flash kernel instead of the composite op."""
    q, k, v = (
        torch.randn(B, H, 5, DH),
        torch.randn(B, H, T, DH),
        torch.randn(B, H, T, 6),
    )
    expected = B * H * 5 * T * (DH + 6)
    assert count_macs(Call(_sdpa), q, k, v).total == expected
    with torch.no_grad(), MacCounter() as counter:
        F.scaled_dot_product_attention(q, k, v)
    assert counter.report().total == expected


def mha_macs(batch, t_q, t_k, dim):
    """4 projections plus the two attention products."""
    return batch * (2 * t_q + 2 * t_k) * dim * dim + attention_macs(
        batch, 1, t_q, t_k, dim
    )


def _self_attention(mods, x, key_padding_mask=None, attn_mask=None):
    with torch.no_grad():
        return mods["mha"](
            x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask
        )[0]


@pytest.mark.parametrize("mask", [None, "key_padding", "attn"])
def test_multihead_attention_fused_path(mask):
    mha = nn.MultiheadAttention(D, H, batch_first=True)
    padding = torch.zeros(B, T, dtype=torch.bool)
    padding[1, 8:] = True
    masks = {
        "key_padding": (padding, None),
        "attn": (None, torch.ones(T, T, dtype=torch.bool).triu(1)),
    }.get(mask, (None, None))
    report = count_macs(Call(_self_attention, mha=mha), torch.randn(B, T, D), *masks)
    assert "aten._native_multi_head_attention" in report.by_op  # fast path taken
    assert report.total == approx(mha_macs(B, T, T, D))
    with torch.no_grad(), MacCounter() as counter:  # eval + no_grad, no inference
        mha.eval()(torch.randn(B, T, D), *([torch.randn(B, T, D)] * 2))
    assert counter.report().total == approx(mha_macs(B, T, T, D))


def test_multihead_attention_masked_slow_path_uses_baddbmm():
    """Sequence-first with need_weights: Q K^T goes to baddbmm with a mask."""
    mha = nn.MultiheadAttention(D, H)
    x = torch.randn(T, B, D)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    report = count_macs(mha, x, x, x, attn_mask=mask)
    assert report.by_op["aten.baddbmm"] == B * H * T * T * DH
    assert report.total == approx(mha_macs(B, T, T, D))


def test_fused_transformer_encoder_layer():
    layer = nn.TransformerEncoderLayer(D, H, dim_feedforward=32, batch_first=True)
    with torch.no_grad():
        report = count_macs(layer, torch.randn(B, T, D))
    assert "aten._transformer_encoder_layer_fwd" in report.by_op
    assert report.total == approx(mha_macs(B, T, T, D) + 2 * B * T * D * 32)


def test_recurrent_layers():
    lstm = nn.LSTM(D, 8, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(B, T, D)
    per_token = 2 * (4 * 8 * (D + 8) + 4 * 8 * (2 * 8 + 8))
    assert count_macs(lstm, x).total == B * T * per_token
    gru = nn.GRU(D, 8)
    assert count_macs(gru, x.transpose(0, 1)).total == B * T * 3 * 8 * (D + 8)


def conformer_layer_macs(attention_type, batch, time, d, d_ffn, kernel):
    """Analytic MACs of one SpeechBrain ConformerEncoderLayer (bias-free
    convention), read off speechbrain/lobes/models/transformer/Conformer.py
    and speechbrain/nnet/attention.py (SpeechBrain 1.1)."""
    tokens = batch * time
    # two macaron FFN modules: Linear(d, d_ffn) then Linear(d_ffn, d)
    ffn = 2 * (2 * tokens * d * d_ffn)
    # conv module: pointwise Conv1d(d, 2d, 1) + GLU, depthwise Conv1d(d, d, k,
    # groups=d, 'same' padding), pointwise Linear(d, d)
    conv = tokens * d * 2 * d + tokens * d * kernel + tokens * d * d
    if attention_type == "RelPosMHAXL":
        pos = 2 * time - 1  # RelPosEncXL length, batch 1
        mhsa = (
            tokens * d * 3 * d  # packed in_proj (no bias)
            + pos * d * d  # linear_pos on the positional embeddings
            + tokens * time * d  # content term (q + u) K^T, all heads
            + tokens * pos * d  # position term (q + v) P^T before rel_shift
            + tokens * time * d  # A V
            + tokens * d * d  # out_proj
        )
    else:  # regularMHA: torch.nn.MultiheadAttention
        mhsa = mha_macs(batch, time, time, d)
    return ffn + conv + mhsa


@pytest.mark.parametrize("attention_type", ["RelPosMHAXL", "regularMHA"])
@pytest.mark.parametrize("padded", [False, True])
def test_speechbrain_conformer_encoder(attention_type, padded):
    from speechbrain.nnet.attention import RelPosEncXL

    layers, d, heads, d_ffn, kernel, time = 2, 64, 4, 128, 7, 20
    encoder = conformer.ConformerEncoder(
        layers, d, d_ffn, heads, kernel_size=kernel, attention_type=attention_type
    )
    x = torch.randn(B, time, d)
    pos_embs = RelPosEncXL(d)(x) if attention_type == "RelPosMHAXL" else None
    padding = torch.zeros(B, time, dtype=torch.bool)
    padding[1, 15:] = True
    report = count_macs(
        encoder,
        x,
        src_key_padding_mask=padding if padded else None,
        pos_embs=pos_embs,
    )
    per_layer = conformer_layer_macs(attention_type, B, time, d, d_ffn, kernel)
    assert report.total == approx(layers * per_layer)
    assert report.by_module["layers.0"] == approx(per_layer)
    assert not report.uncounted


def test_uncounted_matmul_like_op_warns():
    @torch.library.custom_op("macs_test::opaque_mm", mutates_args=())
    def opaque_mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b

    model = Call(lambda mods, a: opaque_mm(a, a))
    with pytest.warns(UserWarning, match="opaque_mm"):
        report = count_macs(model, torch.randn(4, 4))
    assert report.uncounted == {"macs_test.opaque_mm": 1}


def test_model_state_is_restored():
    from torch.nn.modules import module as torch_module

    n_global = len(torch_module._global_forward_hooks)
    model = nn.Sequential(nn.Linear(D, D), nn.Dropout(0.5)).train()
    count_macs(model, torch.randn(B, D))
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model)
    assert len(torch_module._global_forward_hooks) == n_global


def test_count_parameters():
    shared = nn.Linear(D, D)
    model = nn.Sequential(shared, shared, nn.Linear(D, 2))
    model[2].bias.requires_grad_(False)
    assert count_parameters(model) == D * D + D + D * 2 + 2
    assert count_parameters(model, trainable_only=True) == D * D + D + D * 2
