"""The benchmark of an early-exit attention encoder-decoder (AED).

:func:`benchmark.run.run_benchmark` hands an AED experiment here after the
CTC side of its exits has been benchmarked like any early-exit model (the
``exit<k>`` rows: greedy CTC and CTC + n-gram LM, MACs, time). This stage
adds, per exit, the attention decodings with that exit's decoder
(:mod:`benchmark.aed_exit_stage`: greedy attention and joint CTC/attention
beam search, encoder and decoding timed apart, decoder MACs counted on the
real decoding pass), and the joint search with a token-level n-gram
(``exit<k>-joint_lm``) when the experiment has ``decoding_lm`` or the
benchmark decodes with an LM (:func:`benchmark_token_lm`), then the dynamic
exits (:mod:`benchmark.aed_dynamic_stage`) in place of the CTC policies.

Example
-------
>>> "KenLMScorer" in JOINT_LM_NOTE
True
"""

from __future__ import annotations

from dataclasses import asdict

from benchmark.aed_dynamic_stage import benchmark_aed_dynamic
from benchmark.aed_exit_stage import benchmark_search
from benchmark.aed_results import AEDResults
from benchmark.aed_searches import exit_searches
from benchmark.context import BenchmarkContext
from benchmark.lm_setup import PROJECT_ROOT
from modules.decoding.lm_files import LMError
from modules.decoding.token_lm import TokenLMRequest
from modules.training.aed_setup import (
    build_decoding_lm,
    build_search_options,
    check_decoding_lm_keys,
)

JOINT_LM_NOTE = (
    "WER+LM of an AED is the CTC head's (the exit<k> rows: CTC beam search "
    "with the word n-gram); greedy attention and the joint search run "
    "without an LM; the exit<k>-joint_lm rows, when the experiment has "
    "decoding_lm or the benchmark an LM, with a token-level n-gram "
    "(SpeechBrain's KenLMScorer over the tokenizer's pieces)."
)
"""The note every AED report carries on what its LM columns measure."""


def benchmark_token_lm(ctx: BenchmarkContext, notes: list):
    """The token n-gram of the ``joint_lm`` rows: the experiment's
    ``decoding_lm`` (:func:`modules.training.aed_setup.build_decoding_lm`),
    else, when the benchmark decodes with an LM (``lm`` option), one built
    from the corpus LM text with the YAML's ``decoding_lm_weight`` and
    ``decoding_lm_order``; None (and a note) when there is none."""
    hparams = ctx.exp.hparams
    request = build_decoding_lm(hparams)
    if request is None and ctx.lm is not None:
        keys = ("decoding_lm_weight", "decoding_lm_order")
        if any(hparams.get(key) is None for key in keys):
            missing = " / ".join(keys)
            notes.append(f"No joint_lm rows: the experiment's YAML has no {missing}.")
            return None
        request = TokenLMRequest("auto", *check_decoding_lm_keys(hparams))
    if request is None:
        return None
    try:
        return request.resolve(
            ctx.exp.tokenizer,
            hparams.get("data_folder", ""),
            ctx.exp.folder / "lm",
            [PROJECT_ROOT],
        )
    except LMError as error:
        notes.append(f"No joint_lm rows: {error}")
        return None


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
        ``variants`` (the CTC rows, then ``exit<k>-attention``,
        ``exit<k>-joint`` and with a token n-gram ``exit<k>-joint_lm`` per
        exit), ``policies`` (the dynamic exits,
        :class:`benchmark.policy_results.PolicySweepResult`, or None),
        ``aed`` (:class:`benchmark.aed_results.AEDResults`) and ``notes``.
    """
    exp, notes = ctx.exp, [JOINT_LM_NOTE]
    lm = benchmark_token_lm(ctx, notes)
    searches = exit_searches(exp.model, exp.hparams, exp.tokenizer, lm)
    measured = [benchmark_search(ctx, search) for search in searches]
    rows = [row for row, _ in measured]
    joint = {s.exit_index: s for s in searches if s.decoder == "joint"}
    joint_rows = [row for row, s in zip(rows, searches) if s.decoder == "joint"]
    search = asdict(build_search_options(exp.hparams))
    search["lm"] = None if lm is None else {"path": lm.path, "weight": lm.weight}
    return {
        "variants": ctc_rows + rows,
        "policies": benchmark_aed_dynamic(ctx, joint, joint_rows),
        "aed": AEDResults(search, [cost for _, cost in measured]),
        "notes": notes,
    }
