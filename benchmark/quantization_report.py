"""Report of the quantized variants: each against the same exit in fp32.

Reads the flat rows of :func:`benchmark.report.flat_rows`: a quantized row
(``quantization`` set) is compared with the fp32 row of the same experiment,
test set and exit: size, CPU time (the median of the per-round ratios of
alternated passes, :mod:`benchmark.quantized_variants`) and WERs.

Example
-------
>>> fp32 = {"experiment": "e", "test_set": "t", "exit": 1, "quantization": None,
...         "variant": "exit1", "size_mb": 8.0, "wer": 10.0, "wer_lm": 8.0}
>>> int8 = dict(fp32, variant="exit1+dynamic-int8", quantization="dynamic-int8",
...             size_mb=2.0, wer=10.5, wer_lm=None, quantized_mac_fraction=0.5,
...             cpu_time_vs_fp32=0.8, cpu_time_vs_fp32_min=0.7,
...             cpu_time_vs_fp32_max=0.9)
>>> quantization_section([fp32, int8])[4].split(" | ")[2:7]
['2.00', '0.250', '50.0', '0.800 (0.700-0.900)', '10.50']
"""

from __future__ import annotations

from benchmark.formatting import number, table_row

HEADER = [
    "variant", "fp32 variant", "size MB", "size / fp32", "int8 MACs %",
    "CPU time / fp32 (min-max)", "WER %", "WER change % rel.", "WER+LM %",
    "WER+LM change % rel.",
]  # fmt: skip

NOTE = (
    "Each quantized variant runs an int8 copy of the whole model (its linear "
    "layers; see the notes for what stays fp32). Size: the whole model as "
    "saved (`torch.save` of its state), MB = 1e6 bytes. int8 MACs: the share "
    "of the variant's MACs in modules with int8 weights, counted on the fp32 "
    "model (the counter cannot see quantized kernels); for a weight-only "
    "method the products of those modules are fp32. CPU time / fp32: median "
    "over rounds of the greedy pass time of the quantized variant over the "
    "mean of the fp32 exit's passes before and after it (alternated on CPU); "
    "below 1 is faster."
)


def _change(value, reference) -> str:
    """Relative change in percent, signed; ``-`` when undefined."""
    if value is None or not reference:
        return "-"
    return f"{100 * (value / reference - 1):+.1f}"


def _ratio_text(row: dict) -> str:
    """``median (min-max)`` of the CPU time ratios of ``row``."""
    median, low, high = (
        number(row.get(f"cpu_time_vs_fp32{suffix}"), 3)
        for suffix in ("", "_min", "_max")
    )
    return f"{median} ({low}-{high})"


def quantization_section(rows: list[dict]) -> list[str]:
    """Markdown lines: a table of the quantized rows against the fp32 rows
    of the same experiment, test set and exit (empty when no row is
    quantized); ``rows``: flat rows (:func:`benchmark.report.flat_rows`)."""
    quantized = [r for r in rows if r.get("quantization")]
    if not quantized:
        return []
    fp32 = {
        (r["experiment"], r["test_set"], r["exit"]): r
        for r in rows
        if not r.get("quantization")
    }
    lines = ["## Quantization", "", table_row(HEADER), table_row(["---"] * len(HEADER))]
    for row in quantized:
        base = fp32.get((row["experiment"], row["test_set"], row["exit"])) or {}
        size_ratio = None
        if row["size_mb"] is not None and base.get("size_mb"):
            size_ratio = row["size_mb"] / base["size_mb"]
        fraction = row.get("quantized_mac_fraction")
        cells = [
            row["variant"], base.get("variant", "-"), number(row["size_mb"]),
            number(size_ratio, 3),
            "-" if fraction is None else number(100 * fraction, 1),
            _ratio_text(row), number(row["wer"]),
            _change(row["wer"], base.get("wer")), number(row["wer_lm"]),
            _change(row["wer_lm"], base.get("wer_lm")),
        ]  # fmt: skip
        lines.append(table_row(cells))
    return [*lines, "", NOTE]
