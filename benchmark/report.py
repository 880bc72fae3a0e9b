"""Benchmark outputs: ``results.json``, ``results.csv``, ``report.md`` and
PNG plots (WER vs MACs, time per variant: :mod:`benchmark.report_plots`).

:func:`flat_rows` turns the results (their variants as
:class:`benchmark.results.VariantResult`) into one flat row per variant (the
CSV columns in :data:`CSV_COLUMNS`); :mod:`benchmark.aggregate` reuses it to
merge experiments; :mod:`benchmark.policy_report` adds the dynamic
exit policies' section, ``policies.csv`` and
``policies_wer_vs_compute.png``; :mod:`benchmark.long_form_report` the
long-form section.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.formatting import human, number, table_row, write_csv
from benchmark.lm_decoder_report import decoder_section, pyctcdecode_columns
from benchmark.long_form_report import long_form_section
from benchmark.policy_report import (
    POLICY_CSV_COLUMNS,
    plot_policies,
    policy_flat_rows,
    policy_section,
)
from benchmark.quantization_report import quantization_section
from benchmark.report_plots import plot_time_per_variant, plot_wer_vs_macs
from benchmark.results import DEVICE_KEYS, VariantResult, results_to_json

CSV_COLUMNS = [
    "experiment", "test_set", "variant", "exit", "layer", "quantization",
    "params", "size_mb",
    "macs_per_batch", "macs_per_audio_second", "encoder_macs_per_audio_second",
    "quantized_mac_fraction",
    "wer", "wer_lm", "wer_train",
    "cpu_s", "gpu_s", "cpu_lm_s", "gpu_lm_s",
    "cpu_net_s", "cpu_decode_s", "cpu_lm_decode_s", "cpu_rtf", "cpu_lm_rtf",
    "gpu_net_s", "gpu_decode_s", "gpu_lm_decode_s", "gpu_rtf", "gpu_lm_rtf",
    "cpu_time_vs_fp32", "cpu_time_vs_fp32_min", "cpu_time_vs_fp32_max",
    "alpha", "beta", "lm_decoder", "pyctcdecode_wer_lm", "pyctcdecode_time_ratio",
]  # fmt: skip
"""Columns of ``results.csv`` (times: seconds for the whole test set, median
of the repeated passes; ``*_s`` = network + decoding; ``size_mb``: the whole
model the variant runs, as saved; ``quantized_mac_fraction``: share of the
MACs in int8-weight modules; ``cpu_time_vs_fp32``: a quantized variant's
median, min and max per-round time ratio to its fp32 exit; ``lm_decoder``:
the back end of the LM passes, empty in rows written before it was
recorded; ``pyctcdecode_*``: :func:`benchmark.lm_decoder_report.
pyctcdecode_columns`)."""


def _median(timing: dict | None, key: str):
    """Median of ``timing[key]`` (a :func:`benchmark.timing.summarize`)."""
    if not timing or key not in timing:
        return None
    return timing[key]["median"]


def _device_columns(row: VariantResult) -> dict:
    """Per-device CSV columns of one variant."""
    flat = {}
    for device, prefix in DEVICE_KEYS.items():
        timing = row.devices.get(device)
        greedy = timing.greedy if timing is not None else None
        lm = timing.lm if timing is not None else None
        flat[f"{prefix}_s"] = _median(greedy, "total_s")
        flat[f"{prefix}_lm_s"] = _median(lm, "total_s")
        flat[f"{prefix}_net_s"] = _median(greedy, "net_s")
        flat[f"{prefix}_decode_s"] = _median(greedy, "decode_s")
        flat[f"{prefix}_lm_decode_s"] = _median(lm, "decode_s")
        flat[f"{prefix}_rtf"] = greedy["rtf"] if greedy else None
        flat[f"{prefix}_lm_rtf"] = lm["rtf"] if lm else None
    return flat


def flat_rows(results: dict) -> list[dict]:
    """One flat dict per variant with the :data:`CSV_COLUMNS` keys
    (``results["variants"]``: :class:`benchmark.results.VariantResult`)."""
    rows = []
    for row in results["variants"]:
        weights = row.lm_weights or {}
        flat = {
            "experiment": results["experiment_name"],
            "test_set": results["test_set"],
            "variant": row.name,
            "exit": row.exit,
            "layer": row.layer,
            "quantization": row.quantization,
            "params": row.params,
            "size_mb": row.size_mb,
            "macs_per_batch": row.macs_per_batch,
            "macs_per_audio_second": row.macs_per_audio_second,
            "encoder_macs_per_audio_second": row.encoder_macs_per_audio_second,
            "quantized_mac_fraction": row.quantized_mac_fraction,
            "wer": row.wer,
            "wer_lm": row.wer_lm,
            "wer_train": row.wer_train,
            "alpha": weights.get("alpha"),
            "beta": weights.get("beta"),
            "lm_decoder": weights.get("decoder"),
            **pyctcdecode_columns(row),
        }
        flat.update(_device_columns(row))
        cpu_ratios = (row.time_ratios or {}).get("cpu") or {}
        for key, suffix in (("median", ""), ("min", "_min"), ("max", "_max")):
            flat[f"cpu_time_vs_fp32{suffix}"] = cpu_ratios.get(key)
        rows.append({k: flat.get(k) for k in CSV_COLUMNS})
    return rows


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def result_cells(r: dict) -> list[str]:
    """Params, size, WERs, times and MACs of a flat row, as in the published
    table (plus the model size and the share of MACs in int8 modules)."""
    fraction = r.get("quantized_mac_fraction")
    return [
        human(r["params"]),
        number(r["wer"]),
        number(r["wer_lm"]),
        number(r["cpu_s"]),
        number(r["gpu_s"]),
        number(r["cpu_lm_s"]),
        number(r["gpu_lm_s"]),
        human(r["macs_per_batch"]),
        human(r["macs_per_audio_second"]),
        human(r["encoder_macs_per_audio_second"]),
        number(r.get("size_mb")),
        "-" if fraction is None else number(100 * fraction, 1),
    ]


RESULT_HEADER = [
    "params", "WER %", "WER+LM %", "CPU s", "GPU s", "CPU+LM s", "GPU+LM s",
    "MACs / batch", "MACs / audio s", "encoder MACs / audio s", "size MB",
    "int8 MACs %",
]  # fmt: skip


def main_table(rows: list[dict]) -> list[str]:
    """The published table's shape (times in s for the whole test set)."""
    header = ["variant", "layer", *RESULT_HEADER]
    lines = [table_row(header), table_row(["---"] * len(header))]
    for r in rows:
        lines.append(table_row([r["variant"], r["layer"] or "-", *result_cells(r)]))
    return lines


