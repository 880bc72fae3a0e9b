"""Long-form manifest format: the columns other tools read, and bad files."""

import csv
import json

import pytest

from modules.data.long_form_manifest import (
    LONG_FORM_COLUMNS,
    LongFormRecording,
    Segment,
    read_long_form_csv,
    write_long_form_csv,
)
from modules.data.preparation_error import PreparationError


def recording(rec_id, n_segments):
    """A recording of ``n_segments`` one-and-a-half-second segments."""
    segments = tuple(
        Segment(1.5 * i, 1.5 * (i + 1), f"{rec_id}-{i:04d}") for i in range(n_segments)
    )
    words = " ".join(f"W{i}" for i in range(n_segments))
    return LongFormRecording(
        rec_id, 1.5 * n_segments, f"/x/{rec_id}.wav", words, segments
    )


def test_columns_and_segments_as_json(tmp_path):
    path = str(tmp_path / "test-clean.csv")
    recordings = [recording("1-2_000", 3), recording("1-2_001", 1)]
    write_long_form_csv(recordings, path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert (
        list(rows[0])
        == LONG_FORM_COLUMNS
        == ["ID", "duration", "wav", "wrd", "segments"]
    )
    assert json.loads(rows[0]["segments"]) == [
        [0.0, 1.5, "1-2_000-0000"],
        [1.5, 3.0, "1-2_000-0001"],
        [3.0, 4.5, "1-2_000-0002"],
    ]
    assert (rows[1]["ID"], float(rows[1]["duration"]), rows[1]["wrd"]) == (
        "1-2_001",
        1.5,
        "W0",
    )
    assert read_long_form_csv(path) == recordings


def test_bad_files_are_named(tmp_path):
    missing = str(tmp_path / "missing.csv")
    with pytest.raises(PreparationError, match="missing.csv: cannot read"):
        read_long_form_csv(missing)
    segmented = tmp_path / "segmented.csv"
    segmented.write_text("ID,duration,wav,spk_id,wrd\na,1.0,a.flac,1,HI\n")
    with pytest.raises(
        PreparationError, match=r"segmented.csv: not a long-form.*'segments'"
    ):
        read_long_form_csv(str(segmented))
    broken = tmp_path / "broken.csv"
    broken.write_text('ID,duration,wav,wrd,segments\nr1,2.0,r.wav,HI,"[[0.0, 1.0]]"\n')
    with pytest.raises(
        PreparationError, match=r"broken.csv: row 2 \('r1'\): malformed"
    ):
        read_long_form_csv(str(broken))
