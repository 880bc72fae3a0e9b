"""Dynamic exit policies in the benchmark: option checks, the dev choice,
the Pareto front and the sweep, on a small untrained model (no training).

The end-to-end run on a trained tiny experiment is in
``tests/benchmark/test_benchmark.py``.
"""

import doctest

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from benchmark import formatting, policy_report, policy_sweep, run
from benchmark.experiment import Batch, BenchmarkError
from benchmark.macs import count_macs
from benchmark.policy_sweep import (
    DEFAULT_GRIDS,
    EvalSet,
    choose_operating_point,
    mark_results,
    pareto_front,
    policy_points,
    resolve_policy_grid,
    sweep_policies,
)
from benchmark.variants import exit_variants
from modules.decoding.greedy import greedy_ctc_decode
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL, VOCAB = 16, 7


def test_doctests():
    for module in (policy_sweep, policy_report, formatting):
        assert doctest.testmod(module).failed == 0


# --------------------------------------------------------------------------
# Choice on dev and Pareto front
# --------------------------------------------------------------------------

# (MACs, dev WER) per threshold; the last exit's dev WER is 20 %.
DEV = [(100.0, 20.0), (60.0, 21.9), (40.0, 22.1), (80.0, 19.0), (60.0, 21.0)]


@pytest.mark.parametrize(
    "tolerance, expected",
    [
        (0.10, 4),  # WER <= 22.0: 0, 1, 3, 4; cheapest 60, tie -> lower WER
        (0.20, 2),  # WER <= 24.0: everything; cheapest is 40
        (0.0, 3),  # WER <= 20.0: 0 and 3; 3 is cheaper
    ],
)
def test_choice_is_the_cheapest_within_tolerance(tolerance, expected):
    assert choose_operating_point(DEV, 20.0, tolerance) == (expected, True)


def test_choice_without_any_point_within_tolerance():
    # Nothing <= 11 % WER: the most accurate point, flagged.
    assert choose_operating_point(DEV, 10.0, 0.1) == (3, False)


def test_pareto_front_on_hand_made_points():
    points = [
        (1.0, 50.0),  # cheapest: on the front
        (2.0, 30.0),  # on the front
        (2.0, 30.0),  # identical point: not dominated either
        (3.0, 30.0),  # dominated by (2, 30)
        (2.5, 40.0),  # dominated by (2, 30)
        (4.0, 10.0),  # most accurate: on the front
        (5.0, 10.0),  # dominated by (4, 10)
    ]
    assert pareto_front(points) == [True, True, True, False, False, True, False]


# --------------------------------------------------------------------------
# Options checked at start-up
# --------------------------------------------------------------------------


