"""Report of the dynamic exit policies: Markdown section, CSV and plot.

Reads the ``policies`` entry of the results, a
:class:`benchmark.policy_results.PolicySweepResult` (made by
:func:`benchmark.policy_stage.benchmark_policies`): the reference exit
(the last one, or exit K of ``train_exits: K``) as ``reference``, one row
per ``(policy, threshold)`` with its ``dev`` and ``test`` measurements,
and the static exits (``static``) as reference points.

Examples
--------
>>> pct(-12.345)
'-12.3'
>>> pct(None)
'-'
"""

from __future__ import annotations

from dataclasses import asdict

from benchmark.formatting import human, number, pyplot, table_row
from benchmark.options import MIN_POLICY_ROUNDS

POLICY_CSV_COLUMNS = [
    "experiment", "test_set", "dev_set", "mode", "variant", "policy", "threshold",
    "chosen", "meets_tolerance", "pareto", "dev_wer", "dev_mean_layers",
    "dev_macs_per_audio_second", "wer", "wer_lm", "mean_exit", "mean_layers",
    "exit_counts", "macs_per_batch", "macs_per_audio_second",
    "encoder_macs_per_audio_second", "cpu_s", "gpu_s", "cpu_time_ratio",
    "cpu_time_ratio_min", "cpu_time_ratio_max", "mac_saving_pct",
    "encoder_mac_saving_pct", "time_saving_pct", "gpu_time_saving_pct",
    "wer_change_pct", "wer_lm_change_pct",
]  # fmt: skip
"""Columns of ``policies.csv`` (one row per policy and threshold, after the
reference exit's row; times in seconds for the whole test set;
``cpu_time_ratio``: median (and min, max) over the rounds of the point's CPU
time / the reference's, timed alternately)."""


def pct(value) -> str:
    """A percentage with one decimal; ``-`` for None."""
    return number(value, 1)


def exit_counts_text(counts: dict) -> str:
    """``{1: 30, 3: 2}`` -> ``"1:30 3:2"`` (utterances per exit)."""
    return " ".join(
        f"{k}:{v}" for k, v in sorted(counts.items(), key=lambda i: int(i[0]))
    )


def ratio_columns(ratios: dict | None) -> dict:
    """``cpu_time_ratio`` (median), ``_min`` and ``_max`` of a paired timing
    (None when not timed on CPU)."""
    cpu = (ratios or {}).get("cpu") or {}
    return {
        "cpu_time_ratio": cpu.get("median"),
        "cpu_time_ratio_min": cpu.get("min"),
        "cpu_time_ratio_max": cpu.get("max"),
    }


def _flat(results: dict, name: str, dev, test, marks: dict, row=None):
    """One ``policies.csv`` row from the measurements of a policy point or
    of the reference; ``marks``: its ``policy``, ``threshold``, ``chosen``,
    ``meets_tolerance`` and ``pareto``; ``row``: the policy point's
    :class:`benchmark.policy_results.PolicyPointResult` (its savings and
    time ratios; None: reference)."""
    relative = row.relative if row is not None else None
    ratios = row.time_ratios if row is not None else None
    flat = {
        "experiment": results["experiment_name"],
        "test_set": results["test_set"],
        "dev_set": results["policies"].dev_set,
        "mode": results["settings"]["policy_mode"],
        "variant": name,
        **marks,
        "dev_wer": dev.wer,
        "dev_mean_layers": dev.mean_layers,
        "dev_macs_per_audio_second": dev.macs_per_audio_second,
        "wer": test.wer,
        "wer_lm": test.wer_lm,
        "mean_exit": test.mean_exit,
        "mean_layers": test.mean_layers,
        "exit_counts": exit_counts_text(test.exit_counts),
        "macs_per_batch": test.macs_per_batch,
        "macs_per_audio_second": test.macs_per_audio_second,
        "encoder_macs_per_audio_second": test.encoder_macs_per_audio_second,
        "cpu_s": test.cpu_s,
        "gpu_s": test.gpu_s,
        **ratio_columns(ratios),
        **(asdict(relative) if relative is not None else {}),
    }
    return {key: flat.get(key) for key in POLICY_CSV_COLUMNS}


def policy_flat_rows(results: dict) -> list[dict]:
    """The reference exit, then one flat row per policy point."""
    section = results["policies"]
    ref = section.reference
    pareto = next((p.pareto for p in section.static if p.name == ref.name), None)
    marks = dict(policy=None, threshold=None, chosen=None, meets_tolerance=None)
    rows = [_flat(results, ref.name, ref.dev, ref.test, {**marks, "pareto": pareto})]
    for row in section.rows:
        marks = {
            "policy": row.policy,
            "threshold": row.threshold,
            "chosen": row.chosen,
            "meets_tolerance": row.meets_tolerance,
            "pareto": row.pareto,
        }
        rows.append(_flat(results, row.name, row.dev, row.test, marks, row))
    return rows


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

