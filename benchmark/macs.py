"""Count the multiply-accumulates (MACs) of a model's forward pass.

Convention
----------
One MAC is one multiplication of a matrix product or convolution whose
result is accumulated: ``a [n, k] @ b [k, m]`` costs ``n * k * m`` MACs, a
convolution costs ``out.numel() * in_channels / groups * kernel_volume`` MACs.
Bias additions, normalisations, activations, softmax, masking, pooling and
other element-wise or reduction ops are *not* MACs and count 0. Attention
counts its two matrix products, ``Q K^T`` and ``A V``:
``B * H * Tq * Tk * (d_head + d_head_v)`` MACs, i.e. ``2 * B * H * Tq * Tk *
d_head`` for ordinary attention. Masks (padding, causal) do not change the
count: the dense products are counted (a flash kernel may skip blocks that a
causal mask hides entirely; that saving is not credited).

How it works
------------
``MacCounter`` is a :class:`torch.utils._python_dispatch.TorchDispatchMode`
that sees every ATen op the forward pass runs. Ops with a rule in
:data:`benchmark.mac_rules.RULES`
(``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``convolution``, every
scaled-dot-product-attention variant, the fused ``nn.MultiheadAttention`` and
``nn.TransformerEncoderLayer`` fast paths, LSTM/GRU/RNN, ...) are counted from
their argument shapes. Composite ops without a rule (``linear``, ``matmul``,
``conv1d``, ``einsum``, ...) are decomposed, so that the matrix
products inside them are counted. A leaf op that looks like it multiplies
matrices but has no rule is listed in ``MacReport.uncounted`` and triggers a
warning instead of silently counting 0.

Why not ptflops' ``aten`` backend
---------------------------------
ptflops' aten backend is the same idea (a ``TorchDispatchMode`` with rules
for ``mm/addmm/bmm/convolution``), but measured with torch 2.13 and
ptflops 0.7.5 it cannot be made correct through its public API:

* under ``torch.inference_mode()`` the dispatch mode receives the composite
  ops themselves (``aten.linear``, ``aten.matmul``, ``aten.conv1d``) and
  ptflops does not decompose them, so a plain ``nn.Linear`` counts 0;
* it reports 0 for ``F.scaled_dot_product_attention`` and for the fused
  ``nn.MultiheadAttention`` path, and drops ``Q K^T`` when a mask routes it to
  ``baddbmm`` (extra rules can be passed, but not a decomposition step);
* it counts a bias as MACs in ``addmm``/``convolution`` but not when
  ``linear`` goes through ``matmul`` + ``add`` (non-contiguous or 4-D input,
  e.g. SpeechBrain's ``PositionalwiseFeedForward``), so the same layer gets
  different counts depending on memory layout;
* ``get_model_complexity_info`` catches every exception and returns
  ``None``, passes only one positional tensor (or a kwargs dict) to the
  model, exposes the per-op breakdown only by printing, and leaves its module
  hooks registered on the model after each call (hooks also switch off the
  fused ``nn.TransformerEncoderLayer`` path, so later runs use other kernels).

``torch.utils.flop_counter.FlopCounterMode`` does decompose composite ops,
but reports 0 for SDPA on CPU and for the fused MHA path (checked under both
``inference_mode`` and ``no_grad``) and counts FLOPs (2 x MACs); it would
need the same extra rules. A small dispatch mode whose every rule is explicit
is easier to verify: the tests check it against hand-derived
counts for linear/conv layers, SDPA, ``nn.MultiheadAttention`` (fused and
masked paths) and SpeechBrain Conformer encoders, and against ptflops where
ptflops is correct.

Examples
--------
>>> import torch
>>> report = count_macs(torch.nn.Linear(8, 4), torch.zeros(2, 3, 8))
>>> report.total  # 2 * 3 tokens x 8 inputs x 4 outputs
192
>>> report.by_op
{'aten.addmm': 192}
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmark.mac_rules import MATMUL_LIKE, RULES, bind_arguments

__all__ = [
    "MacCounter",
    "MacReport",
    "count_macs",
    "count_parameters",
    "run_and_count",
]


@dataclass
class MacReport:
    """MACs of one forward pass.

    Attributes
    ----------
    total : int
        Total multiply-accumulates.
    by_op : dict of str to int
        MACs per counted ATen op (``"aten.addmm"``, ...).
    by_module : dict of str to int
        MACs per submodule (dotted names, up to depth 2 for
        :func:`count_macs`; a parent includes its children; only modules
        whose forward ran and counted MACs appear).
    uncounted : dict of str to int
        Matmul-like ops that ran without a rule, with their call counts.
    """

    total: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    by_module: dict[str, int] = field(default_factory=dict)
    uncounted: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        """Total in GMACs (1e9 MACs)."""
        return self.total / 1e9

    def __str__(self) -> str:
        ops = ", ".join(f"{k}={v:,}" for k, v in sorted(self.by_op.items()))
        return f"{self.total:,} MACs ({ops})"


class MacCounter(TorchDispatchMode):
    """Dispatch mode that accumulates MACs of the ops run inside it.

    Parameters
    ----------
    module : torch.nn.Module, optional
        If given, MACs are also attributed to its submodules.
    depth : int, optional
        Submodules up to this nesting depth are tracked (1: direct children,
        2: their children too, e.g. ``layers.0``); a parent's count includes
        its children's.

    Examples
    --------
    >>> import torch
    >>> q = torch.zeros(2, 4, 10, 16)  # batch, heads, time, head dim
    >>> with torch.inference_mode(), MacCounter() as counter:
    ...     _ = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    >>> counter.report().total == 2 * 2 * 4 * 10 * 10 * 16
    True
    """

    def __init__(self, module: torch.nn.Module | None = None, depth: int = 2):
        super().__init__()
        self.by_op: dict[str, int] = defaultdict(int)
        self.by_module: dict[str, int] = defaultdict(int)
        self.uncounted: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self._handles = [] if module is None else self._track(module, depth)

    def _track(self, module: torch.nn.Module, depth: int) -> list:
        # Global hooks: per-module hooks would disable fused fast paths such as
        # nn.TransformerEncoderLayer's, changing the kernels being counted.
        names = {
            id(m): name
            for name, m in module.named_modules()
            if name and name.count(".") < depth
        }

        def push(mod, *_) -> None:
            if id(mod) in names:
                self._stack.append(names[id(mod)])

        def pop(mod, *_) -> None:
            if id(mod) in names:
                self._stack.pop()

        return [
            torch.nn.modules.module.register_module_forward_pre_hook(push),
            torch.nn.modules.module.register_module_forward_hook(pop),
        ]

    def remove_hooks(self) -> None:
        """Remove the module hooks (called by :func:`count_macs`)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rule = RULES.get(func._overloadpacket)
        if rule is None:
            with self:  # re-enter so that the decomposed ops are seen
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        name = str(func._overloadpacket)
        if rule is not None:
            self._add(name, rule, bind_arguments(func, args, kwargs), out)
        elif MATMUL_LIKE.search(name) and "upsample" not in name:
            self.uncounted[name] += 1
        return out

    def _add(self, name: str, rule, bound: dict, out: Any) -> None:
        try:
            macs = int(rule(bound, out))
        except Exception:  # e.g. nested tensors: shapes are not defined
            self.uncounted[name] += 1
            return
        self.by_op[name] += macs
        for module_name in self._stack:
            self.by_module[module_name] += macs

    def report(self) -> MacReport:
        """Return the counts accumulated so far."""
        return MacReport(
            total=sum(self.by_op.values()),
            by_op=dict(self.by_op),
            by_module=dict(self.by_module),
            uncounted=dict(self.uncounted),
        )


