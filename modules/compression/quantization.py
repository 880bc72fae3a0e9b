"""Post-training quantization: an int8 copy of any trained model of the toolkit.

:func:`quantize_model` returns a quantized deep copy of a model
(:class:`modules.models.early_exit.EarlyExitCTC` over a Conformer or an SSL
encoder, or any ``torch.nn.Module``) for a named method of
:data:`PTQ_METHODS`:

- ``dynamic-int8``: ``torch.ao.quantization.quantize_dynamic`` (int8
  weights, activations quantized per batch, int8 matrix products in
  fbgemm/oneDNN; marked deprecated, still shipped in torch 2.13);
- ``torchao-int8-dynamic``: torchao's ``quantize_`` with
  ``Int8DynamicActivationInt8WeightConfig`` (the same arithmetic);
- ``torchao-int8-weight-only``: torchao's ``quantize_`` with
  ``Int8WeightOnlyConfig`` (int8 weights, floating-point arithmetic).

Every method quantizes the ``torch.nn.Linear`` modules (exact type) whose
names do not match a ``keep_fp32`` pattern; by default the CTC heads stay in
fp32, as in SpeechBrain's wav2vec2 quantization tutorial. The weights the
Conformer uses outside ``nn.Linear`` (the attention's ``in_proj_weight``,
the convolution kernels) have no int8 kernel: they are stored in int8 and
used in fp32 (:mod:`modules.compression.int8_storage`), so that the model's
size shrinks with all its weights. Measured on this project's 2-core AMD
EPYC (AVX2, no VNNI; torch 2.13, 1 thread, a 4-layer d_model-144 Conformer
on 10 s of audio), no int8 path ran faster than fp32, and running those
layers in int8 kernels too (the pointwise convolutions as linear layers, or
``in_proj_weight`` through torchao) did not either.

:func:`quantized_module_names` says which modules hold int8 weights and
:func:`serialized_size_mb` gives a model's size as saved.

Example
-------
>>> model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU())
>>> model.heads = torch.nn.ModuleList([torch.nn.Linear(64, 8)])
>>> small = quantize_model(model, "dynamic-int8")
>>> quantized_module_names(small)
['0']
>>> round(serialized_size_mb(small) / serialized_size_mb(model), 1)
0.4
>>> quantize_model(model, "int3")
Traceback (most recent call last):
...
ValueError: quantization method 'int3' is unknown; available: ...
"""

from __future__ import annotations

import copy
import importlib
import io
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from modules.compression.int8_storage import store_weights_int8

DEFAULT_KEEP_FP32 = ("heads",)
"""Module-name patterns left in fp32 by default: the CTC heads."""


@dataclass(frozen=True)
class PTQMethod:
    """One post-training quantization method.

    Attributes
    ----------
    name : str
        Its key (``quantization`` in the benchmark options).
    int8_arithmetic : bool
        Whether the quantized layers multiply in int8 (else: int8 weights,
        floating-point products).
    requires : str
        The module and attribute it needs, ``"module:attribute"``.
    apply : callable
        ``apply(model, names)`` quantizes, in place, the modules of
        ``model`` named in ``names``.
    """

    name: str
    int8_arithmetic: bool
    requires: str
    apply: Callable

    def available(self) -> bool:
        """Whether the installed torch/torchao has what the method needs."""
        module, _, attribute = self.requires.partition(":")
        try:
            return hasattr(importlib.import_module(module), attribute)
        except ImportError:
            return False


