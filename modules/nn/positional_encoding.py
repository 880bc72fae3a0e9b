"""How the Conformer knows where a frame is: one YAML key, four choices.

``positional_encoding`` names the choice; it fixes both the attention of
SpeechBrain's ``ConformerEncoder`` (its ``attention_type``, through
:func:`conformer_attention_type`) and what
:class:`modules.nn.encoders.ConformerLayerStack` adds to its input:

============  ===================  ==========================================
choice        attention_type       positional information
============  ===================  ==========================================
``relative``  ``RelPosMHAXL``      Transformer-XL relative embeddings
                                   (``RelPosEncXL``) given to every layer
``rotary``    ``RoPEMHA``          queries and keys rotated by position, base
                                   ``rope_theta`` (:mod:`modules.nn.rotary`)
``sine``      ``regularMHA``       absolute sinusoids added to the input once
``none``      ``regularMHA``       nothing: only the convolutions see order
============  ===================  ==========================================

In a YAML (``relative`` is the default of every recipe)::

    positional_encoding: relative
    rope_theta: 10000.0
    encoder: !new:modules.nn.encoders.ConformerLayerStack
      positional_encoding: !ref <positional_encoding>
      rope_theta: !ref <rope_theta>
      encoder: !new:speechbrain.lobes.models.transformer.Conformer.ConformerEncoder
        attention_type: !apply:modules.nn.positional_encoding.conformer_attention_type
          [!ref <positional_encoding>]
        ...
"""

import math

import torch
from speechbrain.nnet.attention import RelPosEncXL

from modules.nn.rotary import SPEECHBRAIN_ROPE_THETA, rotary_frequencies

ATTENTION_TYPES = {
    "relative": "RelPosMHAXL",
    "rotary": "RoPEMHA",
    "sine": "regularMHA",
    "none": "regularMHA",
}
SINE_BASE = 10000.0
YAML_ATTENTION_TYPE = (
    "attention_type: !apply:modules.nn.positional_encoding."
    "conformer_attention_type [!ref <positional_encoding>]"
)


def conformer_attention_type(positional_encoding):
    """The ``ConformerEncoder`` ``attention_type`` of a positional encoding.

    Arguments
    ---------
    positional_encoding : str
        ``relative``, ``rotary``, ``sine`` or ``none``.

    Returns
    -------
    str
        SpeechBrain's attention type for it.

    Example
    -------
    >>> conformer_attention_type("rotary")
    'RoPEMHA'
    >>> conformer_attention_type("rope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: positional_encoding='rope' does not exist; choose one of: ...
    """
    if positional_encoding not in ATTENTION_TYPES:
        raise ValueError(
            f"positional_encoding={positional_encoding!r} does not exist; "
            f"choose one of: {', '.join(ATTENTION_TYPES)}"
        )
    return ATTENTION_TYPES[positional_encoding]


def check_rope_theta(rope_theta, positional_encoding):
    """Refuse a ``rope_theta`` that is not a number > 1, or that is changed
    for a positional encoding that does not rotate.

    Example
    -------
    >>> check_rope_theta(1.5e6, "rotary")
    >>> check_rope_theta(1.5e6, "relative")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: rope_theta=1500000.0 applies only to positional_encoding: rotary ...
    """
    is_number = isinstance(rope_theta, (int, float)) and not isinstance(
        rope_theta, bool
    )
    if not is_number or not math.isfinite(rope_theta) or rope_theta <= 1:
        raise ValueError(
            f"rope_theta={rope_theta!r} must be a number > 1 (10000.0 is "
            "SpeechBrain's base, 1500000.0 the published long-context one)"
        )
    if positional_encoding != "rotary" and rope_theta != SPEECHBRAIN_ROPE_THETA:
        raise ValueError(
            f"rope_theta={rope_theta} applies only to positional_encoding: "
            f"rotary (got {positional_encoding}); set positional_encoding: "
            f"rotary, or rope_theta: {SPEECHBRAIN_ROPE_THETA}"
        )


def check_positional_encoding(positional_encoding, rope_theta, attention_type):
    """Refuse a positional encoding that does not exist, a bad ``rope_theta``,
    or an encoder built with another attention than the choice needs.

    Arguments
    ---------
    positional_encoding : str
        The choice (see the module's table).
    rope_theta : float
        Base of the rotary frequencies.
    attention_type : str
        The ``ConformerEncoder``'s ``attention_type``.

    Example
    -------
    >>> check_positional_encoding("sine", 10000.0, "regularMHA")
    >>> check_positional_encoding("relative", 10000.0, "RoPEMHA")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: positional_encoding: relative needs the ConformerEncoder's ...
    """
    expected = conformer_attention_type(positional_encoding)
    if attention_type != expected:
        raise ValueError(
            f"positional_encoding: {positional_encoding} needs the "
            f"ConformerEncoder's attention_type: {expected}, but it has "
            f"{attention_type!r}; build the encoder with {YAML_ATTENTION_TYPE}"
        )
    check_rope_theta(rope_theta, positional_encoding)


class SinusoidalPositions(torch.nn.Module):
    """Absolute sinusoids ``[1, T, d_model]`` for an input ``[B, T, d_model]``:
    ``sin(t * f_i)`` in column ``2i``, ``cos(t * f_i)`` in column ``2i + 1``,
    ``f_i = 10000 ** (-2i / d_model)`` (Vaswani et al. 2017).

    Computed for each input's length: unlike SpeechBrain's
    ``PositionalEncoding`` it has no ``max_len`` table, neither a length limit
    (long-form contexts) nor a buffer in checkpoints.

    Arguments
    ---------
    d_model : int
        Width of the inputs (even).

    Example
    -------
    >>> positions = SinusoidalPositions(4)
    >>> positions(torch.zeros(2, 3, 4))[0, 1]  # t = 1: sin 1, cos 1, sin .01, cos .01
    tensor([0.8415, 0.5403, 0.0100, 0.9999])
    """

    def __init__(self, d_model):
        super().__init__()
        if d_model % 2:
            raise ValueError(
                f"positional_encoding: sine needs an even d_model, got {d_model}"
            )
        self.d_model = d_model

    def forward(self, x):
        """The sinusoids of ``x``'s frames, in ``x``'s dtype and device."""
        frequencies = rotary_frequencies(self.d_model, SINE_BASE)
        frequencies = frequencies.to(device=x.device, dtype=torch.float32)
        positions = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
        angles = torch.outer(positions, frequencies)
        table = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)
        return table.unsqueeze(0).to(x.dtype)


def input_positions(positional_encoding, d_model):
    """The module that gives a Conformer's input its positional information:
    ``RelPosEncXL`` (embeddings handed to every layer) for ``relative``,
    :class:`SinusoidalPositions` (added to the input) for ``sine``, ``None``
    for ``rotary`` (inside the attention) and ``none``.

    Example
    -------
    >>> type(input_positions("relative", 8)).__name__
    'RelPosEncXL'
    >>> input_positions("none", 8) is None
    True
    """
    conformer_attention_type(positional_encoding)
    if positional_encoding == "relative":
        return RelPosEncXL(d_model)
    if positional_encoding == "sine":
        return SinusoidalPositions(d_model)
    return None
