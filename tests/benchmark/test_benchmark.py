"""End-to-end tests of the benchmark stage on a tiny trained experiment.

A 4-layer Conformer with exits after layers 2 and 4 is trained for one epoch
on the tiny built-in corpus (through ``train.py``, as a user would; the
``experiment`` fixture of ``conftest.py``), then
benchmarked once through the command line with small settings, two dynamic
exit policies included. The tests check the structure and internal
consistency of the outputs, never timings.
"""

import csv
import json
import os
import shutil

import pytest
import torch

from benchmark import aggregate, run
from benchmark.cost import measure_cost, used_parameters
from benchmark.devices import resolve_devices
from benchmark.errors import BenchmarkError
from benchmark.experiment import load_experiment, load_split, split_seconds
from benchmark.macs import count_parameters
from benchmark.options import BenchmarkOptions
from benchmark.policy_report import POLICY_CSV_COLUMNS
from benchmark.report import CSV_COLUMNS
from benchmark.variant_stage import MIN_CROSS_CHECK_ROUNDS
from benchmark.variants import VARIANT_BUILDERS, Variant, VariantModule, build_variants
from modules.decoding.lm_decoders import DECODERS
from modules.decoding.lm_files import LMError

ALPHAS, BETAS = (0.5, 1.0), (0.0, 1.0)
REPEATS = 3  # policy points are timed in at least 3 paired rounds
QUICK = dict(repeats=1, warmup_batches=0, threads=1, devices="cpu", progressbar=False)
# entropy < 1000 always holds: every utterance takes exit 1
POLICY_ARGS = [
    "--policies=entropy,similarity",
    "--policy_thresholds=entropy=0.05,1000",
    "--policy_thresholds=similarity=0.5",
]


@pytest.fixture(scope="module")
def results(experiment):
    """One benchmark run through the command line, with the LM built from
    the corpus text, tuning on dev and every LM back end's cross-check."""
    code = run.main(
        [
            experiment,
            "--threads=1",
            f"--repeats={REPEATS}",
            "--warmup_batches=1",
            "--beam_size=4",
            "--lm_order=3",
            "--alphas=" + ",".join(map(str, ALPHAS)),
            "--betas=" + ",".join(map(str, BETAS)),
            "--tune_max_utts=3",
            "--no_gpu",
            "--no_progressbar",
            *POLICY_ARGS,
        ]
    )
    assert code == 0
    folder = os.path.join(experiment, "benchmark", "test-clean")
    with open(os.path.join(folder, "results.json")) as handle:
        return json.load(handle)


