"""The benchmark of an early-exit attention encoder-decoder (AED).

:func:`benchmark.run.run_benchmark` hands an AED experiment here after the
CTC side of its exits has been benchmarked like any early-exit model (the
``exit<k>`` rows: greedy CTC and CTC + n-gram LM, MACs, time). This stage
adds, per exit, the attention decodings with that exit's decoder
(:mod:`benchmark.aed_exit_stage`: greedy attention and joint CTC/attention
beam search, encoder and decoding timed apart, decoder MACs counted on the
real decoding pass), then the dynamic exits
(:mod:`benchmark.aed_dynamic_stage`) in place of the CTC policies.

Example
-------
>>> "KenLMScorer" in NO_JOINT_LM_NOTE
True
"""

from __future__ import annotations

from dataclasses import asdict

from benchmark.aed_dynamic_stage import benchmark_aed_dynamic
from benchmark.aed_exit_stage import benchmark_search
from benchmark.aed_results import AEDResults
from benchmark.aed_searches import exit_searches
from benchmark.context import BenchmarkContext
from modules.training.aed_setup import build_search_options

NO_JOINT_LM_NOTE = (
    "WER+LM of an AED is the CTC head's (the exit<k> rows: SpeechBrain's CTC "
    "beam search with the n-gram LM); the attention decodings run without an "
    "LM. A joint CTC/attention beam search with an n-gram would need a "
    "token-level (BPE piece) LM for SpeechBrain's KenLMScorer, which the "
    "benchmark does not build."
)
"""The note every AED report carries on what its LM column measures."""


def benchmark_aed(ctx: BenchmarkContext, ctc_rows: list) -> dict:
    """Attention decodings and dynamic exits of an AED experiment.

    Parameters
    ----------
    ctx : benchmark.context.BenchmarkContext
        The benchmark's context; ``ctx.exp.model`` is an
        :class:`modules.models.aed_early_exit.EarlyExitAED`.
    ctc_rows : list of benchmark.results.VariantResult
        The benchmarked CTC side of its exits.

    Returns
    -------
    dict
        ``variants`` (the CTC rows, then ``exit<k>-attention`` and
        ``exit<k>-joint`` per exit), ``policies`` (the dynamic exits,
        :class:`benchmark.policy_results.PolicySweepResult`, or None),
        ``aed`` (:class:`benchmark.aed_results.AEDResults`) and ``notes``.
    """
    exp = ctx.exp
    searches = exit_searches(exp.model, exp.hparams, exp.tokenizer)
    measured = [benchmark_search(ctx, search) for search in searches]
    rows = [row for row, _ in measured]
    joint = {s.exit_index: s for s in searches if s.decoder == "joint"}
    joint_rows = [row for row, s in zip(rows, searches) if s.decoder == "joint"]
    search = asdict(build_search_options(exp.hparams))
    return {
        "variants": ctc_rows + rows,
        "policies": benchmark_aed_dynamic(ctx, joint, joint_rows),
        "aed": AEDResults(search, [cost for _, cost in measured]),
        "notes": [NO_JOINT_LM_NOTE],
    }
