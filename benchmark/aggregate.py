#!/usr/bin/env python3
"""Merge the benchmark results of many experiments into one report.

    python -m benchmark.aggregate EXP1 EXP2 ... --output DIR

Each argument is an experiment folder (every ``benchmark/*/results.json``
under it is used), a benchmark output folder holding ``results.json``, or a
``results.json`` file. ``DIR`` receives ``report.md`` (one table, one row per
experiment and variant; quantized variants against their fp32 exits),
``results.csv``, ``results.json``, ``wer_vs_macs.png`` (one curve per
experiment and test set), ``wer_vs_cpu_time.png`` and ``wer_vs_size.png``
(one point per row; rows written before sizes were recorded have none).

Timings are only comparable between runs on the same machine with the same
thread count; the report lists the machines and warns when they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.formatting import number
from benchmark.quantization_report import quantization_section
from benchmark.report import (
    CSV_COLUMNS,
    RESULT_HEADER,
    flat_rows,
    result_cells,
    table_row,
    write_csv,
)
from benchmark.report_plots import plot_wer_against, plot_wer_vs_macs
from benchmark.results import ResultsFormatError, VariantResult

PLOTS = {
    "wer_vs_macs": (None, None),
    "wer_vs_cpu_time": ("cpu_s", "CPU s for the test set (greedy)"),
    "wer_vs_size": ("size_mb", "model size, MB"),
}
"""Plots of the aggregated report: name -> (flat-row column on the x axis,
its label); WER vs MACs has its own curves per experiment."""


class AggregateError(RuntimeError):
    """An argument that holds no benchmark results."""


def find_results(paths) -> list[Path]:
    """The ``results.json`` files named by ``paths`` (see module docstring)."""
    found = []
    for path in map(Path, paths):
        if path.is_file():
            candidates = [path]
        elif (path / "results.json").is_file():
            candidates = [path / "results.json"]
        else:
            candidates = sorted(path.glob("benchmark/*/results.json"))
        if not candidates:
            raise AggregateError(
                f"{path}: no results.json (run `python -m benchmark.run {path}` "
                "first, or give its output folder)."
            )
        found.extend(candidates)
    return list(dict.fromkeys(p.resolve() for p in found))


def typed_variants(results: dict, path) -> dict:
    """The content of the ``results.json`` at ``path``, its ``variants`` as
    :class:`benchmark.results.VariantResult`.

    Raises
    ------
    AggregateError
        If it has no variants or a variant row misses a key every row has.

    Example
    -------
    >>> typed_variants({"experiment_name": "x"}, "r.json")
    Traceback (most recent call last):
    ...
    benchmark.aggregate.AggregateError: r.json: not a benchmark result ('variants')
    """
    try:
        variants = [VariantResult.from_json(row) for row in results["variants"]]
    except (KeyError, ResultsFormatError) as error:
        raise AggregateError(f"{path}: not a benchmark result ({error})") from error
    return {**results, "variants": variants}


def _labels(results: list[dict]) -> list[str]:
    """Experiment names, made unique with the folder when they collide."""
    names = [r["experiment_name"] for r in results]
    return [
        name
        if names.count(name) == 1
        else f"{name} ({'/'.join(Path(r['experiment']).parts[-2:])})"
        for name, r in zip(names, results)
    ]


def merged_rows(results: list[dict]) -> list[dict]:
    """Flat rows of every experiment (``experiment`` = unique label)."""
    rows = []
    for label, result in zip(_labels(results), results):
        for row in flat_rows(result):
            rows.append({**row, "experiment": label})
    return rows


def machine_line(result: dict) -> str:
    """CPU, threads and GPU of one run (what makes timings comparable)."""
    m = result["machine"]
    return f"{m['cpu']}, {result['settings']['threads']} threads, GPU {m['gpu']}"


def _ratio(value, reference):
    return None if value is None or not reference else value / reference


def last_exit_rows(rows: list[dict]) -> dict:
    """``{(experiment, test set): row}`` of each experiment's deepest fp32
    variant (quantized copies left out)."""
    last = {}
    for row in rows:
        if row.get("quantization"):
            continue
        key = (row["experiment"], row["test_set"])
        if key not in last or (row["layer"] or 0) >= (last[key]["layer"] or 0):
            last[key] = row
    return last


def baseline_checks(results: list[dict], rows: list[dict], baseline: str) -> list:
    """Markdown lines checking every experiment against ``baseline``.

    Per experiment and test set (deepest exit of each): encoder MACs as a
    fraction of the baseline's, next to ``1 / f`` for a downsampling factor
    ``f`` (and whether it is within 5 % of it), the CPU time ratio and the WER
    change. Front-ends and heads are left out of the encoder MACs
    (:func:`benchmark.macs.encoder_macs`).
    """
    labels = dict(zip(_labels(results), results))
    if baseline not in labels:
        raise AggregateError(f"--baseline {baseline}: not one of {sorted(labels)}")
    last = last_exit_rows(rows)
    header = [
        "experiment", "test set", "factor", "encoder MACs / baseline", "1 / f",
        "within 5 % of 1 / f", "CPU s / baseline", "WER %", "WER change % rel.",
    ]  # fmt: skip
    lines = ["", f"## Checks against `{baseline}`", "", table_row(header)]
    lines.append(table_row(["---"] * len(header)))
    for (label, test_set), row in last.items():
        reference = last.get((baseline, test_set))
        if label == baseline or reference is None:
            continue
        efficiency = labels[label].get("efficiency") or {}
        factor = efficiency.get("downsampling_factor") or 1
        macs = _ratio(
            row["encoder_macs_per_audio_second"],
            reference["encoder_macs_per_audio_second"],
        )
        wer = _ratio(row["wer"], reference["wer"])
        close = None if macs is None or factor == 1 else abs(macs * factor - 1) <= 0.05
        cells = [
            label, test_set, factor, number(macs, 3),
            number(1 / factor, 3) if factor != 1 else "-",
            "-" if close is None else ("yes" if close else "no"),
            number(_ratio(row["cpu_s"], reference["cpu_s"]), 3), number(row["wer"]),
            "-" if wer is None else f"{100 * (wer - 1):+.1f}",
        ]  # fmt: skip
        lines.append(table_row(cells))
    lines += [
        "",
        "Encoder MACs leave out the front-end (waveform downsampler, filterbank, "
        "subsampling) and the exit heads. Linear layers scale with 1 / f; "
        "self-attention scales with 1 / f^2, so the encoder gets cheaper than "
        "1 / f wherever attention is a visible share of its MACs (small "
        "d_model, long utterances); within 5 % of 1 / f is expected only when "
        "the linear layers dominate. CPU times compare runs of the same "
        "machine and thread count only.",
    ]
    return lines


def aggregate_report(results: list[dict], rows: list[dict], baseline=None) -> str:
    """Markdown: one table over all experiments, the checks against the
    baseline (when named), then the machines."""
    header = ["experiment", "test set", "variant", *RESULT_HEADER]
    lines = ["# Benchmark summary", "", table_row(header)]
    lines.append(table_row(["---"] * len(header)))
    for r in rows:
        cells = [r["experiment"], r["test_set"], r["variant"], *result_cells(r)]
        lines.append(table_row(cells))
    quantized = quantization_section(rows)
    lines += [""] + quantized if quantized else []
    if baseline is not None:
        lines += baseline_checks(results, rows, baseline)
    machines = {machine_line(r) for r in results}
    lines += ["", "## Machines", ""]
    lines += [
        f"- {label}: {machine_line(r)}" for label, r in zip(_labels(results), results)
    ]
    if len(machines) > 1:
        lines += [
            "",
            "**Warning:** the runs used different machines or thread "
            "counts; compare their times with care.",
        ]
    lines += [""] + [f"![{name}]({name}.png)" for name in PLOTS]
    return "\n".join(lines) + "\n"


def aggregate(paths, output, baseline=None) -> dict:
    """Merge the results named by ``paths`` into ``output``; return the
    merged ``results.json`` content. ``baseline``: the experiment the others
    are checked against (:func:`baseline_checks`)."""
    files = find_results(paths)
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    results = [typed_variants(run, f) for run, f in zip(runs, files)]
    rows = merged_rows(results)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    series = {}
    for row in rows:
        series.setdefault(f"{row['experiment']} {row['test_set']}", []).append(row)
    plot_wer_vs_macs(series, output / "wer_vs_macs.png")
    for name, (key, label) in PLOTS.items():
        if key is not None:
            plot_wer_against(rows, key, label, output / f"{name}.png")
    write_csv(rows, output / "results.csv", CSV_COLUMNS)
    merged = {"sources": [str(f) for f in files], "rows": rows, "runs": runs}
    with open(output / "results.json", "w", encoding="utf-8") as handle:
        json.dump(merged, handle, indent=2, default=str)
    report = aggregate_report(results, rows, baseline)
    (output / "report.md").write_text(report, encoding="utf-8")
    return merged


def main(argv=None) -> int:
    """Command line: ``python -m benchmark.aggregate EXP... --output DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.aggregate",
        description="Merge benchmark results of many experiments.",
    )
    parser.add_argument("paths", nargs="+", help="experiment or results folders")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--baseline",
        help="experiment name the others are checked against (encoder MACs "
        "vs 1 / downsampling factor, CPU time, WER)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        aggregate(args.paths, args.output, args.baseline)
    except AggregateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((Path(args.output) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