def _spread(summary: dict, key: str) -> str:
    """``median (min-max)`` of one timing entry."""
    if not summary:
        return "-"
    s = summary[key]
    return f"{s['median']:.4g} ({s['min']:.4g}-{s['max']:.4g})"


def timing_table(results: dict) -> list[str]:
    """Network / decoding split, wall time and RTF per variant and device."""
    header = ["variant", "device", "decoder", "network s", "decoding s"]
    header += ["net+dec s", "wall s", "RTF"]
    lines = [table_row(header), table_row(["---"] * len(header))]
    for row in results["variants"]:
        for device, timing in row.devices.items():
            for decoder, s in (("greedy", timing.greedy), ("lm", timing.lm)):
                if s is None:
                    continue
                cells = [row.name, device, decoder]
                cells += [_spread(s, k) for k in ("net_s", "decode_s", "total_s")]
                cells += [_spread(s, "wall_s"), f"{s['rtf']:.4g}"]
                lines.append(table_row(cells))
    return lines


def lm_section(results: dict) -> list[str]:
    """LM file, chosen weights per variant and the tuning grid."""
    lm = results.get("lm")
    if lm is None:
        return ["No LM decoding (see notes)."]
    lines = [
        f"- file: `{lm['path']}` ({lm['format']}, {lm['source']}"
        + (f", {lm['order']}-gram Kneser-Ney from `{lm['text']}`" if lm["text"] else "")
        + ")",
        f"- vocabulary: {lm['vocabulary'] or 'unknown'} words; decoder "
        f"`{lm['decoder']}`, beam {lm['beam_size']}",
        "",
        table_row(
            ["variant", "alpha", "beta", "tuned on", "dev WER+LM % per (alpha, beta)"]
        ),
        table_row(["---"] * 5),
    ]
    for row in results["variants"]:
        w = row.lm_weights or {}
        grid = ", ".join(
            f"({p['alpha']:g}, {p['beta']:g}): {p['wer']:.2f}"
            for p in w.get("grid", [])
        )
        tuned = w.get("tuned_on") or "fixed"
        if w.get("tuned_variant") and w["tuned_variant"] != row.name:
            tuned += f" (with {w['tuned_variant']})"
        cells = [row.name, w.get("alpha"), w.get("beta"), tuned, grid or "-"]
        lines.append(table_row(cells))
    return lines


def reference_exit_text(results: dict) -> str:
    """Which exit the policies, ``tune: last`` and ``cross_check: last``
    compare with: the deepest trained one."""
    exit_index, trained = results.get("reference_exit"), results.get("train_exits")
    if trained:
        return (
            f"exit{exit_index} (`train_exits: {trained}`: the exits above it were "
            "never trained)"
        )
    return f"exit{exit_index} (the last exit)"