def test_default_grids_and_overrides():
    grid = resolve_policy_grid("auto", None, "utterance", "greedy")
    assert list(grid) == ["entropy", "confidence", "similarity", "patience"]
    assert grid["entropy"] == DEFAULT_GRIDS["entropy"]
    grid = resolve_policy_grid("auto", {"patience": [2]}, "batch", "beam")
    assert "posterior" in grid and grid["patience"] == (2,)
    assert resolve_policy_grid("none", None, "utterance", "greedy") == {}
    grid = resolve_policy_grid(["entropy"], {"entropy": 0.3}, "utterance", "greedy")
    assert grid == {"entropy": (0.3,)}
    assert run.Options(policies="none").policy_grid == {}
    assert run.Options(policies=None).policy_grid == {}
    assert list(run.Options(policies="patience,entropy").policy_grid) == [
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
        run.Options(**options)


def test_bad_policy_options_fail_before_loading(tmp_path, capsys):
    """The command line rejects the option before opening the folder."""
    missing = str(tmp_path / "missing")
    assert run.main([missing, "--policy_thresholds", "entropy=-1"]) == 2
    error = capsys.readouterr().err
    assert "policy_thresholds['entropy']" in error
    assert "not an experiment folder" not in error
    assert run.main([missing, "--policies", "posterior"]) == 2
    assert "policy_decoder" in capsys.readouterr().err
    # with the beam decoder, the same policy passes the checks
    assert run.main([missing, "--policies=posterior", "--policy_decoder=beam"]) == 2
    assert "not an experiment folder" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Sweep on a small untrained model
# --------------------------------------------------------------------------


class Frontend(torch.nn.Module):
    """Test front-end: the inputs are already encoder frames."""

    def forward(self, wavs, rel_lens):
        return wavs


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    stack = ConformerLayerStack(
        ConformerEncoder(num_layers=3, d_model=D_MODEL, d_ffn=32, nhead=2)
    )
    return EarlyExitCTC(Frontend(), stack, D_MODEL, VOCAB, exit_every=1).eval()


def make_split(name, seed):
    """Two batches of random frames; every reference is the word ``1``."""
    torch.manual_seed(seed)
    batches = []
    for b, lens in enumerate(([1.0, 0.6], [1.0, 0.8, 0.5])):
        wavs = torch.randn(len(lens), 10, D_MODEL)
        ids = [f"{name}{b}-{i}" for i in range(len(lens))]
        batches.append(Batch(ids, wavs, torch.tensor(lens), [["1"]] * len(lens)))
    return EvalSet(name, batches)


def decode(log_probs, rel_lens):
    """Greedy CTC into 'words' (token ids)."""
    return [[str(t) for t in seq] for seq in greedy_ctc_decode(log_probs, rel_lens)]


def test_sweep_rows_choice_and_marks(model):
    opts = run.Options(
        policies="entropy,patience",
        policy_thresholds={"entropy": [0.0, 100.0], "patience": [1]},
    )
    points = policy_points(opts)
    last = exit_variants(model)[-1]
    dev, test = make_split("dev", 1), make_split("test", 2)
    reference, rows = sweep_policies(model, points, last, dev, test, decode, 1e9)
    assert [(r["policy"], r["threshold"]) for r in rows] == [
        ("entropy", 0.0),
        ("entropy", 100.0),
        ("patience", 1.0),
    ]
    never, always, patience = rows
    assert never["test"]["exit_counts"] == {3: 5}  # entropy < 0: never true
    assert always["test"]["exit_counts"] == {1: 5}  # entropy < 100: always
    assert patience["test"]["mean_layers"] >= 2  # needs two exits to agree
    for row in rows:
        assert set(row) >= {"name", "dev", "test", "chosen"}
        assert row["dev"]["macs_per_audio_second"] > 0
    # any WER is within a huge tolerance: the cheapest threshold is chosen
    assert [r["chosen"] for r in rows] == [False, True, True]
    assert always["meets_tolerance"] and "meets_tolerance" not in never
    # the reference runs the same layers as "never" without the lower heads
    ref_test = reference["test"]
    assert reference["name"] == "exit3" and ref_test["mean_layers"] == 3
    assert never["test"]["encoder_macs_per_audio_second"] == pytest.approx(
        ref_test["encoder_macs_per_audio_second"]
    )
    head = count_macs(model.heads[0], torch.zeros(1, 1, D_MODEL)).total
    frames = sum(b.wavs.shape[0] * b.wavs.shape[1] for b in test.batches)
    extra = never["test"]["macs_total"] - ref_test["macs_total"]
    assert extra == 2 * frames * head  # heads of exits 1 and 2 on every frame
    static = [
        {"name": "exit1", "layer": 1, "wer": 200.0, "macs_per_audio_second": 1.0},
    ]
    static_points = mark_results(reference, rows, static)
    assert always["relative"]["mac_saving_pct"] > 0
    assert always["relative"]["time_saving_pct"] is None  # not timed here
    assert never["relative"]["encoder_mac_saving_pct"] == pytest.approx(0.0)
    everything = [r["test"] for r in rows] + static
    expected = pareto_front(
        [(p["macs_per_audio_second"], p["wer"]) for p in everything]
    )
    assert [r["pareto"] for r in rows] + [static_points[0]["pareto"]] == expected
    assert static_points[0]["pareto"]  # cheapest point of all
