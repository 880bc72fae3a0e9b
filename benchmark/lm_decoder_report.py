"""The report's "LM decoders" section: the back ends compared on the same
log-probabilities (:func:`benchmark.variant_stage.compare_decoders`).

Rows of newer ``results.json`` files carry
:class:`benchmark.results.DecoderCheck` lists; older ones a
:class:`benchmark.results.PyctcdecodeComparison` (SpeechBrain reported,
pyctcdecode checked), shown in their own table.

Example
-------
>>> decoder_section({"variants": []})
['Not run.']
"""

from __future__ import annotations

from benchmark.formatting import number, table_row

DECODER_CHECK_NOTE = (
    "Same log-probabilities (the variant's first LM pass), LM and beam; each "
    "back end with its own weights (tuned on dev with the same grid and "
    "utterances, or the fixed ones). Decoding seconds: the median (min-max) "
    "of the rounds, the back ends alternated within each round (A B C A B C). "
    "alpha weighs natural-log LM probabilities for every back end "
    "(flashlight's lm_weight is alpha x ln 10) and beta is the word bonus. "
    "Pruning differs: SpeechBrain's searcher and pyctcdecode drop tokens "
    "below log-prob -5 and beams 10 below the best; flashlight tries the "
    "most likely tokens of each frame and drops hypotheses a threshold below "
    "the best (`modules.decoding.flashlight_beam`). flashlight's lexicon "
    "holds the LM's words only; the other two also accept unknown words, "
    "with a penalty."
)

PYCTCDECODE_NOTE = (
    "Same log-probabilities, LM, unigrams, weights, beam and pruning "
    "thresholds. SpeechBrain's searcher is adapted from pyctcdecode; ours adds "
    "the LM's end-of-sentence score, which SpeechBrain's `finalize_decoding` "
    "leaves out (`modules.decoding.lm_beam.end_scoring_beam_searcher`). Its extra "
    "time is SpeechBrain's per-beam bookkeeping (dataclass beams carrying word "
    "frame spans, LM-beam conversions every frame), not the search itself: "
    "both make the same number of LM and beam operations."
)


def _spread(times: dict) -> str:
    """``median (min-max)`` seconds."""
    return f"{times['median']:.3f} ({times['min']:.3f}-{times['max']:.3f})"


def decoder_checks_table(rows) -> list[str]:
    """One line per variant and back end: weights, WER, decoding time and
    its ratio to the reported back end's, agreement with it."""
    header = [
        "variant", "back end", "alpha", "beta", "WER+LM %",
        "decoding s, median (min-max)", "rounds", "time / reported",
        "same hypotheses as reported",
    ]  # fmt: skip
    lines = [table_row(header), table_row(["---"] * len(header))]
    for row in rows:
        reported = row.decoder_checks[0].decode_s["median"]
        for i, check in enumerate(row.decoder_checks):
            median = check.decode_s["median"]
            cells = [
                row.name,
                check.decoder + (" (reported)" if i == 0 else ""),
                f"{check.alpha:g}",
                f"{check.beta:g}",
                number(check.wer_lm),
                _spread(check.decode_s),
                len(check.decode_s["values"]),
                number(median / reported) if reported > 0 else "-",
                f"{100 * check.same_hypothesis_fraction:.1f} %",
            ]
            lines.append(table_row(cells))
    return lines


def pyctcdecode_table(rows) -> list[str]:
    """SpeechBrain vs pyctcdecode, as results written before the back-end
    choice recorded them."""
    header = [
        "variant", "WER+LM % SpeechBrain", "WER+LM % pyctcdecode",
        "SpeechBrain decoding s", "pyctcdecode decoding s",
        "time ratio (pyctcdecode / SB)", "same hypotheses",
    ]  # fmt: skip
    lines = [table_row(header), table_row(["---"] * len(header))]
    for row in rows:
        p = row.pyctcdecode
        cells = [
            row.name,
            number(p.speechbrain_wer_lm),
            number(p.wer_lm),
            number(p.speechbrain_decode_s, 3),
            number(p.decode_s, 3),
            number(p.time_ratio),
            f"{100 * p.same_hypothesis_fraction:.1f} %",
        ]
        lines.append(table_row(cells))
    return lines


def decoder_section(results: dict) -> list[str]:
    """The LM back ends on the same log-probs and LM (``Not run.`` when
    no variant was cross-checked)."""
    checked = [r for r in results["variants"] if r.decoder_checks]
    legacy = [r for r in results["variants"] if r.pyctcdecode is not None]
    lines = []
    if checked:
        lines += decoder_checks_table(checked) + ["", DECODER_CHECK_NOTE]
    if legacy:
        lines += ([""] if lines else []) + pyctcdecode_table(legacy)
        lines += ["", PYCTCDECODE_NOTE]
    return lines or ["Not run."]


def pyctcdecode_columns(row) -> dict:
    """``pyctcdecode_wer_lm`` and ``pyctcdecode_time_ratio`` (its median
    decoding time over the reported back end's; SpeechBrain's in older
    rows) of a :class:`benchmark.results.VariantResult`."""
    if row.pyctcdecode is not None:
        return {
            "pyctcdecode_wer_lm": row.pyctcdecode.wer_lm,
            "pyctcdecode_time_ratio": row.pyctcdecode.time_ratio,
        }
    checks = {c.decoder: c for c in row.decoder_checks or ()}
    if "pyctcdecode" not in checks:
        return {"pyctcdecode_wer_lm": None, "pyctcdecode_time_ratio": None}
    reported = row.decoder_checks[0].decode_s["median"]
    median = checks["pyctcdecode"].decode_s["median"]
    return {
        "pyctcdecode_wer_lm": checks["pyctcdecode"].wer_lm,
        "pyctcdecode_time_ratio": median / reported if reported > 0 else None,
    }