CHOSEN_HEADER = [
    "policy", "threshold", "dev WER %", "WER %", "WER+LM %", "mean exit layer",
    "MACs / audio s", "encoder MACs / audio s", "CPU s",
    "CPU time / reference (min-max)", "MAC saving %", "time saving %",
    "WER change %", "WER+LM change %",
]  # fmt: skip

ALL_HEADER = [
    "policy", "threshold", "chosen", "Pareto", "dev WER %", "dev mean layer",
    "WER %", "mean exit layer", "utterances per exit", "MACs / audio s",
    "encoder MACs / audio s", "MAC saving %", "WER change %", "CPU s",
    "CPU time / reference (min-max)", "time saving %",
]  # fmt: skip


def ratio_text(r: dict) -> str:
    """``median (min-max)`` of a flat row's paired CPU time ratio."""
    if r.get("cpu_time_ratio") is None:
        return "-"
    low, high = r["cpu_time_ratio_min"], r["cpu_time_ratio_max"]
    return f"{r['cpu_time_ratio']:.3f} ({low:.3f}-{high:.3f})"


GPU_CHOSEN_HEADER = ["GPU s", "GPU time saving %"]
"""Columns the chosen-points table gains when the points were timed on a GPU."""


def _chosen_cells(r: dict, gpu: bool = False) -> list:
    """Cells of a flat row in the chosen-points table (with its GPU time and
    saving when ``gpu``)."""
    gpu_cells = [number(r["gpu_s"]), pct(r.get("gpu_time_saving_pct"))]
    return [
        number(r["dev_wer"]),
        number(r["wer"]),
        number(r["wer_lm"]),
        number(r["mean_layers"]),
        human(r["macs_per_audio_second"]),
        human(r["encoder_macs_per_audio_second"]),
        number(r["cpu_s"]),
        ratio_text(r),
        pct(r.get("mac_saving_pct")),
        pct(r.get("time_saving_pct")),
        pct(r.get("wer_change_pct")),
        pct(r.get("wer_lm_change_pct")),
    ] + (gpu_cells if gpu else [])


def chosen_table(flat: list[dict]) -> list[str]:
    """The dev-chosen point of every policy, then the reference exit; GPU
    time columns when the reference was timed on a GPU.

    Example
    -------
    >>> ref = dict.fromkeys(POLICY_CSV_COLUMNS, 1.0)
    >>> ref.update(variant="exit2", gpu_s=None)
    >>> chosen_table([ref])[0].endswith("WER+LM change % |")
    True
    >>> ref["gpu_s"] = 0.5
    >>> chosen_table([ref])[-1].endswith("| 0.50 | 1.0 |")
    True
    """
    gpu = flat[0].get("gpu_s") is not None
    header = CHOSEN_HEADER + (GPU_CHOSEN_HEADER if gpu else [])
    lines = [table_row(header), table_row(["---"] * len(header))]
    for r in flat[1:]:
        if r["chosen"]:
            mark = "" if r["meets_tolerance"] else " (†)"
            cells = [f"**{r['policy']}**", f"**{r['threshold']:g}**{mark}"]
            lines.append(table_row(cells + _chosen_cells(r, gpu)))
    ref = flat[0]
    lines.append(
        table_row([f"{ref['variant']} (reference)", "-", *_chosen_cells(ref, gpu)])
    )
    return lines


def all_table(flat: list[dict]) -> list[str]:
    """Every policy and threshold on test, chosen ones in bold."""
    lines = [table_row(ALL_HEADER), table_row(["---"] * len(ALL_HEADER))]
    for r in flat[1:]:
        bold = "**" if r["chosen"] else ""
        cells = [
            f"{bold}{r['policy']}{bold}",
            f"{bold}{r['threshold']:g}{bold}",
            "**yes**" if r["chosen"] else "",
            "yes" if r["pareto"] else "",
            number(r["dev_wer"]),
            number(r["dev_mean_layers"]),
            number(r["wer"]),
            number(r["mean_layers"]),
            r["exit_counts"],
            human(r["macs_per_audio_second"]),
            human(r["encoder_macs_per_audio_second"]),
            pct(r["mac_saving_pct"]),
            pct(r["wer_change_pct"]),
            number(r["cpu_s"]),
            ratio_text(r),
            pct(r["time_saving_pct"]),
        ]
        lines.append(table_row(cells))
    return lines


def reference_sentence(results: dict) -> str:
    """Which exit is the reference, and why."""
    name = results["policies"].reference.name
    if results.get("train_exits"):
        return (
            f"Reference: {name}, the deepest trained exit (`train_exits: "
            f"{results['train_exits']}`: the exits above it were never trained)."
        )
    return f"Reference: {name}, the last exit."


