"""Variants of a model, the benchmark's extension point, and their cost.

A :class:`Variant` is one way of running the model on a batch,
``run(model, wavs, rel_lens) -> log_probs [B, T, V]``; by default there is one
per exit of an early-exit model (exit ``k`` runs only the layers up to ``k``).

Adding a variant (e.g. a fixed layer-removal setting): write such a function
and register a builder ``builder(model) -> list of Variant`` in
:data:`VARIANT_BUILDERS`; :func:`measure_cost` (MACs and parameters) and the
timed passes of :mod:`benchmark.passes` then treat it like the exits.
Dynamic exit policies, whose thresholds must be chosen on dev first, have
their own sweep in :mod:`benchmark.policy_sweep`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from tqdm import tqdm

from benchmark.macs import count_macs, encoder_macs
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
    """

    name: str
    run: Callable
    exit_index: int | None = None
    layer: int | None = None

    def __call__(self, model, wavs, rel_lens):
        """Log-probabilities ``[B, T, V]`` of ``model`` run this way."""
        return self.run(model, wavs, rel_lens)


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


def build_variants(model, names=("exits",)) -> list[Variant]:
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


# --------------------------------------------------------------------------
# Cost: MACs and parameters
# --------------------------------------------------------------------------


def used_parameters(module: torch.nn.Module, *inputs) -> int:
    """Parameters of the modules whose forward runs in ``module(*inputs)``.

    Each parameter is counted once: for exit ``k``, the front-end, the layers
    up to ``k``, the final norm and exit ``k``'s head.

    Parameters
    ----------
    module : torch.nn.Module
        Typically a :class:`VariantModule`.
    *inputs
        Arguments of one forward pass (run under ``torch.inference_mode()``).

    Returns
    -------
    int
    """
    ran = []
    handle = torch.nn.modules.module.register_module_forward_hook(
        lambda mod, args, out: ran.append(mod)
    )
    try:
        with torch.inference_mode():
            module(*inputs)
    finally:
        handle.remove()
    sizes = {id(p): p.numel() for m in ran for p in m.parameters(recurse=False)}
    return sum(sizes.values())


def measure_cost(model, variant, batches, audio_s, progressbar=False) -> dict:
    """MACs on every batch and the parameters the variant uses.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model.
    variant : Variant
        How to run it.
    batches : list of benchmark.experiment.Batch
        The test batches (parameters are counted on the first).
    audio_s : float
        Unpadded audio duration of ``batches``.
    progressbar : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        ``params``, ``macs_per_batch`` (mean), ``macs_per_audio_second``,
        ``macs_total`` and ``encoder_macs_per_audio_second`` (front-end and
        heads excluded, :func:`benchmark.macs.encoder_macs`).
    """
    module = VariantModule(model, variant).eval()
    macs, encoder = [], 0
    desc = f"{variant.name} MACs"
    for batch in tqdm(batches, dynamic_ncols=True, disable=not progressbar, desc=desc):
        report = count_macs(module, batch.wavs, batch.rel_lens, depth=3)
        macs.append(report.total)
        encoder += encoder_macs(report, "model.")
    return {
        "params": used_parameters(module, batches[0].wavs, batches[0].rel_lens),
        "macs_per_batch": sum(macs) / len(macs),
        "macs_per_audio_second": sum(macs) / audio_s,
        "macs_total": sum(macs),
        "encoder_macs_per_audio_second": encoder / audio_s,
    }


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