def _dynamic_int8(model, names) -> None:
    """``quantize_dynamic`` on the named modules (qconfigs by module name, so
    that a module reachable under two names is quantized once)."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    spec = dict.fromkeys(names, default_dynamic_qconfig)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated", category=Warning)
        quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


def _torchao(config_name):
    """``apply`` of a torchao ``quantize_`` config (no global inductor
    settings: nothing is compiled)."""

    def apply(model, names) -> None:
        import torchao.quantization as ao

        config = getattr(ao, config_name)(set_inductor_config=False)
        wanted = set(names)
        ao.quantize_(model, config, filter_fn=lambda module, fqn: fqn in wanted)

    return apply


PTQ_METHODS = {
    method.name: method
    for method in (
        PTQMethod(
            "dynamic-int8",
            True,
            "torch.ao.quantization:quantize_dynamic",
            _dynamic_int8,
        ),
        PTQMethod(
            "torchao-int8-dynamic",
            True,
            "torchao.quantization:Int8DynamicActivationInt8WeightConfig",
            _torchao("Int8DynamicActivationInt8WeightConfig"),
        ),
        PTQMethod(
            "torchao-int8-weight-only",
            False,
            "torchao.quantization:Int8WeightOnlyConfig",
            _torchao("Int8WeightOnlyConfig"),
        ),
    )
}
"""Method key -> :class:`PTQMethod`."""


def available_methods() -> list[str]:
    """Keys of the methods the installed torch/torchao can run.

    Example
    -------
    >>> "dynamic-int8" in available_methods()
    True
    """
    return [name for name, method in PTQ_METHODS.items() if method.available()]


def check_method(method: str, key: str = "quantization method") -> PTQMethod:
    """The :class:`PTQMethod` of key ``method``.

    Parameters
    ----------
    method : str
        A key of :data:`PTQ_METHODS`.
    key : str
        How the error names the setting (a YAML or CLI key).

    Raises
    ------
    ValueError
        Naming ``key``, the value and the available methods, for an unknown
        method or one the installed torch/torchao lacks.
    """
    found = PTQ_METHODS.get(method)
    if found is not None and found.available():
        return found
    why = "is unknown" if found is None else f"needs {found.requires}, not installed"
    raise ValueError(
        f"{key} {method!r} {why}; available: {', '.join(available_methods())}"
    )


def linear_module_names(model, keep_fp32: Sequence[str] = DEFAULT_KEEP_FP32):
    """Names of the ``torch.nn.Linear`` modules (exact type) of ``model`` that
    match no ``keep_fp32`` pattern (``re.match`` on the dotted name). A module
    reachable under several names (a layer list aliased by an encoder
    wrapper) is named once, as ``model.named_modules()`` names it.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    >>> linear_module_names(model, keep_fp32=["1"])
    ['0']
    """
    patterns = [re.compile(p) for p in keep_fp32]
    return [
        name
        for name, module in model.named_modules()
        if type(module) is torch.nn.Linear and not any(p.match(name) for p in patterns)
    ]


def quantize_model(
    model: torch.nn.Module, method: str, keep_fp32: Sequence[str] = DEFAULT_KEEP_FP32
) -> torch.nn.Module:
    """A quantized deep copy of ``model`` (``model`` is left unchanged).

    Parameters
    ----------
    model : torch.nn.Module
        A trained model.
    method : str
        A key of :data:`PTQ_METHODS`.
    keep_fp32 : sequence of str
        Patterns of module names left in fp32 (``re.match``); default: the
        CTC heads (``heads.<k>``); ``()`` quantizes them too.

    Returns
    -------
    torch.nn.Module
        The copy, in eval mode, for CPU inference.

    Raises
    ------
    ValueError
        For a method :func:`check_method` refuses.
    """
    ptq = check_method(method)
    quantized = copy.deepcopy(model).eval()
    quantize_in_place(quantized, ptq, keep_fp32)
    return quantized


def quantize_in_place(model, ptq: PTQMethod, keep_fp32=DEFAULT_KEEP_FP32) -> None:
    """Quantize the linear layers of ``model`` itself with ``ptq``, then
    store its other weight tensors (attention input projections,
    convolution kernels) in int8
    (:func:`modules.compression.int8_storage.store_weights_int8`); modules
    matching ``keep_fp32`` are left alone."""
    ptq.apply(model, linear_module_names(model, keep_fp32))
    store_weights_int8(model, keep_fp32)


def quantized_module_names(model: torch.nn.Module) -> list[str]:
    """Names of the modules of ``model`` that hold int8 weights (each module
    once, as ``model.named_modules()`` names it).

    Example
    -------
    >>> quantized_module_names(torch.nn.Linear(2, 2))
    []
    """
    return [name for name, module in model.named_modules() if _has_int8_weight(module)]


def _has_int8_weight(module) -> bool:
    """Whether ``module`` is a dynamically quantized linear layer or holds a
    torchao weight with int8 data."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    if isinstance(module, DynamicQuantizedLinear):
        return module.weight().dtype == torch.qint8
    inner = getattr(module._parameters.get("weight"), "qdata", None)
    return isinstance(inner, torch.Tensor) and inner.dtype == torch.int8


def unique_state_dict(model: torch.nn.Module) -> dict:
    """``model.state_dict()`` without the entries of modules reachable under a
    second name (they would be saved twice once quantized: packed int8
    weights are serialised by value, not as shared storage)."""
    owners = {name for name, _ in model.named_modules()}
    return {
        key: value
        for key, value in model.state_dict().items()
        if key.rpartition(".")[0] in owners
    }


def serialized_size_mb(model: torch.nn.Module) -> float:
    """Size in MB (1e6 bytes) of the model's state as ``torch.save`` writes
    it (:func:`unique_state_dict`, to memory).

    Example
    -------
    >>> round(serialized_size_mb(torch.nn.Linear(1000, 1000)), 1)
    4.0
    """
    buffer = io.BytesIO()
    with torch.inference_mode(False):
        torch.save(unique_state_dict(model), buffer)
    return buffer.tell() / 1e6