def _intro(results: dict) -> list[str]:
    """How the thresholds were chosen and what the columns mean."""
    section, s = results["policies"], results["settings"]
    ref = section.reference
    timed = "every threshold" if s["policy_timing"] == "all" else "chosen thresholds"
    return [
        f"Thresholds are chosen on `{section.dev_set}` ({section.dev_utts} "
        f"utterances) and applied to `{results['test_set']}`, never tuned on it: "
        "per policy, the cheapest threshold (MACs per audio second on dev) whose "
        f"dev WER is at most {1 + s['policy_tolerance']:.2f} x the reference "
        f"exit's ({ref.name}: {ref.dev.wer:.2f} % on dev); (†): no threshold "
        "of the grid met that, the most accurate one is shown. Mode: "
        f"{s['policy_mode']}; policy decoder: {s['policy_decoder']}.",
        "",
        "Every (policy, threshold) really runs the dynamic forward, which stops "
        "computing each utterance at its exit. MACs are counted on that pass: "
        "front-end, the layers each utterance ran and every exit head the policy "
        "read; encoder MACs are the layers alone. WER is greedy (WER+LM, with "
        "LM weights tuned on dev, for the chosen points when the LM is on). "
        f"CPU s: median of the timed greedy passes, for the {timed} only "
        f"(`policy_timing={s['policy_timing']}`); each point's passes alternate "
        f"with {ref.name}'s (one pass of each per round, "
        f"{max(s['repeats'], MIN_POLICY_ROUNDS)} rounds), so that a drifting machine "
        "speed does not bias the comparison. CPU time / reference: median "
        "(min-max) over the rounds of the point's time / the reference's in "
        "the same round; the time saving is 1 - that median. Other savings "
        f"and WER changes are relative to {ref.name} on test.",
        "",
        reference_sentence(results),
    ]


def policy_section(results: dict) -> list[str]:
    """The ``## Dynamic exit policies`` section of ``report.md``."""
    lines = ["## Dynamic exit policies", ""]
    if not results.get("policies"):
        return lines + ["Not run (see notes)."]
    flat = policy_flat_rows(results)
    front = [p.name for p in results["policies"].static if p.pareto]
    front += [r["variant"] for r in flat[1:] if r["pareto"]]
    lines += _intro(results)
    lines += ["", "### Chosen operating points", ""] + chosen_table(flat)
    lines += ["", f"### All thresholds ({results['test_set']})", ""]
    lines += all_table(flat)
    lines += ["", "Pareto front on test (WER vs MACs / audio s, policies and "]
    lines[-1] += f"static exits together): {', '.join(front)}."
    return lines


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------


def _front_line(ax, points) -> None:
    """The Pareto front as a step line, its points circled."""
    front = sorted((p.macs_per_audio_second / 1e9, p.wer) for p in points)
    xs, ys = zip(*front)
    ax.step(xs, ys, where="post", color="grey", lw=1, alpha=0.6, zorder=1)
    ax.scatter(xs, ys, s=160, facecolors="none", edgecolors="red", lw=1.2,
               label="Pareto front", zorder=4)  # fmt: skip


def plot_policies(results: dict, path) -> str:
    """Test WER against GMACs per audio second: one curve per policy (its
    dev-chosen threshold as a star), the static exits as black squares and
    the Pareto front of all points circled."""
    plt = pyplot()
    section = results["policies"]
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for policy in dict.fromkeys(r.policy for r in section.rows):
        rows = [r for r in section.rows if r.policy == policy]
        rows.sort(key=lambda r: r.test.macs_per_audio_second)
        x = [r.test.macs_per_audio_second / 1e9 for r in rows]
        (line,) = ax.plot(x, [r.test.wer for r in rows], "o-", ms=4, label=policy)
        for r, xi in zip(rows, x):
            if r.chosen:
                ax.plot(xi, r.test.wer, "*", ms=14, color=line.get_color(),
                        markeredgecolor="black", zorder=5)  # fmt: skip
    static = section.static
    xs = [p.macs_per_audio_second / 1e9 for p in static]
    ax.plot(xs, [p.wer for p in static], "ks--", ms=5, lw=0.8, label="static exits")
    for p, xi in zip(static, xs):
        ax.annotate(p.name, (xi, p.wer), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    points = [r.test for r in section.rows if r.pareto]
    _front_line(ax, points + [p for p in static if p.pareto])
    ax.set_xlabel("GMACs per second of audio (counted on the dynamic forward)")
    ax.set_ylabel("WER %")
    ax.set_title(f"Exit policies on {results['test_set']} (star: chosen on dev)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
