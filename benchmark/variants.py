"""Variants of a model: the benchmark's extension point.

A :class:`Variant` is one way of running the model on a batch,
``run(model, wavs, rel_lens) -> log_probs [B, T, V]``; by default there is one
per exit of an early-exit model (exit ``k`` runs only the layers up to ``k``).

Adding a variant (e.g. a fixed layer-removal setting): write such a function
and register a builder ``builder(model) -> list of Variant`` in
:data:`VARIANT_BUILDERS`; :func:`benchmark.cost.measure_cost` (MACs and
parameters) and the timed passes of :mod:`benchmark.passes` then treat it like
the exits.
Dynamic exit policies, whose thresholds must be chosen on dev first, have
their own sweep in :mod:`benchmark.policy_sweep`; quantized copies of the
model run as variants of their own (:mod:`benchmark.quantized_variants`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch

from modules.exits.dynamic import dynamic_exit_forward


@dataclass
class Variant:
    """One way of running the model on a batch.

    Attributes
    ----------
    name : str
        Row name in the report.
    run : callable
        ``run(model, wavs, rel_lens) -> log_probs [B, T, V]``.
    exit_index, layer : int, optional
        For static exits: 1-based exit and the layer it sits after.
    quantization : str, optional
        The post-training quantization method of ``model``
        (:data:`modules.compression.quantization.PTQ_METHODS`).
    model : torch.nn.Module, optional
        The model this variant runs instead of the one it is given (a
        quantized copy); None: the one it is given.
    """

    name: str
    run: Callable
    exit_index: int | None = None
    layer: int | None = None
    quantization: str | None = None
    model: torch.nn.Module | None = None

    def __call__(self, model, wavs, rel_lens):
        """Log-probabilities ``[B, T, V]`` of ``model`` (or of the variant's
        own ``model``) run this way."""
        return self.run(self.model if self.model is not None else model, wavs, rel_lens)

    def on_given_model(self) -> Variant:
        """The same variant running the model it is given: for a quantized
        copy (named ``<name>+<method>``), its fp32 equivalent.

        Example
        -------
        >>> copy = Variant("exit1+dynamic-int8", None, 1, 2, "dynamic-int8", object())
        >>> fp32 = copy.on_given_model()
        >>> fp32.name, fp32.quantization, fp32.model
        ('exit1', None, None)
        """
        name = self.name.removesuffix(f"+{self.quantization}")
        return replace(self, name=name, quantization=None, model=None)


def _run_exit(model, wavs, rel_lens, exit_index):
    """Log-probabilities of exit ``exit_index`` (layers above it not run)."""
    return model.exit_log_probs(wavs, rel_lens, exit_index)


def exit_variants(model) -> list[Variant]:
    """One variant per exit; exit ``k`` computes only the layers up to it."""
    return [
        Variant(f"exit{k}", partial(_run_exit, exit_index=k), k, layer)
        for k, layer in enumerate(model.exit_layers, start=1)
    ]


VARIANT_BUILDERS: dict[str, Callable] = {"exits": exit_variants}
"""Name -> ``builder(model) -> list of Variant``. Register fixed variants
(layer-removal settings, ...) here."""


def build_variants(model, names) -> list[Variant]:
    """Variants of ``model`` from the named builders, in order.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model.
    names : sequence of str
        Keys of :data:`VARIANT_BUILDERS`.

    Returns
    -------
    list of Variant
    """
    return [v for name in names for v in VARIANT_BUILDERS[name](model)]


class VariantModule(torch.nn.Module):
    """A variant as a module, so that counters can run it like a model.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model.
    variant : Variant
        How to run it.
    """

    def __init__(self, model, variant):
        super().__init__()
        self.model = model
        self.variant = variant

    def forward(self, wavs, rel_lens):
        """Log-probabilities of the variant."""
        return self.variant(self.model, wavs, rel_lens)


class PolicyVariant:
    """A benchmark variant: ``(model, wavs, rel_lens) -> log_probs``.

    Runs :func:`dynamic_exit_forward` with ``policy`` and records, for every
    call, the exit and the layers run per utterance (call :meth:`reset`
    before a pass whose statistics are wanted).

    Arguments
    ---------
    policy : modules.exits.policies.ExitPolicy
        The exit policy.

    Example
    -------
    >>> from modules.exits.policies import build_policy
    >>> variant = PolicyVariant(build_policy("confidence", 0.9))
    >>> variant.summary()
    {'utterances': 0}
    """

    def __init__(self, policy):
        self.policy = policy
        self.exit_index = []
        self.layers_run = []

    def __call__(self, model, wavs, rel_lens):
        result = dynamic_exit_forward(model, wavs, rel_lens, self.policy)
        self.exit_index.append(result.exit_index.cpu())
        self.layers_run.append(result.layers_run.cpu())
        return result.log_probs

    def reset(self):
        """Forget the recorded exits."""
        self.exit_index, self.layers_run = [], []

    def summary(self):
        """Utterances seen, mean exit and layers, utterances per exit."""
        if not self.exit_index:
            return {"utterances": 0}
        exits = torch.cat(self.exit_index)
        layers = torch.cat(self.layers_run).float()
        return {
            "utterances": exits.numel(),
            "mean_exit": exits.float().mean().item(),
            "mean_layers": layers.mean().item(),
            "exit_counts": {
                int(k): int(n) for k, n in zip(*exits.unique(return_counts=True))
            },
        }
