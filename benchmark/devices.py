"""Devices the benchmark times on, and moving a model between them.

Example
-------
>>> resolve_devices("cpu")
(['cpu'], ['GPU passes skipped: not requested.'])
"""

from __future__ import annotations

import torch

from benchmark.errors import BenchmarkError
from modules.nn.frontend import normalizers_to


def resolve_devices(devices: str):
    """Devices to time on, and notes on skipped ones.

    Parameters
    ----------
    devices : str
        ``"auto"`` (CPU, plus GPU when present) or a comma-separated list of
        ``cpu``/``cuda``.

    Returns
    -------
    tuple
        ``(names, notes)``.

    Raises
    ------
    BenchmarkError
        If a GPU is named but torch sees none.
    """
    has_gpu = torch.cuda.is_available()
    if devices == "auto":
        if has_gpu:
            return ["cpu", "cuda"], []
        return ["cpu"], ["GPU passes skipped: torch sees no CUDA device."]
    names = [d.strip() for d in devices.split(",") if d.strip()]
    bad = [d for d in names if d not in ("cpu", "cuda")]
    if bad or not names:
        raise BenchmarkError(f"--devices {devices!r}: use auto or cpu,cuda")
    if "cuda" in names and not has_gpu:
        raise BenchmarkError(
            f"GPU timing was requested (--devices {devices}) but torch sees no "
            f"CUDA device (torch {torch.__version__}, CUDA build: "
            f"{torch.version.cuda or 'none'}). Use --no_gpu or --devices cpu."
        )
    notes = [] if "cuda" in names else ["GPU passes skipped: not requested."]
    return list(dict.fromkeys(names)), notes


def put_model_on(model, device) -> None:
    """Move the model, and the statistics ``InputNormalization`` keeps
    outside its state dict, to ``device``.

    Example
    -------
    >>> model = torch.nn.Linear(2, 2)
    >>> put_model_on(model, "cpu")
    >>> model.weight.device.type
    'cpu'
    """
    model.to(device)
    normalizers_to(model, device)
