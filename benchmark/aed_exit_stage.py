"""The AED exits' stage: cost, timed passes and WER of every exit's
attention decodings.

For every :class:`benchmark.aed_searches.ExitSearch` (exit ``k`` with greedy
attention or the joint CTC/attention beam search):

* MACs are counted on the real decoding pass over the test set (they
  depend on the output length; :func:`benchmark.aed_macs.count_decoding`):
  all of them, the encoder layers alone, and the decoder's steps (its
  decoder, target embedding and output layer), which are counted too
  (:func:`measure_search_cost`);
* every device times, after a warm-up of the whole decoding, ``repeats``
  passes over the test set with the encoder pass and the decoding timed
  apart (:func:`benchmark.passes.timed_pass`: network time = encoder up to the
  exit, decoding time = the search), summarised by their median
  (:func:`time_search`).
"""

from __future__ import annotations

import json

import torch

from benchmark.aed_macs import count_decoding
from benchmark.aed_results import DecodingCost
from benchmark.aed_searches import ExitSearch
from benchmark.context import BenchmarkContext
from benchmark.cost import used_parameters
from benchmark.devices import put_model_on
from benchmark.passes import repeated_passes, summarize_passes, warm_up
from benchmark.results import DeviceTiming, VariantResult
from benchmark.variants import VariantModule
from modules.compression.quantization import serialized_size_mb
from modules.nn.lengths import absolute_lengths


def first_utterance(batch):
    """The first utterance of a batch, unpadded: ``(wavs [1, samples],
    rel_lens [1])``.

    Example
    -------
    >>> from benchmark.experiment import Batch
    >>> batch = Batch(["a", "b"], torch.zeros(2, 8), torch.tensor([0.5, 1.0]), [])
    >>> [t.tolist() for t in first_utterance(batch)]
    [[[0.0, 0.0, 0.0, 0.0]], [1.0]]
    """
    samples = int(absolute_lengths(batch.rel_lens[:1], batch.wavs.shape[1]))
    return batch.wavs[:1, :samples], torch.ones(1)


def measure_search_cost(model, search: ExitSearch, batches, audio_s, progressbar):
    """MACs and parameters of an exit's decoding, counted on its real
    decoding pass over ``batches`` (:func:`benchmark.aed_macs.count_decoding`),
    and its decoder's cost.

    Parameters
    ----------
    model : modules.models.aed_early_exit.EarlyExitAED
        The trained model.
    search : benchmark.aed_searches.ExitSearch
        The exit and searcher.
    batches : list of benchmark.experiment.Batch
        The test batches (parameters are counted on the first utterance).
    audio_s : float
        Their unpadded audio duration.
    progressbar : bool
        Show a tqdm bar.

    Returns
    -------
    tuple
        ``(cost, decoding)``: the :class:`benchmark.results.VariantResult`
        cost fields (``params``, ``macs_per_batch``,
        ``macs_per_audio_second``, ``macs_total``,
        ``encoder_macs_per_audio_second``: the encoder layers alone) and the
        :class:`benchmark.aed_results.DecodingCost`.
    """
    desc = f"{search.name} MACs" if progressbar else None
    macs, _ = count_decoding(model, search, batches, audio_s, desc)
    decoding = DecodingCost(
        search.name,
        search.exit_index,
        search.decoder,
        macs.pop("decoding_macs_per_audio_second"),
        macs.pop("decoding_steps"),
    )
    module = VariantModule(model, search.pipeline).eval()
    params = used_parameters(module, *first_utterance(batches[0]))
    return {"params": params, **macs}, decoding


def time_search(ctx: BenchmarkContext, search: ExitSearch, device: str):
    """Timed passes of an exit's decoding on ``device``: a warm-up of the
    whole decoding (``warmup_batches``), then ``repeats`` passes timing the
    encoder pass (network) and the search (decoding) apart.

    Returns
    -------
    benchmark.results.DeviceTiming
        Times (median, min, max), RTF and the WER of the first pass.
    """
    model, opts = ctx.exp.model, ctx.opts
    put_model_on(model, device)
    warm_up(model, search.pipeline, ctx.batches, device, opts.warmup_batches)
    passes = repeated_passes(
        ctx, search.encoder, device, search.words, search.decoder, opts.repeats
    )
    put_model_on(model, "cpu")
    summary = summarize_passes([p[0] for p in passes], ctx.audio_s)
    return DeviceTiming(summary, ctx.wer(passes[0][1]))


def summary_wer(ctx: BenchmarkContext, search: ExitSearch):
    """The WER of the same exit and decoding in the test stage's
    ``wer_summary.json`` (``wer_attention`` / ``wer_joint``), if any."""
    path = ctx.exp.folder / "wer_summary.json"
    if not path.is_file():
        return None
    summary = json.loads(path.read_text()).get(ctx.test_set, {})
    wers = summary.get(f"wer_{search.decoder}", [])
    return wers[search.exit_index - 1] if len(wers) >= search.exit_index else None


def benchmark_search(ctx: BenchmarkContext, search: ExitSearch):
    """Cost, per-device timing and WER of one exit's attention decoding.

    Returns
    -------
    tuple
        ``(row, decoding)``: its :class:`benchmark.results.VariantResult`
        (network time = encoder, decoding time = the search) and its
        :class:`benchmark.aed_results.DecodingCost`.
    """
    model = ctx.exp.model
    put_model_on(model, "cpu")
    cost, decoding = measure_search_cost(
        model, search, ctx.batches, ctx.audio_s, ctx.opts.progressbar
    )
    devices = {device: time_search(ctx, search, device) for device in ctx.devices}
    first = devices[ctx.devices[0]]
    row = VariantResult(
        name=search.name,
        exit=search.exit_index,
        layer=search.layer,
        **cost,
        lm_weights=None,
        devices=devices,
        pyctcdecode=None,
        wer=first.wer,
        wer_lm=None,
        wer_train=summary_wer(ctx, search),
        size_mb=serialized_size_mb(model),
    )
    return row, decoding
