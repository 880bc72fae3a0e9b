"""The context sweep's table and plot, from experiment folders made here."""

import csv
import doctest
import json

import pytest

from recipes.LibriSpeech import context_aggregate
from recipes.LibriSpeech.context_aggregate import aggregate, main

HYPERPARAMS = """seed: 2024
__set_seed: !apply:speechbrain.utils.seed_everything [!ref <seed>]
context_length_seconds: {length}
positional_encoding: {encoding}
rope_theta: 1500000.0
model: !new:torch.nn.Linear
    in_features: 2
"""


def train_log_line(epoch, seconds, step_seconds, peak, minutes=0.5):
    return (
        f"epoch: {epoch}, lr: 1.00e-03 - train loss: 2.50, train epoch_minutes: "
        f"{minutes}, train context_seconds: {seconds}, train batch_size: 1, "
        f"train steps: 10, train step_seconds: {step_seconds}, train "
        f"peak_rss_mb: {peak}, train recordings_seen: 40 - valid WER: 50.00\n"
    )


def make_experiment(root, length, encoding, wers, log_lines):
    """An experiment folder as the sweep leaves it; ``wers``: mode ->
    (long-form WER, segmented WER) on test-clean."""
    folder = root / f"L{length}_{encoding}"
    folder.mkdir()
    text = HYPERPARAMS.format(length=length, encoding=encoding)
    (folder / "hyperparams.yaml").write_text(text)
    summary = {"test-clean": {"wer": [31.0], "ranking_exit": 1}}
    (folder / "wer_summary.json").write_text(json.dumps(summary))
    (folder / "train_log.txt").write_text("".join(log_lines))
    for mode, (long_wer, segmented_wer) in wers.items():
        result = folder / "long_form" / "test-clean" / mode
        result.mkdir(parents=True)
        summary = {
            "mode": mode,
            "window_seconds": length,
            "hop_seconds": length / 8,
            "long_form": {"wer": long_wer, "real_time_factor": 0.05},
            "segmented": {"wer": segmented_wer},
        }
        (result / "summary.json").write_text(json.dumps(summary))
    return folder


@pytest.fixture
def experiments(tmp_path):
    short = make_experiment(
        tmp_path,
        20.48,
        "relative",
        {"average": (30.0, 29.0), "none": (33.0, 29.0)},
        [
            train_log_line(1, 10.24, 0.1, 300.0),
            train_log_line(2, 20.48, 0.3, 400.0),
            train_log_line(3, 20.48, 0.5, 500.0),
            train_log_line(3, 20.48, 0.4, 450.0),  # epoch 3 again, resumed
        ],
    )
    long = make_experiment(
        tmp_path,
        81.92,
        "rotary",
        {"average": (25.0, 28.0)},
        [train_log_line(1, 40.96, 0.2, 600.0)],  # never reached 81.92 s
    )
    return [short, long]


def test_rows_carry_the_long_form_results_and_the_costs_at_the_target(
    experiments, tmp_path
):
    rows = aggregate(experiments, tmp_path / "aggregate")
    key = {(r.context_seconds, r.mode): r for r in rows}
    assert sorted(key) == [(20.48, "average"), (20.48, "none"), (81.92, "average")]
    short = key[20.48, "average"]
    assert (short.long_form_wer, short.segmented_wer, short.test_wer) == (30, 29, 31)
    # Epochs 2 and 3 (its last line) at 20.48 s: 10 steps each.
    assert short.step_seconds == pytest.approx((0.3 + 0.4) / 2)
    assert short.peak_memory_mb == 450.0 and short.memory == "rss"
    assert short.train_minutes == pytest.approx(1.5)
    long = key[81.92, "average"]
    assert long.step_seconds is None and long.encoding_label == "rotary (theta 1.5e+06)"
    with open(tmp_path / "aggregate" / "results.csv") as fin:
        assert len(list(csv.DictReader(fin))) == 3
    table = (tmp_path / "aggregate" / "results.md").read_text()
    assert (
        "| 81.92 | rotary (theta 1.5e+06) | test-clean | average | 10.24 | 25.00 |"
        in (table)
    )
    assert (tmp_path / "aggregate" / "wer_vs_context.png").stat().st_size > 0


def test_a_folder_that_is_not_an_experiment_is_named(tmp_path, capsys):
    assert main([str(tmp_path / "missing"), "--output", str(tmp_path / "a")]) == 1
    assert "missing/hyperparams.yaml does not exist" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_experiments_without_long_form_results_are_refused(experiments, tmp_path):
    for folder in experiments:
        for summary in folder.glob("long_form/*/*/summary.json"):
            summary.unlink()
    with pytest.raises(ValueError, match="no long-form results"):
        aggregate(experiments, tmp_path / "aggregate")


def test_docstring_examples():
    assert doctest.testmod(context_aggregate).failed == 0
