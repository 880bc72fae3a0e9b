"""Hugging Face SSL models (wav2vec2, WavLM, HuBERT) from local folders.

Nothing is ever downloaded: a pre-trained model is read from a local folder in
Hugging Face format (``config.json`` + ``model.safetensors`` or
``pytorch_model.bin``) with ``local_files_only=True``. Without a folder, a model
with random weights is built from a configuration (tests, from-scratch runs;
:data:`TINY_CONFIG` is a tiny one). :mod:`modules.nn.ssl` splits the loaded
model into a front-end and a layer stack.
"""

import json
import os

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

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     build_from_config("hubert", TINY_CONFIG).save_pretrained(folder)
    ...     load_pretrained(folder, "hubert").config.hidden_size
    32
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

    Arguments
    ---------
    config : transformers.PretrainedConfig
        The model's configuration.
    source : str, optional
        Its local folder, if any.

    Example
    -------
    >>> from transformers import Wav2Vec2Config
    >>> large = Wav2Vec2Config(feat_extract_norm="layer")
    >>> default_normalize_wav(Wav2Vec2Config()), default_normalize_wav(large)
    (False, True)
    """
    path = os.path.join(os.fspath(source), "preprocessor_config.json") if source else ""
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return bool(json.load(f).get("do_normalize", False))
    return config.feat_extract_norm == "layer"
