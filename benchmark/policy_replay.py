#!/usr/bin/env python3
"""Screen exit rules offline: replay them on every exit's transcripts.

    python -m benchmark.policy_replay EXPERIMENT [--dev_set dev-clean] \
        [--test_set test-clean] [--first_exit 1] [--tolerance 0.05] \
        [--lm PATH | none] [--rule NAME=T1,T2 ...] [--output JSON]

The static model runs once per split; every exit's greedy and LM
transcripts and its entropy and confidence are kept
(:mod:`benchmark.exit_readings`; the LM is the benchmark's, with the
weights it tuned for each exit). A rule then sends each utterance to the
first exit (from ``--first_exit`` on) where its criterion passes, the
reference exit otherwise, and its WER, WER+LM and MACs follow without
running the model again. Per rule, the threshold is chosen on dev as in the
benchmark (the cheapest whose dev WER, or WER+LM with an LM, is within
``--tolerance`` of the reference exit's) and reported on test.

Rules: ``entropy`` (< t), ``confidence`` (> t) and ``patience`` (k) read
what the built policies of :mod:`modules.exits.policies` read;
``lm_patience`` (the LM transcripts of k + 1 consecutive exits agree) and
``lm_agreement`` (the exit's LM and greedy transcripts agree) read LM
transcripts, which no built policy does. This is a screen, not a
measurement: MACs are those of each exit's static variant (the benchmark's
``results.json`` for the test set, which must exist), the heads and LM
searches a rule runs before it stops are not counted, and nothing is
timed. A rule that fails a target here fails it in the dynamic forward
too; one that meets it still has to be built and timed.

Example
-------
>>> from benchmark.exit_readings import ExitReading
>>> reading = lambda words, lm, e: ExitReading((words,), (lm,), e, 0.9)
>>> exits = (reading("A", "A", 0.5), reading("B", "A", 0.1), reading("B", "A", 0.1))
>>> exit_taken(exits, "entropy", 0.2, 1), exit_taken(exits, "lm_patience", 1, 1)
(2, 2)
>>> exit_taken(exits, "patience", 1, 1), exit_taken(exits, "lm_agreement", 1, 3)
(3, 3)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from speechbrain.utils.edit_distance import wer_details_for_batch

from benchmark.cli import named_grid
from benchmark.errors import BenchmarkError
from benchmark.exit_readings import read_exits
from benchmark.experiment import load_experiment, load_split
from benchmark.formatting import number, table_row
from benchmark.policy_oracle import exit_macs
from benchmark.policy_sweep import change, choose_operating_point
from modules.data.tokenizer import ctc_labels
from modules.decoding.lm_decoders import build_lm_decoder
from modules.exits.policies import ConfidencePolicy, EntropyPolicy, PatiencePolicy


def _streak(exits, k: int, field: str) -> float:
    """Exits right before exit ``k`` (0-based) with the same ``field``."""
    count = 0
    while count < k and getattr(exits[k - count - 1], field) == getattr(
        exits[k], field
    ):
        count += 1
    return float(count)


RULES = {
    "entropy": (EntropyPolicy, lambda ex, k: ex[k].entropy),
    "confidence": (ConfidencePolicy, lambda ex, k: ex[k].confidence),
    "patience": (PatiencePolicy, lambda ex, k: _streak(ex, k, "greedy")),
    "lm_patience": (PatiencePolicy, lambda ex, k: _streak(ex, k, "lm")),
    "lm_agreement": (PatiencePolicy, lambda ex, k: float(ex[k].lm == ex[k].greedy)),
}
"""Rule name -> (the policy class whose threshold range and comparison it
uses, its criterion at 0-based exit k). The LM rules compare as
``patience`` does: an integer k >= 1, passed at k or more."""
DEFAULT_GRIDS = {
    "entropy": (0.05, 0.1, 0.15, 0.2, 0.3),
    "confidence": (0.9, 0.95, 0.98),
    "patience": (1, 2),
    "lm_patience": (1, 2),
    "lm_agreement": (1,),
}
LM_RULES = ("lm_patience", "lm_agreement")


def exit_taken(exits, rule: str, threshold: float, first_exit: int) -> int:
    """The 1-based exit ``rule`` sends an utterance to (the last one of
    ``exits`` when its criterion never passes)."""
    policy_class, criterion = RULES[rule]
    policy = policy_class(threshold)
    for k in range(first_exit - 1, len(exits) - 1):
        if policy.passes(torch.tensor(criterion(exits, k))):
            return k + 1
    return len(exits)


@dataclass(frozen=True)
class ReplayPoint:
    """A rule at one threshold on one split (the reference exit: rule
    ``static``)."""

    rule: str
    threshold: float
    wer: float
    wer_lm: float | None
    macs_per_audio_second: float
    exit_counts: dict


@dataclass
class ReplaySplit:
    """A split's readings, per-exit word errors and per-exit MACs."""

    utterances: list
    errors: list
    lm_errors: list | None
    macs: list

    @classmethod
    def build(cls, utterances, macs, with_lm: bool):
        """Errors of every exit's greedy (and LM) transcripts."""

        def errors(field):
            ids = [u.id for u in utterances]
            refs = [list(u.words) for u in utterances]
            table = [[0] * len(macs) for _ in utterances]
            for k in range(len(macs)):
                hyps = [list(getattr(u.exits[k], field)) for u in utterances]
                for n, detail in enumerate(wer_details_for_batch(ids, refs, hyps)):
                    table[n][k] = detail["num_edits"]
            return table

        return cls(
            utterances, errors("greedy"), errors("lm") if with_lm else None, macs
        )

    def point(self, rule: str, threshold: float, taken: list) -> ReplayPoint:
        """WER, WER+LM and MACs when utterance n takes exit ``taken[n]``."""
        words = sum(len(u.words) for u in self.utterances)
        seconds = sum(u.seconds for u in self.utterances)

        def wer(table):
            if table is None:
                return None
            return 100.0 * sum(row[k - 1] for row, k in zip(table, taken)) / words

        macs = sum(self.macs[k - 1] * u.seconds for u, k in zip(self.utterances, taken))
        counts = dict(sorted(Counter(taken).items()))
        return ReplayPoint(
            rule,
            threshold,
            wer(self.errors),
            wer(self.lm_errors),
            macs / seconds,
            counts,
        )

    def replay(self, rule: str, threshold: float, first_exit: int) -> ReplayPoint:
        """:meth:`point` of ``rule`` at ``threshold``."""
        exits = len(self.macs)
        taken = [
            exit_taken(u.exits[:exits], rule, threshold, first_exit)
            for u in self.utterances
        ]
        return self.point(rule, threshold, taken)

    def static(self) -> ReplayPoint:
        """Every utterance at the reference (last kept) exit."""
        return self.point(
            "static", len(self.macs), [len(self.macs)] * len(self.utterances)
        )


