"""The AED benchmark's plot: WER against time and against MACs, per exit,
one curve per decoding (greedy CTC, CTC + LM, greedy attention, joint
CTC/attention beam search, and with the token n-gram when run).

Example
-------
>>> rows = [{"variant": "exit1", "exit": 1, "wer": 30.0, "wer_lm": None,
...          "cpu_s": 1.0, "cpu_lm_s": None, "macs_per_audio_second": 2e9}]
>>> [(name, points) for name, points in decoding_points(rows, "cpu_s")]
[('CTC greedy', [(1.0, 30.0, 1)])]
"""

from __future__ import annotations

from benchmark.formatting import pyplot

DECODINGS = (
    ("CTC greedy", "", False),
    ("CTC + LM", "", True),
    ("attention greedy", "-attention", False),
    ("joint beam", "-joint", False),
    ("joint beam + LM", "-joint_lm", False),
)
"""Curves: label, suffix of the variant name after ``exit<k>``, and whether
it is the LM pass of that variant."""


def decoding_points(rows: list[dict], x_column: str) -> list:
    """``(label, [(x, wer, exit), ...])`` per decoding that has points, from
    flat rows (:func:`benchmark.report.flat_rows`); ``x_column``: a time
    column (``cpu_s``, ``gpu_s``: the LM pass's for CTC + LM) or
    ``macs_per_audio_second``."""
    curves = []
    for label, suffix, lm in DECODINGS:
        x_key = x_column
        if lm and x_column.endswith("_s"):
            x_key = x_column.removesuffix("_s") + "_lm_s"
        wer_key = "wer_lm" if lm else "wer"
        points = [
            (row[x_key], row[wer_key], row["exit"])
            for row in rows
            if row["exit"] is not None
            and row["variant"] == f"exit{row['exit']}{suffix}"
            and row.get(x_key) is not None
            and row.get(wer_key) is not None
        ]
        if points:
            curves.append((label, points))
    return curves


def _panel(ax, curves, scale, xlabel) -> None:
    """One panel: a curve per decoding, its points labelled with the exit."""
    for label, points in curves:
        xs = [x / scale for x, _, _ in points]
        ax.plot(xs, [w for _, w, _ in points], "o-", ms=4, label=label)
        for x, (_, wer, exit_index) in zip(xs, points):
            ax.annotate(f"{exit_index}", (x, wer), fontsize=7, xytext=(2, 2),
                        textcoords="offset points")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel("WER %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_wer_vs_time(rows: list[dict], device_prefix: str, path, title) -> str:
    """WER against the test set's time on one device (encoder + decoding,
    median; left) and against MACs per audio second (right), a point per
    exit (labelled with its number) on a curve per decoding."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.5))
    time_curves = decoding_points(rows, f"{device_prefix}_s")
    _panel(left, time_curves, 1.0, f"{device_prefix.upper()} s for the test set")
    left.set_xscale("log")
    mac_curves = decoding_points(rows, "macs_per_audio_second")
    _panel(right, mac_curves, 1e9, "GMACs per second of audio")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
