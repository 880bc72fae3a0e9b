"""Outputs of an AED benchmark: ``report.md``, ``results.json``,
``results.csv`` (one row per decoding, as every benchmark: what
:mod:`benchmark.aggregate` reads), ``aed_exits.csv`` (one row per exit),
``policies.csv`` (dynamic exits) and the plots ``wer_vs_time.png``,
``time_per_variant.png`` and ``policies_wer_vs_compute.png``.

The per-exit rows (:func:`exit_rows`) put an exit's decodings side by
side: WER of greedy CTC, CTC + LM, greedy attention, the joint beam search
and, when run, the joint beam search with the token n-gram; per device the
encoder time (the joint row's network time: the layers up to the exit), each
decoding's time and the share of the decoding in the encoder + decoding
time; the encoder and decoder MACs.

Example
-------
>>> share({"cpu_decode_s": 3.0, "cpu_s": 4.0}, "cpu")
75.0
>>> share({"cpu_decode_s": None, "cpu_s": None}, "cpu") is None
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.aed_plots import plot_wer_vs_time
from benchmark.formatting import human, number, table_row, write_csv
from benchmark.lm_decoder_report import decoder_section
from benchmark.long_form_report import long_form_section
from benchmark.policy_report import (
    POLICY_CSV_COLUMNS,
    all_table,
    chosen_table,
    plot_policies,
    policy_flat_rows,
)
from benchmark.report import (
    CSV_COLUMNS,
    flat_rows,
    header_section,
    lm_section,
    main_table,
    notes_and_plots,
    timing_table,
)
from benchmark.report_plots import plot_time_per_variant
from benchmark.results import DEVICE_KEYS, results_to_json

DEVICE_COLUMNS = (
    "encoder_s", "ctc_decode_s", "attention_decode_s", "joint_decode_s",
    "joint_s", "joint_rtf", "attention_decoding_share", "joint_decoding_share",
    "joint_lm_decode_s",
)  # fmt: skip
"""Per-device columns of ``aed_exits.csv``, each after the device's prefix
(``cpu_``, ``gpu_``); shares in %."""

AED_EXIT_COLUMNS = [
    "experiment", "test_set", "exit", "layer",
    "wer_ctc", "wer_ctc_lm", "wer_attention", "wer_joint", "wer_joint_lm",
    "test_stage_wer_ctc", "test_stage_wer_attention", "test_stage_wer_joint",
    "test_stage_wer_joint_lm",
    *(f"{p}_{c}" for p in DEVICE_KEYS.values() for c in DEVICE_COLUMNS),
    "encoder_macs_per_audio_second", "attention_decoding_macs_per_audio_second",
    "joint_decoding_macs_per_audio_second", "joint_macs_per_audio_second",
    "attention_decoding_steps", "joint_decoding_steps",
]  # fmt: skip
"""Columns of ``aed_exits.csv`` (times: seconds for the test set, median of
the passes; ``test_stage_wer_*``: the test stage's WERs in ``wer_summary.json``)."""


WER_NOTE = (
    "The benchmark's WERs are those of its test utterances (`max_utts`) in its "
    "batches (`batch_size`); the test stage's are those of the whole set in "
    "its batches. The attention decodings stop at most `max_decode_ratio` "
    "steps per frame of a batch's longest utterance, so their hypotheses "
    "depend on the batching too."
)

TIMING_NOTE = (
    "Network: the encoder up to the exit (with the CTC head for the exit<k> "
    "rows); decoding: the search on its output."
)


def share(row: dict, prefix: str):
    """Percent of a flat row's encoder + decoding time spent decoding on a
    device (None: not timed there)."""
    decode, total = row.get(f"{prefix}_decode_s"), row.get(f"{prefix}_s")
    return None if decode is None or not total else 100.0 * decode / total


def _device_cells(ctc: dict, attention: dict, joint: dict, joint_lm: dict) -> dict:
    """The per-device columns of one exit (``joint_lm``: {} when not run)."""
    cells = {}
    for prefix in DEVICE_KEYS.values():
        values = (
            joint[f"{prefix}_net_s"], ctc.get(f"{prefix}_decode_s"),
            attention[f"{prefix}_decode_s"], joint[f"{prefix}_decode_s"],
            joint[f"{prefix}_s"], joint[f"{prefix}_rtf"],
            share(attention, prefix), share(joint, prefix),
            joint_lm.get(f"{prefix}_decode_s"),
        )  # fmt: skip
        cells.update({f"{prefix}_{c}": v for c, v in zip(DEVICE_COLUMNS, values)})
    return cells


def exit_rows(results: dict) -> list[dict]:
    """One row per exit with the :data:`AED_EXIT_COLUMNS` keys."""
    flat = {row["variant"]: row for row in flat_rows(results)}
    rows = []
    for cost in results["aed"].decoding:
        if cost.decoder != "joint":
            continue
        k = cost.exit
        ctc, joint = flat.get(f"exit{k}", {}), flat[cost.name]
        attention = flat[f"exit{k}-attention"]
        joint_lm = flat.get(f"exit{k}-joint_lm", {})
        attention_cost = results["aed"].cost(f"exit{k}-attention")
        row = {
            "experiment": results["experiment_name"],
            "test_set": results["test_set"],
            "exit": k, "layer": joint["layer"],
            "wer_ctc": ctc.get("wer"), "wer_ctc_lm": ctc.get("wer_lm"),
            "wer_attention": attention["wer"], "wer_joint": joint["wer"],
            "wer_joint_lm": joint_lm.get("wer"),
            "test_stage_wer_ctc": ctc.get("wer_train"),
            "test_stage_wer_attention": attention["wer_train"],
            "test_stage_wer_joint": joint["wer_train"],
            "test_stage_wer_joint_lm": joint_lm.get("wer_train"),
            **_device_cells(ctc, attention, joint, joint_lm),
            "encoder_macs_per_audio_second": joint["encoder_macs_per_audio_second"],
            "attention_decoding_macs_per_audio_second":
                attention_cost.decoding_macs_per_audio_second,
            "joint_decoding_macs_per_audio_second":
                cost.decoding_macs_per_audio_second,
            "joint_macs_per_audio_second": joint["macs_per_audio_second"],
            "attention_decoding_steps": attention_cost.decoding_steps,
            "joint_decoding_steps": cost.decoding_steps,
        }  # fmt: skip
        rows.append(row)
    return rows


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def _table(header: list, lines: list) -> list[str]:
    """A Markdown table."""
    return [table_row(header), table_row(["---"] * len(header))] + [
        table_row(cells) for cells in lines
    ]


def wer_table(rows: list[dict]) -> list[str]:
    """WER of every exit's decodings, and the test stage's."""
    header = [
        "exit", "layer", "CTC greedy %", "CTC + LM %", "attention greedy %",
        "joint beam %", "joint beam + LM %",
        "test stage: CTC / attention / joint / joint + LM %",
    ]  # fmt: skip
    keys = ("wer_ctc", "wer_ctc_lm", "wer_attention", "wer_joint", "wer_joint_lm")
    test_stage = (
        "test_stage_wer_ctc",
        "test_stage_wer_attention",
        "test_stage_wer_joint",
        "test_stage_wer_joint_lm",
    )
    return _table(
        header,
        [
            [r["exit"], r["layer"], *(number(r[k]) for k in keys)]
            + [" / ".join(number(r[k]) for k in test_stage)]
            for r in rows
        ],
    )


def time_table(rows: list[dict], prefix: str) -> list[str]:
    """Encoder and decoding times of every exit on one device."""
    header = [
        "exit", "encoder s", "CTC decoding s", "attention decoding s",
        "joint decoding s", "joint total s", "joint RTF",
        "decoding share, attention %", "decoding share, joint %",
        "joint + LM decoding s",
    ]  # fmt: skip
    digits = (3, 3, 3, 3, 3, 4, 1, 1, 3)
    return _table(
        header,
        [
            [r["exit"]]
            + [number(r[f"{prefix}_{c}"], d) for c, d in zip(DEVICE_COLUMNS, digits)]
            for r in rows
        ],
    )


def macs_table(rows: list[dict]) -> list[str]:
    """Encoder and decoder MACs per audio second, and decoding steps."""
    header = [
        "exit", "encoder MACs / audio s", "attention decoder MACs / audio s",
        "joint decoder MACs / audio s", "joint total MACs / audio s",
        "attention steps", "joint steps",
    ]  # fmt: skip
    macs = (
        "encoder_macs_per_audio_second", "attention_decoding_macs_per_audio_second",
        "joint_decoding_macs_per_audio_second", "joint_macs_per_audio_second",
    )  # fmt: skip
    return _table(
        header,
        [
            [r["exit"], *(human(r[k]) for k in macs)]
            + [r["attention_decoding_steps"], r["joint_decoding_steps"]]
            for r in rows
        ],
    )


def search_text(results: dict) -> str:
    """The settings of the attention decodings, in words."""
    s = results["aed"].search
    scale = s["ctc_scorer_beam_scale"]
    scored = f"the decoder's {scale:g} x beam best tokens" if scale else "every token"
    lm = s.get("lm")
    with_lm = (
        f" With LM: the token n-gram `{lm['path']}`, weight {lm['weight']:g}, "
        "on the same tokens."
        if lm
        else ""
    )
    return (
        f"Joint CTC/attention beam search: beam {s['beam_size']}, CTC weight "
        f"{s['ctc_weight']:g} (CTC prefix scores for {scored}), length "
        f"normalisation {'on' if s['length_normalization'] else 'off'}; greedy "
        "attention and the joint search stop at end-of-sentence or after "
        f"{s['max_decode_ratio']:g} steps per encoder frame (the experiment's "
        f"YAML).{with_lm}"
    )


def decoding_share_text(rows: list[dict], prefix: str) -> str:
    """How much of the joint pipeline's time decoding takes, over the exits."""
    shares = [r[f"{prefix}_joint_decoding_share"] for r in rows]
    shares = [s for s in shares if s is not None]
    if not shares:
        return ""
    return (
        f"On {prefix.upper()}, the joint beam search takes {min(shares):.1f}-"
        f"{max(shares):.1f} % of the encoder + decoding time across exits "
        "(greedy CTC decoding of the same exits: the CTC decoding column)."
    )


def exits_section(results: dict, rows: list[dict]) -> list[str]:
    """WER, time and MACs per exit."""
    lines = ["## Exits", "", search_text(results), "", "### WER", ""]
    lines += wer_table(rows) + ["", WER_NOTE]
    for prefix in DEVICE_KEYS.values():
        if any(r[f"{prefix}_joint_s"] is not None for r in rows):
            title = f"### Time on {prefix.upper()} (test set, median of the passes)"
            lines += ["", title, "", *time_table(rows, prefix)]
            lines += ["", decoding_share_text(rows, prefix)]
    lines += ["", "### MACs (counted on the real decoding pass)", ""]
    lines += macs_table(rows)
    lines += [
        "",
        "Encoder: the front-end and the layers up to the exit (encoder MACs: "
        "the layers alone). Decoding: the search on the exit's hidden states; "
        "CTC decoding includes the exit's head. Decoder MACs: the decoder, "
        "target embedding and output layer over the steps that ran (a step "
        "decodes every running hypothesis of a batch; steps are summed over "
        "the batches); the joint search's CTC scoring is in its total only.",
    ]
    return lines


def dynamic_section(results: dict) -> list[str]:
    """The dynamic exits: chosen points, every threshold, the reference."""
    lines = ["## Dynamic exits", ""]
    section = results.get("policies")
    if not section:
        return lines + ["Not run (see notes)."]
    flat, s = policy_flat_rows(results), results["settings"]
    ref = section.reference
    lines += [
        f"Each utterance's exit is decided from the CTC posteriors while the "
        "encoder runs (no layer above it runs), then only that exit's joint "
        "beam search decodes it. Thresholds are chosen on "
        f"`{section.dev_set}` ({section.dev_utts} utterances), never on "
        f"`{results['test_set']}`: per policy the cheapest (MACs / audio s "
        f"on dev) whose joint-beam dev WER is at most "
        f"{1 + s['policy_tolerance']:.2f} x {ref.name}'s ({ref.dev.wer:.2f} %); "
        "(†): none was, the most accurate is shown. MACs count the front-end, "
        "the layers run, the CTC heads the policy read and the decoders that "
        "ran; CPU s: joint decoding of the test set, each point's passes "
        f"alternated with {ref.name}'s (time saving: 1 - median per-round "
        "ratio). WER is the joint beam search's; no LM.",
        "",
        "### Chosen operating points",
        "",
        *chosen_table(flat),
        "",
        f"### All thresholds ({results['test_set']})",
        "",
        *all_table(flat),
    ]
    return lines


def markdown_report(results: dict, rows: list[dict]) -> str:
    """The whole ``report.md`` of an AED benchmark."""
    ctc_rows = [r for r in results["variants"] if results["aed"].cost(r.name) is None]
    lines = header_section(results)
    lines += ["", *exits_section(results, rows), "", *dynamic_section(results)]
    lines += long_form_section(results)
    lines += ["", "## Every decoding", "", *main_table(flat_rows(results))]
    lines += ["", "## Timing details", "", *timing_table(results), "", TIMING_NOTE]
    lines += ["", "## Language model (CTC rows)", ""]
    lines += lm_section({**results, "variants": ctc_rows})
    lines += ["", "## LM decoders", "", *decoder_section(results)]
    return "\n".join(lines + notes_and_plots(results)) + "\n"


def write_aed_outputs(results: dict, folder) -> dict:
    """Write the plots, ``results.json``, ``results.csv``,
    ``aed_exits.csv``, ``policies.csv`` (dynamic exits) and ``report.md``."""
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    rows = exit_rows(results)
    first = DEVICE_KEYS[results["settings"]["devices"][0]]
    title = f"{results['experiment_name']} on {results['test_set']}"
    results["plots"] = [
        plot_wer_vs_time(flat_rows(results), first, folder / "wer_vs_time.png", title),
        plot_time_per_variant(results, folder / "time_per_variant.png"),
    ]
    if results.get("policies"):
        path = folder / "policies_wer_vs_compute.png"
        results["plots"].append(plot_policies(results, path))
        write_csv(
            policy_flat_rows(results), folder / "policies.csv", POLICY_CSV_COLUMNS
        )
    data = {**results_to_json(results), "aed": results["aed"].to_json()}
    with open(folder / "results.json", "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=str)
    write_csv(flat_rows(results), folder / "results.csv", CSV_COLUMNS)
    write_csv(rows, folder / "aed_exits.csv", AED_EXIT_COLUMNS)
    (folder / "report.md").write_text(markdown_report(results, rows), encoding="utf-8")
    return results
