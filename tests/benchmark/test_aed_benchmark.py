"""End-to-end benchmark of an early-exit attention encoder-decoder (AED).

A 4-layer AED with exits after layers 2 and 4 is trained for one epoch on
the tiny built-in corpus by ``train.py``, whose benchmark stage
(``benchmark: True``) then benchmarks it with small settings: every exit's
greedy CTC (+ LM), greedy attention and joint beam search without and with
the token n-gram (``decoding_lm: auto``, also in the test stage), and
dynamic exits with two entropy thresholds (0: never sure, every utterance at the last
exit; 1000: always sure, every utterance at the first). The tests check the
outputs' structure and consistency, never timings.
"""

import csv
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from benchmark import aggregate, run
from benchmark.aed_exit_stage import measure_search_cost
from benchmark.aed_macs import count_decoding
from benchmark.aed_report import AED_EXIT_COLUMNS
from benchmark.aed_searches import ExitSearch, exit_parts, exit_searches
from benchmark.errors import OptionError
from benchmark.experiment import load_experiment, load_split, split_seconds
from benchmark.macs import run_and_count
from benchmark.preflight import check_benchmark_stage
from benchmark.report import CSV_COLUMNS
from benchmark.variants import VariantModule
from modules.training.aed_setup import build_search_options
from modules.training.run_setup import load_training_hparams
from tests.paths import REPO_ROOT
from tests.recipes.recipe_runs import TINY_AED_OVERRIDES, train_command
from tests.recipes.recipe_runs import run as run_command

# Merged into the YAML's benchmark_options: the whole test set in one batch of
# 32, as the test stage decodes it (the searchers' step cap follows the
# longest utterance of a batch, so the WERs match the test stage's only then).
OPTIONS = (
    "{max_utts: null, tune_max_utts: 3, batch_size: 32, repeats: 1, "
    "warmup_batches: 1, threads: 1, devices: cpu, progressbar: False, "
    "beam_size: 4, lm_order: 3, tune: last, cross_check: none, "
    "policies: entropy, policy_thresholds: {entropy: [0.0, 1000]}}"
)
TINY_AED = [
    *TINY_AED_OVERRIDES,
    "--number_of_epochs=1",
    "--benchmark=True",
    f"--benchmark_options={OPTIONS}",
    "--decoding_lm=auto",
    "--decoding_lm_order=4",
]
NAMES = [
    "exit1", "exit2", "exit1-attention", "exit1-joint", "exit1-joint_lm",
    "exit2-attention", "exit2-joint", "exit2-joint_lm",
]  # fmt: skip


@pytest.fixture(scope="module")
def aed_experiment(tmp_path_factory):
    """Output folder of a tiny AED trained, tested and benchmarked by
    ``train.py``."""
    root = tmp_path_factory.mktemp("aed_bench")
    output = str(root / "exp")
    corpus = str(root / "synthetic-tiny")
    run_command(
        train_command("conformer_aed_early_exit.yaml", corpus, output, TINY_AED)
    )
    return output


@pytest.fixture(scope="module")
def folder(aed_experiment):
    return Path(aed_experiment) / "benchmark" / "test-clean"


@pytest.fixture(scope="module")
def results(folder):
    return json.loads((folder / "results.json").read_text())


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_exit_and_decoding_is_benchmarked(results, folder):
    assert [row["name"] for row in results["variants"]] == NAMES
    for name in ("report.md", "wer_vs_time.png", "time_per_variant.png"):
        assert os.path.getsize(folder / name) > 0
    assert list(read_csv(folder / "results.csv")[0]) == CSV_COLUMNS
    assert results["aed"]["search"]["beam_size"] == 2
    assert [c["name"] for c in results["aed"]["decoding"]] == NAMES[2:]


def test_a_row_per_exit_with_encoder_and_decoding_times_and_decoder_macs(folder):
    rows = read_csv(folder / "aed_exits.csv")
    assert list(rows[0]) == AED_EXIT_COLUMNS
    assert [(row["exit"], row["layer"]) for row in rows] == [("1", "2"), ("2", "4")]
    positive = (
        "cpu_encoder_s", "cpu_ctc_decode_s", "cpu_attention_decode_s",
        "cpu_joint_decode_s", "cpu_joint_decoding_share", "cpu_joint_lm_decode_s",
        "attention_decoding_macs_per_audio_second",
        "joint_decoding_macs_per_audio_second", "joint_decoding_steps",
    )  # fmt: skip
    for row in rows:
        assert all(float(row[key]) > 0 for key in positive), row
        decoding = float(row["joint_decoding_macs_per_audio_second"])
        encoder = float(row["encoder_macs_per_audio_second"])
        assert float(row["joint_macs_per_audio_second"]) > encoder + decoding
    assert float(rows[1]["encoder_macs_per_audio_second"]) > float(
        rows[0]["encoder_macs_per_audio_second"]
    )
    report = (folder / "report.md").read_text()
    assert "### Time on CPU" in report and "joint decoding s" in report
    assert "decoder MACs / audio s" in report
    assert "joint beam + LM %" in report and "With LM: the token n-gram" in report


