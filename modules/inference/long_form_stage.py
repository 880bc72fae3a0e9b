"""The long-form test stage of ``train.py``: long-form WER next to segmented WER.

With ``long_form_window`` set (seconds; null or absent: no stage),
``train.py`` calls :func:`run_long_form_stage` after its test stage. The
long-form manifests of ``long_form_splits`` are prepared into
``long_form_folder`` when they are not there yet
(:func:`modules.data.long_form.prepare_long_form_data`, which does nothing
for a split already prepared with the same options), then every split x
``long_form_modes`` is evaluated with the experiment's best checkpoint, its
reference exit and greedy decoding
(:func:`modules.inference.long_form_eval.evaluate_long_form`) into
``<output_folder>/long_form/<split>/<mode>/``. A folder whose
``summary.json`` exists for the same window (and hop, when given) is not
evaluated again. The stage writes ``wer_long_form.md`` next to
``wer_summary.md`` and returns ``{split: {mode: summary}}`` for
``run_summary.json``.

YAML keys: ``long_form_window`` (a multiple of the model's frame stride),
``long_form_hop`` (null: ``hop_fraction`` of ``settings.yaml``, 1/8 of the
window; the ``none`` mode always uses hop = window), ``long_form_modes``
(``average``, ``centre``, ``none``), and the preparation's keys
(:func:`modules.data.long_form.long_form_options`). They are checked by
:func:`check_long_form_stage`, which the run set-up calls before any data
preparation (:func:`modules.training.run_setup.build_run_setup`).

Example
-------
>>> LongFormStage(20.48, None, ("average", "none"), ("test-clean",)).overrides("none")
{'window': 20.48, 'hop': None, 'mode': 'none'}
>>> long_form_stage({"long_form_window": None}) is None
True
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from numbers import Real
from pathlib import Path

from speechbrain.utils.distributed import if_main_process

from modules.data.datasets import wants_synthetic_corpus
from modules.data.long_form import long_form_options, prepare_long_form_data
from modules.data.long_form_join import check_lengths
from modules.data.manifests import atomic_write_text
from modules.data.synthetic.plan import SPLITS as SYNTHETIC_SPLITS
from modules.inference.frame_geometry import measure_frame_geometry, plan_windows
from modules.inference.long_form_asr import LongFormASR
from modules.inference.long_form_eval import evaluate_long_form
from modules.inference.settings import MODES, load_settings

logger = logging.getLogger(__name__)

TABLE_NAME = "wer_long_form.md"


@dataclass(frozen=True)
class LongFormStage:
    """The checked settings of the long-form test stage.

    Attributes
    ----------
    window : float
        Window in seconds (``long_form_window``).
    hop : float or None
        Hop in seconds (``long_form_hop``; None: 1/8 of the window).
    modes : tuple of str
        Window modes (``long_form_modes``).
    splits : tuple of str
        Evaluated splits (``long_form_splits``).
    """

    window: float
    hop: float | None
    modes: tuple
    splits: tuple

    def overrides(self, mode):
        """The ``settings.yaml`` overrides of one mode (``none``: hop = window)."""
        hop = None if mode == "none" else self.hop
        return {"window": self.window, "hop": hop, "mode": mode}

    def is_done(self, summary_path, mode):
        """Whether ``summary_path`` holds an evaluation with these settings."""
        if not os.path.isfile(summary_path):
            return False
        with open(summary_path, encoding="utf-8") as fin:
            summary = json.load(fin)
        hop = self.overrides(mode)["hop"]
        return math.isclose(summary["window_seconds"], self.window) and (
            hop is None or math.isclose(summary["hop_seconds"], hop)
        )


def _positive(value):
    """Whether ``value`` is a positive number (not a bool)."""
    return isinstance(value, Real) and not isinstance(value, bool) and value > 0


def long_form_stage(hparams):
    """The stage's settings from the YAML, checked without the model or data.

    Returns None when ``long_form_window`` is null or absent (no stage);
    raises a ``ValueError`` naming the key of a bad value.

    Example
    -------
    >>> long_form_stage({"long_form_window": 20.0, "long_form_hop": 30.0})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: long_form_hop=30.0 is larger than long_form_window=20.0: ...
    """
    window = hparams.get("long_form_window")
    if window is None:
        return None
    if not _positive(window):
        raise ValueError(
            f"long_form_window={window!r}: give a positive number of seconds "
            "(null: no long-form test)"
        )
    hop = hparams.get("long_form_hop")
    if hop is not None and not _positive(hop):
        raise ValueError(
            f"long_form_hop={hop!r}: give a positive number of seconds, or null "
            "for 1/8 of the window"
        )
    if hop is not None and hop > window:
        raise ValueError(
            f"long_form_hop={hop} is larger than long_form_window={window}: "
            "give a hop of at most the window, or null for 1/8 of it"
        )
    modes = hparams.get("long_form_modes")
    if not isinstance(modes, (list, tuple)) or not modes or set(modes) - set(MODES):
        raise ValueError(
            f"long_form_modes={modes!r}: give a list of window modes among "
            f"{list(MODES)}, e.g. [average]"
        )
    try:
        options = long_form_options(hparams)
    except KeyError as error:
        raise ValueError(f"long_form_window={window}: {error.args[0]}") from None
    check_lengths(options["seconds"], options.get("min_seconds", 0.0))
    splits = tuple(options["splits"])
    return LongFormStage(float(window), hop, tuple(dict.fromkeys(modes)), splits)


def unpreparable_splits(hparams, splits):
    """The splits that data preparation cannot give: not a split of the
    built-in corpus, or not a folder of a real ``data_folder``.

    Example
    -------
    >>> unpreparable_splits({"data_folder": "/no/such/corpus",
    ...                      "synthetic_corpus": "tiny"}, ["test-clean", "eval"])
    ['eval']
    """
    if wants_synthetic_corpus(hparams):
        return [s for s in splits if s not in SYNTHETIC_SPLITS]
    folder = hparams["data_folder"]
    return [s for s in splits if not os.path.isdir(os.path.join(folder, s))]


def check_long_form_stage(hparams):
    """Refuse long-form stage settings that would fail after training.

    Checks the keys (:func:`long_form_stage`), that every split of
    ``long_form_splits`` can be prepared, and the window and hop against
    the frame grid of the YAML's ``model``.

    Arguments
    ---------
    hparams : dict
        The loaded YAML.

    Returns
    -------
    LongFormStage or None
        None when the stage is off.
    """
    stage = long_form_stage(hparams)
    if stage is None:
        return None
    if not stage.splits:
        raise ValueError("long_form_splits is empty; name at least one split")
    missing = unpreparable_splits(hparams, stage.splits)
    if missing:
        raise ValueError(
            f"long_form_splits: {missing} cannot be prepared: no such split in "
            f"data_folder={hparams['data_folder']}"
        )
    geometry = measure_frame_geometry(hparams["model"])
    for mode in stage.modes:
        settings = load_settings(stage.overrides(mode))
        try:
            plan_windows(
                geometry, settings.window, settings.hop_seconds, settings.hop_fraction
            )
        except ValueError as error:
            raise ValueError(
                f"long_form_window={stage.window}, long_form_hop={stage.hop}: {error}"
            ) from None
    return stage


def evaluate_splits(experiment, stage, manifests):
    """Evaluate every split x mode not done yet; ``{split: {mode: summary}}``."""
    results = {split: {} for split in stage.splits}
    for mode in stage.modes:
        asr = None
        for split in stage.splits:
            folder = Path(experiment) / "long_form" / split / mode
            if stage.is_done(folder / "summary.json", mode):
                logger.info("%s is complete, skipped", folder)
                summary = json.loads((folder / "summary.json").read_text())
            else:
                if asr is None:
                    overrides = stage.overrides(mode)
                    asr = LongFormASR.from_experiment(experiment, **overrides)
                summary = evaluate_long_form(asr, manifests[split], folder)
            results[split][mode] = summary
    return results


def _cell(value, digits=2):
    """A number of the table, ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def long_form_table(results):
    """``wer_long_form.md``: one row per split and mode.

    Example
    -------
    >>> row = {"wer": 20.0, "real_time_factor": 0.01, "peak_rss_mb": 900.0}
    >>> summary = {"window_seconds": 20.48, "hop_seconds": 2.56,
    ...            "long_form": row, "segmented": {**row, "wer": 16.0},
    ...            "long_vs_segmented_relative_wer_percent": 25.0}
    >>> print(long_form_table({"test-clean": {"average": summary}}).splitlines()[2])
    | test-clean | average | 20.48 | 2.56 | 20.00 | 16.00 | +25.0 | 0.0100 | 0.0100 | 900 |
    """  # noqa: E501
    lines = [
        "| split | mode | window s | hop s | long-form WER % | segmented WER % | "
        "relative change % | RTF long-form | RTF segmented | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for split, modes in results.items():
        for mode, s in modes.items():
            change = s["long_vs_segmented_relative_wer_percent"]
            long_form, segmented = s["long_form"], s["segmented"]
            cells = [
                split, mode, f"{s['window_seconds']:g}", f"{s['hop_seconds']:g}",
                _cell(long_form["wer"]), _cell(segmented["wer"]),
                "-" if change is None else f"{change:+.1f}",
                _cell(long_form["real_time_factor"], 4),
                _cell(segmented["real_time_factor"], 4),
                f"{long_form['peak_rss_mb']:.0f}",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    note = (
        "Long-form: each recording decoded window by window; segmented: each "
        "utterance decoded alone; both scored against the whole recording's "
        "transcript. Peak RSS: the process's peak after the long-form pass."
    )
    return "\n".join([*lines, "", note]) + "\n"


def run_long_form_stage(hparams):
    """Prepare, evaluate and tabulate the long-form test stage.

    Called on every process (the preparation runs on the main one, the
    others wait); the evaluation runs on the main process only.

    Arguments
    ---------
    hparams : dict
        The loaded YAML (``output_folder`` and the keys of the module
        docstring).

    Returns
    -------
    dict or None
        ``{split: {mode: summary}}`` on the main process; None elsewhere or
        when the stage is off.
    """
    stage = long_form_stage(hparams)
    if stage is None:
        return None
    manifests = prepare_long_form_data(hparams)
    if not if_main_process():
        return None
    results = evaluate_splits(hparams["output_folder"], stage, manifests)
    path = os.path.join(hparams["output_folder"], TABLE_NAME)
    atomic_write_text(path, long_form_table(results))
    return results
