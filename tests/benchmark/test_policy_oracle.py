"""The oracle bound on exit-policy savings (benchmark.policy_oracle)."""

import itertools
import json
import random

import pytest

from benchmark.policy_oracle import cheapest_within, main, oracle_bound


def brute_force_cost(errors, costs, budget):
    """The cheapest selection with at most ``budget`` errors, by trying all."""
    best = None
    for choice in itertools.product(*(range(len(e)) for e in errors)):
        if sum(e[i] for e, i in zip(errors, choice)) <= budget:
            cost = sum(c[i] for c, i in zip(costs, choice))
            best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_the_bound_is_below_every_feasible_cost_and_its_selection_fits(seed):
    rng = random.Random(seed)
    errors = [[rng.randint(0, 4) for _ in range(3)] for _ in range(5)]
    for e in errors:
        e.sort(reverse=True)
    costs = [
        [d * m for m in (1.0, 2.0, 3.0)] for d in (rng.uniform(1, 3) for _ in errors)
    ]
    budget = sum(e[-1] for e in errors) + rng.randint(0, 3)
    choice, bound = cheapest_within(errors, costs, budget)
    assert sum(e[i] for e, i in zip(errors, choice)) <= budget
    optimum = brute_force_cost(errors, costs, budget)
    assert bound <= optimum + 1e-9
    assert sum(c[i] for c, i in zip(costs, choice)) >= optimum - 1e-9


def test_a_model_whose_early_exits_are_right_saves_almost_all():
    errors = [[0, 0, 0]] * 4
    costs = [[1.0, 2.0, 4.0]] * 4
    bound = oracle_bound(errors, costs, reference_exit=3, tolerance=0.0, words=10)
    assert bound.exit_counts == {1: 4}
    assert bound.mac_saving == pytest.approx(0.75)
    assert bound.wer == 0.0


def test_exits_after_the_reference_are_not_used():
    errors = [[2, 1, 0]]
    costs = [[1.0, 2.0, 3.0]]
    bound = oracle_bound(errors, costs, reference_exit=2, tolerance=0.0, words=4)
    assert bound.exit_counts == {2: 1}
    assert bound.reference_wer == pytest.approx(25.0)


def write_experiment(folder, with_results=True):
    """A hand-made experiment: 3 utterances, 2 exits."""
    test = folder / "test" / "test-clean"
    test.mkdir(parents=True)
    (test / "transcripts.csv").write_text(
        "ID,reference,exit1,exit2\nu1,A B C,A B C,A B C\nu2,D E,D X,D E\nu3,F,G,F\n"
    )
    (folder / "manifests").mkdir()
    (folder / "manifests" / "test-clean.csv").write_text(
        "ID,duration,wav,spk_id,wrd\nu1,2.0,a.wav,1,A B C\nu2,1.0,b.wav,1,D E\n"
        "u3,1.0,c.wav,1,F\n"
    )
    if with_results:
        bench = folder / "benchmark" / "test-clean"
        bench.mkdir(parents=True)
        variants = [
            {"exit": 1, "macs_per_audio_second": 10.0},
            {"exit": 2, "macs_per_audio_second": 20.0},
            {"exit": 2, "macs_per_audio_second": 5.0, "quantization": "dynamic-int8"},
        ]
        results = {"reference_exit": 2, "variants": variants}
        (bench / "results.json").write_text(json.dumps(results))


def test_the_command_reads_an_experiment_and_writes_its_bound(tmp_path, capsys):
    write_experiment(tmp_path)
    assert main([str(tmp_path), "--tolerance", "0", "1"]) == 0
    table = capsys.readouterr().out
    assert "| 1.00 (0.00 %) | 0.00 | 1.67 | 1:1 2:2 | 25.0 % |" in table
    bounds = json.loads(
        (tmp_path / "benchmark/test-clean/policy_oracle.json").read_text()
    )
    # No error allowed: u1 (2 s) at exit 1, u2 and u3 at exit 2.
    assert bounds[0]["exit_counts"] == {"1": 1, "2": 2}
    assert bounds[0]["mac_saving"] == pytest.approx(1 - (20 + 20 + 20) / 80)
    # Two errors allowed (2 x the reference's 0 is 0): the same selection.
    assert bounds[1]["errors"] == 0


def test_a_missing_benchmark_is_named(tmp_path, capsys):
    write_experiment(tmp_path, with_results=False)
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "results.json not found" in error and "benchmark.run" in error


def test_other_hypotheses_can_be_bounded(tmp_path):
    write_experiment(tmp_path)
    other = tmp_path / "lm.csv"
    other.write_text(
        "ID,reference,exit1,exit2\nu1,A B C,A B C,A B C\nu2,D E,D E,D E\nu3,F,F,F\n"
    )
    out = tmp_path / "bound.json"
    assert main([str(tmp_path), "--transcripts", str(other), "--output", str(out)]) == 0
    bounds = json.loads(out.read_text())
    assert bounds[0]["exit_counts"] == {"1": 3}
    assert bounds[0]["mac_saving"] == pytest.approx(0.5)


def test_a_negative_tolerance_is_refused(tmp_path, capsys):
    write_experiment(tmp_path)
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--tolerance", "-0.1"])
    assert "--tolerance" in capsys.readouterr().err
