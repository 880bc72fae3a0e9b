"""Pre-trained SSL speech encoders (wav2vec2, WavLM, HuBERT) as layer stacks.

A Hugging Face ``Wav2Vec2Model`` / ``WavLMModel`` / ``HubertModel`` is split in
two so that it plugs into :class:`modules.models.early_exit.EarlyExitCTC` like any
other encoder:

- :class:`SSLFrontend`: the CNN feature extractor and the feature projection,
  waveforms ``[B, samples]`` -> frames ``[B, T', D]`` (50 Hz for 16 kHz input);
- :class:`SSLLayerStack`: positional convolution, the transformer layers and
  the final LayerNorm, run layer by layer (:class:`modules.nn.encoders.LayerStack`).

Both hold the Hugging Face submodules themselves (no copy), so weights loaded
with ``from_pretrained`` are used as they are and running all layers gives the
model's own ``last_hidden_state``. Two architectures exist:

- post-LN (wav2vec2-base, HuBERT-base, WavLM-base: ``do_stable_layer_norm``
  False): a LayerNorm right after the positional convolution, every layer ends
  with its own LayerNorm; an exit reads a layer's output as it is;
- pre-LN ("stable layer norm": the large models): no LayerNorm before the
  layers, one after the last layer; every exit reads its layer's output
  through that final LayerNorm (:meth:`SSLLayerStack.exit_representation`).

Nothing is ever downloaded: :func:`build_ssl_encoder` reads a pre-trained
model from a local folder, or builds one with random weights from a
configuration (:mod:`modules.nn.ssl_loading`).

Not reproduced from the Hugging Face forward: its SpecAugment-style masking of
the projected features (``mask_time_prob``; augment the waveform or the frames
instead) and the optional adapter (``add_adapter``, refused).
"""

from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch

from modules.nn.encoders import EncoderState, LayerStack
from modules.nn.lengths import absolute_lengths, frame_mask, padding_mask
from modules.nn.ssl_loading import (
    build_from_config,
    default_normalize_wav,
    load_pretrained,
)


def normalize_waveforms(wavs, rel_lens, eps=1e-7):
    """Zero mean, unit variance per utterance over its valid samples.

    The same formula as Hugging Face's ``Wav2Vec2FeatureExtractor``
    (``do_normalize``); padded samples are set to 0.

    Example
    -------
    >>> wavs = torch.tensor([[1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 9.0, 9.0]])
    >>> normalize_waveforms(wavs, torch.tensor([1.0, 0.5])).round(decimals=3)
    tensor([[-1.3420, -0.4470,  0.4470,  1.3420],
            [-1.0000,  1.0000,  0.0000,  0.0000]])
    """
    lengths = absolute_lengths(rel_lens, wavs.shape[1]).clamp(min=1).unsqueeze(1)
    valid = frame_mask(rel_lens, wavs.shape[1]).to(wavs.dtype)
    mean = (wavs * valid).sum(1, keepdim=True) / lengths
    var = ((wavs - mean) * valid).pow(2).sum(1, keepdim=True) / lengths
    return (wavs - mean) / torch.sqrt(var + eps) * valid


class _Freezable(torch.nn.Module):
    """A module that can be frozen: no gradients, always in eval mode."""

    frozen = False

    def freeze(self):
        """Freeze every parameter and keep dropout off from now on."""
        self.frozen = True
        for param in self.parameters():
            param.requires_grad = False
        return self.train(False)

    def train(self, mode=True):
        """Switch mode; a frozen module stays in eval mode."""
        return super().train(mode and not self.frozen)


