#!/usr/bin/env python3
"""Merge the benchmark results of many experiments into one report.

    python -m benchmark.aggregate EXP1 EXP2 ... --output DIR

Each argument is an experiment folder (every ``benchmark/*/results.json``
under it is used), a benchmark output folder holding ``results.json``, or a
``results.json`` file. ``DIR`` receives ``report.md`` (one table, one row per
experiment and variant), ``results.csv``, ``results.json`` and
``wer_vs_macs.png`` (one curve per experiment and test set).

Timings are only comparable between runs on the same machine with the same
thread count; the report lists the machines and warns when they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmark.report import (
    CSV_COLUMNS,
    RESULT_HEADER,
    flat_rows,
    plot_wer_vs_macs,
    result_cells,
    table_row,
    write_csv,
)


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


def aggregate_report(results: list[dict], rows: list[dict]) -> str:
    """Markdown: one table over all experiments, then the machines."""
    header = ["experiment", "test set", "variant", *RESULT_HEADER]
    lines = ["# Benchmark summary", "", table_row(header)]
    lines.append(table_row(["---"] * len(header)))
    for r in rows:
        cells = [r["experiment"], r["test_set"], r["variant"], *result_cells(r)]
        lines.append(table_row(cells))
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
    lines += ["", "![wer_vs_macs](wer_vs_macs.png)"]
    return "\n".join(lines) + "\n"


def aggregate(paths, output) -> dict:
    """Merge the results named by ``paths`` into ``output``; return the
    merged ``results.json`` content."""
    files = find_results(paths)
    results = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    rows = merged_rows(results)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    series = {}
    for row in rows:
        series.setdefault(f"{row['experiment']} {row['test_set']}", []).append(row)
    plot_wer_vs_macs(series, output / "wer_vs_macs.png")
    write_csv(rows, output / "results.csv", CSV_COLUMNS)
    merged = {"sources": [str(f) for f in files], "rows": rows, "runs": results}
    with open(output / "results.json", "w", encoding="utf-8") as handle:
        json.dump(merged, handle, indent=2, default=str)
    report = aggregate_report(results, rows)
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
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        aggregate(args.paths, args.output)
    except AggregateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((Path(args.output) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
