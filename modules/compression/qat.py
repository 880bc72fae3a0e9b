"""Quantization-aware training of weights (quantized distillation's student).

In every forward pass the weights are quantized, bucketed min-max: a weight
tensor is flattened, split into buckets of ``bucket_size`` values, and each
bucket is mapped onto ``2 ** bits`` evenly spaced levels between its minimum
and its maximum, rounded to the nearest level or stochastically (unbiased,
in training only). Gradients flow straight through to the full-precision
weights, which the optimiser updates: the forward pass uses
``w + (q(w) - w).detach()``, whose gradient with respect to ``w`` is the
gradient with respect to the quantized weights (Polino et al., 2018).

The quantizer is a ``torch.nn.utils.parametrize`` parametrization of every
selected parameter; the model's ``state_dict`` keeps the plain parameter
names (``weight``, not ``parametrizations.weight.original``), so that a
checkpoint of the quantization-aware model loads into the same model built
from the same YAML, and into the plain model too, and a plain checkpoint
loads into it.

YAML (``settings`` of :func:`with_weight_quantization`)::

    weight_quantization: {bits: 8, bucket_size: 256, stochastic_rounding: False}
    model: !apply:modules.compression.qat.with_weight_quantization
        [!ref <plain_model>, !ref <weight_quantization>]

:func:`modules.compression.qat_export.export_quantized` turns the trained
model into a genuinely quantized one (int8 kernels through
:mod:`modules.compression.quantization`).

Example
-------
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> layer = with_weight_quantization(torch.nn.Linear(4, 3), {"bits": 2})
>>> sorted(layer.state_dict())
['bias', 'weight']
>>> len(torch.unique(layer.weight)) <= 4
True
>>> with_weight_quantization(torch.nn.Linear(4, 3), {"bits": 1})
Traceback (most recent call last):
...
ValueError: weight_quantization.bits=1: expected an integer from 2 to 16
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
from torch.nn.utils import parametrize

KEY = "weight_quantization"
"""The YAML key of the settings, as errors name it."""


@dataclass(frozen=True)
class WeightQuantizationSettings:
    """What :func:`with_weight_quantization` quantizes, and how.

    Attributes
    ----------
    bits : int
        Levels per bucket: ``2 ** bits`` (2 to 16; published: 8).
    bucket_size : int
        Values per bucket (published: 256).
    stochastic_rounding : bool
        Round stochastically in training (unbiased); nearest level otherwise.
    quantize_biases : bool
        Quantize the 1-D ``bias`` parameters too (the published code does);
        weights with at least 2 dimensions (linear, convolution, attention
        projections) always are, 1-D norm scales never.
    exclude : tuple of str
        Patterns of parameter names (``re.search`` on the dotted name) left
        in full precision, e.g. ``["^heads\\\\."]`` for the CTC heads.
    """

    bits: int
    bucket_size: int = 256
    stochastic_rounding: bool = False
    quantize_biases: bool = True
    exclude: tuple = ()

    def __post_init__(self):
        """Refuse values out of range, naming the YAML key."""
        if not _is_int(self.bits) or not 2 <= self.bits <= 16:
            raise ValueError(
                f"{KEY}.bits={self.bits!r}: expected an integer from 2 to 16"
            )
        if not _is_int(self.bucket_size) or self.bucket_size < 1:
            raise ValueError(
                f"{KEY}.bucket_size={self.bucket_size!r}: expected an integer >= 1"
            )
        for name in ("stochastic_rounding", "quantize_biases"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{KEY}.{name}: expected True or False")
        for pattern in self.exclude:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ValueError(f"{KEY}.exclude: {pattern!r}: {error}") from None

    @classmethod
    def from_mapping(cls, mapping: Mapping) -> WeightQuantizationSettings:
        """Settings from the YAML mapping; unknown keys are refused.

        Example
        -------
        >>> WeightQuantizationSettings.from_mapping({"bits": 4}).bucket_size
        256
        >>> WeightQuantizationSettings.from_mapping({"bit": 4})
        Traceback (most recent call last):
        ...
        ValueError: weight_quantization: unknown key(s) ['bit']; known: ...
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{KEY}: expected a mapping or null, got {mapping!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(known))
        if unknown or "bits" not in mapping:
            what = f"unknown key(s) {unknown}" if unknown else "bits is missing"
            raise ValueError(f"{KEY}: {what}; known: {', '.join(known)}")
        values = dict(mapping)
        if isinstance(values.get("exclude"), str):
            values["exclude"] = [values["exclude"]]
        values["exclude"] = tuple(values.get("exclude") or ())
        return cls(**values)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def bucketed_min_max(
    weight: torch.Tensor, bits: int, bucket_size: int, stochastic: bool = False
) -> torch.Tensor:
    """``weight`` quantized bucket by bucket onto ``2 ** bits`` levels.

    The flattened weight is split into buckets of ``bucket_size`` values
    (the last one may be shorter); in each, ``x`` is mapped to
    ``min + round((x - min) / (max - min) * s) * (max - min) / s`` with
    ``s = 2 ** bits - 1``; ``round`` is to the nearest level, or
    ``floor(. + u)`` with ``u`` uniform in [0, 1) when ``stochastic``
    (unbiased: the expectation is ``x``). A constant bucket is unchanged.
    Written here because torch's and torchao's fake quantizers scale per
    tensor, channel or group of a row, not per bucket of the flattened
    tensor.

    Example
    -------
    >>> bucketed_min_max(torch.tensor([0.0, 0.2, 0.7, 1.0, 5.0, 6.0]), 2, 4)
    tensor([0.0000, 0.3333, 0.6667, 1.0000, 5.0000, 6.0000])
    """
    flat = weight.reshape(-1)
    pad = -flat.numel() % bucket_size
    if pad:
        flat = torch.cat([flat, flat[-1:].expand(pad)])
    buckets = flat.view(-1, bucket_size)
    low = buckets.min(dim=1, keepdim=True).values
    span = buckets.max(dim=1, keepdim=True).values - low
    steps = 2**bits - 1
    scaled = (buckets - low) / span.clamp_min(torch.finfo(span.dtype).tiny) * steps
    if stochastic:
        levels = torch.floor(scaled + torch.rand_like(scaled))
    else:
        levels = torch.round(scaled)
    quantized = low + levels.clamp(0, steps) * (span / steps)
    return quantized.view(-1)[: weight.numel()].view_as(weight)