class SSLFrontend(_Freezable):
    """CNN feature extractor + feature projection of an SSL model.

    Arguments
    ---------
    model : transformers.PreTrainedModel
        A ``Wav2Vec2Model``, ``WavLMModel`` or ``HubertModel``; its
        ``feature_extractor`` and ``feature_projection`` are used as they are.
    normalize_wav : bool
        Normalise every waveform (zero mean, unit variance over its valid
        samples) first; see :func:`default_normalize_wav`.

    GroupNorm CNNs (``feat_extract_norm="group"``, base models) normalise over
    the whole padded length, so a padded utterance's frames depend a little on
    its batch's padding (as in Hugging Face and SpeechBrain); LayerNorm CNNs
    do not.

    Example
    -------
    >>> from modules.nn.ssl_loading import TINY_CONFIG
    >>> frontend = SSLFrontend(build_from_config("wav2vec2", TINY_CONFIG))
    >>> frontend(torch.rand(2, 1600), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 159, 32])
    """

    def __init__(self, model, normalize_wav=False):
        super().__init__()
        self.feature_extractor = model.feature_extractor
        self.feature_projection = model.feature_projection
        self.normalize_wav = normalize_wav

    def freeze_feature_extractor(self):
        """Freeze the CNN only (the published fine-tuning recipes do)."""
        for param in self.feature_extractor.parameters():
            param.requires_grad = False
        # Stops Hugging Face from marking the CNN input as requiring grad.
        self.feature_extractor._requires_grad = False

    def freeze(self):
        """Freeze the CNN and the projection."""
        self.freeze_feature_extractor()
        return super().freeze()

    def forward(self, wavs, rel_lens):
        """Frames ``[B, T', D]`` for waveforms ``[B, samples]``.

        A frozen CNN builds no graph, unless ``wavs`` needs gradients (a
        learned downsampler before it), which then flow through it.
        """
        if self.normalize_wav:
            wavs = normalize_waveforms(wavs, rel_lens)
        features = self.feature_extractor(wavs).transpose(1, 2)
        hidden = self.feature_projection(features)
        # wav2vec2 and WavLM also return the normalised CNN features.
        return hidden[0] if isinstance(hidden, tuple) else hidden


@dataclass
class SSLEncoderState(EncoderState):
    """Encoder state with what Hugging Face layers take.

    Arguments
    ---------
    attention_mask : torch.Tensor or None
        WavLM: ``[B, T]``, 1 on valid frames; others: additive ``[B, 1, 1, T]``
        (0 on valid keys, a large negative number on padded ones); ``None``
        when nothing is padded.
    position_bias : torch.Tensor or None
        WavLM's relative position bias ``[B * heads, T, T]``, computed by
        layer 0 and passed on.
    """

    attention_mask: Optional[torch.Tensor] = None
    position_bias: Optional[torch.Tensor] = None

    def select(self, rows):
        """The state of the utterances at batch positions ``rows`` only.

        Used by :func:`modules.exits.dynamic.select_utterances` when some
        utterances of a batch have exited and the others go on.

        Example
        -------
        >>> state = SSLEncoderState(
        ...     torch.zeros(3, 4, 8),
        ...     torch.zeros(3, 4, dtype=torch.bool),
        ...     attention_mask=torch.zeros(3, 1, 1, 4),
        ...     position_bias=torch.zeros(3 * 2, 4, 4),
        ... )
        >>> small = state.select(torch.tensor([2]))
        >>> small.hidden.shape, small.attention_mask.shape, small.position_bias.shape
        (torch.Size([1, 4, 8]), torch.Size([1, 1, 1, 4]), torch.Size([2, 4, 4]))
        """
        bias = self.position_bias
        if bias is not None:
            per_utterance = bias.view(self.hidden.shape[0], -1, *bias.shape[1:])
            bias = per_utterance.index_select(0, rows).flatten(0, 1)
        return SSLEncoderState(
            self.hidden.index_select(0, rows),
            _select_rows(self.padding_mask, rows),
            self.pos_embs,
            attention_mask=_select_rows(self.attention_mask, rows),
            position_bias=bias,
        )


def _select_rows(tensor, rows):
    """``tensor.index_select(0, rows)``, or ``None`` for ``None``."""
    return None if tensor is None else tensor.index_select(0, rows)