def replay_rules(
    dev: ReplaySplit, test: ReplaySplit, grids: dict, first_exit, tolerance
):
    """Per rule: every threshold on dev and test, and the dev choice.

    Returns
    -------
    dict
        ``reference`` (dev and test :class:`ReplayPoint` of the reference
        exit) and ``rows``: per threshold, ``dev``, ``test``, ``chosen``,
        ``meets_tolerance``.
    """
    metric = (lambda p: p.wer_lm) if dev.lm_errors is not None else (lambda p: p.wer)
    ref_dev, ref_test = dev.static(), test.static()
    rows = []
    for rule, thresholds in grids.items():
        points = [(dev.replay(rule, t, first_exit), t) for t in thresholds]
        costs = [(p.macs_per_audio_second, metric(p)) for p, _ in points]
        index, meets = choose_operating_point(costs, metric(ref_dev), tolerance)
        for i, (dev_point, t) in enumerate(points):
            rows.append(
                dict(
                    dev=dev_point,
                    test=test.replay(rule, t, first_exit),
                    chosen=i == index,
                    meets_tolerance=meets if i == index else None,
                )
            )
    return dict(reference=dict(dev=ref_dev, test=ref_test), rows=rows)


def _cells(point: ReplayPoint, ref: ReplayPoint) -> list:
    """WER, WER+LM, MAC saving and the change of WER+LM (WER without LM)
    vs the reference, in %."""
    saving = 100.0 * (1.0 - point.macs_per_audio_second / ref.macs_per_audio_second)
    lm = point.wer_lm is not None
    delta = change(point.wer_lm, ref.wer_lm) if lm else change(point.wer, ref.wer)
    signed = "-" if delta is None else f"{delta:+.1f}"
    return [number(point.wer), number(point.wer_lm), number(saving, 1), signed]


