"""Export of a trained model, quantization-aware or not, to int8 kernels.

A model trained with :func:`modules.compression.qat.with_weight_quantization`
keeps full-precision weights and quantizes them in its forward pass;
:func:`with_quantized_weights_fixed` fixes the quantized values in plain
parameters, and :func:`export_quantized` hands them to a post-training
method of :mod:`modules.compression.quantization`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch.nn.utils import parametrize

from modules.compression.qat import quantizer_parameter_names
from modules.compression.quantization import (
    DEFAULT_KEEP_FP32,
    check_method,
    quantize_in_place,
)


def with_quantized_weights_fixed(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` in eval mode whose parameters hold their quantized
    values (nearest-level rounding), the quantizers removed."""
    fixed = copy.deepcopy(model).eval()
    for module in list(fixed.modules()):
        names = quantizer_parameter_names(module)
        if names:
            _give_own_class(module)
        for name in names:
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return fixed


def _give_own_class(module) -> None:
    """Give a parametrized module of a deep copy a class of its own.

    ``copy.deepcopy`` of a parametrized module shares the class that
    ``parametrize`` made for the original, and removing a parametrization
    deletes its property from that class: from the original too.
    """
    cls = type(module)
    namespace = {
        key: value
        for key, value in vars(cls).items()
        if key not in ("__dict__", "__weakref__")
    }
    module.__class__ = type(cls.__name__, cls.__bases__, namespace)


def export_quantized(
    model: torch.nn.Module, method: str, keep_fp32: Sequence[str] = DEFAULT_KEEP_FP32
) -> torch.nn.Module:
    """A genuinely quantized copy of a trained model, quantization-aware or not.

    The parameters keep their quantized values
    (:func:`with_quantized_weights_fixed`), then the linear layers are
    quantized by the post-training method ``method``
    (:func:`modules.compression.quantization.quantize_model`): their
    inference runs in PyTorch's int8 kernels. The int8 grid (one scale per
    tensor or row) is not the buckets' grid, so the values are rounded once
    more; the other layers keep the quantized values in fp32 storage. A model
    without weight quantization is simply quantized by ``method``.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (left unchanged).
    method : str
        A key of :data:`modules.compression.quantization.PTQ_METHODS`.
    keep_fp32 : sequence of str
        Module-name patterns whose linear layers stay fp32 (default: heads).

    Returns
    -------
    torch.nn.Module
        In eval mode; :func:`modules.compression.quantization.
        serialized_size_mb` gives its size.

    Example
    -------
    >>> from modules.compression.qat import with_weight_quantization
    >>> from modules.compression.quantization import quantized_module_names
    >>> model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    >>> model = with_weight_quantization(model, {"bits": 4, "bucket_size": 16})
    >>> quantized_module_names(export_quantized(model, "dynamic-int8"))
    ['0']
    """
    ptq = check_method(method)
    fixed = with_quantized_weights_fixed(model)
    quantize_in_place(fixed, ptq, keep_fp32)
    return fixed
