"""Dynamic exit policies in the benchmark: the dev choice, the Pareto front
and the sweep, on a small untrained model (no training).

The end-to-end run on a trained tiny experiment is in
``tests/benchmark/test_benchmark.py``.
"""

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from benchmark.experiment import Batch, EvalSet
from benchmark.macs import count_macs
from benchmark.options import BenchmarkOptions
from benchmark.policy_results import StaticPoint
from benchmark.policy_sweep import (
    choose_operating_point,
    mark_results,
    pareto_front,
    policy_points,
    sweep_policies,
)
from benchmark.variants import exit_variants
from modules.decoding.greedy import greedy_ctc_decode
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL, VOCAB = 16, 7


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
    opts = BenchmarkOptions(
        policies="entropy,patience",
        policy_thresholds={"entropy": [0.0, 100.0], "patience": [1]},
    )
    points = policy_points(opts, 0)
    last = exit_variants(model)[-1]
    dev, test = make_split("dev", 1), make_split("test", 2)
    reference, rows = sweep_policies(model, points, last, dev, test, decode, 1e9, False)
    assert [(r.policy, r.threshold) for r in rows] == [
        ("entropy", 0.0),
        ("entropy", 100.0),
        ("patience", 1.0),
    ]
    never, always, patience = rows
    assert never.test.exit_counts == {3: 5}  # entropy < 0: never true
    assert always.test.exit_counts == {1: 5}  # entropy < 100: always
    assert patience.test.mean_layers >= 2  # needs two exits to agree
    for row in rows:
        assert set(row.to_json()) >= {"name", "dev", "test", "chosen"}
        assert row.dev.macs_per_audio_second > 0
    # any WER is within a huge tolerance: the cheapest threshold is chosen
    assert [r.chosen for r in rows] == [False, True, True]
    assert always.meets_tolerance and "meets_tolerance" not in never.to_json()
    assert never.meets_tolerance is None
    # the reference runs the same layers as "never" without the lower heads
    ref_test = reference.test
    assert reference.name == "exit3" and ref_test.mean_layers == 3
    assert never.test.encoder_macs_per_audio_second == pytest.approx(
        ref_test.encoder_macs_per_audio_second
    )
    head = count_macs(model.heads[0], torch.zeros(1, 1, D_MODEL)).total
    frames = sum(b.wavs.shape[0] * b.wavs.shape[1] for b in test.batches)
    extra = never.test.macs_total - ref_test.macs_total
    assert extra == 2 * frames * head  # heads of exits 1 and 2 on every frame
    static = [StaticPoint("exit1", 1, 200.0, 1.0)]
    rows, static_points = mark_results(reference, rows, static)
    never, always, patience = rows
    assert always.relative.mac_saving_pct > 0
    assert always.relative.time_saving_pct is None  # not timed here
    assert never.relative.encoder_mac_saving_pct == pytest.approx(0.0)
    everything = [r.test for r in rows] + static
    expected = pareto_front([(p.macs_per_audio_second, p.wer) for p in everything])
    assert [r.pareto for r in rows] + [static_points[0].pareto] == expected
    assert static_points[0].pareto  # cheapest point of all
    assert static[0].pareto is None  # marking returns new points
