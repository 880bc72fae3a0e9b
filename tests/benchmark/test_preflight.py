"""The benchmark stage's checks before training (``train.py`` calls
:func:`benchmark.preflight.check_benchmark_stage` after loading the YAML)."""

import pytest

from benchmark.errors import OptionError
from benchmark.preflight import check_benchmark_stage
from modules.decoding.lm_files import LM_TEXT_NAME

ARPA = "\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t<s>\n-1.0\t</s>\n\n\\end\\\n"


def librispeech_hparams(data_folder, **options):
    """A real-LibriSpeech-shaped YAML (no synthetic corpus) with options."""
    return {
        "benchmark": True,
        "benchmark_options": options,
        "data_folder": str(data_folder),
        "synthetic_corpus": None,
        "dev_splits": ["dev-clean"],
        "test_splits": ["test-clean", "test-other"],
    }


@pytest.fixture
def corpus(tmp_path):
    """A LibriSpeech folder without the LM text (a separate download)."""
    folder = tmp_path / "LibriSpeech"
    (folder / "dev-clean").mkdir(parents=True)
    return folder


def test_stage_off_is_not_checked(corpus):
    hparams = librispeech_hparams(corpus, beam=3)
    hparams["benchmark"] = False
    assert check_benchmark_stage(hparams) == []


def test_missing_lm_text_is_a_note_not_an_error(corpus):
    (note,) = check_benchmark_stage(librispeech_hparams(corpus))
    assert f"no LM text found at {corpus}/{LM_TEXT_NAME}" in note
    assert "will run without LM passes" in note
    (corpus / LM_TEXT_NAME).write_text("HELLO WORLD\n")
    assert check_benchmark_stage(librispeech_hparams(corpus)) == []
    assert check_benchmark_stage(librispeech_hparams(corpus, lm="none")) == []


def test_synthetic_corpus_to_generate_needs_no_lm_text(tmp_path):
    hparams = librispeech_hparams(tmp_path / "synthetic-tiny")
    hparams["synthetic_corpus"] = "tiny"  # generated before the stage runs
    assert check_benchmark_stage(hparams) == []


def test_explicit_lm_path_must_be_an_lm(corpus, tmp_path):
    missing = tmp_path / "missing.arpa"
    with pytest.raises(OptionError, match=r"benchmark_options.lm=.*missing.arpa"):
        check_benchmark_stage(librispeech_hparams(corpus, lm=str(missing)))
    bogus = tmp_path / "bogus.arpa"
    bogus.write_text("not an LM\n")
    with pytest.raises(OptionError, match=r"benchmark_options.lm=.*bogus.arpa"):
        check_benchmark_stage(librispeech_hparams(corpus, lm=str(bogus)))
    good = tmp_path / "good.arpa"
    good.write_text(ARPA)
    assert check_benchmark_stage(librispeech_hparams(corpus, lm=str(good))) == []


def test_bad_options_and_splits_name_their_key(corpus):
    with pytest.raises(OptionError, match=r"unknown option\(s\) \['beam'\]"):
        check_benchmark_stage(librispeech_hparams(corpus, beam=3))
    hparams = librispeech_hparams(corpus, lm="none")
    hparams["benchmark_test_splits"] = ["test-clean", "dev-other"]
    with pytest.raises(OptionError, match=r"benchmark_test_splits: \['dev-other'\]"):
        check_benchmark_stage(hparams)
    with pytest.raises(OptionError, match="benchmark_options.test_set"):
        check_benchmark_stage(librispeech_hparams(corpus, test_set="test-clean"))
    with pytest.raises(OptionError, match="benchmark_options.dev_set='train'"):
        check_benchmark_stage(librispeech_hparams(corpus, dev_set="train"))


def test_dev_split_that_is_a_benchmarked_test_split_is_refused(corpus):
    tuned = librispeech_hparams(corpus, dev_set="test-other", lm="none")
    assert check_benchmark_stage(tuned) == []  # no LM: nothing tuned
    (corpus / LM_TEXT_NAME).write_text("HELLO WORLD\n")
    tuned["benchmark_options"]["lm"] = "auto"
    with pytest.raises(OptionError, match="--dev_set / --test_set"):
        check_benchmark_stage(tuned)
    tuned["benchmark_test_splits"] = ["test-clean"]  # test-other not reported
    assert check_benchmark_stage(tuned) == []
    fixed = librispeech_hparams(corpus, dev_set="test-other", tune="none")
    assert check_benchmark_stage(fixed) == []