def test_the_test_stage_and_the_benchmark_decode_with_the_token_lm(
    aed_experiment, results
):
    test_folder = Path(aed_experiment) / "test" / "test-clean"
    assert (test_folder / "transcripts_joint_lm.csv").is_file()
    assert (test_folder / "wer_exit2_joint_lm.txt").is_file()
    summary = json.loads((Path(aed_experiment) / "wer_summary.json").read_text())
    assert len(summary["test-clean"]["wer_joint_lm"]) == 2
    assert "(joint beam + LM)" in (Path(aed_experiment) / "wer_summary.md").read_text()
    lm = results["aed"]["search"]["lm"]
    assert lm["weight"] == 0.5 and "tokens_" in lm["path"]


def test_wers_are_those_of_the_test_stage(results):
    for row in results["variants"]:
        assert row["wer"] == pytest.approx(row["wer_train"]), row["name"]


@pytest.fixture(scope="module")
def loaded(aed_experiment):
    """The trained experiment, its test batches and their audio seconds."""
    exp = load_experiment(aed_experiment)
    batches = load_split(exp, "test-clean")
    return exp, batches, split_seconds(batches, 16000)


def test_decoder_macs_grow_with_the_decoding_steps(loaded):
    exp, batches, audio_s = loaded
    measured = []
    for ratio in (0.05, 0.3):
        options = replace(build_search_options(exp.hparams), max_decode_ratio=ratio)
        parts = exit_parts(exp.model, 2)
        search = ExitSearch(2, 4, "joint", parts, options, exp.tokenizer)
        measured.append(measure_search_cost(exp.model, search, batches, audio_s, False))
    (few_cost, few), (many_cost, many) = measured
    assert 0 < few.decoding_steps < many.decoding_steps
    assert 0 < few.decoding_macs_per_audio_second < many.decoding_macs_per_audio_second
    encoder = "encoder_macs_per_audio_second"
    assert few_cost[encoder] == pytest.approx(many_cost[encoder])


def test_counting_the_decoder_parts_counts_every_mac_of_the_search(loaded):
    exp, batches, audio_s = loaded
    searches = exit_searches(exp.model, exp.hparams, exp.tokenizer)
    search = next(s for s in searches if s.name == "exit2-joint")
    macs, hypotheses = count_decoding(exp.model, search, batches, audio_s)
    pipeline = VariantModule(exp.model, search.pipeline)
    whole = [run_and_count(pipeline, b.wavs, b.rel_lens) for b in batches]
    assert macs["macs_total"] == sum(report.total for _, report in whole)
    assert hypotheses == [words for out, _ in whole for words in out]


def test_dynamic_exits_are_chosen_on_dev_against_the_last_exit(results):
    policies = results["policies"]
    reference = policies["reference"]
    assert (policies["dev_set"], reference["name"]) == ("dev-clean", "exit2-joint")
    rows = {row["threshold"]: row for row in policies["rows"]}
    never, always = rows[0.0]["test"], rows[1000.0]["test"]
    utterances = results["data"]["num_utts"]
    assert never["exit_counts"] == {"2": utterances}
    assert always["exit_counts"] == {"1": utterances} and always["mean_layers"] == 2
    assert never["wer"] == pytest.approx(reference["test"]["wer"])
    by_name = {row["name"]: row for row in results["variants"]}
    assert always["wer"] == pytest.approx(by_name["exit1-joint"]["wer"])
    assert always["macs_per_audio_second"] < never["macs_per_audio_second"]
    chosen = [row for row in policies["rows"] if row["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["test"]["cpu_s"] > 0 and "cpu" in chosen[0]["time_ratios"]


def test_tuning_on_the_reported_split_is_refused(aed_experiment, capsys):
    code = run.main(
        [aed_experiment, "--test_set=dev-clean", "--lm=none", "--no_gpu"]
        + ["--policies=entropy", "--no_progressbar"]
    )
    assert code == 2
    assert (
        "is also the test set: the exit policies' thresholds" in capsys.readouterr().err
    )
    with pytest.raises(OptionError, match="the LM weights"):
        run.run_benchmark(aed_experiment, test_set="dev-clean", devices="cpu")


def test_aggregate_reads_an_aed_benchmark(aed_experiment, tmp_path):
    merged = aggregate.aggregate([aed_experiment], tmp_path / "aggregate")
    assert [row["variant"] for row in merged["rows"]] == NAMES
    assert (tmp_path / "aggregate" / "report.md").is_file()


@pytest.mark.parametrize(
    "name",
    ["conformer_aed_early_exit.yaml", "conformer_aed_early_exit_librispeech.yaml"],
)
def test_the_recipes_benchmark_stage_passes_the_start_up_checks(name, tmp_path):
    small = {"d_model": 32, "d_ffn": 64, "decoder_d_ffn": 64}
    folders = {"output_folder": str(tmp_path), "data_folder": str(tmp_path / "data")}
    with open(os.path.join(REPO_ROOT, "hparams", name)) as handle:
        hparams = load_training_hparams(handle.read(), {**small, **folders})
    assert hparams["benchmark"] is True
    check_benchmark_stage(hparams)