class BucketedWeightQuantizer(torch.nn.Module):
    """Parametrization: the weight, quantized by :func:`bucketed_min_max`,
    with straight-through gradients.

    Stochastic rounding is used only in training mode; evaluation always
    rounds to the nearest level.

    Arguments
    ---------
    bits, bucket_size, stochastic_rounding
        As in :class:`WeightQuantizationSettings`.

    Example
    -------
    >>> quantizer = BucketedWeightQuantizer(2, 4, False)
    >>> w = torch.tensor([0.0, 0.2, 0.7, 1.0], requires_grad=True)
    >>> quantizer(w).sum().backward()
    >>> w.grad
    tensor([1., 1., 1., 1.])
    """

    def __init__(self, bits, bucket_size, stochastic_rounding=False):
        super().__init__()
        self.bits = bits
        self.bucket_size = bucket_size
        self.stochastic_rounding = stochastic_rounding

    def forward(self, weight):
        """``weight + (q(weight) - weight).detach()``."""
        stochastic = self.stochastic_rounding and self.training
        with torch.no_grad():
            quantized = bucketed_min_max(
                weight, self.bits, self.bucket_size, stochastic
            )
        return weight + (quantized - weight).detach()

    def extra_repr(self):
        return (
            f"bits={self.bits}, bucket_size={self.bucket_size}, "
            f"stochastic_rounding={self.stochastic_rounding}"
        )


