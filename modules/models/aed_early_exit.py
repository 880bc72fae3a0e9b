"""Early-exit attention encoder-decoder (AED): an attention decoder per exit.

:class:`EarlyExitAED` is an :class:`modules.models.early_exit.EarlyExitCTC`
(the same front-end, layer stack, exits and CTC heads, with the same
checkpoint keys) plus, for every exit, SpeechBrain's ``TransformerDecoder``
attending to that exit's hidden states. The target side is SpeechBrain's
``NormalizedEmbedding`` plus sinusoidal ``PositionalEncoding`` (as in its
``TransformerASR``), and a linear output layer per exit. What is shared across
exits is configuration: the token embedding (``shared_embedding``), the
output layer (``shared_output``) and the decoder itself (``shared_decoder``).
The published model (Wright et al.) has its own decoder and output layer per
exit and a shared embedding.

Asking for exit ``k`` runs the encoder layers up to exit ``k`` only
(:meth:`EarlyExitAED.exit_hidden`) and exit ``k``'s decoder only
(:meth:`EarlyExitAED.attention_log_probs`, or :meth:`EarlyExitAED.exit_decoder`
for SpeechBrain's searchers): two calls, so that the encoder pass and the
autoregressive decoding can be timed separately.
"""

from dataclasses import dataclass

import torch
from speechbrain.lobes.models.transformer.Transformer import (
    NormalizedEmbedding,
    PositionalEncoding,
    get_lookahead_mask,
)
from speechbrain.nnet.linear import Linear

from modules.models.early_exit import EarlyExitCTC, ExitOutput
from modules.nn.lengths import padding_mask


@dataclass
class AEDExitOutput(ExitOutput):
    """An :class:`modules.models.early_exit.ExitOutput` plus the exit's
    teacher-forced decoder output.

    Arguments
    ---------
    decoder_log_probs : torch.Tensor
        Log-posteriors ``[B, U, V]`` of the next token at every target
        position.
    """

    decoder_log_probs: torch.Tensor


def decoder_width(decoder):
    """Width ``d_model`` of a SpeechBrain ``TransformerDecoder`` (its final
    LayerNorm's size).

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Transformer import (
    ...     TransformerDecoder,
    ... )
    >>> decoder_width(TransformerDecoder(1, 2, 16, d_model=8))
    8
    """
    return decoder.norm.norm.normalized_shape[0]


class ExitDecoder:
    """One exit's decoder as SpeechBrain's S2S Transformer searchers call a
    ``TransformerASR``: ``decode(tokens, encoder_out, enc_len)``.

    Arguments
    ---------
    model : EarlyExitAED
        The model.
    exit_index : int
        1-based exit number.
    """

    def __init__(self, model, exit_index):
        model.check_exit(exit_index)
        self.model = model
        self.exit_index = exit_index

    def decode(self, tgt, encoder_out, enc_len=None):
        """Decoder states ``[B, U, D]`` and the last layer's cross-attention
        for target prefixes ``tgt`` ``[B, U]``; ``enc_len``: valid encoder
        frames per row (absolute)."""
        frames = encoder_out.shape[1]
        memory_padding = None
        if enc_len is not None:
            memory_padding = padding_mask(enc_len.float() / frames, frames)
        return self.model.decoder_states(
            self.exit_index, tgt, encoder_out, memory_padding
        )