def run_and_count(model: torch.nn.Module, *inputs, depth: int = 2, **kwargs):
    """Run ``model(*inputs, **kwargs)`` once and count its MACs.

    As :func:`count_macs`, but the output is returned too, so that a pass
    whose results are needed (a dynamic exit policy's log-posteriors, say)
    is also the pass whose MACs are counted.

    Parameters
    ----------
    model : torch.nn.Module
        Model to run; its forward may take any arguments.
    *inputs, **kwargs
        Arguments of the forward pass.
    depth : int
        Submodules are credited in ``MacReport.by_module`` up to this nesting
        depth (see :class:`MacCounter`).

    Returns
    -------
    tuple
        ``(output, MacReport)``.

    Examples
    --------
    >>> import torch
    >>> out, report = run_and_count(torch.nn.Linear(8, 4), torch.zeros(1, 8))
    >>> out.shape, report.total
    (torch.Size([1, 4]), 32)
    """
    was_training = model.training
    model.eval()
    counter = MacCounter(model, depth)
    try:
        with torch.inference_mode(), counter:
            output = model(*inputs, **kwargs)
    finally:
        counter.remove_hooks()
        model.train(was_training)
    report = counter.report()
    if report.uncounted:
        warnings.warn(
            f"MACs of these ops were not counted: {report.uncounted}", stacklevel=3
        )
    return output, report


def count_macs(model: torch.nn.Module, *inputs, **kwargs) -> MacReport:
    """Count the MACs of ``model(*inputs, **kwargs)``.

    The model runs once in eval mode under ``torch.inference_mode()`` (its
    training flag is restored afterwards), so that the same kernels as in a
    timed inference run are counted, e.g. the fused attention fast paths.

    Parameters
    ----------
    model : torch.nn.Module
        Model to run; its forward may take any arguments.
    *inputs, **kwargs
        Arguments of the forward pass.

    Returns
    -------
    MacReport
        Total, per-op and per-submodule MACs; ``uncounted`` lists
        matmul-like ops without a rule (a warning is also issued).

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv1d(4, 8, kernel_size=3)
    >>> count_macs(conv, torch.zeros(1, 4, 10)).total  # 8 frames x 8 x 4 x 3
    768
    """
    return run_and_count(model, *inputs, **kwargs)[1]


def encoder_macs(report: MacReport, prefix: str = "") -> int:
    """MACs of the encoder alone: the total less the front-end's (feature
    extraction, downsampling, subsampling) and the exit heads'.

    ``report`` must break MACs down at least to ``<prefix>frontend`` and
    ``<prefix>heads.<n>`` (``depth=2`` for a bare early-exit model, 3 inside a
    wrapper whose attribute ``prefix`` names it, e.g. ``"model."``).

    Examples
    --------
    >>> report = MacReport(100, {}, {"frontend": 30, "heads.0": 5, "encoder": 65})
    >>> encoder_macs(report)
    65
    """
    modules = report.by_module
    heads = sum(v for k, v in modules.items() if k.startswith(prefix + "heads."))
    return report.total - modules.get(prefix + "frontend", 0) - heads


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (shared parameters counted once).

    Examples
    --------
    >>> import torch
    >>> count_parameters(torch.nn.Linear(8, 4))
    36
    """
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )
