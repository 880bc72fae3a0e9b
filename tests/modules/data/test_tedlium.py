"""TED-LIUM 3 preparation on a small hand-made tree of its layout."""

import csv
import os

import numpy as np
import pytest
import soundfile

from modules.data.long_form_manifest import read_long_form_csv
from modules.data.manifests import CSV_COLUMNS
from modules.data.preparation_error import PreparationError
from modules.data.tedlium import main, prepare_tedlium
from modules.data.tedlium_scan import normalize_transcript

RATE = 16000
GORE = [
    ";; a comment line",
    "AlGore_2009 1 AlGore_2009 0.00 1.50 <o,f0,male> so it 's a <unk> {NOISE} "
    "good(2) idea",
    "AlGore_2009 1 inter_segment_gap 1.50 2.00 <o,,unknown> "
    "ignore_time_segment_in_scoring",
    "AlGore_2009 1 AlGore_2009 2.00 3.25 <o,f0,male> we 're here",
    "AlGore_2009 1 AlGore_2009 3.25 4.00 <o,f0,male> {BREATH}",
    "AlGore_2009 1 AlGore_2009 4.00 6.20 <o,f0,male> the end",
]
JANE = ["Jane_2010 1 Jane_Speaker 0.50 2.50 <o,f0,female> hello world"]


