"""Formatting shared by the benchmark's reports: numbers, Markdown table
rows, CSV files and a headless matplotlib.

Examples
--------
>>> human(386.5e9)
'386.5 G'
>>> human(None)
'-'
>>> number(3.14159, 1), table_row(["a", 1])
('3.1', '| a | 1 |')
"""

from __future__ import annotations

import csv


def human(value, unit="") -> str:
    """``1.2 G`` style formatting of large counts; ``-`` for None."""
    if value is None:
        return "-"
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {prefix}{unit}"
    return f"{value:.0f} {unit}".strip()


def number(value, digits=2) -> str:
    """Fixed-point formatting; ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def table_row(cells) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def write_csv(rows: list[dict], path, columns) -> None:
    """Write ``rows`` with the given ``columns`` (missing values empty)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
