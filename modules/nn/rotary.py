"""Rotary position embeddings with a chosen base ``theta``.

Rotary embeddings (RoFormer, Su et al. 2021, arXiv 2104.09864) rotate every
pair ``(2i, 2i + 1)`` of a query's and a key's head dimensions by the angle
``position * theta ** (-2i / head_dim)``, so that attention scores depend only
on the distance between frames. SpeechBrain 1.1.2's ``RoPEMHA`` fixes
``theta`` at 10,000; long-context ASR (Flynn & Ragni 2023, arXiv 2310.15672)
compares 10,000 with 1,500,000, whose slowest rotations span far longer
recordings.

:class:`RoPEMHAWithTheta` is SpeechBrain's ``RoPEMHA`` (same weights, same
state_dict keys, same attention computation) with only the rotation changed:
while one of its instances runs, the module-level rotation function of
``speechbrain.nnet.attention`` (``_rope_rotate``, which ``RoPEMHA.forward``
calls for queries and keys) rotates with that instance's ``theta``
(:func:`rotate_pairs`). The choice travels in a context variable, so
SpeechBrain's own ``RoPEMHA``, other threads and other modules keep
SpeechBrain's rotation.
"""

import contextvars
import math

import torch
from speechbrain.nnet.attention import RoPEMHA, memoise_at_least

SPEECHBRAIN_ROPE_THETA = 10000.0

_ACTIVE_THETA = contextvars.ContextVar("active_rope_theta", default=None)
# Where RoPEMHA.forward looks its rotation function up (its module's globals).
_SPEECHBRAIN_NAMESPACE = RoPEMHA.forward.__globals__
_SPEECHBRAIN_ROTATE = _SPEECHBRAIN_NAMESPACE.get("_rope_rotate")


def rotary_frequencies(head_dim, theta):
    """Rotation frequency of each dimension pair: ``theta ** (-2i / head_dim)``.

    Arguments
    ---------
    head_dim : int
        Size of one attention head (even).
    theta : float
        Base of the frequencies.

    Returns
    -------
    torch.Tensor
        ``[head_dim // 2]`` frequencies in float64, from 1 down.

    Example
    -------
    >>> rotary_frequencies(4, 100.0).tolist()
    [1.0, 0.1]
    """
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
    return torch.tensor(float(theta), dtype=torch.float64) ** -exponents


@memoise_at_least(lambda length: 2 ** math.ceil(math.log2(length)))
def _rotation_table(length, head_dim, theta, dtype, device):
    """``exp(i * t * f)`` for every position ``t < length`` and frequency
    ``f``: ``[length, head_dim // 2]`` of complex ``dtype``.

    Angles are computed in float64 (positions of hour-long recordings times
    the fastest frequency keep their precision) and cached for the next power
    of two of ``length``, as SpeechBrain does for its own table.
    """
    positions = torch.arange(length, dtype=torch.float64)
    angles = torch.outer(positions, rotary_frequencies(head_dim, theta))
    rotations = torch.polar(torch.ones_like(angles), angles)
    return rotations.to(device=device, dtype=dtype)


