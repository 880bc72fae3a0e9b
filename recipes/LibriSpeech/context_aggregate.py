#!/usr/bin/env python3
"""One table and one WER-vs-context plot from context-length experiments.

Reads, from each experiment folder of ``train.py
hparams/conformer_ctc_context.yaml`` (as ``context_sweep.sh`` leaves it):
``hyperparams.yaml`` (context length, positional encoding, rotary base),
``wer_summary.json`` (segmented test WER), ``train_log.txt`` (time per step
and peak memory at the target length, training minutes) and every
``long_form/<split>/<mode>/summary.json`` of the long-form test stage
(:mod:`modules.inference.long_form_stage`, or ``python -m
modules.inference.long_form_eval`` into that folder: long-form WER, and the
segmented WER of the same recordings by the same model). Writes into ``--output``:
``results.csv``, ``results.md`` and ``wer_vs_context.png`` (long-form WER
of the ``average`` mode, or the first mode found, against the context
length: one panel per split, one line per encoding; dashed: the segmented
WER of the same recordings)::

    python recipes/LibriSpeech/context_aggregate.py results/context_sweep/L*_* \\
        --output results/context_sweep/aggregate
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from benchmark.formatting import pyplot  # noqa: E402
from modules.data.manifests import atomic_write_text  # noqa: E402

PLOTTED_MODE = "average"


@dataclass(frozen=True)
class StageCosts:
    """Cost of a training step at the target length (epochs trained at it)."""

    step_seconds: float
    peak_memory_mb: float
    memory: str  # "rss" (CPU, process peak) or "cuda"


@dataclass(frozen=True)
class ContextRow:
    """One experiment evaluated long-form on one split in one window mode."""

    experiment: str
    context_seconds: float
    positional_encoding: str
    rope_theta: float | None
    split: str
    mode: str
    window_seconds: float
    hop_seconds: float
    long_form_wer: float
    segmented_wer: float
    test_wer: float | None
    real_time_factor: float
    step_seconds: float | None
    peak_memory_mb: float | None
    memory: str | None
    train_minutes: float

    @property
    def encoding_label(self):
        """The encoding, with its base when rotary."""
        if self.positional_encoding == "rotary":
            return f"rotary (theta {self.rope_theta:g})"
        return self.positional_encoding


class _IgnoreTags(yaml.SafeLoader):
    """Reads a HyperPyYAML file's plain values; tagged ones become None."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


def read_settings(folder):
    """The experiment's top-level YAML values (``hyperparams.yaml``)."""
    path = Path(folder) / "hyperparams.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {folder} is not an experiment folder of "
            "train.py hparams/conformer_ctc_context.yaml."
        )
    settings = yaml.load(path.read_text(encoding="utf-8"), Loader=_IgnoreTags)
    if settings.get("context_length_seconds") is None:
        raise ValueError(
            f"{path} has no context_length_seconds: not a context-length run."
        )
    return settings


def read_train_log(path):
    """Epoch -> ``{key: value}`` of its training statistics (the last line
    of each epoch: a resumed run may have logged an epoch twice).

    Example
    -------
    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "train_log.txt"
    >>> _ = log.write_text("epoch: 1, lr: 1.00e-03 - train loss: 2.50, train "
    ...     "context_seconds: 5.12 - valid WER: 90.00\\n"
    ...     "Epoch loaded: 1 - test WER: 9.00\\n")
    >>> read_train_log(log)
    {1: {'loss': 2.5, 'context_seconds': 5.12}}
    """
    epochs = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("epoch: "):
            continue
        parts = line.split(" - ")
        epoch = int(parts[0].split(",")[0].split(": ")[1])
        train = [p for p in parts[1:] if p.startswith("train ")]
        items = train[0].split(", ") if train else []
        epochs[epoch] = {
            key[len("train ") :]: float(value)
            for key, value in (item.split(": ", 1) for item in items)
        }
    return epochs


def stage_costs(epochs, context_seconds):
    """Mean step time and peak memory over the epochs trained at the target
    length; None if the run never reached it."""
    at_target = [
        stats
        for stats in epochs.values()
        if abs(stats.get("context_seconds", -1.0) - context_seconds) < 1e-6
    ]
    if not at_target:
        return None
    memory = "cuda" if "peak_cuda_mb" in at_target[0] else "rss"
    steps = sum(s["steps"] for s in at_target)
    seconds = sum(s["steps"] * s["step_seconds"] for s in at_target)
    return StageCosts(
        step_seconds=seconds / max(steps, 1),
        peak_memory_mb=max(s[f"peak_{memory}_mb"] for s in at_target),
        memory=memory,
    )


def test_wers(folder):
    """Split -> segmented test WER of the ranking exit (``wer_summary.json``)."""
    path = Path(folder) / "wer_summary.json"
    if not path.is_file():
        return {}
    summary = json.loads(path.read_text(encoding="utf-8"))
    return {
        split: result["wer"][result["ranking_exit"] - 1]
        for split, result in summary.items()
    }


