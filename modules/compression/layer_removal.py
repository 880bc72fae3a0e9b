"""Layer removal: start fine-tuning from the first N layers of a trained model.

YAML keys (read at start-up by :func:`modules.training.run_setup.build_run_setup`):

- ``keep_layers: N`` builds the model with only the first N encoder layers
  (:class:`modules.models.early_exit.EarlyExitCTC`): exits above layer N are dropped
  and the exit after layer N, or a new head there, is the output;
- ``init_from_checkpoint: PATH`` (an experiment's ``save`` folder, whose best
  checkpoint by dev WER is used, or one ``save/CKPT+...`` folder) loads the
  trained weights of the full model into it: front-end, the kept layers, the
  final norm and the heads of the kept exits (matched by the layer they sit
  after). The checkpoint must come from a model built with the same model keys
  (``num_layers``, ``exit_every``/``exit_layers``, ``shared_head``,
  ``ctc_upsampling``, ``d_model``...) without ``keep_layers``.

A rerun of an interrupted fine-tuning resumes from its own checkpoints, which
the Brain recovers after this initialisation.
"""

import logging
import os

import torch

from modules.checkpoints import resolve_checkpoint

logger = logging.getLogger(__name__)


def source_key(model, key):
    """Name in the full model's state of ``key`` of ``model``; None for a
    head the full model did not have (it keeps its fresh initialisation).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> short = SimpleNamespace(
    ...     shared_head=False, exit_layers=[2, 3], full_exit_layers=[2, 4]
    ... )
    >>> source_key(short, "heads.0.w.weight"), source_key(short, "heads.1.w.weight")
    ('heads.0.w.weight', None)
    >>> source_key(short, "encoder.layers.0.norm.weight")
    'encoder.layers.0.norm.weight'
    """
    if not key.startswith("heads."):
        return key
    _, index, rest = key.split(".", 2)
    if model.shared_head:
        return key
    layer = model.exit_layers[int(index)]
    if layer not in model.full_exit_layers:
        return None
    return f"heads.{model.full_exit_layers.index(layer)}.{rest}"


def check_source_heads(model, source_state, path):
    """The checkpoint must have the heads of ``model`` before removal.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(shared_head=False, full_exit_layers=[2, 4])
    >>> check_source_heads(model, {"heads.0.w": 0, "heads.1.w": 0}, "save")
    >>> check_source_heads(model, {"heads.0.w": 0}, "save")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: init_from_checkpoint=save has 1 exit heads, but ...
    """
    found = {key.split(".")[1] for key in source_state if key.startswith("heads.")}
    expected = 1 if model.shared_head else len(model.full_exit_layers)
    if len(found) != expected:
        raise ValueError(
            f"init_from_checkpoint={path} has {len(found)} exit heads, but this "
            f"YAML's model has {expected} before keep_layers (exits after layers "
            f"{model.full_exit_layers}, shared_head={model.shared_head}); use the "
            "model keys (exit_every/exit_layers, shared_head) the checkpoint "
            "was trained with"
        )


def shortened_state(model, source_state, path):
    """``model``'s state dict filled from the full model's ``source_state``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(
    ...     shared_head=True,
    ...     exit_layers=[2],
    ...     full_exit_layers=[2, 4],
    ...     state_dict=lambda: {"heads.0.w": torch.zeros(2)},
    ... )
    >>> shortened_state(model, {"heads.0.w": torch.ones(2)}, "save")
    {'heads.0.w': tensor([1., 1.])}
    """
    check_source_heads(model, source_state, path)
    state, problems = {}, []
    for key, value in model.state_dict().items():
        name = source_key(model, key)
        if name is None:
            state[key] = value
        elif name not in source_state:
            problems.append(f"{name} missing")
        elif source_state[name].shape != value.shape:
            problems.append(
                f"{name} {tuple(source_state[name].shape)} vs {tuple(value.shape)}"
            )
        else:
            state[key] = source_state[name]
    if problems:
        raise ValueError(
            f"init_from_checkpoint={path} does not fit this model "
            f"({'; '.join(problems[:3])}{' ...' if len(problems) > 3 else ''}); "
            "the checkpoint must come from the same YAML model keys, without "
            "keep_layers, and have at least keep_layers layers"
        )
    return state


def init_from_checkpoint(model, path, normalizer=None):
    """Load a trained full model's weights into ``model`` (maybe shortened).

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        The model of this experiment, already built with ``keep_layers``.
    path : str
        ``save`` folder or ``CKPT+...`` folder of the trained experiment.
    normalizer : torch.nn.Module, optional
        The feature normaliser, given the checkpoint's statistics when the
        checkpoint has them (``normalizer.ckpt``; global normalisation).

    Returns
    -------
    str
        The checkpoint folder used.

    Example
    -------
    >>> init_from_checkpoint(None, "/no/such/save")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    FileNotFoundError: init_from_checkpoint=/no/such/save does not exist; ...
    """
    folder = resolve_checkpoint(path)
    source_state = torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")
    model.load_state_dict(shortened_state(model, source_state, path))
    statistics = os.path.join(folder, "normalizer.ckpt")
    if normalizer is not None and os.path.exists(statistics):
        normalizer._load(statistics)
    new_heads = [
        layer for layer in model.exit_layers if layer not in model.full_exit_layers
    ]
    logger.info(
        "Initialised from %s: %d layers, exits after layers %s%s",
        folder,
        model.encoder.num_layers,
        model.exit_layers,
        f" (new heads after layers {new_heads})" if new_heads else "",
    )
    return folder


def configure_layer_removal(hparams):
    """``init_from_checkpoint`` / ``keep_layers`` of the YAML, before training.

    Arguments
    ---------
    hparams : dict
        The loaded YAML: ``model``, and optionally ``init_from_checkpoint``,
        ``keep_layers``, ``normalizer`` and ``ssl_source`` (an SSL encoder's
        ``keep_layers`` keeps pre-trained layers, so it needs no checkpoint).

    Example
    -------
    >>> configure_layer_removal({"model": None, "init_from_checkpoint": None})
    """
    path = hparams.get("init_from_checkpoint")
    if path is not None:
        init_from_checkpoint(hparams["model"], path, hparams.get("normalizer"))
    elif hparams.get("keep_layers") is not None and not hparams.get("ssl_source"):
        logger.warning(
            "keep_layers=%s without init_from_checkpoint: the kept layers are "
            "trained from scratch",
            hparams["keep_layers"],
        )