def test_output_files_and_columns(results):
    folder = results["output"]
    for name in ("report.md", "results.csv", "wer_vs_macs.png", "time_per_variant.png"):
        assert os.path.getsize(os.path.join(folder, name)) > 0
    with open(os.path.join(folder, "results.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["variant"] for r in rows] == ["exit1", "exit2"]
    report = open(os.path.join(folder, "report.md")).read()
    header = "| variant | layer | params | WER % | WER+LM % | CPU s | GPU s |"
    assert header in report and "CPU+LM s | GPU+LM s | MACs / batch" in report
    for section in ("Timing details", "Language model", "LM decoders"):
        assert f"## {section}" in report
    machine = results["machine"]
    assert machine["torch"] == torch.__version__ and machine["cpu"]
    assert results["settings"]["threads"] == 1
    if not torch.cuda.is_available():
        assert machine["gpu"] == "none"
        assert any("GPU passes skipped" in note for note in results["notes"])
        assert "GPU passes skipped" in report


def test_csv_agrees_with_json(results):
    with open(os.path.join(results["output"], "results.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, variant in zip(rows, results["variants"]):
        assert float(row["wer"]) == pytest.approx(variant["wer"])
        assert int(row["params"]) == variant["params"]
        greedy = variant["devices"]["cpu"]["greedy"]
        assert float(row["cpu_s"]) == pytest.approx(greedy["total_s"]["median"])
        assert row["gpu_s"] == ""


def test_macs_and_params_grow_with_the_exit(results):
    variants = results["variants"]
    assert [v["exit"] for v in variants] == [1, 2]
    assert [v["layer"] for v in variants] == [2, 4]
    assert variants[0]["macs_per_batch"] < variants[1]["macs_per_batch"]
    assert variants[0]["params"] < variants[1]["params"]
    audio = results["data"]["audio_seconds"]
    for v in variants:
        per_batch = v["macs_total"] / results["data"]["num_batches"]
        assert v["macs_per_batch"] == pytest.approx(per_batch)
        assert v["macs_per_audio_second"] == pytest.approx(v["macs_total"] / audio)


def test_used_parameters_per_exit(experiment):
    exp = load_experiment(experiment)
    model = exp.model
    batch = load_split(exp, "test-clean", max_utts=2)[0]
    exit1, exit2 = build_variants(model, ("exits",))
    used = [
        used_parameters(VariantModule(model, v), batch.wavs, batch.rel_lens)
        for v in (exit1, exit2)
    ]
    head = count_parameters(model.heads[0])
    assert used[1] == count_parameters(model) - head  # all but exit 1's head
    upper = sum(count_parameters(layer) for layer in model.encoder.layers[2:])
    assert used[0] == count_parameters(model) - head - upper


def test_greedy_wers_match_the_training_summary(results, experiment):
    with open(os.path.join(experiment, "wer_summary.json")) as handle:
        summary = json.load(handle)["test-clean"]
    for variant, wer in zip(results["variants"], summary["wer"]):
        assert variant["wer"] == pytest.approx(wer)
        assert variant["wer_train"] == pytest.approx(wer)
    assert results["data"]["num_utts"] == summary["num_utts"]


def test_timing_structure(results):
    audio = results["data"]["audio_seconds"]
    for variant in results["variants"]:
        assert set(variant["devices"]) == {"cpu"}
        timing = variant["devices"]["cpu"]
        greedy, lm = timing["greedy"], timing["lm"]
        assert len(greedy["net_s"]["values"]) == REPEATS
        assert len(lm["net_s"]["values"]) == 1
        for summary in (greedy, lm):
            for key in ("net_s", "decode_s", "total_s", "wall_s"):
                s = summary[key]
                assert s["min"] <= s["median"] <= s["max"]
            net, dec = summary["net_s"]["values"], summary["decode_s"]["values"]
            totals = [a + b for a, b in zip(net, dec)]
            assert summary["total_s"]["values"] == pytest.approx(totals)
            assert summary["rtf"] == pytest.approx(summary["total_s"]["median"] / audio)


def test_lm_weights_are_tuned_on_dev_from_the_grid(results):
    lm = results["lm"]
    assert lm["source"] == "built" and lm["order"] == 3
    assert lm["text"].endswith("librispeech-lm-norm.txt")
    corpus = os.path.dirname(lm["text"])  # built-in corpus: LM shared there
    assert lm["path"].startswith(os.path.join(corpus, "lm", "lm_3gram"))
    for variant in results["variants"]:
        weights = variant["lm_weights"]
        assert weights["tuned_on"] == results["dev_set"] == "dev-clean"
        grid = weights["grid"]
        assert [(p["alpha"], p["beta"]) for p in grid] == [
            (a, b) for a in ALPHAS for b in BETAS
        ]
        best = min(grid, key=lambda p: p["wer"])
        assert (weights["alpha"], weights["beta"]) == (best["alpha"], best["beta"])
        assert variant["wer_lm"] is not None


def test_lm_decoder_comparison(results):
    """Every back end decodes the LM pass's log-probs with its own weights
    from the dev grid, in alternated rounds; the reported one first, with
    the LM pass's WER."""
    reported = results["settings"]["lm_decoder"]
    grid = {(a, b) for a in ALPHAS for b in BETAS}
    for variant in results["variants"]:
        checks = variant["decoder_checks"]
        assert [c["decoder"] for c in checks][0] == reported
        assert sorted(c["decoder"] for c in checks) == sorted(DECODERS)
        assert checks[0]["wer_lm"] == pytest.approx(variant["wer_lm"])
        assert checks[0]["same_hypothesis_fraction"] == 1.0
        assert (checks[0]["alpha"], checks[0]["beta"]) == (
            variant["lm_weights"]["alpha"],
            variant["lm_weights"]["beta"],
        )
        for check in checks:
            assert (check["alpha"], check["beta"]) in grid
            assert len(check["decode_s"]["values"]) == MIN_CROSS_CHECK_ROUNDS
            assert 0.0 <= check["same_hypothesis_fraction"] <= 1.0
    report = open(os.path.join(results["output"], "report.md")).read()
    assert f"| exit1 | {reported} (reported) |" in report


def test_custom_variant_extension_point(experiment, monkeypatch):
    def shallow_then_deep(model):
        """Toy policy: exit 1 for short batches, exit 2 otherwise."""

        def policy(model, wavs, rel_lens):
            exit_index = 1 if wavs.shape[1] < 16000 * 3 else 2
            return model.exit_log_probs(wavs, rel_lens, exit_index)

        return [Variant("policy", policy)]

    monkeypatch.setitem(VARIANT_BUILDERS, "policy", shallow_then_deep)
    exp = load_experiment(experiment)
    variants = build_variants(exp.model, ("exits", "policy"))
    assert [v.name for v in variants] == ["exit1", "exit2", "policy"]
    batches = load_split(exp, "test-clean", batch_size=1, max_utts=2)
    audio = split_seconds(batches, 16000)
    costs = [measure_cost(exp.model, v, batches, audio, False) for v in variants]
    assert costs[0]["macs_total"] <= costs[2]["macs_total"] <= costs[1]["macs_total"]


def test_second_test_set_without_lm_and_aggregate(experiment, results, tmp_path):
    other = run.run_benchmark(
        experiment, test_set="test-other", lm="none", policies="none", **QUICK
    )
    assert other["lm"] is None and other["variants"][0].wer_lm is None
    assert any("LM passes skipped" in note for note in other["notes"])
    assert other["policies"] is None
    assert any("policies skipped: --policies none" in n for n in other["notes"])
    merged = aggregate.aggregate([experiment], tmp_path / "all")
    assert {r["test_set"] for r in merged["rows"]} == {"test-clean", "test-other"}
    assert len(merged["rows"]) == 4
    report = (tmp_path / "all" / "report.md").read_text()
    assert report.count("| exit1 |") == 2
    assert (tmp_path / "all" / "wer_vs_macs.png").stat().st_size > 0
    assert aggregate.main([results["output"], "--output", str(tmp_path / "one")]) == 0


def test_not_an_experiment_folder(tmp_path, capsys):
    with pytest.raises(BenchmarkError, match="not an experiment folder"):
        load_experiment(tmp_path)
    assert run.main([str(tmp_path / "missing"), "--no_progressbar"]) == 2
    assert "not an experiment folder" in capsys.readouterr().err
    with pytest.raises(aggregate.AggregateError, match="no results.json"):
        aggregate.find_results([tmp_path])


def test_experiment_without_checkpoint(experiment, tmp_path):
    folder = tmp_path / "untrained"
    folder.mkdir()
    shutil.copy(os.path.join(experiment, "hyperparams.yaml"), folder)
    with pytest.raises(BenchmarkError, match="No checkpoint"):
        load_experiment(folder)


def test_bad_lm_path(experiment, tmp_path):
    bogus = tmp_path / "lm.arpa"
    bogus.write_text("not an ARPA file\n")
    for lm in (str(tmp_path / "missing.arpa"), str(bogus)):
        with pytest.raises(LMError, match="--lm"):
            run.run_benchmark(experiment, lm=lm, devices="cpu", progressbar=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without GPU")
def test_gpu_requested_without_gpu(experiment):
    with pytest.raises(BenchmarkError, match="GPU timing was requested"):
        run.run_benchmark(experiment, devices="cpu,cuda")
    assert run.main([experiment, "--devices", "cuda"]) == 2


def test_bad_options():
    with pytest.raises(BenchmarkError, match="tune"):
        BenchmarkOptions(tune="sometimes")
    with pytest.raises(BenchmarkError, match="unknown variants"):
        BenchmarkOptions(variants=("nope",))
    with pytest.raises(BenchmarkError, match="devices"):
        resolve_devices("tpu")


# --------------------------------------------------------------------------
# Dynamic exit policies
# --------------------------------------------------------------------------


def test_policy_rows_and_dev_choice(results):
    section = results["policies"]
    assert section["dev_set"] == results["dev_set"] == "dev-clean"
    rows = section["rows"]
    assert [(r["policy"], r["threshold"]) for r in rows] == [
        ("entropy", 0.05),
        ("entropy", 1000.0),
        ("similarity", 0.5),
    ]
    reference = section["reference"]
    limit = (1 + results["settings"]["policy_tolerance"]) * reference["dev"]["wer"]
    for policy in ("entropy", "similarity"):
        mine = [r for r in rows if r["policy"] == policy]
        (chosen,) = [r for r in mine if r["chosen"]]
        within = [r["dev"]["macs_per_audio_second"] for r in mine]
        within = [c for c, r in zip(within, mine) if r["dev"]["wer"] <= limit]
        assert chosen["meets_tolerance"] == bool(within)
        if within:
            assert chosen["dev"]["macs_per_audio_second"] == min(within)
    for row in rows:
        assert 2 <= row["test"]["mean_layers"] <= 4
        counts = row["test"]["exit_counts"]
        assert sum(counts.values()) == results["data"]["num_utts"]


def test_policy_compute_is_counted_on_the_dynamic_forward(results):
    exit1, exit2 = results["variants"]
    section = results["policies"]
    always = section["rows"][1]["test"]  # every utterance exits at exit 1
    assert always["exit_counts"] == {"1": results["data"]["num_utts"]}
    assert always["macs_per_audio_second"] == pytest.approx(
        exit1["macs_per_audio_second"]
    )
    assert always["wer"] == pytest.approx(exit1["wer"])
    reference = section["reference"]
    assert reference["name"] == "exit2"
    assert reference["test"]["wer"] == pytest.approx(exit2["wer"])
    assert reference["test"]["macs_per_audio_second"] == pytest.approx(
        exit2["macs_per_audio_second"]
    )
    for row in section["rows"]:
        test = row["test"]
        assert 0 < test["encoder_macs_per_audio_second"] < test["macs_per_audio_second"]
        saving = 100 * (
            1 - test["macs_per_audio_second"] / exit2["macs_per_audio_second"]
        )
        assert row["relative"]["mac_saving_pct"] == pytest.approx(saving)
    assert section["rows"][1]["relative"]["mac_saving_pct"] > 0


def test_chosen_policies_are_timed_with_lm(results):
    cpu_s = results["policies"]["reference"]["test"]["cpu_s"]
    assert (
        cpu_s
        == results["variants"][-1]["devices"]["cpu"]["greedy"]["total_s"]["median"]
    )
    for row in results["policies"]["rows"]:
        test = row["test"]
        if not row["chosen"]:
            assert test["cpu_s"] is None and test["wer_lm"] is None
            assert row["relative"]["time_saving_pct"] is None
            continue
        greedy = test["devices"]["cpu"]["greedy"]
        assert len(greedy["total_s"]["values"]) == REPEATS
        assert test["cpu_s"] == greedy["total_s"]["median"]
        assert test["wer_lm"] is not None
        assert test["lm_weights"]["tuned_on"] == "dev-clean"
        ratios = row["time_ratios"]["cpu"]  # timed alternately with exit2
        assert len(ratios["values"]) == REPEATS
        assert ratios["min"] <= ratios["median"] <= ratios["max"]
        assert row["relative"]["time_saving_pct"] == pytest.approx(
            100 * (1 - ratios["median"])
        )


def test_policy_report_csv_and_plot(results):
    folder = results["output"]
    assert os.path.getsize(os.path.join(folder, "policies_wer_vs_compute.png")) > 0
    with open(os.path.join(folder, "policies.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == POLICY_CSV_COLUMNS
    assert [r["variant"] for r in rows] == [
        "exit2",
        "entropy@0.05",
        "entropy@1000",
        "similarity@0.5",
    ]
    pareto = [p["pareto"] for p in results["policies"]["static"]]
    pareto += [r["pareto"] for r in results["policies"]["rows"]]
    assert any(pareto)
    report = open(os.path.join(folder, "report.md")).read()
    for text in (
        "## Dynamic exit policies",
        "### Chosen operating points",
        "| exit2 (reference) |",
        "CPU time / reference (min-max)",
        "Reference: exit2, the last exit.",
        "Pareto front on test",
        "![policies_wer_vs_compute](policies_wer_vs_compute.png)",
    ):
        assert text in report


def test_chosen_policies_without_lm_passes(experiment, tmp_path):
    results = run.run_benchmark(
        experiment,
        **QUICK,
        tune="none",
        pyctcdecode="none",
        policies="entropy",
        policy_thresholds={"entropy": [1000]},
        policy_lm=False,
        output=str(tmp_path / "no_policy_lm"),
    )
    assert results["variants"][-1].wer_lm is not None  # the exits keep the LM
    (row,) = results["policies"].rows
    assert row.chosen and row.test.cpu_s is not None
    assert row.test.wer_lm is None and row.test.timing.lm_weights is None
