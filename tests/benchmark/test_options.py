"""Benchmark options: defaults, checks at start-up, the YAML mapping."""

import pytest

from benchmark.errors import BenchmarkError
from benchmark.options import DEFAULT_LM_DECODER, BenchmarkOptions, option_default


def test_policy_grid_of_the_options():
    assert BenchmarkOptions(policies="none").policy_grid == {}
    assert BenchmarkOptions(policies=None).policy_grid == {}
    assert list(BenchmarkOptions(policies="patience,entropy").policy_grid) == [
        "patience",
        "entropy",
    ]


@pytest.mark.parametrize(
    "options, match",
    [
        ({"policies": ("entropy", "nope")}, r"policies=\['nope'\]: unknown policy"),
        ({"policy_thresholds": {"entropy": [0.1, -1.0]}}, r"policy_thresholds\["),
        ({"policy_thresholds": {"confidence": [1.5]}}, r"expected a number in"),
        ({"policy_thresholds": {"patience": [0.5]}}, r"integer k >= 1"),
        ({"policy_thresholds": {"patience": []}}, r"policy_thresholds.*empty"),
        ({"policy_thresholds": {"nope": [1]}}, r"policy_thresholds: unknown"),
        (
            {"policies": "posterior"},
            r"policy_decoder='greedy': policy 'posterior' needs",
        ),
        ({"policy_mode": "sentence"}, r"policy_mode='sentence'"),
        ({"policy_decoder": "lm"}, r"policy_decoder='lm'"),
        ({"policy_tolerance": -0.1}, r"policy_tolerance=-0.1"),
        ({"policy_tolerance": "10%"}, r"policy_tolerance='10%'"),
        ({"policy_timing": "some"}, r"policy_timing='some'"),
    ],
)
def test_bad_policy_options(options, match):
    with pytest.raises(BenchmarkError, match=match):
        BenchmarkOptions(**options)


def test_from_mapping_checks_keys_and_values():
    opts = BenchmarkOptions.from_mapping({"beam_size": 20, "policy_lm": False})
    assert opts.beam_size == 20 and not opts.policy_lm
    assert opts.repeats == option_default("repeats") == 3
    assert BenchmarkOptions.from_mapping(None) == BenchmarkOptions()
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['beam'\]"):
        BenchmarkOptions.from_mapping({"beam": 20})
    with pytest.raises(ValueError, match="policy_timing='some'"):
        BenchmarkOptions.from_mapping({"policy_timing": "some"})


def test_settings_record_the_resolved_grid_after_policy_lm():
    settings = BenchmarkOptions(policies="patience").settings()
    keys = list(settings)
    assert keys[keys.index("policy_lm") + 1] == "policy_grid"
    assert settings["policy_grid"] == {"patience": (1, 2, 3)}


@pytest.mark.parametrize(
    "options, match",
    [
        (
            {"lm_decoder": "kenlm"},
            r"lm_decoder: unknown LM decoder\(s\) \['kenlm'\]; choose from "
            "flashlight, pyctcdecode, speechbrain",
        ),
        (
            {"cross_check_decoders": "pyctcdecode,sb"},
            r"cross_check_decoders: unknown LM decoder\(s\) \['sb'\]",
        ),
        ({"cross_check": "all"}, "cross_check must be each, last or none"),
    ],
)
def test_bad_lm_decoder_options(options, match):
    with pytest.raises(BenchmarkError, match=match):
        BenchmarkOptions(**options)


def test_lm_decoder_options_and_the_old_pyctcdecode_name():
    assert option_default("lm_decoder") == DEFAULT_LM_DECODER
    opts = BenchmarkOptions.from_mapping(
        {
            "lm_decoder": "speechbrain",
            "cross_check_decoders": "flashlight, pyctcdecode",
            "pyctcdecode": "last",  # the old name of cross_check
        }
    )
    assert opts.cross_check == "last"
    assert opts.cross_check_decoders == ("flashlight", "pyctcdecode")
    assert "pyctcdecode" not in opts.settings()
    assert BenchmarkOptions(cross_check_decoders="").cross_check_decoders == ()
    with pytest.raises(
        BenchmarkError, match="pyctcdecode is the old name of cross_check"
    ):
        BenchmarkOptions.from_mapping({"pyctcdecode": "last", "cross_check": "each"})
