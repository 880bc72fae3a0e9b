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

Nothing is ever downloaded: a pre-trained model is read from a local folder in
Hugging Face format (``config.json`` + ``model.safetensors`` or
``pytorch_model.bin``) with ``local_files_only=True``. Without a folder, a model
with random weights is built from a configuration (tests, from-scratch runs).

The pieces of the SSL recipe (``hparams/ssl_ctc_early_exit.yaml``) are here
too: :class:`DNNHeadEarlyExitCTC` (exit heads of DNN blocks + a linear CTC
layer), :func:`optimizer_with_ssl_lr` and :class:`ScaledNoamScheduler` (a
lower learning rate for the pre-trained encoder than for the heads).

Not reproduced from the Hugging Face forward: its SpecAugment-style masking of
the projected features (``mask_time_prob``; augment the waveform or the frames
instead) and the optional adapter (``add_adapter``, refused).
"""

import json
import os
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from speechbrain.nnet.schedulers import NoamScheduler

from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import EncoderState, LayerStack
from modules.nn.lengths import padding_mask

SSL_MODEL_TYPES = ("wav2vec2", "wavlm", "hubert")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def _model_classes(model_type):
    """``(config class, model class)`` of a supported SSL model type."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            "SSL encoders need Hugging Face transformers: pip install transformers"
        ) from err
    classes = {
        "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
        "wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
        "hubert": (transformers.HubertConfig, transformers.HubertModel),
    }
    if model_type not in classes:
        raise ValueError(
            f"ssl_model_type={model_type!r} is not supported; choose one of "
            f"{', '.join(SSL_MODEL_TYPES)}"
        )
    return classes[model_type]


def check_local_source(source):
    """Raise a clear error unless ``source`` is a folder holding a model.

    Arguments
    ---------
    source : str
        Folder in Hugging Face format: ``config.json`` plus weights
        (``model.safetensors``, ``pytorch_model.bin`` or a sharded index).

    Example
    -------
    >>> check_local_source("facebook/wav2vec2-base")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: ssl_source='facebook/wav2vec2-base' is not a local folder...
    """
    source = os.fspath(source)
    if not os.path.isdir(source):
        raise FileNotFoundError(
            f"ssl_source={source!r} is not a local folder. Models are never "
            "downloaded here: download it on a machine with network access "
            f"(e.g. `huggingface-cli download {source} --local-dir /path`), copy "
            "the folder here and pass it with --ssl_source=/path"
        )
    if not os.path.isfile(os.path.join(source, "config.json")):
        raise FileNotFoundError(
            f"ssl_source folder {source!r} has no config.json; it must be a "
            "model saved in Hugging Face format (save_pretrained)"
        )
    if not any(os.path.isfile(os.path.join(source, f)) for f in WEIGHT_FILES):
        raise FileNotFoundError(
            f"ssl_source folder {source!r} has no weights: expected one of "
            f"{', '.join(WEIGHT_FILES)}"
        )


def _checked_overrides(config_class, config_overrides):
    """The overrides as a dict, every key a field of ``config_class``."""
    overrides = dict(config_overrides or {})
    defaults = config_class()
    unknown = [key for key in overrides if not hasattr(defaults, key)]
    if unknown:
        raise ValueError(
            f"ssl_config_overrides: {', '.join(map(repr, unknown))} is not a field "
            f"of {config_class.__name__}"
        )
    return overrides


def load_pretrained(source, model_type=None, config_overrides=None):
    """Load a Hugging Face SSL model from a local folder, never downloading.

    Arguments
    ---------
    source : str
        Local folder (see :func:`check_local_source`).
    model_type : str, optional
        Expected ``model_type`` of ``config.json``; checked when given.
    config_overrides : dict, optional
        Configuration fields to change before loading (dropout rates,
        ``layerdrop``, ...).

    Returns
    -------
    transformers.PreTrainedModel
        The base model (no CTC head) in float32.
    """
    check_local_source(source)
    with open(os.path.join(source, "config.json"), encoding="utf-8") as f:
        found = json.load(f).get("model_type")
    if model_type is not None and found != model_type:
        raise ValueError(
            f"ssl_model_type={model_type!r} but {source}/config.json says "
            f"model_type={found!r}; fix or drop ssl_model_type"
        )
    config_class, model_class = _model_classes(found)
    overrides = _checked_overrides(config_class, config_overrides)
    config = config_class.from_pretrained(source, local_files_only=True, **overrides)
    model = model_class.from_pretrained(source, config=config, local_files_only=True)
    return model.float()


