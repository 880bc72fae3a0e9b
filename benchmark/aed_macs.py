"""MACs of an attention decoding, counted on the real decoding pass.

The encoder pass runs under :func:`benchmark.cost.count_split_macs` as any
variant does. The autoregressive search that follows runs many small
bookkeeping ops per step (hypothesis selection, CTC prefix scores) that
cost no MACs, and SpeechBrain's searchers call the exit's modules through
three doors only: the decoder's ``decode`` (one call per step), the output
layer and, in the joint search, the CTC head. A :class:`DecodingMeter`
wraps those three (:meth:`DecodingMeter.wrap`), so that only their calls
run under a :class:`benchmark.macs.MacCounter`: the same MACs as counting
the whole search (checked by the tests), at a fraction of the counting
overhead, with the decoder's steps and MACs kept apart from the CTC head's.

Example
-------
>>> meter = DecodingMeter()
>>> counted = CountedModule(torch.nn.Linear(4, 3), meter.scorer)
>>> counted(torch.zeros(2, 4)).shape, counted.out_features
(torch.Size([2, 3]), 3)
>>> meter.scorer.report().total  # 2 rows x 4 inputs x 3 outputs
24
"""

from __future__ import annotations

import torch

from benchmark.cost import count_split_macs
from benchmark.macs import MacCounter
from benchmark.variants import VariantModule


class CountedModule(torch.nn.Module):
    """A module whose calls run under ``counter``; its other attributes
    are the wrapped module's (a searcher may read, e.g., the output layer's
    size).

    Arguments
    ---------
    module : torch.nn.Module
        The wrapped module.
    counter : benchmark.macs.MacCounter
        Counts the MACs of its calls.
    """

    def __init__(self, module, counter):
        super().__init__()
        self.module = module
        self.counter = counter

    def forward(self, *args, **kwargs):
        with self.counter:
            return self.module(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


class CountedDecoder:
    """An exit decoder (``decode(tokens, encoder_out, enc_len)``) whose calls,
    one per decoding step, are counted and run under the meter's decoder
    counter."""

    def __init__(self, decoder, meter):
        self.decoder = decoder
        self.meter = meter

    def decode(self, *args, **kwargs):
        """The wrapped decoder's step, counted."""
        self.meter.steps += 1
        with self.meter.decoder:
            return self.decoder.decode(*args, **kwargs)


class DecodingMeter:
    """MACs and steps of the decodings run with parts it wrapped.

    Attributes
    ----------
    decoder : benchmark.macs.MacCounter
        MACs of the decoder steps (decoder, target embedding, output layer).
    scorer : benchmark.macs.MacCounter
        MACs of the CTC head scoring the joint search's prefixes.
    steps : int
        Decoder calls: one per step and batch (a step decodes every running
        hypothesis of the batch at once).
    """

    def __init__(self):
        self.decoder = MacCounter()
        self.scorer = MacCounter()
        self.steps = 0

    def wrap(self, parts) -> tuple:
        """``(exit decoder, output layer, CTC head)`` wrapped so that their
        calls are counted."""
        exit_decoder, output_layer, head = parts
        return (
            CountedDecoder(exit_decoder, self),
            CountedModule(output_layer, self.decoder),
            CountedModule(head, self.scorer),
        )


def count_decoding(model, unit, batches, audio_s, desc=None):
    """One pass of a decoding over ``batches``, its MACs counted.

    Parameters
    ----------
    model : modules.models.aed_early_exit.EarlyExitAED
        The model.
    unit : object
        What decodes: a :class:`benchmark.aed_searches.ExitSearch` or a
        :class:`benchmark.aed_dynamic_stage.DynamicJointDecoding` (its
        ``encoder`` variant and ``counted_words(meter)``).
    batches : list of benchmark.experiment.Batch
        The batches.
    audio_s : float
        Their unpadded audio duration.
    desc : str, optional
        Progress-bar description; None: no bar.

    Returns
    -------
    tuple
        ``(macs, hypotheses)``: ``macs`` has ``macs_total``,
        ``macs_per_batch``, ``macs_per_audio_second`` (everything),
        ``encoder_macs_per_audio_second`` (the encoder layers alone),
        ``decoding_macs_per_audio_second`` (the decoder steps) and
        ``decoding_steps``; the hypotheses are word lists in batch order.
    """
    meter, hypotheses = DecodingMeter(), []
    words = unit.counted_words(meter)

    def decode(output, batch):
        with torch.inference_mode():
            hypotheses.extend(words(output, batch.rel_lens))

    module = VariantModule(model, unit.encoder).eval()
    encoder = count_split_macs(module, batches, audio_s, on_output=decode, desc=desc)
    decoding = meter.decoder.report().total
    total = encoder["macs_total"] + decoding + meter.scorer.report().total
    macs = {
        "macs_total": total,
        "macs_per_batch": total / len(batches),
        "macs_per_audio_second": total / audio_s,
        "encoder_macs_per_audio_second": encoder["encoder_macs_per_audio_second"],
        "decoding_macs_per_audio_second": decoding / audio_s,
        "decoding_steps": meter.steps,
    }
    return macs, hypotheses
