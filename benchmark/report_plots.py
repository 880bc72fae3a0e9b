"""The benchmark's plots: WER against MACs, time or size; time per variant.

:func:`plot_wer_vs_macs` draws flat rows (:func:`benchmark.report.flat_rows`),
one series per experiment (:mod:`benchmark.aggregate` draws many);
:func:`plot_wer_against` draws WER against any column of them (CPU time,
model size); :func:`plot_time_per_variant` draws one run's typed rows.
"""

from __future__ import annotations

from benchmark.formatting import pyplot
from benchmark.results import VariantResult


def plot_wer_vs_macs(series: dict, path, title="WER vs MACs") -> str:
    """WER (solid) and WER+LM (dashed) against GMACs per audio second;
    quantized variants (same MACs as their fp32 exit) as crosses.

    Parameters
    ----------
    series : dict
        Label -> list of flat rows (:func:`flat_rows`).
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, rows in series.items():
        fp32 = [r for r in rows if not r.get("quantization")]
        x = [r["macs_per_audio_second"] / 1e9 for r in fp32]
        (line,) = ax.plot(x, [r["wer"] for r in fp32], "o-", label=f"{label}")
        if any(r["wer_lm"] is not None for r in fp32):
            wer_lm = [r["wer_lm"] for r in fp32]
            ax.plot(x, wer_lm, "s--", color=line.get_color(), label=f"{label} +LM")
        for r in rows:
            xi = r["macs_per_audio_second"] / 1e9
            if r.get("quantization"):
                ax.plot(xi, r["wer"], "x", ms=8, color=line.get_color())
            ax.annotate(r["variant"], (xi, r["wer"]), fontsize=7, alpha=0.8)
    ax.set_xlabel("GMACs per second of audio")
    ax.set_ylabel("WER %")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def plot_wer_against(rows: list[dict], key: str, label: str, path) -> str:
    """Greedy WER against column ``key`` of flat rows, one labelled point
    per row that has it (quantized variants as crosses)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for row in rows:
        if row.get(key) is None or row.get("wer") is None:
            continue
        marker = "x" if row.get("quantization") else "o"
        ax.plot(row[key], row["wer"], marker, color="tab:blue")
        name = f"{row['experiment']} {row['variant']}"
        ax.annotate(name, (row[key], row["wer"]), fontsize=6, alpha=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("WER %")
    ax.set_title(f"WER vs {label}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _time_stats(variant: VariantResult, device: str, decoder: str):
    """``(median, below, above)`` of a variant's test-set time (NaN when it
    was not timed there: a quantized variant on GPU)."""
    timing = variant.devices.get(device)
    summary = getattr(timing, decoder) if timing is not None else None
    if summary is None:
        return float("nan"), 0.0, 0.0
    s = summary["total_s"]
    return s["median"], s["median"] - s["min"], s["max"] - s["median"]


def plot_time_per_variant(results: dict, path) -> str:
    """Grouped bars: test-set time per variant for each device, with and
    without LM (median, min-max error bars)."""
    plt = pyplot()
    variants = results["variants"]
    keys = [
        (device, dec)
        for device, timing in variants[0].devices.items()
        for dec in ("greedy", "lm")
        if getattr(timing, dec) is not None
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(variants) + 3), 4.5))
    width = 0.8 / len(keys)
    for i, (device, dec) in enumerate(keys):
        med, below, above = zip(*(_time_stats(v, device, dec) for v in variants))
        err = [below, above]
        xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(variants))]
        label = f"{device} {'+LM' if dec == 'lm' else 'greedy'}"
        ax.bar(xs, med, width, yerr=err, capsize=2, label=label)
    ax.set_xticks(range(len(variants)), [v.name for v in variants])
    ax.set_ylabel("seconds for the test set")
    ax.set_yscale("log")
    ax.set_title(f"Time per variant ({results['test_set']})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
