"""Cost of a variant: MACs counted on its forward passes, parameters used.

:func:`count_split_macs` is the one place where MACs per batch and per
second of audio are computed, for the static variants
(:func:`measure_cost`) and for the dynamic exit policies
(:func:`benchmark.policy_sweep.measure_point`).

Example
-------
>>> import torch
>>> from benchmark.experiment import Batch
>>> batch = Batch(["a"], torch.zeros(1, 4, 8), torch.tensor([1.0]), [["HI"]])
>>> class Toy(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.frontend = torch.nn.Linear(8, 8)
...     def forward(self, wavs, rel_lens):
...         return self.frontend(wavs)
>>> macs = count_split_macs(Toy(), [batch], audio_s=2.0, prefix="")
>>> macs["macs_total"], macs["macs_per_audio_second"]
(256, 128.0)
>>> macs["encoder_macs_per_audio_second"]  # the front-end is not the encoder
0.0
>>> used_parameters(torch.nn.Linear(8, 4), torch.zeros(1, 8))
36
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from benchmark.macs import encoder_macs, run_and_count
from benchmark.variants import VariantModule


def count_split_macs(
    module, batches, audio_s, prefix="model.", on_output=None, desc=None, tracked=()
) -> dict:
    """Run ``module(wavs, rel_lens)`` once per batch under the MAC counter.

    Parameters
    ----------
    module : torch.nn.Module
        Typically a :class:`benchmark.variants.VariantModule`.
    batches : list of benchmark.experiment.Batch
        The batches.
    audio_s : float
        Unpadded audio duration of ``batches``.
    prefix : str
        Name of the model inside ``module`` (:func:`benchmark.macs.
        encoder_macs`).
    on_output : callable, optional
        ``on_output(output, batch)``, called with every batch's output.
    desc : str, optional
        Progress-bar description; None: no bar.
    tracked : sequence of str
        Names of submodules of the model (no nesting among them) whose MACs
        are summed into ``tracked_macs_total``.

    Returns
    -------
    dict
        ``macs_total``, ``macs_per_batch`` (mean), ``macs_per_audio_second``,
        ``encoder_macs_per_audio_second`` (front-end and heads excluded) and,
        when ``tracked`` names modules, ``tracked_macs_total``.
    """
    names = [prefix + name for name in tracked]
    depth = max([3, *(name.count(".") + 1 for name in names)])
    macs, encoder, in_tracked = 0, 0, 0
    for batch in tqdm(batches, dynamic_ncols=True, disable=desc is None, desc=desc):
        output, report = run_and_count(module, batch.wavs, batch.rel_lens, depth=depth)
        if on_output is not None:
            on_output(output, batch)
        macs, encoder = macs + report.total, encoder + encoder_macs(report, prefix)
        in_tracked += sum(report.by_module.get(name, 0) for name in names)
    counts = {
        "macs_total": macs,
        "macs_per_batch": macs / len(batches),
        "macs_per_audio_second": macs / audio_s,
        "encoder_macs_per_audio_second": encoder / audio_s,
    }
    return {**counts, "tracked_macs_total": in_tracked} if names else counts


def used_parameters(module: torch.nn.Module, *inputs) -> int:
    """Parameters of the modules whose forward runs in ``module(*inputs)``.

    Each parameter is counted once: for exit ``k``, the front-end, the layers
    up to ``k``, the final norm and exit ``k``'s head.

    Parameters
    ----------
    module : torch.nn.Module
        Typically a :class:`benchmark.variants.VariantModule`.
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


def measure_cost(model, variant, batches, audio_s, progressbar, int8=()) -> dict:
    """MACs on every batch and the parameters the variant uses.

    A quantized variant's are counted on its fp32 equivalent
    (:meth:`benchmark.variants.Variant.on_given_model`): quantized kernels
    are invisible to the MAC counter, and they do the same products.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model.
    variant : benchmark.variants.Variant
        How to run it.
    batches : list of benchmark.experiment.Batch
        The test batches (parameters are counted on the first).
    audio_s : float
        Unpadded audio duration of ``batches``.
    progressbar : bool
        Show a tqdm progress bar.
    int8 : sequence of str
        Names of the model's modules that hold int8 weights in the variant
        (:func:`modules.compression.quantization.quantized_module_names`).

    Returns
    -------
    dict
        ``params``, ``macs_per_batch`` (mean), ``macs_per_audio_second``,
        ``macs_total``, ``encoder_macs_per_audio_second`` (front-end and
        heads excluded, :func:`benchmark.macs.encoder_macs`) and
        ``quantized_mac_fraction`` (the MACs of the ``int8`` modules over
        all).
    """
    module = VariantModule(model, variant.on_given_model()).eval()
    desc = f"{variant.name} MACs" if progressbar else None
    macs = count_split_macs(module, batches, audio_s, desc=desc, tracked=int8)
    int8_macs = macs.get("tracked_macs_total", 0)
    return {
        "params": used_parameters(module, batches[0].wavs, batches[0].rel_lens),
        "macs_per_batch": macs["macs_per_batch"],
        "macs_per_audio_second": macs["macs_per_audio_second"],
        "macs_total": macs["macs_total"],
        "encoder_macs_per_audio_second": macs["encoder_macs_per_audio_second"],
        "quantized_mac_fraction": int8_macs / max(macs["macs_total"], 1),
    }