def build_from_config(model_type="wav2vec2", config_overrides=None):
    """A randomly initialised SSL model from a default configuration.

    Arguments
    ---------
    model_type : str
        One of ``SSL_MODEL_TYPES``.
    config_overrides : dict, optional
        Fields of the configuration class (``hidden_size``, ``conv_dim``, ...).

    Example
    -------
    >>> model = build_from_config("hubert", TINY_CONFIG)
    >>> model.config.hidden_size, len(model.encoder.layers)
    (32, 2)
    """
    config_class, model_class = _model_classes(model_type)
    config = config_class(**_checked_overrides(config_class, config_overrides))
    return model_class(config)


# A tiny configuration for examples and tests (about 40k parameters).
TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16, 16),
    "conv_kernel": (10, 3),
    "conv_stride": (5, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def default_normalize_wav(config, source=None):
    """Whether the model expects per-utterance normalised waveforms.

    ``do_normalize`` of the folder's ``preprocessor_config.json`` when there
    is one (what Hugging Face's feature extractor and SpeechBrain do);
    otherwise the fairseq rule: models with a LayerNorm CNN
    (``feat_extract_norm="layer"``, the large ones) were pre-trained on
    normalised waveforms, GroupNorm ones (base) on raw waveforms.
    """
    path = os.path.join(os.fspath(source), "preprocessor_config.json") if source else ""
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return bool(json.load(f).get("do_normalize", False))
    return config.feat_extract_norm == "layer"


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
    lengths = torch.round(rel_lens * wavs.shape[1]).clamp(min=1).unsqueeze(1)
    positions = torch.arange(wavs.shape[1], device=wavs.device)
    valid = (positions.unsqueeze(0) < lengths).to(wavs.dtype)
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
    (``round(rel_lens * T')``, SpeechBrain's convention); it can differ by a
    frame from Hugging Face's exact convolution arithmetic on sample lengths.

    Example
    -------
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


# --------------------------------------------------------------------------
# Recipe pieces: DNN exit heads, a lower learning rate for the SSL encoder
# --------------------------------------------------------------------------


def build_dnn(input_size, num_blocks, neurons, dropout):
    """``num_blocks`` x (Linear, LayerNorm, LeakyReLU, Dropout).

    LayerNorm rather than the BatchNorm of SpeechBrain's SSL recipes: it
    normalises each frame on its own, so that padded frames never enter the
    statistics and an utterance's output does not depend on its batch.

    Example
    -------
    >>> build_dnn(32, 2, 16, 0.1)(torch.rand(2, 5, 32)).shape
    torch.Size([2, 5, 16])
    >>> len(build_dnn(32, 0, 16, 0.1))
    0
    """
    layers = []
    for block in range(num_blocks):
        layers += [
            torch.nn.Linear(neurons if block else input_size, neurons),
            torch.nn.LayerNorm(neurons),
            torch.nn.LeakyReLU(),
            torch.nn.Dropout(dropout),
        ]
    return torch.nn.Sequential(*layers)


class DNNHeadEarlyExitCTC(EarlyExitCTC):
    """:class:`~modules.models.early_exit.EarlyExitCTC` with DNN + linear exit heads.

    Every head (or the one shared head) is :func:`build_dnn` followed by the
    CTC output layer ``EarlyExitCTC`` builds, as in the published SSL
    fine-tuning recipes. Parameter names: ``heads.<i>.0.*`` (DNN) and
    ``heads.<i>.1.*`` (output layer).

    Arguments
    ---------
    frontend, encoder, output_size, vocab_size
        As for :class:`~modules.models.early_exit.EarlyExitCTC`.
    dnn_blocks : int
        DNN blocks before each output layer; 0 for a plain linear head.
    dnn_neurons : int
        Units of every block.
    dnn_dropout : float
        Dropout after every block.
    **options
        The other options of ``EarlyExitCTC`` (``exit_every``,
        ``exit_layers``, ``shared_head``, ``ctc_upsampling``,
        ``keep_layers``).

    Example
    -------
    >>> frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    >>> model = DNNHeadEarlyExitCTC(frontend, stack, size, 7, dnn_neurons=16)
    >>> model.head(1)[1]
    Linear(in_features=16, out_features=7, bias=True)
    >>> [lp.shape for lp in model(torch.rand(1, 1600), torch.ones(1))]
    [torch.Size([1, 159, 7])]
    """

    def __init__(
        self,
        frontend,
        encoder,
        output_size,
        vocab_size,
        dnn_blocks=1,
        dnn_neurons=1024,
        dnn_dropout=0.15,
        **options,
    ):
        head_input = dnn_neurons if dnn_blocks else output_size
        super().__init__(frontend, encoder, head_input, vocab_size, **options)
        self.heads = torch.nn.ModuleList(
            torch.nn.Sequential(
                build_dnn(output_size, dnn_blocks, dnn_neurons, dnn_dropout), head
            )
            for head in self.heads
        )


def optimizer_with_ssl_lr(params, optimizer, ssl_modules, ssl_lr):
    """An optimizer in which the SSL encoder has its own learning rate.

    Used as ``opt_class`` in YAML (``!name:``; ``sb.Brain`` passes the
    parameters): the published recipes fine-tune the pre-trained encoder at
    a learning rate about 10 times lower than the new heads'.

    Arguments
    ---------
    params : iterable of torch.nn.Parameter
        Every parameter of the model.
    optimizer : callable
        ``optimizer(param_groups)``, e.g. ``!name:torch.optim.AdamW`` with
        ``lr``: the learning rate of everything but the SSL encoder.
    ssl_modules : list of torch.nn.Module
        The SSL encoder (its front-end and its layer stack).
    ssl_lr : float
        Their learning rate.

    Returns
    -------
    torch.optim.Optimizer
        Two parameter groups, the SSL encoder's second; each has an
        ``lr_scale`` (its learning rate over the first group's), the ratio
        that :class:`ScaledNoamScheduler` keeps.

    Example
    -------
    >>> import functools
    >>> head, ssl = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> params = [*head.parameters(), *ssl.parameters()]
    >>> adam = functools.partial(torch.optim.Adam, lr=1e-3)
    >>> opt = optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr=1e-4)
    >>> [(len(g["params"]), g["lr"], g["lr_scale"]) for g in opt.param_groups]
    [(2, 0.001, 1.0), (2, 0.0001, 0.1)]
    """
    ssl_ids = {id(p) for module in ssl_modules for p in module.parameters()}
    params = list(params)
    opt = optimizer(
        [
            {"params": [p for p in params if id(p) not in ssl_ids]},
            {"params": [p for p in params if id(p) in ssl_ids], "lr": ssl_lr},
        ]
    )
    for group in opt.param_groups:
        group["lr_scale"] = group["lr"] / opt.defaults["lr"]
    return opt


class ScaledNoamScheduler(NoamScheduler):
    """SpeechBrain's Noam schedule, times each parameter group's ``lr_scale``.

    ``NoamScheduler`` gives every group the same learning rate; this keeps
    the ratios set by :func:`optimizer_with_ssl_lr` (groups without
    ``lr_scale`` follow the schedule as they are). Checkpointed like
    ``NoamScheduler``.

    Example
    -------
    >>> import functools
    >>> head, ssl = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> params = [*head.parameters(), *ssl.parameters()]
    >>> adam = functools.partial(torch.optim.Adam, lr=1.0)
    >>> opt = optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr=0.1)
    >>> scheduler = ScaledNoamScheduler(lr_initial=1.0, n_warmup_steps=2)
    >>> _ = scheduler(opt)
    >>> [round(group["lr"], 4) for group in opt.param_groups]
    [0.5, 0.05]
    """

    def __call__(self, opt):
        """Advance one step; return the first group's old and new rates."""
        current_lr, lr = super().__call__(opt)
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return current_lr, lr