def markdown(result: dict, dev_set: str, test_set: str) -> str:
    """The replay table: every rule and threshold, chosen points in bold."""
    header = [
        "rule", "threshold", "chosen", f"{dev_set} WER %", f"{dev_set} WER+LM %",
        f"{dev_set} MAC saving %", f"{dev_set} change %", f"{test_set} WER %",
        f"{test_set} WER+LM %", f"{test_set} MAC saving %", f"{test_set} change %",
        f"{test_set} utterances per exit",
    ]  # fmt: skip
    lines = [table_row(header), table_row(["---"] * len(header))]
    ref = result["reference"]
    for row in result["rows"]:
        dev, test = row["dev"], row["test"]
        mark = {True: "yes", False: "yes (†)", None: ""}[row["meets_tolerance"]]
        counts = " ".join(f"{k}:{v}" for k, v in test.exit_counts.items())
        cells = [dev.rule, f"{dev.threshold:g}", mark]
        cells += _cells(dev, ref["dev"]) + _cells(test, ref["test"]) + [counts]
        lines.append(table_row(cells))
    static = ["reference exit", f"{ref['dev'].threshold:g}", ""]
    static += _cells(ref["dev"], ref["dev"]) + _cells(ref["test"], ref["test"]) + [""]
    lines.append(table_row(static))
    return "\n".join(lines)


def replay_lm_weights(results: dict) -> list:
    """``(alpha, beta)`` of exits 1..reference exit as the benchmark set
    them (``results.json``: per exit with ``tune: each``); an exit without
    weights takes the reference exit's.

    Example
    -------
    >>> rows = [{"exit": 1, "lm_weights": {"alpha": 0.3, "beta": 2.0}},
    ...         {"exit": 2, "lm_weights": {"alpha": 1.0, "beta": 0.0}},
    ...         {"exit": 3, "lm_weights": None}]
    >>> replay_lm_weights({"reference_exit": 3, "variants": rows})
    [(0.3, 2.0), (1.0, 0.0), (0.5, 1.0)]
    """
    weights = {
        row["exit"]: row.get("lm_weights")
        for row in results["variants"]
        if row.get("exit") is not None and row.get("quantization") is None
    }
    reference = weights.get(results["reference_exit"]) or {"alpha": 0.5, "beta": 1.0}
    return [
        ((weights.get(k) or reference)["alpha"], (weights.get(k) or reference)["beta"])
        for k in range(1, results["reference_exit"] + 1)
    ]


def build_replay_lm(exp, results: dict, lm_option: str | None):
    """The benchmark's LM decoder (its back end, file and beam, from
    ``results.json``), ``lm_option`` replacing the file; None for ``--lm
    none`` or when the benchmark ran without an LM."""
    lm = results.get("lm") or {}
    path = lm_option or lm.get("path")
    if path in (None, "none"):
        return None
    alpha, beta = replay_lm_weights(results)[-1]
    ref = results["reference_exit"]
    row = next(v for v in results["variants"] if v.get("exit") == ref)
    return build_lm_decoder(
        (row.get("lm_weights") or {}).get("decoder") or "flashlight",
        ctc_labels(exp.tokenizer),
        path,
        alpha,
        beta,
        lm.get("beam_size", 100),
        blank_index=exp.hparams.get("blank_index", 0),
    )