def write_talk(split_folder, talk, seconds, stm_lines, seed=0):
    """Write ``sph/<talk>.sph`` (16 kHz NIST SPHERE noise) and its STM file."""
    for sub in ("sph", "stm"):
        os.makedirs(os.path.join(split_folder, sub), exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = rng.integers(-3000, 3000, int(seconds * RATE)).astype(np.int16)
    sph = os.path.join(split_folder, "sph", talk + ".sph")
    soundfile.write(sph, samples, RATE, format="NIST", subtype="PCM_16")
    if stm_lines is not None:
        with open(os.path.join(split_folder, "stm", talk + ".stm"), "w") as handle:
            handle.write("\n".join(stm_lines) + "\n")
    return samples


@pytest.fixture
def tedlium(tmp_path):
    """``TEDLIUM_release-3/legacy`` with a ``dev`` split of two talks."""
    legacy = tmp_path / "TEDLIUM_release-3" / "legacy"
    dev = str(legacy / "dev")
    audio = {
        "AlGore_2009": write_talk(dev, "AlGore_2009", 6.0, GORE, seed=1),
        "Jane_2010": write_talk(dev, "Jane_2010", 3.0, JANE, seed=2),
    }
    return str(legacy), audio


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_segmented_manifest(tedlium, tmp_path):
    root, audio = tedlium
    out = str(tmp_path / "prepared")
    rows = read_rows(prepare_tedlium(root, out, ["dev"]).segmented["dev"])
    assert list(rows[0]) == CSV_COLUMNS
    assert [(r["ID"], r["spk_id"], r["wrd"]) for r in rows] == [
        ("AlGore_2009-0000000-0000150", "AlGore_2009", "SO IT'S A GOOD IDEA"),
        ("AlGore_2009-0000200-0000325", "AlGore_2009", "WE'RE HERE"),
        ("AlGore_2009-0000400-0000620", "AlGore_2009", "THE END"),
        ("Jane_2010-0000050-0000250", "Jane_Speaker", "HELLO WORLD"),
    ]
    spans = [("AlGore_2009", 0.0, 1.5), ("AlGore_2009", 2.0, 3.25)]
    spans += [("AlGore_2009", 4.0, 6.0), ("Jane_2010", 0.5, 2.5)]  # end clipped
    for row, (talk, start, end) in zip(rows, spans):
        samples, rate = soundfile.read(row["wav"], dtype="int16")
        assert rate == RATE and float(row["duration"]) == end - start
        assert row["wav"] == os.path.join(out, "dev", talk, row["ID"] + ".flac")
        np.testing.assert_array_equal(
            samples, audio[talk][int(start * RATE) : int(end * RATE)]
        )


def test_long_form_manifest_has_one_recording_per_talk(tedlium, tmp_path):
    root, audio = tedlium
    manifests = prepare_tedlium(root, str(tmp_path / "prepared"), "dev")
    gore, jane = read_long_form_csv(manifests.long_form["dev"])
    assert (gore.recording_id, jane.recording_id) == ("AlGore_2009", "Jane_2010")
    assert gore.words == "SO IT'S A GOOD IDEA WE'RE HERE THE END"
    assert [(s.start, s.end) for s in gore.segments] == [
        (0.0, 1.5),
        (1.5, 2.75),
        (2.75, 4.75),
    ]
    assert gore.segments[1].utterance_id == "AlGore_2009-0000200-0000325"
    samples, _ = soundfile.read(gore.wav, dtype="int16")
    talk = audio["AlGore_2009"]
    joined = np.concatenate([talk[0:24000], talk[32000:52000], talk[64000:96000]])
    np.testing.assert_array_equal(samples, joined)
    assert jane.duration == 2.0 and jane.words == "HELLO WORLD"


def test_prepared_once_and_redone_when_an_stm_changes(tedlium, tmp_path):
    root, _ = tedlium
    out = str(tmp_path / "prepared")
    manifests = prepare_tedlium(root, out, ["dev"])
    stamps = [
        os.stat(p).st_mtime_ns
        for p in (manifests.segmented["dev"], manifests.long_form["dev"])
    ]
    prepare_tedlium(root, out, ["dev"])
    assert stamps == [
        os.stat(p).st_mtime_ns
        for p in (manifests.segmented["dev"], manifests.long_form["dev"])
    ]
    stm = os.path.join(root, "dev", "stm", "Jane_2010.stm")
    with open(stm, "w") as handle:  # same size, other words
        handle.write(JANE[0].replace("hello", "jello") + "\n")
    prepare_tedlium(root, out, ["dev"])
    assert read_rows(manifests.segmented["dev"])[-1]["wrd"] == "JELLO WORLD"
    assert read_long_form_csv(manifests.long_form["dev"])[-1].words == "JELLO WORLD"


def test_bad_trees_list_every_defect_and_write_nothing(tedlium, tmp_path):
    root, _ = tedlium
    dev = os.path.join(root, "dev")
    write_talk(dev, "NoStm_2011", 1.0, None)
    os.makedirs(os.path.join(root, "test", "sph"))
    with open(os.path.join(dev, "stm", "NoSph_2012.stm"), "w") as handle:
        handle.write("NoSph_2012 1 NoSph_2012 0.0 1.0 <o,f0,male> hi\n")
    write_talk(dev, "Broken_2013", 1.0, ["Broken_2013 1 B 0.0 1.0 <o,f0,male> hi"])
    with open(os.path.join(dev, "sph", "Broken_2013.sph"), "wb") as handle:
        handle.write(
            b"NIST_1A\n   1024\nsample_coding -s26 pcm,embedded-shorten-v2.00\n"
        )
    write_talk(dev, "Bad_2014", 1.0, ["Bad_2014 1 B 0.9 0.2 <o,f0,male> hi"])
    out = tmp_path / "prepared"
    with pytest.raises(PreparationError) as error:
        prepare_tedlium(root, str(out), ["dev", "test", "eval"])
    message = str(error.value)
    assert "NoStm_2011.sph: no STM file stm/NoStm_2011.stm." in message
    assert "NoSph_2012.stm: no SPH file sph/NoSph_2012.sph." in message
    assert "Broken_2013.sph: unreadable or corrupt audio file" in message
    assert "shorten-compressed" in message
    assert "Bad_2014.stm: line 1: the segment must have 0 <= start < end" in message
    assert f"{os.path.join(root, 'test')}: empty split" in message
    assert f"{os.path.join(root, 'eval')}: split folder does not exist" in message
    assert not out.exists()


def test_normalisation():
    assert (
        normalize_transcript("i don 't know <unk> (laughter) [noise]") == "I DON'T KNOW"
    )
    assert normalize_transcript("{NOISE} <sil>") == ""
    assert (
        normalize_transcript("'cause mother-in-law said(3) café")
        == "'CAUSE MOTHER IN LAW SAID CAFÉ"
    )


def test_command_line(tedlium, tmp_path, capsys):
    root, _ = tedlium
    out = str(tmp_path / "cli")
    assert main([root, "--splits", "dev", "--output", out, "--no_long_form"]) == 0
    assert os.path.isfile(os.path.join(out, "dev.csv"))
    assert not os.path.exists(os.path.join(out, "long_form"))
    assert main([root, "--splits", "nope", "--output", out]) == 1
    assert "split folder does not exist" in capsys.readouterr().err
