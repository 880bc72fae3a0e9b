"""The "Long-form" section of a benchmark: the long-form test stage's results.

When the experiment folder holds ``long_form/<split>/<mode>/summary.json``
(the long-form test stage of ``train.py``,
:mod:`modules.inference.long_form_stage`), :func:`long_form_results` reads
every one into a :class:`LongFormRow` (WERs, times, real-time factors and
peak memory as the stage measured them) and adds the MACs per audio second
of the windowed and the segmented pass, counted here
(:mod:`benchmark.long_form_macs`). ``results.json`` gets them under
``long_form`` and ``report.md`` the section of :func:`long_form_section`;
an experiment without them is benchmarked as before (no key, no section).

Example
-------
>>> timing = {"wer": 12.0, "seconds": 3.0, "real_time_factor": 0.01,
...           "peak_rss_mb": 800.0}
>>> summary = {"window_seconds": 20.48, "hop_seconds": 2.56, "long_form": timing,
...            "segmented": {**timing, "wer": 10.0},
...            "long_vs_segmented_relative_wer_percent": 20.0}
>>> macs = {"long_form": 8e9, "segmented": 1e9}
>>> row = LongFormRow("test-clean", "average", summary, macs)
>>> print(long_form_section({"long_form": [row]})[5])
| test-clean | average | 20.48 | 2.56 | 12.00 | 10.00 | +20.0 | 3.0 | 3.0 | 0.0100 | 0.0100 | 800 | 8.0 G | 1.0 G |
>>> long_form_section({"variants": []})
[]
"""  # noqa: E501

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmark.formatting import human, number, table_row
from benchmark.long_form_macs import MAX_COUNTED_SEGMENTS, long_form_macs

LONG_FORM_NOTE = (
    "Long-form: each recording decoded window by window (window and hop in "
    "seconds); segmented: each utterance decoded alone; both scored against "
    "the recording's transcript, with the exit of the test stage and greedy "
    "decoding. WERs, times (s for the split), RTF and peak RSS (the process's "
    "peak after the long-form pass) are the long-form test stage's, measured "
    "when it ran, not by this benchmark. MACs / audio s are counted here on "
    "that exit's forward pass: every window at the length it reads, and the "
    "utterances (a representative subset of at most "
    f"{MAX_COUNTED_SEGMENTS} lengths, `benchmark.long_form_macs`)."
)


@dataclass(frozen=True)
class LongFormRow:
    """One split decoded long-form in one window mode.

    Attributes
    ----------
    split, mode : str
        From the folder ``long_form/<split>/<mode>``.
    summary : dict
        Its ``summary.json`` (window, hop, exit, ``long_form`` and
        ``segmented`` passes).
    macs_per_audio_second : dict or None
        ``{"long_form": ..., "segmented": ...}``; None when not counted.
    """

    split: str
    mode: str
    summary: dict
    macs_per_audio_second: dict | None

    def to_json(self) -> dict:
        """The row as ``results.json`` holds it."""
        return asdict(self)


def summary_paths(folder) -> list:
    """The stage's ``long_form/<split>/<mode>/summary.json`` files, sorted."""
    return sorted(Path(folder).glob("long_form/*/*/summary.json"))


def count_macs_of(model, summary: dict, notes: list, where) -> dict | None:
    """MACs per audio second of both passes, or None and a note saying why."""
    if summary.get("exit") is None:
        notes.append(f"{where}: a dynamic exit policy; MACs not counted.")
        return None
    manifest = summary.get("manifest") or "(not in summary.json)"
    if not os.path.isfile(manifest):
        notes.append(f"{where}: manifest {manifest} not found; MACs not counted.")
        return None
    return long_form_macs(model, summary)


def long_form_results(exp, notes: list) -> dict:
    """``{"long_form": [LongFormRow, ...]}`` for an experiment with long-form
    results, else ``{}``.

    Parameters
    ----------
    exp : benchmark.experiment.Experiment
        The loaded experiment (its folder and model).
    notes : list of str
        Notes for the report (MACs that could not be counted).
    """
    rows = []
    for path in summary_paths(exp.folder):
        summary = json.loads(path.read_text(encoding="utf-8"))
        split, mode = path.parent.parent.name, path.parent.name
        where = f"long_form/{split}/{mode}"
        macs = count_macs_of(exp.model, summary, notes, where)
        rows.append(LongFormRow(split, mode, summary, macs))
    return {"long_form": rows} if rows else {}


HEADER = [
    "split", "mode", "window s", "hop s", "WER % long-form", "WER % segmented",
    "relative %", "long-form s", "segmented s", "RTF long-form", "RTF segmented",
    "peak RSS MB", "MACs / audio s windowed", "MACs / audio s segmented",
]  # fmt: skip


def row_cells(row: LongFormRow) -> list:
    """The table cells of one row."""
    s, macs = row.summary, row.macs_per_audio_second or {}
    long_form, segmented = s["long_form"], s["segmented"]
    change = s.get("long_vs_segmented_relative_wer_percent")
    return [
        row.split, row.mode, f"{s['window_seconds']:g}", f"{s['hop_seconds']:g}",
        number(long_form["wer"]), number(segmented["wer"]),
        "-" if change is None else f"{change:+.1f}",
        number(long_form["seconds"], 1), number(segmented["seconds"], 1),
        number(long_form["real_time_factor"], 4),
        number(segmented["real_time_factor"], 4),
        number(long_form["peak_rss_mb"], 0),
        human(macs.get("long_form")), human(macs.get("segmented")),
    ]  # fmt: skip


def long_form_section(results: dict) -> list[str]:
    """The report's "Long-form" section; empty without long-form results."""
    rows = results.get("long_form")
    if not rows:
        return []
    lines = ["", "## Long-form", "", table_row(HEADER)]
    lines.append(table_row(["---"] * len(HEADER)))
    lines += [table_row(row_cells(row)) for row in rows]
    return lines + ["", LONG_FORM_NOTE]
