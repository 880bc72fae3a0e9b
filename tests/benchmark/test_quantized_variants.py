"""Quantized variants in the benchmark: options, rows, reports, old files and
a quantization-aware experiment, on the tiny trained experiment."""

import csv
import json
import re
import shutil

import pytest

from benchmark import run
from benchmark.aggregate import aggregate
from benchmark.cli import option_mapping, parse_args
from benchmark.errors import OptionError
from benchmark.experiment import load_experiment
from benchmark.options import DEFAULT_QUANTIZATION, BenchmarkOptions
from benchmark.report import CSV_COLUMNS
from benchmark.results import VariantResult
from modules.compression.qat import has_weight_quantization

QUICK = dict(
    repeats=1, warmup_batches=0, threads=1, devices="cpu", progressbar=False,
    policies="none", max_utts=6,
)  # fmt: skip
LM = dict(beam_size=4, lm_order=3, alphas=(0.5,), betas=(1.0,), tune_max_utts=3)
METHODS = ("dynamic-int8", "torchao-int8-weight-only")


@pytest.mark.parametrize(
    "mapping, expected",
    [
        ({"quantization": ["default"]}, (DEFAULT_QUANTIZATION,)),
        ({"quantization": "dynamic-int8, torchao-int8-dynamic"},
         ("dynamic-int8", "torchao-int8-dynamic")),
        ({}, ()),
    ],
)  # fmt: skip
def test_quantization_option_from_yaml(mapping, expected):
    assert BenchmarkOptions.from_mapping(mapping).quantization == expected


@pytest.mark.parametrize(
    "mapping, match",
    [
        ({"quantization": ["int4"]}, r"quantization: 'int4' is unknown; available"),
        ({"quantization": ["default"], "devices": "cuda"}, "runs on CPU only"),
        ({"quantization_exits": "all"}, "quantization_exits='all'"),
        ({"quantization_keep_fp32": ["("]}, "quantization_keep_fp32"),
    ],
)
def test_bad_quantization_options(mapping, match):
    with pytest.raises(OptionError, match=match):
        BenchmarkOptions.from_mapping(mapping)


def test_quantization_option_from_the_command_line():
    def options(*argv):
        return BenchmarkOptions.from_mapping(option_mapping(parse_args(["EXP", *argv])))

    assert options().quantization == ()
    assert options("--quantization").quantization == (DEFAULT_QUANTIZATION,)
    both = options("--quantization", ",".join(METHODS), "--quantization_exits", "each")
    assert both.quantization == METHODS and both.quantization_exits == "each"
    assert options("--quantization_keep_fp32", "").quantization_keep_fp32 == ()
    assert options().quantization_keep_fp32 == ("heads",)


@pytest.fixture(scope="module")
def results(experiment, tmp_path_factory):
    """One benchmark of every exit and two methods, with the LM."""
    output = tmp_path_factory.mktemp("quantized") / "out"
    return run.run_benchmark(
        experiment,
        **QUICK,
        **LM,
        quantization=METHODS,
        quantization_exits="each",
        output=str(output),
    )


def test_quantized_rows_follow_the_exits(results):
    names = [row.name for row in results["variants"]]
    assert names == [
        "exit1", "exit2", "exit1+dynamic-int8", "exit2+dynamic-int8",
        "exit1+torchao-int8-weight-only", "exit2+torchao-int8-weight-only",
    ]  # fmt: skip
    fp32 = {row.exit: row for row in results["variants"][:2]}
    for row in results["variants"][2:]:
        base = fp32[row.exit]
        assert row.quantization in METHODS and row.layer == base.layer
        # MACs and parameters counted on the fp32 equivalent
        assert row.macs_total == base.macs_total and row.params == base.params
        assert 0.0 < row.quantized_mac_fraction < 1.0
        assert row.size_mb < 0.8 * base.size_mb
        assert set(row.devices) == {"cpu"} and row.wer_lm is not None
        assert row.lm_weights["tuned_variant"] == row.name
        assert row.wer_train is None and row.pyctcdecode is None
        ratios = row.time_ratios["cpu"]
        assert len(ratios["values"]) == 3  # at least 3 alternated rounds
        assert ratios["min"] <= ratios["median"] <= ratios["max"]
        assert abs(row.wer - base.wer) <= 50.0
    exit1, exit2 = results["variants"][2:4]  # the front-end stays fp32
    assert exit1.quantized_mac_fraction < exit2.quantized_mac_fraction
    for row in fp32.values():
        assert row.quantization is None and row.quantized_mac_fraction == 0.0
        assert row.size_mb == results["variants"][0].size_mb
        assert row.time_ratios is None


