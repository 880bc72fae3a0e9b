"""Timing that can be trusted: thread control, device synchronisation,
repeated passes summarised by their median, and the machine facts that a
timing is meaningless without.

Examples
--------
>>> watch = Stopwatch("cpu")
>>> with watch:
...     _ = sum(range(1000))
>>> watch.seconds > 0
True
>>> summarize([3.0, 1.0, 2.0])
{'median': 2.0, 'min': 1.0, 'max': 3.0, 'values': [3.0, 1.0, 2.0]}
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import torch


def set_threads(threads: int | None = None) -> int:
    """Fix the number of intra-op CPU threads and return it.

    Parameters
    ----------
    threads : int, optional
        Threads for ``torch.set_num_threads``; default: keep torch's current
        value (one per physical core unless changed), made explicit so that
        it is recorded.
    """
    threads = threads or torch.get_num_threads()
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo``, else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def physical_cores() -> int | None:
    """Physical cores (distinct ``physical id``/``core id`` pairs), if known."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    cores = set()
    for block in text.split("\n\n"):
        fields = dict(
            (k.strip(), v.strip())
            for k, _, v in (line.partition(":") for line in block.splitlines())
        )
        if "core id" in fields:
            cores.add((fields.get("physical id"), fields["core id"]))
    return len(cores) or None


def gpu_name() -> str:
    """Name of CUDA device 0, or ``"none"``."""
    if not torch.cuda.is_available():
        return "none"
    return torch.cuda.get_device_name(0)


def machine_facts() -> dict:
    """What a reader needs to judge a timing (CPU, cores, threads, versions)."""
    import speechbrain

    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "usable_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        "speechbrain": speechbrain.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": gpu_name(),
        "cuda": torch.version.cuda or "none",
    }


def synchronize(device) -> None:
    """Wait for queued work on ``device`` (a no-op on CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Accumulating timer that synchronises a CUDA device at start and stop.

    Use as a context manager around each timed region; ``seconds`` is the
    total over all regions.

    Parameters
    ----------
    device : str or torch.device
        Device whose queued work must be finished before reading the clock.
    """

    def __init__(self, device="cpu"):
        self.device = torch.device(device)
        self.seconds = 0.0
        self._start = None

    def __enter__(self):
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        synchronize(self.device)
        self.seconds += time.perf_counter() - self._start
        self._start = None
        return False


def summarize(values) -> dict:
    """Median, min, max (and the values) of repeated measurements."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no measurements to summarize")
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def real_time_factor(seconds: float, audio_seconds: float) -> float:
    """Processing time divided by audio duration (< 1: faster than real time).

    Examples
    --------
    >>> real_time_factor(30.0, 600.0)
    0.05
    """
    if audio_seconds <= 0:
        raise ValueError("audio duration must be positive")
    return seconds / audio_seconds
