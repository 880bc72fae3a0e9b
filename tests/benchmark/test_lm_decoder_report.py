"""The report's LM decoders section and columns, on hand-made rows: the
back ends compared on the same log-probs (newer rows) and the SpeechBrain
vs pyctcdecode comparison of older ``results.json`` files."""

import json
from dataclasses import replace

import pytest

from benchmark.lm_decoder_report import decoder_section, pyctcdecode_columns
from benchmark.report import flat_rows
from benchmark.results import DecoderCheck, VariantResult
from tests.benchmark.test_results import variant_row


def times(median, low, high):
    """Decoding times of three rounds, as :func:`benchmark.timing.summarize`
    gives them."""
    return {"median": median, "min": low, "max": high, "values": [low, median, high]}


CHECKS = [
    DecoderCheck("flashlight", 0.6, 2.0, 1.88, times(1.2, 1.0, 1.3), 1.0),
    DecoderCheck("pyctcdecode", 0.6, 1.0, 2.86, times(5.0, 4.0, 6.0), 0.9),
    DecoderCheck("speechbrain", 0.3, 0.0, 2.52, times(9.0, 8.0, 9.5), 0.75),
]


def checked_row():
    """A variant row whose LM pass all three back ends decoded."""
    return replace(variant_row(True), pyctcdecode=None, decoder_checks=CHECKS)


def test_the_table_compares_every_back_end_with_the_reported_one():
    lines = decoder_section({"variants": [checked_row(), variant_row(False)]})
    assert lines[0].startswith("| variant | back end | alpha | beta | WER+LM % |")
    rows = [line for line in lines if line.startswith("| exit1 |")]
    assert rows == [
        "| exit1 | flashlight (reported) | 0.6 | 2 | 1.88 | 1.200 (1.000-1.300) "
        "| 3 | 1.00 | 100.0 % |",
        "| exit1 | pyctcdecode | 0.6 | 1 | 2.86 | 5.000 (4.000-6.000) | 3 | 4.17 "
        "| 90.0 % |",
        "| exit1 | speechbrain | 0.3 | 0 | 2.52 | 9.000 (8.000-9.500) | 3 | 7.50 "
        "| 75.0 % |",
    ]
    assert any("its own weights" in line for line in lines)
    assert "SpeechBrain decoding s" not in "\n".join(lines)  # no old table


def test_old_rows_keep_their_pyctcdecode_table():
    lines = decoder_section({"variants": [variant_row(True)]})
    assert lines[0].startswith("| variant | WER+LM % SpeechBrain |")
    assert "| exit1 | 15.00 | 15.00 | 2.000 | 1.000 | 0.50 | 100.0 % |" in lines
    assert decoder_section({"variants": [variant_row(False)]}) == ["Not run."]


def test_csv_columns_of_new_and_old_rows():
    assert pyctcdecode_columns(checked_row()) == {
        "pyctcdecode_wer_lm": 2.86,
        "pyctcdecode_time_ratio": pytest.approx(5.0 / 1.2),
    }
    old = variant_row(True)
    assert pyctcdecode_columns(old) == {
        "pyctcdecode_wer_lm": 15.0,
        "pyctcdecode_time_ratio": 0.5,
    }
    without = replace(checked_row(), decoder_checks=CHECKS[::2])
    assert set(pyctcdecode_columns(without).values()) == {None}
    row = replace(
        checked_row(), lm_weights={"alpha": 0.6, "beta": 2.0, "decoder": "flashlight"}
    )
    (flat,) = flat_rows({"experiment_name": "x", "test_set": "t", "variants": [row]})
    assert flat["lm_decoder"] == "flashlight" and flat["pyctcdecode_wer_lm"] == 2.86


def test_decoder_checks_round_trip_through_json():
    row = checked_row()
    data = json.loads(json.dumps(row.to_json()))
    assert data["decoder_checks"][0]["decoder"] == "flashlight"
    assert "pyctcdecode" not in data
    assert VariantResult.from_json(data) == row