def test_outputs_carry_the_quantization_columns(results):
    folder = results["output"]
    with open(f"{folder}/results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert rows[0]["quantization"] == "" and rows[2]["quantization"] == METHODS[0]
    ratio = results["variants"][2].time_ratios["cpu"]["median"]
    assert float(rows[2]["cpu_time_vs_fp32"]) == pytest.approx(ratio)
    assert float(rows[2]["size_mb"]) == pytest.approx(results["variants"][2].size_mb)
    report = open(f"{folder}/report.md").read()
    assert "## Quantization" in report and "| exit2+dynamic-int8 | exit2 |" in report
    assert "size MB | int8 MACs % |" in report
    assert any("MACs counted on the fp32 model" in n for n in results["notes"])
    data = json.loads(open(f"{folder}/results.json").read())
    rows = [VariantResult.from_json(row) for row in data["variants"]]
    assert rows == results["variants"]
    assert data["settings"]["quantization"] == list(METHODS)


def test_old_and_new_results_aggregate(results, tmp_path):
    old = json.loads(open(f"{results['output']}/results.json").read())
    old["experiment_name"] = "old"
    old["variants"] = old["variants"][:2]
    for row in old["variants"]:
        for key in ("quantization", "size_mb", "quantized_mac_fraction"):
            row.pop(key, None)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps(old))
    merged = aggregate([results["output"], tmp_path / "old"], tmp_path / "agg")
    assert [r["size_mb"] is None for r in merged["rows"]] == [False] * 6 + [True] * 2
    report = (tmp_path / "agg" / "report.md").read_text()
    assert "## Quantization" in report
    for plot in ("wer_vs_macs", "wer_vs_cpu_time", "wer_vs_size"):
        assert (tmp_path / "agg" / f"{plot}.png").stat().st_size > 0


def quantization_aware_copy(experiment, tmp_path):
    """The experiment, its YAML applying 8-bit weight quantization to the
    model (the plain checkpoint loads: parameter names are unchanged)."""
    copy = tmp_path / "exp_qat"
    shutil.copytree(experiment, copy, ignore=shutil.ignore_patterns("benchmark"))
    path = copy / "hyperparams.yaml"
    text, count = re.subn(r"^model: (&\w+ )?!new:", r"plain_model: \1!new:",
                          path.read_text(), flags=re.MULTILINE)  # fmt: skip
    assert count == 1
    text = text.replace(
        "\nmodules:\n",
        "\nweight_quantization: {bits: 8, bucket_size: 256}\n"
        "model: !apply:modules.compression.qat.with_weight_quantization\n"
        "    [!ref <plain_model>, !ref <weight_quantization>]\n\nmodules:\n",
        1,
    )
    path.write_text(text)
    return copy


def test_quantization_aware_experiment_exports(experiment, tmp_path):
    copy = quantization_aware_copy(experiment, tmp_path)
    assert has_weight_quantization(load_experiment(copy).model)
    argv = [str(copy), "--lm", "none", "--quantization", "--repeats", "1"]
    argv += ["--warmup_batches", "0", "--threads", "1", "--no_gpu", "--no_progressbar"]
    argv += ["--policies", "none", "--max_utts", "6"]
    assert run.main(argv) == 0
    data = json.loads((copy / "benchmark" / "test-clean" / "results.json").read_text())
    assert [v["name"] for v in data["variants"]] == [
        "exit1",
        "exit2",
        "exit2+dynamic-int8",
    ]
    assert data["efficiency"]["weight_quantization"] == {"bits": 8, "bucket_size": 256}
    assert any("run the quantized weight values" in note for note in data["notes"])
    fp32, int8 = data["variants"][1], data["variants"][2]
    assert int8["size_mb"] < 0.8 * fp32["size_mb"]