def quantized_parameters(model, settings: WeightQuantizationSettings):
    """``(module name, module, parameter name)`` of every parameter
    :func:`with_weight_quantization` quantizes: each floating parameter with
    at least 2 dimensions, and the 1-D ``bias`` ones with
    ``quantize_biases``, unless its dotted name matches an ``exclude``
    pattern (a module reachable under two names is taken once; a parameter
    that another parametrization, such as weight norm, computes is not).

    Example
    -------
    >>> settings = WeightQuantizationSettings(8, exclude=("^1\\\\.",))
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    >>> [(m, p) for m, _, p in quantized_parameters(model, settings)]
    [('0', 'weight'), ('0', 'bias')]
    """
    patterns = [re.compile(p) for p in settings.exclude]
    found = []
    for module_name, module in model.named_modules():
        if isinstance(module, parametrize.ParametrizationList):
            continue  # the originals of another parametrization (weight norm)
        for name, param in module.named_parameters(recurse=False):
            full = f"{module_name}.{name}" if module_name else name
            wanted = param.dim() >= 2 or (settings.quantize_biases and name == "bias")
            if (
                wanted
                and param.is_floating_point()
                and not any(p.search(full) for p in patterns)
            ):
                found.append((module_name, module, name))
    return found


def with_weight_quantization(model: torch.nn.Module, settings) -> torch.nn.Module:
    """``model`` with its weights quantized in every forward pass.

    Parameters
    ----------
    model : torch.nn.Module
        The model (changed in place and returned).
    settings : mapping or None
        The YAML's ``weight_quantization``: ``bits`` (2 to 16),
        ``bucket_size`` (default 256), ``stochastic_rounding`` (default
        False), ``quantize_biases`` (default True), ``exclude`` (parameter
        name patterns, default none); see
        :class:`WeightQuantizationSettings`. None, or ``bits`` None (so that
        ``--weight_quantization_bits=8`` can switch it on from the command
        line): ``model`` unchanged.

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ValueError
        Naming the ``weight_quantization`` key whose value is bad.
    """
    if settings is None or (
        isinstance(settings, Mapping) and settings.get("bits", 0) is None
    ):
        return model
    settings = WeightQuantizationSettings.from_mapping(settings)
    if has_weight_quantization(model):
        raise ValueError(f"{KEY}: the model already quantizes its weights")
    modules = {}
    for _, module, name in quantized_parameters(model, settings):
        quantizer = BucketedWeightQuantizer(
            settings.bits, settings.bucket_size, settings.stochastic_rounding
        )
        parametrize.register_parametrization(module, name, quantizer)
        modules[id(module)] = module
    for module in modules.values():
        module.register_state_dict_post_hook(_plain_keys)
        module.register_load_state_dict_pre_hook(_parametrized_keys)
    return model


def quantizer_parameter_names(module) -> list[str]:
    """Parameters of ``module`` that a :class:`BucketedWeightQuantizer`
    parametrizes (none once the parametrizations are removed)."""
    found = getattr(module, "parametrizations", {})
    return [
        name
        for name, chain in found.items()
        if isinstance(chain[0], BucketedWeightQuantizer)
    ]


def _original_key(prefix, name) -> str:
    """Where ``torch.nn.utils.parametrize`` keeps parameter ``name``."""
    return f"{prefix}parametrizations.{name}.original"


def _plain_keys(module, state_dict, prefix, local_metadata) -> None:
    """State-dict post-hook: ``parametrizations.<p>.original`` -> ``<p>``."""
    for name in quantizer_parameter_names(module):
        state_dict[prefix + name] = state_dict.pop(_original_key(prefix, name))


def _parametrized_keys(module, state_dict, prefix, *args) -> None:
    """Load pre-hook: ``<p>`` -> ``parametrizations.<p>.original``."""
    for name in quantizer_parameter_names(module):
        if prefix + name in state_dict:
            state_dict[_original_key(prefix, name)] = state_dict.pop(prefix + name)


def has_weight_quantization(model: torch.nn.Module) -> bool:
    """Whether ``model`` quantizes weights in its forward pass.

    Example
    -------
    >>> has_weight_quantization(torch.nn.Linear(2, 2))
    False
    """
    return any(isinstance(m, BucketedWeightQuantizer) for m in model.modules())
