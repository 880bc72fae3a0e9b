"""How many MACs each ATen op costs: one rule per op, from argument shapes.

:data:`RULES` maps an ATen op packet to ``rule(bound_args, output) -> MACs``
(the convention is in :mod:`benchmark.macs`); :func:`bind_arguments` names an
op's arguments as its schema does, so that rules read them by name;
:data:`MATMUL_LIKE` matches the names of ops that probably multiply matrices
(seen without a rule, they are reported as uncounted).

Example
-------
>>> import torch
>>> a, b = torch.zeros(2, 3), torch.zeros(3, 4)
>>> rule = RULES[torch.ops.aten.mm]
>>> rule(bind_arguments(torch.ops.aten.mm.default, (a, b), {}), a @ b)
24
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import torch

aten = torch.ops.aten

# Names of leaf ops that probably multiply matrices; seen without a rule, they
# are reported as uncounted rather than silently counted as 0.
MATMUL_LIKE = re.compile(
    r"mm|conv|attention|linear|lstm|gru|rnn|einsum|tensordot", re.IGNORECASE
)


def _prod(values) -> int:
    return math.prod(int(v) for v in values)


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _matmul_rule(left: str, right: str) -> Callable[[dict, Any], int]:
    """Rule for ``[..., n, k] @ [..., k, m]``: ``prod(left.shape) * m``."""

    def rule(a: dict, out: Any) -> int:
        return _prod(a[left].shape) * a[right].shape[-1]

    return rule


def _matvec_rule(left: str) -> Callable[[dict, Any], int]:
    """Rule for matrix-vector and dot products: ``left.numel()``."""

    def rule(a: dict, out: Any) -> int:
        return _prod(a[left].shape)

    return rule


def _conv(a: dict, out: Any) -> int:
    """Convolution: each output (input, if transposed) element costs
    ``in_channels / groups * kernel_volume`` (``out_channels / groups *
    kernel_volume``) MACs, i.e. ``prod(weight.shape[1:])`` either way."""
    weight = a["weight"]
    data = a.get("input", a.get("self"))
    scaled = data if a.get("transposed", False) else _first(out)
    return _prod(scaled.shape) * _prod(weight.shape[1:])


def _conv_tbc(a: dict, out: Any) -> int:
    """``conv_tbc``: weight ``[K, C_in, C_out]``, output ``[T, B, C_out]``."""
    kernel, c_in = a["weight"].shape[:2]
    return _prod(_first(out).shape) * kernel * c_in


def _sdpa(a: dict, out: Any) -> int:
    """Attention ``[..., Tq, E] x [..., Tk, E]`` then ``[..., Tk, Ev]``."""
    q, k, v = a["query"], a["key"], a["value"]
    return _prod(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])


def _mha_macs(batch: int, t_q: int, t_k: int, dim: int) -> int:
    """Self/cross attention with 4 ``dim x dim`` projections, ``H*d_head=dim``."""
    projections = (2 * t_q + 2 * t_k) * dim * dim
    return batch * (projections + 2 * t_q * t_k * dim)


def _native_mha(a: dict, out: Any) -> int:
    """Fused ``nn.MultiheadAttention`` (eval, no grad, batch first)."""
    batch, t_q, dim = a["query"].shape
    return _mha_macs(batch, t_q, a["key"].shape[1], dim)


def _encoder_layer(a: dict, out: Any) -> int:
    """Fused ``nn.TransformerEncoderLayer`` (eval, no grad, batch first)."""
    batch, time, dim = a["src"].shape
    ffn = a["ffn_weight_1"].shape[0]
    return _mha_macs(batch, time, time, dim) + 2 * batch * time * dim * ffn


def _rnn(a: dict, out: Any) -> int:
    """``lstm``/``gru``/``rnn_*``: every weight matrix (input, hidden and
    projection weights of all layers and directions) multiplies one vector per
    token; packed sequences (``data`` overload) count real tokens only."""
    data = a.get("input", a.get("data"))
    matrices = sum(p.numel() for p in a["params"] if p.dim() == 2)
    return _prod(data.shape[:-1]) * matrices


_SDPA_OPS = (
    "scaled_dot_product_attention",
    "_scaled_dot_product_attention_math",
    "_scaled_dot_product_attention_math_for_mps",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
)
_CONV_OPS = (
    "convolution",
    "_convolution",
    "convolution_overrideable",
    "mkldnn_convolution",
    "cudnn_convolution",
    "_slow_conv2d_forward",
    "slow_conv3d_forward",
    "thnn_conv2d",
)


def _build_rules() -> dict:
    rules = {
        "mm": _matmul_rule("self", "mat2"),
        "bmm": _matmul_rule("self", "mat2"),
        "_int_mm": _matmul_rule("self", "mat2"),
        "addmm": _matmul_rule("mat1", "mat2"),
        "_addmm_activation": _matmul_rule("mat1", "mat2"),
        "baddbmm": _matmul_rule("batch1", "batch2"),
        "addbmm": _matmul_rule("batch1", "batch2"),
        "mv": _matvec_rule("self"),
        "addmv": _matvec_rule("mat"),
        "dot": _matvec_rule("self"),
        "vdot": _matvec_rule("self"),
        "conv_tbc": _conv_tbc,
        "_native_multi_head_attention": _native_mha,
        "_transformer_encoder_layer_fwd": _encoder_layer,
        "lstm": _rnn,
        "gru": _rnn,
        "rnn_tanh": _rnn,
        "rnn_relu": _rnn,
    }
    rules.update({name: _sdpa for name in _SDPA_OPS})
    rules.update({name: _conv for name in _CONV_OPS})
    return {getattr(aten, k): r for k, r in rules.items() if hasattr(aten, k)}


RULES: dict = _build_rules()
"""ATen op packet -> ``rule(bound_args: dict, output) -> MACs``."""


def bind_arguments(func, args: tuple, kwargs: dict) -> dict:
    """Map an op's positional and keyword arguments to their schema names."""
    bound = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args):
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound
