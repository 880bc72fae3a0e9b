#!/usr/bin/env python3
"""How much compute could any exit policy save on this model? An oracle bound.

    python -m benchmark.policy_oracle EXPERIMENT --test_set test-clean \
        [--tolerance 0 0.05] [--transcripts CSV] [--output JSON]

A dynamic exit policy picks one exit per utterance without the reference.
The oracle picks it *with* the reference: for a WER budget of
``(1 + tolerance)`` times the reference exit's errors on the test set, it
sends each utterance to the exit that minimises the total MACs of the test
set (a multiple-choice knapsack, solved through its Lagrangian: each
utterance takes the exit minimising ``MACs + lambda * errors``). The MAC
saving reported is the linear-programming bound at the critical lambda
(the two hull solutions around the budget interpolated), so **no policy,
whatever its rule or threshold, saves more MACs at that WER** on this test
set; the policy's own overhead (exit heads it reads before stopping) is not
counted either. When the bound is below a target, a better policy cannot
meet it: the model's exits must change.

Inputs, all written by ``train.py`` and the benchmark stage: the test
stage's per-exit transcripts (``test/<split>/transcripts.csv``), the
utterance durations (``manifests/<split>.csv``) and the exits' MACs per
audio second (``benchmark/<split>/results.json``); ``--transcripts`` reads
other hypotheses in the same format (e.g. each exit decoded with the LM
by ``transcribe.py --exit K --lm auto``). Output: a Markdown table on
stdout and ``benchmark/<split>/policy_oracle.json`` (or ``--output``).

Example
-------
>>> errors = [[3, 1, 1], [0, 0, 0], [2, 2, 0]]
>>> costs = [[1.0, 2.0, 3.0]] * 3
>>> bound = oracle_bound(errors, costs, reference_exit=3, tolerance=0.0)
>>> bound.errors, bound.exit_counts, round(bound.mac_saving, 3)
(1, {1: 1, 2: 1, 3: 1}, 0.333)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from speechbrain.utils.edit_distance import wer_details_for_batch

LAMBDA_STEPS = 60
"""Bisection steps on lambda (the MAC price of one word error)."""


class OracleInputError(RuntimeError):
    """A missing or inconsistent input file, named in the message."""


@dataclass(frozen=True)
class OracleBound:
    """The oracle's best selection within one WER budget."""

    tolerance: float
    errors: int
    words: int
    wer: float
    reference_wer: float
    mean_exit: float
    mac_saving: float
    exit_counts: dict


def select(errors, costs, price: float) -> list[int]:
    """Per utterance, the exit index minimising ``cost + price * errors``
    (ties: fewer errors, then the earlier exit)."""
    return [
        min(range(len(e)), key=lambda i: (c[i] + price * e[i], e[i], i))
        for e, c in zip(errors, costs)
    ]


def _totals(errors, costs, choice) -> tuple[int, float]:
    """Total errors and cost of a selection."""
    total_errors = sum(e[i] for e, i in zip(errors, choice))
    return total_errors, sum(c[i] for c, i in zip(costs, choice))


def cheapest_within(errors, costs, budget: float) -> tuple[list[int], float]:
    """The Lagrangian selection with at most ``budget`` errors and the LP
    bound on the cost of any selection within that budget.

    Returns
    -------
    tuple
        ``(choice, cost_bound)``: a feasible selection and a lower bound
        on the cost of every selection with at most ``budget`` errors.
    """
    cheapest = select(errors, costs, 0.0)
    err_lo, cost_lo = _totals(errors, costs, cheapest)
    if err_lo <= budget:
        return cheapest, cost_lo
    low, high = 0.0, 1.0
    while _totals(errors, costs, select(errors, costs, high))[0] > budget:
        high *= 2.0
        if high > 1e12:
            raise ValueError(f"no selection has at most {budget} errors")
    for _ in range(LAMBDA_STEPS):
        middle = (low + high) / 2.0
        fits = _totals(errors, costs, select(errors, costs, middle))[0] <= budget
        low, high = (low, middle) if fits else (middle, high)
    feasible = select(errors, costs, high)
    err_hi, cost_hi = _totals(errors, costs, feasible)
    err_lo, cost_lo = _totals(errors, costs, select(errors, costs, low))
    share = (err_lo - budget) / (err_lo - err_hi)
    return feasible, cost_lo + share * (cost_hi - cost_lo)


def oracle_bound(
    errors, costs, reference_exit: int, tolerance: float, words: int = 0
) -> OracleBound:
    """The oracle selection of at most ``(1 + tolerance)`` times the
    errors of exit ``reference_exit`` (1-based), against always running
    that exit; ``errors[k][i]`` and ``costs[k][i]`` are utterance k's word
    errors and MACs at exit i + 1, ``words`` the reference words (for the
    WERs)."""
    ref = reference_exit - 1
    ref_errors, ref_cost = _totals(errors, costs, [ref] * len(errors))
    usable = [e[: ref + 1] for e in errors]
    choice, cost_bound = cheapest_within(
        usable, [c[: ref + 1] for c in costs], (1.0 + tolerance) * ref_errors
    )
    total_errors, _ = _totals(usable, costs, choice)
    counts = {i + 1: choice.count(i) for i in sorted(set(choice))}
    return OracleBound(
        tolerance=tolerance,
        errors=total_errors,
        words=words,
        wer=100.0 * total_errors / words if words else float("nan"),
        reference_wer=100.0 * ref_errors / words if words else float("nan"),
        mean_exit=1.0 + sum(choice) / len(choice),
        mac_saving=1.0 - cost_bound / ref_cost,
        exit_counts=counts,
    )


def read_rows(path: Path, what: str) -> list[dict]:
    """The rows of a CSV file, or an error naming it and what writes it."""
    if not path.is_file():
        raise OracleInputError(f"{path} not found: {what}")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def utterance_errors(transcripts: list[dict]) -> tuple[list, list, int]:
    """``(ids, errors, words)``: per utterance, the word errors of every
    exit (columns ``exit1``, ``exit2``, ... of the test stage's
    ``transcripts.csv``) and the number of reference words."""
    exits = sorted(
        (k for k in transcripts[0] if k.startswith("exit")), key=lambda k: int(k[4:])
    )
    ids = [row["ID"] for row in transcripts]
    refs = [row["reference"].split() for row in transcripts]
    errors = [[0] * len(exits) for _ in ids]
    for i, name in enumerate(exits):
        hyps = [row[name].split() for row in transcripts]
        for k, detail in enumerate(wer_details_for_batch(ids, refs, hyps)):
            errors[k][i] = detail["num_edits"]
    return ids, errors, sum(map(len, refs))


def exit_macs(results: dict, count: int) -> list[float]:
    """MACs per audio second of exits 1..count from a benchmark's
    ``results.json``."""
    macs = {
        row["exit"]: row["macs_per_audio_second"]
        for row in results["variants"]
        if row.get("exit") is not None and row.get("quantization") is None
    }
    missing = [i for i in range(1, count + 1) if i not in macs]
    if missing:
        raise OracleInputError(f"results.json has no MACs for exits {missing}")
    return [macs[i] for i in range(1, count + 1)]


def load_inputs(folder: Path, split: str, transcripts_csv=None) -> dict:
    """Errors, per-utterance MACs and the reference exit of ``split``;
    ``transcripts_csv``: another file of per-exit hypotheses in the test
    stage's format (e.g. LM decodings), instead of the test stage's."""
    transcripts = read_rows(
        Path(transcripts_csv or folder / "test" / split / "transcripts.csv"),
        f"run the test stage on {split} (train.py with test_splits)",
    )
    durations = {
        row["ID"]: float(row["duration"])
        for row in read_rows(folder / "manifests" / f"{split}.csv", "the manifest")
    }
    results_path = folder / "benchmark" / split / "results.json"
    if not results_path.is_file():
        raise OracleInputError(
            f"{results_path} not found: run python -m benchmark.run {folder} "
            f"--test_set {split}"
        )
    results = json.loads(results_path.read_text())
    ids, errors, words = utterance_errors(transcripts)
    absent = [i for i in ids if i not in durations]
    if absent:
        raise OracleInputError(f"{len(absent)} utterances not in the manifest")
    macs = exit_macs(results, len(errors[0]))
    costs = [[m * durations[i] for m in macs] for i in ids]
    return dict(
        errors=errors,
        costs=costs,
        words=words,
        out=results_path.parent,
        reference_exit=results["reference_exit"],
    )


def markdown(bounds: list[OracleBound], reference_exit: int) -> str:
    """The bounds as a Markdown table."""
    lines = [
        f"| WER budget (x exit {reference_exit}) | oracle WER % | mean exit "
        "| utterances per exit | MAC saving at most |",
        "|---|---|---|---|---|",
    ]
    for b in bounds:
        counts = " ".join(f"{k}:{v}" for k, v in b.exit_counts.items())
        lines.append(
            f"| {1 + b.tolerance:.2f} ({b.reference_wer:.2f} %) | {b.wer:.2f} "
            f"| {b.mean_exit:.2f} | {counts} | {100 * b.mac_saving:.1f} % |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--test_set", default="test-clean")
    parser.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.05])
    parser.add_argument(
        "--transcripts",
        type=Path,
        help="per-exit hypotheses (columns ID, reference, exit1, ...) "
        "[EXPERIMENT/test/TEST_SET/transcripts.csv]",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON output [benchmark/TEST_SET/policy_oracle.json]",
    )
    args = parser.parse_args(argv)
    if any(t < 0 for t in args.tolerance):
        parser.error(
            f"--tolerance {args.tolerance}: give fractions >= 0 (0.05: 5 % more WER)"
        )
    try:
        inputs = load_inputs(args.experiment, args.test_set, args.transcripts)
    except OracleInputError as error:
        print(f"policy_oracle: {error}", file=sys.stderr)
        return 2
    bounds = [
        oracle_bound(
            inputs["errors"],
            inputs["costs"],
            inputs["reference_exit"],
            t,
            inputs["words"],
        )
        for t in args.tolerance
    ]
    print(markdown(bounds, inputs["reference_exit"]))
    path = args.output or inputs["out"] / "policy_oracle.json"
    path.write_text(json.dumps([asdict(b) for b in bounds], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