class EarlyExitAED(EarlyExitCTC):
    """Early-exit CTC model with an attention decoder per exit.

    Arguments
    ---------
    frontend : torch.nn.Module
        Maps ``(wavs, rel_lens)`` to encoder input ``[B, T, D]``.
    encoder : modules.nn.encoders.LayerStack
        The layers, run one by one.
    output_size : int
        Width ``D`` of the encoder's hidden states.
    vocab_size : int
        Output units of the CTC heads and the decoders (blank/pad 0, BOS, EOS
        included).
    decoder : callable
        Builds one decoder, e.g. ``!name:`` of SpeechBrain's
        ``TransformerDecoder`` with its arguments; its ``d_model`` must be
        ``output_size``.
    exit_every, exit_layers, shared_head
        As :class:`modules.models.early_exit.EarlyExitCTC`.
    shared_decoder : bool
        One decoder for all exits instead of one per exit.
    shared_embedding : bool
        One target embedding for all exits.
    shared_output : bool
        One decoder output layer for all exits.
    max_target_length : int
        Longest target sequence of the positional encoding.

    Example
    -------
    >>> from functools import partial
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from speechbrain.lobes.models.transformer.Transformer import (
    ...     TransformerDecoder,
    ... )
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> enc = ConformerLayerStack(ConformerEncoder(4, 32, 64, 4))
    >>> decoder = partial(TransformerDecoder, 1, 4, 64, 32, causal=True)
    >>> model = EarlyExitAED(lambda w, l: w, enc, 32, 10, decoder, exit_every=2)
    >>> len(model.decoders), len(model.embeddings), len(model.output_layers)
    (2, 1, 2)
    >>> x, lens = torch.rand(2, 7, 32), torch.ones(2)
    >>> outs = model(x, lens, tokens_bos=torch.tensor([[2, 5, 6], [2, 7, 0]]))
    >>> [out.decoder_log_probs.shape for out in outs]
    [torch.Size([2, 3, 10]), torch.Size([2, 3, 10])]
    >>> [lp.shape for lp in model(x, lens, num_exits=1)]
    [torch.Size([2, 7, 10])]
    >>> wide = partial(TransformerDecoder, 1, 4, 64, 48)
    >>> EarlyExitAED(lambda w, l: w, enc, 32, 10, wide)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: decoder_d_model=48 differs from the encoder's d_model=32; ...
    """

    def __init__(
        self,
        frontend,
        encoder,
        output_size,
        vocab_size,
        decoder,
        exit_every=None,
        exit_layers=None,
        shared_head=False,
        shared_decoder=False,
        shared_embedding=True,
        shared_output=False,
        max_target_length=2500,
    ):
        super().__init__(
            frontend,
            encoder,
            output_size,
            vocab_size,
            exit_every=exit_every,
            exit_layers=exit_layers,
            shared_head=shared_head,
        )
        self.shared_decoder = shared_decoder
        self.shared_embedding = shared_embedding
        self.shared_output = shared_output
        self.decoders = torch.nn.ModuleList(
            decoder() for _ in range(self._copies(shared_decoder))
        )
        width = decoder_width(self.decoders[0])
        if width != output_size:
            raise ValueError(
                f"decoder_d_model={width} differs from the encoder's "
                f"d_model={output_size}; each exit's decoder attends to the "
                "exit's hidden states: set decoder_d_model: !ref <d_model>"
            )
        self.embeddings = torch.nn.ModuleList(
            NormalizedEmbedding(output_size, vocab_size)
            for _ in range(self._copies(shared_embedding))
        )
        self.positional = PositionalEncoding(output_size, max_target_length)
        self.output_layers = torch.nn.ModuleList(
            Linear(input_size=output_size, n_neurons=vocab_size)
            for _ in range(self._copies(shared_output))
        )
        self._init_decoder_side()

    def _copies(self, shared):
        """One module when shared, else one per exit."""
        return 1 if shared else self.num_exits

    def _init_decoder_side(self):
        """Xavier-normal matrices of the decoder side, as SpeechBrain's
        ``TransformerASR._init_params`` (which only exists on that class)."""
        for part in (self.decoders, self.embeddings, self.output_layers):
            for param in part.parameters():
                if param.dim() > 1:
                    torch.nn.init.xavier_normal_(param)

    def _pick(self, modules, shared, exit_index):
        """The module of a 1-based exit in a shared-or-per-exit list."""
        self.check_exit(exit_index)
        return modules[0 if shared else exit_index - 1]

    def decoder(self, exit_index):
        """The ``TransformerDecoder`` of a 1-based exit."""
        return self._pick(self.decoders, self.shared_decoder, exit_index)

    def embedding(self, exit_index):
        """The target embedding of a 1-based exit."""
        return self._pick(self.embeddings, self.shared_embedding, exit_index)

    def output_layer(self, exit_index):
        """The decoder output layer of a 1-based exit."""
        return self._pick(self.output_layers, self.shared_output, exit_index)

    def exit_decoder(self, exit_index):
        """:class:`ExitDecoder` of a 1-based exit, for SpeechBrain's searchers."""
        return ExitDecoder(self, exit_index)

    def exit_hidden(self, wavs, rel_lens, exit_index):
        """Hidden states ``[B, T, D]`` of one exit: its encoder layers only."""
        *_, (_, _, hidden) = self.exit_representations(wavs, rel_lens, exit_index)
        return hidden

    def decoder_states(self, exit_index, tokens, memory, memory_padding=None):
        """Exit ``exit_index``'s decoder on target prefixes.

        Arguments
        ---------
        exit_index : int
            1-based exit number.
        tokens : torch.Tensor
            Decoder input ``[B, U]`` (BOS first). No target padding mask is
            needed: with the causal mask a valid position never sees a padded
            one.
        memory : torch.Tensor
            The exit's hidden states ``[B, T, D]``.
        memory_padding : torch.Tensor, optional
            ``[B, T]``, True on padded frames.

        Returns
        -------
        tuple
            States ``[B, U, D]`` and the last layer's cross-attention.
        """
        target = self.embedding(exit_index)(tokens)
        target = target + self.positional(target)
        states, _, cross_attention = self.decoder(exit_index)(
            target,
            memory,
            tgt_mask=get_lookahead_mask(tokens),
            memory_key_padding_mask=memory_padding,
        )
        return states, cross_attention[-1]

    def attention_log_probs(self, exit_index, hidden, rel_lens, tokens_bos):
        """Teacher-forced log-posteriors ``[B, U, V]`` of one exit's decoder
        on its hidden states ``hidden`` ``[B, T, D]``."""
        states, _ = self.decoder_states(
            exit_index, tokens_bos, hidden, padding_mask(rel_lens, hidden.shape[1])
        )
        return self.output_layer(exit_index)(states).log_softmax(-1)

    def forward(self, wavs, rel_lens, num_exits=None, tokens_bos=None):
        """The first ``num_exits`` exits.

        Without ``tokens_bos``: their CTC log-posteriors, as
        :class:`modules.models.early_exit.EarlyExitCTC` (no decoder runs).
        With ``tokens_bos`` (decoder input ``[B, U]``, BOS first): an
        :class:`AEDExitOutput` per exit, with the teacher-forced decoder
        output (training goes through ``forward`` so that DDP sees it).
        """
        if tokens_bos is None:
            return super().forward(wavs, rel_lens, num_exits)
        return [
            AEDExitOutput(
                **vars(out),
                decoder_log_probs=self.attention_log_probs(
                    out.index, out.hidden, rel_lens, tokens_bos
                ),
            )
            for out in self.iter_exits(wavs, rel_lens, num_exits)
        ]