def context_rows(folder):
    """The rows of one experiment: one per long-form summary found."""
    folder = Path(folder)
    settings = read_settings(folder)
    length = float(settings["context_length_seconds"])
    log = folder / "train_log.txt"
    epochs = read_train_log(log) if log.is_file() else {}
    costs = stage_costs(epochs, length)
    tests = test_wers(folder)
    rows = []
    for path in sorted(folder.glob("long_form/*/*/summary.json")):
        summary = json.loads(path.read_text(encoding="utf-8"))
        split = path.parent.parent.name
        rows.append(
            ContextRow(
                experiment=folder.name,
                context_seconds=length,
                positional_encoding=settings["positional_encoding"],
                rope_theta=settings.get("rope_theta"),
                split=split,
                mode=summary["mode"],
                window_seconds=summary["window_seconds"],
                hop_seconds=summary["hop_seconds"],
                long_form_wer=summary["long_form"]["wer"],
                segmented_wer=summary["segmented"]["wer"],
                test_wer=tests.get(split),
                real_time_factor=summary["long_form"]["real_time_factor"],
                step_seconds=costs and costs.step_seconds,
                peak_memory_mb=costs and costs.peak_memory_mb,
                memory=costs and costs.memory,
                train_minutes=sum(s.get("epoch_minutes", 0.0) for s in epochs.values()),
            )
        )
    return rows


def rows_csv(rows):
    """``results.csv``: every field of every row."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, [f.name for f in fields(ContextRow)], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(asdict(row) for row in rows)
    return out.getvalue()


def _number(value, spec):
    """``value`` formatted with ``spec``, or ``-`` for None."""
    return "-" if value is None else format(value, spec)


def rows_markdown(rows):
    """``results.md``: one table, the context lengths in order."""
    lines = [
        "Context-length sweep: long-form WER (window = training length, "
        "corpus WER over recordings) next to the segmented WER of the same "
        "recordings and the test WER of the utterances; step time and peak "
        "memory at the training length (peak RSS on CPU, CUDA on GPU).",
        "",
        "| L (s) | encoding | split | mode | hop (s) | long-form WER % | "
        "segmented WER % | test WER % | s/step at L | peak MB at L | train min |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.context_seconds:g} | {r.encoding_label} | {r.split} | {r.mode} "
            f"| {r.hop_seconds:g} | {r.long_form_wer:.2f} | {r.segmented_wer:.2f} "
            f"| {_number(r.test_wer, '.2f')} | {_number(r.step_seconds, '.3f')} "
            f"| {_number(r.peak_memory_mb, '.0f')} | {r.train_minutes:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot_wer_vs_context(rows, path):
    """WER against context length: a panel per split, a line per encoding."""
    modes = {r.mode for r in rows}
    mode = PLOTTED_MODE if PLOTTED_MODE in modes else sorted(modes)[0]
    shown = [r for r in rows if r.mode == mode]
    splits = sorted({r.split for r in shown})
    plt = pyplot()
    fig, axes = plt.subplots(1, len(splits), figsize=(5.5 * len(splits), 4.2))
    for ax, split in zip(axes if len(splits) > 1 else [axes], splits):
        for label in sorted({r.encoding_label for r in shown}):
            series = sorted(
                (r for r in shown if r.split == split and r.encoding_label == label),
                key=lambda r: r.context_seconds,
            )
            x = [r.context_seconds for r in series]
            (line,) = ax.plot(x, [r.long_form_wer for r in series], "o-", label=label)
            segmented = [r.segmented_wer for r in series]
            ax.plot(x, segmented, "x--", color=line.get_color(), alpha=0.6)
        lengths = sorted({r.context_seconds for r in shown})
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [f"{x:g}" for x in lengths])
        ax.minorticks_off()
        ax.set_xlabel("training context length = window (s)")
        ax.set_ylabel("WER % (solid: long-form, dashed: segmented)")
        ax.set_title(f"{split}, {mode} windows")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    temporary = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(temporary, dpi=120)
    plt.close(fig)
    os.replace(temporary, path)


def aggregate(folders, output):
    """Write the table and the plot; return the rows."""
    rows = [row for folder in folders for row in context_rows(folder)]
    if not rows:
        raise ValueError(
            f"no long-form results in {[str(f) for f in folders]}: train with "
            "long_form_window set (the long-form test stage), or run python -m "
            "modules.inference.long_form_eval EXP --manifest ... --output "
            "EXP/long_form/<split>/<mode> first."
        )
    rows.sort(key=lambda r: (r.encoding_label, r.split, r.mode, r.context_seconds))
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(str(output / "results.csv"), rows_csv(rows))
    atomic_write_text(str(output / "results.md"), rows_markdown(rows))
    plot_wer_vs_context(rows, output / "wer_vs_context.png")
    return rows


def main(argv=None):
    """Command line entry point; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="+", help="experiment folders")
    parser.add_argument("--output", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        rows = aggregate(args.experiments, args.output)
    except (FileNotFoundError, ValueError) as error:
        print(f"context_aggregate: {error}", file=sys.stderr)
        return 1
    print(rows_markdown(rows) + f"Written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