def rotate_pairs(x, theta):
    """Rotate each pair ``(2i, 2i + 1)`` of ``x`` by its position's angle.

    Each pair is read as the complex number ``x[2i] + i x[2i + 1]`` and
    multiplied by ``exp(i * t * theta ** (-2i / head_dim))`` (the complex form
    of RoFormer's rotation), in float32 for half-precision inputs.

    Arguments
    ---------
    x : torch.Tensor
        Queries or keys ``[batch, time, heads, head_dim]`` (``head_dim`` even),
        frame ``t`` being at position ``t``.
    theta : float
        Base of the rotation frequencies.

    Returns
    -------
    torch.Tensor
        The rotated ``x``, same shape and dtype.

    Example
    -------
    >>> x = torch.tensor([1.0, 0.0, 1.0, 0.0]).expand(1, 3, 1, 4)
    >>> rotate_pairs(x, 100.0)[0, 2, 0]  # angles 2 * 1 and 2 * 0.1
    tensor([-0.4161,  0.9093,  0.9801,  0.1987])
    """
    length, head_dim = x.shape[1], x.shape[-1]
    if head_dim % 2:
        raise ValueError(f"rotary embeddings need an even head size, got {head_dim}")
    real, complex_ = torch.float32, torch.complex64
    if x.dtype == torch.float64:
        real, complex_ = torch.float64, torch.complex128
    table = _rotation_table(length, head_dim, float(theta), complex_, x.device)
    pairs = x.to(real).unflatten(-1, (head_dim // 2, 2)).contiguous()
    rotated = torch.view_as_complex(pairs) * table[:length, None]
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)


def _rotate_with_active_theta(x):
    """SpeechBrain's rotation, or :func:`rotate_pairs` inside a
    :class:`RoPEMHAWithTheta` forward."""
    theta = _ACTIVE_THETA.get()
    if theta is None:
        return _SPEECHBRAIN_ROTATE(x)
    return rotate_pairs(x, theta)


def _route_speechbrain_rotation():
    """Make ``speechbrain.nnet.attention`` rotate through
    :func:`_rotate_with_active_theta` (idempotent)."""
    if _SPEECHBRAIN_ROTATE is None:
        raise RuntimeError(
            "rope_theta needs speechbrain.nnet.attention._rope_rotate, which "
            "this SpeechBrain version does not have; install the version "
            "pinned in requirements.txt (speechbrain==1.1.2)"
        )
    _SPEECHBRAIN_NAMESPACE["_rope_rotate"] = _rotate_with_active_theta


class RoPEMHAWithTheta(RoPEMHA):
    """SpeechBrain's ``RoPEMHA`` with the rotation base ``rope_theta``.

    Arguments
    ---------
    embed_dim : int
        Model width.
    num_heads : int
        Number of attention heads.
    dropout : float
        Attention dropout.
    rope_theta : float
        Base of the rotation frequencies (10,000 is SpeechBrain's).

    Example
    -------
    >>> _ = torch.manual_seed(0)
    >>> attn = RoPEMHAWithTheta(8, 2, rope_theta=1.5e6)
    >>> x = torch.rand(2, 5, 8)
    >>> attn(x, x, x)[0].shape
    torch.Size([2, 5, 8])
    >>> sorted(attn.state_dict()) == sorted(RoPEMHA(8, 2).state_dict())
    True
    """

    def __init__(
        self, embed_dim, num_heads, dropout=0.0, rope_theta=SPEECHBRAIN_ROPE_THETA
    ):
        super().__init__(embed_dim, num_heads, dropout=dropout)
        _route_speechbrain_rotation()
        self.rope_theta = float(rope_theta)

    @classmethod
    def from_speechbrain(cls, layer, rope_theta):
        """The same attention as SpeechBrain's ``RoPEMHA`` ``layer`` (its
        weights copied) with base ``rope_theta``."""
        if layer.vbias is not None or not layer._qkv_same_embed_dim:
            raise ValueError(
                "rope_theta supports RoPEMHA as the Conformer builds it (no "
                "value bias, vdim equal to d_model)"
            )
        if layer.head_dim % 2:
            raise ValueError(
                "positional_encoding: rotary needs an even head size d_model / "
                f"nhead; got d_model={layer.embed_dim}, nhead={layer.num_heads}"
            )
        rotary = cls(layer.embed_dim, layer.num_heads, layer.dropout, rope_theta)
        rotary.load_state_dict(layer.state_dict())
        return rotary

    def forward(self, *args, **kwargs):
        """``RoPEMHA.forward``, rotating with ``rope_theta``."""
        token = _ACTIVE_THETA.set(self.rope_theta)
        try:
            return super().forward(*args, **kwargs)
        finally:
            _ACTIVE_THETA.reset(token)

    def extra_repr(self):
        """Shown by ``print(model)``."""
        return f"rope_theta={self.rope_theta:g}"


def set_rope_theta(conformer_layers, rope_theta):
    """Give every SpeechBrain ``ConformerEncoderLayer`` of ``conformer_layers``
    (built with ``attention_type="RoPEMHA"``) the rotation base
    ``rope_theta``, keeping its weights and state_dict keys.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> encoder = ConformerEncoder(2, 8, 16, 2, attention_type="RoPEMHA")
    >>> set_rope_theta(encoder.layers, 1.5e6)
    >>> encoder.layers[1].mha_layer
    RoPEMHAWithTheta(
      rope_theta=1.5e+06
      (out_proj): Linear(in_features=8, out_features=8, bias=True)
    )
    """
    for layer in conformer_layers:
        layer.mha_layer = RoPEMHAWithTheta.from_speechbrain(layer.mha_layer, rope_theta)