def parse_args(argv):
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", type=Path)
    p.add_argument("--dev_set", default="dev-clean")
    p.add_argument("--test_set", default="test-clean")
    p.add_argument("--first_exit", type=int, default=1)
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--lm", help="LM file, or none [the benchmark's]")
    p.add_argument("--rule", type=named_grid, action="append", metavar="NAME=T1,T2")
    p.add_argument("--max_utts", type=int, help="first N utterances of each split")
    p.add_argument(
        "--output", type=Path, help="JSON [benchmark/TEST_SET/policy_replay.json]"
    )
    return p.parse_args(argv)


def check_args(args, results: dict, with_lm: bool) -> dict:
    """The rule grids, or a BenchmarkError naming the bad option."""
    grids = dict(DEFAULT_GRIDS)
    if not with_lm:
        grids = {k: v for k, v in grids.items() if k not in LM_RULES}
    if args.rule:
        grids = dict(args.rule)
    unknown = [r for r in grids if r not in RULES]
    if unknown:
        raise BenchmarkError(f"--rule {unknown}: choose among {sorted(RULES)}")
    for rule, thresholds in grids.items():
        for threshold in thresholds:
            try:
                RULES[rule][0](threshold)
            except ValueError as error:
                raise BenchmarkError(f"--rule {rule}=...: {error}") from None
    if not with_lm and any(r in LM_RULES for r in grids):
        raise BenchmarkError(
            f"--rule {sorted(grids)}: {LM_RULES} need an LM (--lm PATH)"
        )
    if not 1 <= args.first_exit <= results["reference_exit"]:
        raise BenchmarkError(
            f"--first_exit {args.first_exit}: give 1..{results['reference_exit']} "
            "(the reference exit)"
        )
    if args.tolerance < 0:
        raise BenchmarkError(f"--tolerance {args.tolerance}: give a fraction >= 0")
    return grids


def run(args) -> tuple[dict, Path]:
    """Read both splits, replay every rule; the result and the JSON path."""
    results_path = args.experiment / "benchmark" / args.test_set / "results.json"
    if not results_path.is_file():
        raise BenchmarkError(
            f"{results_path} not found: run python -m benchmark.run "
            f"{args.experiment} --test_set {args.test_set} first (its MACs per exit)"
        )
    results = json.loads(results_path.read_text())
    exp = load_experiment(args.experiment)
    decoder = build_replay_lm(exp, results, args.lm)
    grids = check_args(args, results, decoder is not None)
    macs = exit_macs(results, results["reference_exit"])
    weights = replay_lm_weights(results)
    splits = [
        ReplaySplit.build(
            read_exits(
                exp, load_split(exp, name, max_utts=args.max_utts), decoder, weights
            ),
            macs,
            decoder is not None,
        )
        for name in (args.dev_set, args.test_set)
    ]
    result = replay_rules(*splits, grids, args.first_exit, args.tolerance)
    return result, args.output or results_path.parent / "policy_replay.json"


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    args = parse_args(argv)
    try:
        result, path = run(args)
    except BenchmarkError as error:
        print(f"policy_replay: {error}", file=sys.stderr)
        return 2
    print(markdown(result, args.dev_set, args.test_set))
    rows = [
        {**row, "dev": asdict(row["dev"]), "test": asdict(row["test"])}
        for row in result["rows"]
    ]
    reference = {k: asdict(v) for k, v in result["reference"].items()}
    settings = dict(first_exit=args.first_exit, tolerance=args.tolerance, lm=args.lm)
    path.write_text(
        json.dumps(dict(settings=settings, reference=reference, rows=rows), indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