class SSLLayerStack(_Freezable, LayerStack):
    """The transformer of an SSL model as a :class:`LayerStack`.

    Arguments
    ---------
    model : transformers.PreTrainedModel
        A ``Wav2Vec2Model``, ``WavLMModel`` or ``HubertModel``. Its encoder's
        positional convolution, LayerNorm and layers are used as they are;
        ``config.layerdrop`` is applied in training as Hugging Face does.

    The padding mask comes from the relative lengths at the frame rate
    (:func:`modules.nn.lengths.padding_mask`, SpeechBrain's convention); it
    can differ by a frame from Hugging Face's exact convolution arithmetic on
    sample lengths.

    Example
    -------
    >>> from modules.nn.ssl_loading import TINY_CONFIG
    >>> model = build_from_config("wavlm", TINY_CONFIG).eval()
    >>> stack = SSLLayerStack(model)
    >>> frames = SSLFrontend(model)(torch.rand(2, 1600), torch.ones(2))
    >>> stack(frames, torch.tensor([1.0, 0.5]), num_layers=1).shape
    torch.Size([2, 159, 32])
    """

    def __init__(self, model):
        super().__init__()
        if getattr(model.config, "add_adapter", False):
            raise ValueError("SSL models with add_adapter=True are not supported")
        encoder = model.encoder
        self.pos_conv_embed = encoder.pos_conv_embed
        self.layer_norm = encoder.layer_norm
        self.dropout = encoder.dropout
        self.layers = encoder.layers
        self.pre_layer_norm = bool(model.config.do_stable_layer_norm)
        self.relative_bias = model.config.model_type == "wavlm"
        self.layerdrop = float(model.config.layerdrop)

    def begin(self, x, rel_lens):
        """Zero padded frames, add positions, [LayerNorm], build the masks."""
        mask = padding_mask(rel_lens, x.shape[1])
        x = x.masked_fill(mask.unsqueeze(-1), 0.0)
        x = x + self.pos_conv_embed(x)
        if not self.pre_layer_norm:
            x = self.layer_norm(x)
        x = self.dropout(x)
        return SSLEncoderState(
            x, mask, attention_mask=self.attention_mask(mask, x.dtype)
        )

    def attention_mask(self, padding_mask, dtype):
        """The mask the layers take (see :class:`SSLEncoderState`)."""
        if not padding_mask.any():
            return None
        if self.relative_bias:
            return (~padding_mask).long()
        additive = torch.zeros(
            padding_mask.shape, dtype=dtype, device=padding_mask.device
        )
        additive = additive.masked_fill(padding_mask, torch.finfo(dtype).min)
        return additive[:, None, None, :]

    def skip_layer(self, index):
        """LayerDrop in training (WavLM never drops layer 0, its bias source)."""
        if not self.training or self.layerdrop <= 0.0:
            return False
        if self.relative_bias and index == 0:
            return False
        return bool(torch.rand([]) < self.layerdrop)

    def run_layer(self, index, state):
        """One transformer layer; WavLM's position bias is kept in ``state``."""
        if self.skip_layer(index):
            return state.hidden
        layer = self.layers[index]
        if self.relative_bias:
            hidden, state.position_bias = layer(
                state.hidden,
                attention_mask=state.attention_mask,
                position_bias=state.position_bias,
            )[:2]
            return hidden
        output = layer(state.hidden, attention_mask=state.attention_mask)
        return output[0] if isinstance(output, tuple) else output

    def exit_representation(self, hidden):
        """The final LayerNorm for pre-LN models; identity for post-LN ones."""
        return self.layer_norm(hidden) if self.pre_layer_norm else hidden


class SSLEncoder(NamedTuple):
    """What :func:`build_ssl_encoder` returns (a tuple, or by name in YAML)."""

    frontend: SSLFrontend
    stack: SSLLayerStack
    hidden_size: int


def build_ssl_encoder(
    source=None,
    model_type=None,
    config_overrides=None,
    freeze_feature_extractor=True,
    freeze=False,
    normalize_wav=None,
):
    """Front-end and layer stack of a local pre-trained or a new SSL model.

    Arguments
    ---------
    source : str, optional
        Local folder of a pre-trained model (never a hub id); ``None`` builds
        a model with random weights from ``model_type`` and the overrides.
    model_type : str, optional
        ``wav2vec2``, ``wavlm`` or ``hubert``. With ``source`` it is read from
        ``config.json`` (and checked when given); without, default wav2vec2.
    config_overrides : dict, optional
        Configuration fields to set (dropouts, ``layerdrop``; any field when
        building from a configuration).
    freeze_feature_extractor : bool
        Freeze the CNN (default, as the published recipes).
    freeze : bool
        Freeze the whole SSL model (front-end and layers, kept in eval mode).
    normalize_wav : bool, optional
        Normalise waveforms first; ``None`` follows the model
        (:func:`default_normalize_wav`).
    Returns
    -------
    SSLEncoder
        ``(frontend, stack, hidden_size)``; in YAML ``!ref <ssl.frontend>``.

    Example
    -------
    >>> from modules.nn.ssl_loading import TINY_CONFIG
    >>> frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    >>> size, stack.num_layers, stack.pre_layer_norm
    (32, 2, False)
    """
    if source is None:
        model = build_from_config(model_type or "wav2vec2", config_overrides)
    else:
        model = load_pretrained(source, model_type, config_overrides)
    if normalize_wav is None:
        normalize_wav = default_normalize_wav(model.config, source)
    frontend, stack = SSLFrontend(model, normalize_wav), SSLLayerStack(model)
    if freeze:
        frontend.freeze()
        stack.freeze()
    elif freeze_feature_extractor:
        frontend.freeze_feature_extractor()
    return SSLEncoder(frontend, stack, model.config.hidden_size)
