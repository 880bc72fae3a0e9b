"""Int8 storage of the weights that no int8 kernel takes.

PyTorch's int8 kernels (``quantize_dynamic``, torchao) replace
``torch.nn.Linear`` layers only. A Conformer also holds weight tensors outside
them: the attention's ``in_proj_weight`` (applied with ``F.linear`` or a
matrix product), the convolution module's pointwise and depthwise
``Conv1d`` kernels and the front-end's subsampling convolution; in fp32 they
are more than half of a post-training-quantized model's size.
:func:`store_weights_int8` keeps each of them as int8 values with one fp32
scale per output channel (symmetric absmax) through
``torch.nn.utils.parametrize``: the module then reads the dequantized fp32
weight at every use, so its arithmetic is unchanged and only storage shrinks
(written here: neither torch nor torchao stores a non-``Linear`` weight in
int8 without an int8 kernel for it).

Example
-------
>>> model = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3), torch.nn.LayerNorm(8))
>>> store_weights_int8(model)
['0.weight']
>>> model[0].parametrizations.weight.original0.dtype
torch.int8
>>> x = torch.randn(2, 4, 5)
>>> tuple(model[0](x).shape)
(2, 8, 3)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch.nn.utils import parametrize

INT8_MAX = 127


class Int8Dequantized(torch.nn.Module):
    """Parametrization: int8 values and per-output-channel scales stored,
    the fp32 weight ``values * scale`` returned.

    Example
    -------
    >>> weight = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    >>> storage = Int8Dequantized(weight)
    >>> (values,) = storage.right_inverse(weight)
    >>> values.dtype, values.tolist()
    (torch.int8, [[64, -127], [127, 16]])
    >>> storage(values).tolist()  # within half a step of each row's scale
    [[0.5039..., -1.0], [2.0, 0.251...]]
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        dims = tuple(range(1, weight.dim()))
        absmax = weight.detach().abs().amax(dim=dims, keepdim=True)
        self.register_buffer("scale", absmax.clamp_min(1e-12) / INT8_MAX)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """The fp32 weight the module uses."""
        return values.to(self.scale.dtype) * self.scale

    def right_inverse(self, weight: torch.Tensor) -> tuple[torch.Tensor]:
        """The int8 values stored for ``weight`` (a 1-tuple: ``parametrize``
        lets a single returned tensor keep only the weight's own dtype)."""
        steps = torch.round(weight.detach() / self.scale)
        return (steps.clamp(-INT8_MAX, INT8_MAX).to(torch.int8),)


def storable_weights(
    model: torch.nn.Module, keep_fp32: Sequence[str] = ()
) -> list[tuple[str, torch.nn.Module, str]]:
    """``(module name, module, parameter name)`` of every floating-point
    parameter with two or more dimensions held directly by a module whose
    name matches no ``keep_fp32`` pattern (``re.match``); each module once.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    >>> [(name, param) for name, _, param in storable_weights(model, ["1"])]
    [('0', 'weight')]
    """
    patterns = [re.compile(p) for p in keep_fp32]
    found = []
    for name, module in model.named_modules():
        if any(p.match(name) for p in patterns):
            continue
        for param_name, param in module.named_parameters(recurse=False):
            if param.dtype.is_floating_point and param.dim() >= 2:
                if type(param) in (torch.Tensor, torch.nn.Parameter):
                    found.append((name, module, param_name))
    return found


def store_weights_int8(
    model: torch.nn.Module, keep_fp32: Sequence[str] = ()
) -> list[str]:
    """Store, in place, the :func:`storable_weights` of ``model`` as int8
    values with per-output-channel scales; for inference (the int8 values
    take no gradient).

    Run it after the int8 kernels have replaced the linear layers: their
    weights are packed and no longer parameters, torchao's are tensor
    subclasses; both are left alone.

    Returns
    -------
    list of str
        The dotted names of the weights now stored in int8.
    """
    stored = []
    for name, module, param_name in storable_weights(model, keep_fp32):
        weight = getattr(module, param_name).requires_grad_(False)
        parametrize.register_parametrization(
            module, param_name, Int8Dequantized(weight), unsafe=True
        )
        stored.append(f"{name}.{param_name}" if name else param_name)
    return stored


def int8_stored_weight_names(model: torch.nn.Module) -> list[str]:
    """Dotted names of the weights of ``model`` stored by
    :func:`store_weights_int8`.

    Example
    -------
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    >>> int8_stored_weight_names(model)
    []
    >>> _ = store_weights_int8(model)
    >>> int8_stored_weight_names(model)
    ['0.weight']
    """
    names = []
    for name, module in model.named_modules():
        for param_name, chain in getattr(module, "parametrizations", {}).items():
            if any(isinstance(p, Int8Dequantized) for p in chain):
                names.append(f"{name}.{param_name}" if name else param_name)
    return names