def header_section(results: dict) -> list[str]:
    """Experiment, data, settings and machine facts."""
    data, s, m = results["data"], results["settings"], results["machine"]
    return [
        f"# Benchmark: {results['experiment_name']} on {results['test_set']}",
        "",
        f"- experiment: `{results['experiment']}`",
        f"- checkpoint: `{results['checkpoint'].get('path')}` "
        f"(validation WER {results['checkpoint'].get('WER')})",
        f"- test set: {data['num_utts']} utterances, {data['audio_seconds']:.1f} s "
        f"of audio, {data['num_batches']} batches of up to {data['batch_size']}",
        f"- timing: {s['repeats']} passes without LM and {s['lm_repeats']} with LM "
        f"per variant and device, median (min-max); {s['warmup_batches']} warm-up "
        f"batches; {s['threads']} CPU threads; `torch.inference_mode()`; CUDA "
        "synchronised around every timed region; audio preloaded in memory",
        f"- machine: {m['cpu']}, {m['logical_cores']} logical / "
        f"{m['physical_cores']} physical cores ({m['usable_cores']} usable), "
        f"GPU: {m['gpu']}, torch {m['torch']} (CUDA {m['cuda']}), "
        f"SpeechBrain {m['speechbrain']}, Python {m['python']}",
        f"- created: {results['created']}",
        f"- reference exit: {reference_exit_text(results)}",
    ]


def markdown_report(results: dict) -> str:
    """The whole ``report.md``."""
    rows = flat_rows(results)
    lm = (results.get("lm") or {}).get("decoder", "none")
    lines = header_section(results)
    lines += ["", "## Results", ""] + main_table(rows)
    lines += [
        "",
        "Times are seconds for the whole test set (network + decoding, median of "
        "the passes). WER without LM is greedy decoding; with LM it is "
        f"the LM beam search `{lm}` (see LM decoders). MACs are counted on every test "
        "batch (`benchmark.macs`, padding included) and averaged per batch, as "
        "published; MACs / audio s divides the test-set total by the unpadded "
        "audio duration, comparable across batch sizes. Params are those the "
        "variant runs (front-end, layers up to its exit, its head). RTF = time / "
        "audio duration. Size MB: the whole model the variant runs, as saved "
        "(MB = 1e6 bytes); int8 MACs %: the share of its MACs in modules with "
        "int8 weights (quantized variants, see below).",
    ]
    checks = [r for r in rows if r["wer_train"] is not None]
    if checks:
        lines += ["", "WER of the same checkpoint in `wer_summary.json`: "]
        lines[-1] += ", ".join(f"{r['variant']} {r['wer_train']:.2f}" for r in checks)
    quantized = quantization_section(rows)
    lines += [""] + quantized if quantized else []
    lines += [""] + policy_section(results) + long_form_section(results)
    lines += ["", "## Timing details", ""] + timing_table(results)
    lines += ["", "## Language model", ""] + lm_section(results)
    lines += ["", "## LM decoders", ""] + decoder_section(results)
    return "\n".join(lines + notes_and_plots(results)) + "\n"


def notes_and_plots(results: dict) -> list:
    """The report's closing ``Notes`` and ``Plots`` sections, as lines.

    Example
    -------
    >>> notes_and_plots({"notes": [], "plots": ["out/wer.png"]})[3:]
    ['- none', '', '## Plots', '', '![wer](wer.png)']
    """
    notes = results.get("notes") or []
    lines = ["", "## Notes", ""] + ([f"- {n}" for n in notes] or ["- none"])
    plots = results.get("plots") or []
    return (
        lines
        + ["", "## Plots", ""]
        + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    )


def write_outputs(results: dict, folder) -> dict:
    """Write plots, ``results.json``, ``results.csv`` and ``report.md``
    (and ``policies.csv`` when dynamic exit policies ran)."""
    folder = Path(folder)
    os.makedirs(folder, exist_ok=True)
    rows = flat_rows(results)
    results["plots"] = [
        plot_wer_vs_macs(
            {results["experiment_name"]: rows},
            folder / "wer_vs_macs.png",
            f"WER vs MACs ({results['test_set']})",
        ),
        plot_time_per_variant(results, folder / "time_per_variant.png"),
    ]
    if results.get("policies"):
        path = folder / "policies_wer_vs_compute.png"
        results["plots"].append(plot_policies(results, path))
        policy_rows = policy_flat_rows(results)
        write_csv(policy_rows, folder / "policies.csv", POLICY_CSV_COLUMNS)
    with open(folder / "results.json", "w", encoding="utf-8") as handle:
        json.dump(results_to_json(results), handle, indent=2, default=str)
    write_csv(rows, folder / "results.csv", CSV_COLUMNS)
    (folder / "report.md").write_text(markdown_report(results), encoding="utf-8")
    return results
