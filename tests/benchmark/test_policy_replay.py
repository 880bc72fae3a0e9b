"""benchmark.policy_replay: exit rules replayed on every exit's transcripts."""

import json
import shutil
from pathlib import Path

import pytest

from benchmark.exit_readings import ExitReading, UtteranceReadings
from benchmark.policy_replay import ReplaySplit, exit_taken, main, replay_rules
from modules.decoding.ngram import build_arpa


def utterance(uid, words, seconds, *exits):
    """Readings of one utterance: ``exits`` are (greedy, lm, entropy)."""
    readings = tuple(
        ExitReading(tuple(g.split()), tuple(lm.split()), e, 1.0 - e)
        for g, lm, e in exits
    )
    return UtteranceReadings(uid, tuple(words.split()), seconds, readings)


def hand_split():
    """Two utterances, 3 exits costing 1, 2 and 4 MACs per second."""
    utterances = [
        # right from exit 2 on, sure of itself at exit 2
        utterance(
            "a", "A B", 2.0, ("A", "A", 0.9), ("A B", "A B", 0.1), ("A B", "A B", 0.1)
        ),
        # right at exit 3 only, unsure until then
        utterance(
            "b", "C D", 1.0, ("C", "C", 0.9), ("C X", "C D", 0.5), ("C D", "C D", 0.1)
        ),
    ]  # fmt: skip
    return ReplaySplit.build(utterances, [1.0, 2.0, 4.0], with_lm=True)


def test_a_rule_sends_each_utterance_to_its_first_passing_exit():
    split = hand_split()
    point = split.replay("entropy", 0.2, first_exit=1)
    assert point.exit_counts == {2: 1, 3: 1}
    # a: exit 2 (2 s x 2), b: exit 3 (1 s x 4) -> 8 MACs over 3 s
    assert point.macs_per_audio_second == pytest.approx(8 / 3)
    assert point.wer == 0.0 and point.wer_lm == 0.0
    # Exits before --first_exit are never taken.
    assert split.replay("entropy", 1.0, first_exit=1).exit_counts == {1: 2}
    assert split.replay("entropy", 1.0, first_exit=2).exit_counts == {2: 2}


def test_errors_are_counted_at_the_exit_taken():
    split = hand_split()
    # Everyone at exit 2: b's greedy "C X" has 1 error, its LM "C D" none.
    point = split.replay("confidence", 0.01, first_exit=2)
    assert point.wer == pytest.approx(100 * 1 / 4) and point.wer_lm == 0.0
    # lm_patience 1: the LM transcripts of exits 1 and 2 differ for both
    # ("A" / "A B", "C" / "C D"), so both go on to exit 3.
    assert split.replay("lm_patience", 1, first_exit=1).exit_counts == {3: 2}
    assert exit_taken(split.utterances[1].exits, "lm_agreement", 1, 2) == 3


def test_the_cheapest_threshold_within_tolerance_is_chosen_on_dev():
    split = hand_split()
    result = replay_rules(split, split, {"entropy": (0.05, 0.2, 1.0)}, 1, 0.05)
    chosen = [row for row in result["rows"] if row["chosen"]]
    # 1.0 sends everyone to exit 1 (cheapest, 50 % WER+LM); 0.2 is exact.
    assert [row["dev"].threshold for row in chosen] == [0.2]
    assert chosen[0]["meets_tolerance"] is True
    assert result["reference"]["test"].exit_counts == {3: 2}


@pytest.fixture(scope="module")
def replay_experiment(experiment, tmp_path_factory):
    """A copy of the tiny experiment with the exits' MACs of a benchmark
    and a bigram LM of its corpus text."""
    folder = tmp_path_factory.mktemp("replay") / "exp"
    shutil.copytree(experiment, folder, ignore=shutil.ignore_patterns("benchmark"))
    corpus = Path(
        json.loads((folder / "manifests" / "test-clean.prep_opts.json").read_text())[
            "data_folder"
        ]
    )
    arpa = folder / "bigram.arpa"
    build_arpa(corpus / "librispeech-lm-norm.txt", arpa, order=2, tool="python")
    variants = [
        {"exit": 1, "macs_per_audio_second": 1.0, "lm_weights": None},
        {
            "exit": 2,
            "macs_per_audio_second": 2.0,
            "lm_weights": {"alpha": 0.5, "beta": 1.0},
        },
    ]  # fmt: skip
    results = {
        "reference_exit": 2,
        "variants": variants,
        "lm": {"path": str(arpa), "beam_size": 4},
    }
    bench = folder / "benchmark" / "test-clean"
    bench.mkdir(parents=True)
    (bench / "results.json").write_text(json.dumps(results))
    return folder


def test_the_command_replays_every_rule_on_the_trained_model(replay_experiment, capsys):
    assert main([str(replay_experiment), "--max_utts", "6"]) == 0
    table = capsys.readouterr().out
    for rule in ("entropy", "confidence", "patience", "lm_patience", "lm_agreement"):
        assert f"| {rule} |" in table
    saved = json.loads(
        (replay_experiment / "benchmark/test-clean/policy_replay.json").read_text()
    )
    reference = saved["reference"]["test"]
    assert reference["exit_counts"] == {"2": 6} and reference["wer_lm"] is not None
    assert sum(saved["rows"][0]["test"]["exit_counts"].values()) == 6


def test_the_reference_exit_has_the_test_stage_wer(replay_experiment, tmp_path):
    output = tmp_path / "replay.json"
    assert main([str(replay_experiment), "--lm", "none", "--output", str(output)]) == 0
    saved = json.loads(output.read_text())
    assert all(
        row["dev"]["rule"] not in ("lm_patience", "lm_agreement")
        for row in saved["rows"]
    )
    stage = json.loads((replay_experiment / "wer_summary.json").read_text())
    assert saved["reference"]["test"]["wer"] == pytest.approx(
        stage["test-clean"]["wer"][-1]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rule", "loudness=1"], "choose among"),
        (["--rule", "entropy=-1"], "not valid for policy='entropy'"),
        (["--rule", "lm_patience=0.5"], "expected an integer k >= 1"),
        (["--lm", "none", "--rule", "lm_patience=1"], "need an LM"),
        (["--first_exit", "3"], "give 1..2"),
        (["--test_set", "test-other"], "results.json not found"),
    ],
)
def test_bad_options_are_named(replay_experiment, capsys, args, message):
    assert main([str(replay_experiment), *args]) == 2
    assert message in capsys.readouterr().err
