"""Encoders seen as stacks of layers that can be run up to any layer.

Every efficiency technique of the toolkit (early exits, layer removal, dynamic
exit policies) is written against the small protocol of :class:`LayerStack`:

- ``begin(x, rel_lens)`` turns front-end output into an :class:`EncoderState`
  (hidden states plus whatever the layers need: padding mask, positional
  embeddings);
- ``run_layer(index, state)`` runs layer ``index`` (0-based) and returns the new
  hidden states;
- ``exit_representation(hidden)`` maps a layer's hidden states to what an
  output head reads.

Nothing above the requested layer is ever computed by a caller that stops
calling ``run_layer``.
"""

from dataclasses import dataclass
from typing import Optional

import torch

from modules.nn.lengths import padding_mask
from modules.nn.positional_encoding import check_positional_encoding, input_positions
from modules.nn.rotary import SPEECHBRAIN_ROPE_THETA, set_rope_theta


@dataclass
class EncoderState:
    """Hidden states and per-batch context shared by all layers.

    Arguments
    ---------
    hidden : torch.Tensor
        Hidden states ``[batch, time, dim]``.
    padding_mask : torch.Tensor or None
        ``True`` on padded frames, ``[batch, time]``.
    pos_embs : torch.Tensor or None
        Relative positional embeddings, when the layers use them.
    """

    hidden: torch.Tensor
    padding_mask: Optional[torch.Tensor] = None
    pos_embs: Optional[torch.Tensor] = None


class LayerStack(torch.nn.Module):
    """Base class of encoders that can be run layer by layer."""

    @property
    def num_layers(self):
        """Number of layers currently in the stack."""
        return len(self.layers)

    def begin(self, x, rel_lens):
        """Build the encoder state from front-end output ``[B, T, D]``."""
        raise NotImplementedError

    def run_layer(self, index, state):
        """Run layer ``index`` on ``state`` and return its hidden states."""
        raise NotImplementedError

    def exit_representation(self, hidden):
        """What an exit head reads from a layer's hidden states."""
        return hidden

    def keep_first_layers(self, num_layers):
        """Remove every layer above ``num_layers`` (layer removal)."""
        if not 1 <= num_layers <= self.num_layers:
            raise ValueError(
                f"keep_layers={num_layers} is not possible: the encoder has "
                f"{self.num_layers} layers; choose 1..{self.num_layers}"
            )
        del self.layers[num_layers:]

    def forward(self, x, rel_lens, num_layers=None):
        """Run the first ``num_layers`` layers (all by default)."""
        state = self.begin(x, rel_lens)
        for index in range(num_layers or self.num_layers):
            state.hidden = self.run_layer(index, state)
        return self.exit_representation(state.hidden)


class ConformerLayerStack(LayerStack):
    """SpeechBrain's ``ConformerEncoder`` as a :class:`LayerStack`.

    Arguments
    ---------
    encoder : speechbrain.lobes.models.transformer.Conformer.ConformerEncoder
        The encoder; its layers and its final LayerNorm are used. The final
        LayerNorm is applied to every exit's hidden states. Padded frames are
        zeroed at the input of every depthwise convolution (SpeechBrain masks
        only the convolution module's output), so that an utterance's outputs
        do not depend on how much padding its batch has.
    positional_encoding : str
        ``relative`` (relative embeddings given to every layer), ``rotary``
        (queries and keys rotated, base ``rope_theta``), ``sine`` (absolute
        sinusoids added once) or ``none``; the encoder's ``attention_type``
        must be the one :func:`modules.nn.positional_encoding.
        conformer_attention_type` gives for it (``RelPosMHAXL``, ``RoPEMHA``,
        ``regularMHA``, ``regularMHA``).
    rope_theta : float
        Base of the rotary frequencies (``rotary`` only; SpeechBrain's 10,000
        by default).

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> enc = ConformerEncoder(num_layers=4, d_model=32, d_ffn=64, nhead=4)
    >>> stack = ConformerLayerStack(enc)
    >>> stack(torch.rand(2, 10, 32), torch.tensor([1.0, 0.6]), 2).shape
    torch.Size([2, 10, 32])
    >>> enc = ConformerEncoder(2, 32, 64, 4, attention_type="RoPEMHA")
    >>> stack = ConformerLayerStack(enc, "rotary", rope_theta=1.5e6)
    >>> stack(torch.rand(2, 10, 32), torch.tensor([1.0, 0.6])).shape
    torch.Size([2, 10, 32])
    """

    def __init__(
        self, encoder, positional_encoding="relative", rope_theta=SPEECHBRAIN_ROPE_THETA
    ):
        super().__init__()
        check_positional_encoding(
            positional_encoding, rope_theta, encoder.attention_type
        )
        self.encoder = encoder
        self.layers = encoder.layers
        self.positional_encoding = positional_encoding
        d_model = encoder.norm.norm.normalized_shape[0]
        self.positional = input_positions(positional_encoding, d_model)
        if positional_encoding == "rotary":
            set_rope_theta(self.layers, rope_theta)
        self.conv_padding = None
        for layer in self.layers:
            layer.convolution_module.conv.register_forward_pre_hook(
                self._mask_conv_input
            )

    def _mask_conv_input(self, module, args):
        """Zero padded frames of a depthwise convolution's input ``[B, C, T]``."""
        if self.conv_padding is None:
            return None
        return (args[0].masked_fill(self.conv_padding, 0.0),)

    def begin(self, x, rel_lens):
        """Padding mask and positional information for ``x``."""
        mask = padding_mask(rel_lens, x.shape[1])
        if self.positional_encoding == "relative":
            return EncoderState(x, mask, self.positional(x))
        if self.positional_encoding == "sine":
            return EncoderState(x + self.positional(x), mask)
        return EncoderState(x, mask)

    def run_layer(self, index, state):
        """One Conformer layer with the padding mask."""
        self.conv_padding = state.padding_mask.unsqueeze(1)
        hidden, _ = self.layers[index](
            state.hidden,
            src_key_padding_mask=state.padding_mask,
            pos_embs=state.pos_embs,
        )
        return hidden

    def exit_representation(self, hidden):
        """The encoder's final LayerNorm."""
        return self.encoder.norm(hidden)
