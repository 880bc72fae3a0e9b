"""End-to-end runs of the SSL early-exit recipe on the tiny built-in corpus.

Tiny wav2vec2 and HuBERT models are saved in Hugging Face format and loaded
back by ``train.py`` through ``--ssl_source`` (the path a user's pre-trained
folder takes); a model built from its configuration (``ssl_source: null``),
the benchmark on an SSL experiment and a hub id without a local copy are
covered too (tests/modules/nn/test_ssl.py checks every bad folder); the
randomly initialised model trains its first exit only, with torchrun (DDP with
parameters that get no gradient).
"""

import csv
import glob
import json
import os
import sys

import pytest
import torch
import transformers  # noqa: F401 (required: a broken install fails here)

from benchmark import run as benchmark_run
from modules.nn.ssl_loading import build_from_config, load_pretrained
from tests.recipes.recipe_runs import (
    ROOT,
    assert_trained_up_to_exit,
    run,
)

# 4 layers of width 32; a CNN of total stride 320 (50 frames per second, as
# the real models) so that attention over an utterance stays small.
TINY_SSL = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": [16, 16, 16, 16],
    "conv_kernel": [10, 4, 4, 4],
    "conv_stride": [5, 4, 4, 4],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
TINY_RUN = [
    "--synthetic_corpus=tiny",
    "--number_of_epochs=1",
    "--dnn_neurons=16",
    "--n_warmup_steps=10",
    "--ckpt_interval_minutes=0",
    "--benchmark=False",
]


def command(corpus, output, *overrides, launcher=(sys.executable,)):
    """``train.py hparams/ssl_ctc_early_exit.yaml`` on the tiny corpus."""
    return [
        *launcher,
        os.path.join(ROOT, "train.py"),
        os.path.join(ROOT, "hparams", "ssl_ctc_early_exit.yaml"),
        f"--data_folder={corpus}",
        f"--output_folder={output}",
        *TINY_RUN,
        *overrides,
    ]


def save_tiny_model(folder, model_type):
    torch.manual_seed(0)
    build_from_config(model_type, TINY_SSL).save_pretrained(folder)
    return str(folder)


def summary(output):
    with open(os.path.join(output, "wer_summary.json")) as fin:
        return json.load(fin)


def best_checkpoint_state(output):
    (path,) = glob.glob(os.path.join(output, "save", "CKPT+*", "model.ckpt"))
    return torch.load(path, map_location="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data") / "synthetic-tiny")


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("wav2vec2"), "wav2vec2")


@pytest.fixture(scope="module")
def experiment(corpus, wav2vec2_folder, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("exp") / "wav2vec2")
    run(command(corpus, output, f"--ssl_source={wav2vec2_folder}"))
    return output


def test_pretrained_wav2vec2_every_exit_is_evaluated(experiment):
    results = summary(experiment)
    assert set(results) == {"test-clean", "test-other"}
    assert results["test-clean"]["exit_layers"] == [2, 4]
    assert os.path.getsize(os.path.join(experiment, "wer_summary.md")) > 0
    for test_set in results:
        folder = os.path.join(experiment, "test", test_set)
        for k in (1, 2):
            assert os.path.getsize(os.path.join(folder, f"wer_exit{k}.txt")) > 0
        with open(os.path.join(folder, "transcripts.csv")) as fin:
            rows = list(csv.DictReader(fin))
        assert list(rows[0]) == ["ID", "reference", "exit1", "exit2"]
        assert len(rows) == results[test_set]["num_utts"]


def test_pretrained_weights_are_loaded_and_only_the_cnn_stays_frozen(
    experiment, wav2vec2_folder
):
    pretrained = load_pretrained(wav2vec2_folder).state_dict()
    trained = best_checkpoint_state(experiment)
    cnn = "feature_extractor.conv_layers.0.conv.weight"
    assert torch.equal(trained[f"frontend.frontend.{cnn}"], pretrained[cnn])
    layer = "encoder.layers.0.attention.k_proj.weight"  # same name in both
    assert trained[layer].shape == pretrained[layer].shape
    assert not torch.equal(trained[layer], pretrained[layer])
    assert "heads.1.0.0.weight" in trained  # exit 2's DNN block


def test_benchmark_runs_on_the_ssl_experiment(experiment, tmp_path):
    options = ["--lm=none", "--no_gpu", "--repeats=1", "--warmup_batches=0"]
    options += ["--threads=1", "--max_utts=3", "--no_progressbar"]
    assert benchmark_run.main([experiment, *options, f"--output={tmp_path}"]) == 0
    with open(tmp_path / "results.json") as fin:
        variants = json.load(fin)["variants"]
    assert [v["layer"] for v in variants] == [2, 4]
    assert variants[0]["macs_per_batch"] < variants[1]["macs_per_batch"]
    assert (tmp_path / "report.md").stat().st_size > 0


def test_hubert_with_pseudo_kd_a_shared_head_and_layer_removal(corpus, tmp_path):
    output = str(tmp_path / "hubert")
    source = save_tiny_model(tmp_path / "hubert-model", "hubert")
    pseudo_kd = "--loss_class=!name:modules.losses.distillation.PseudoLabelKDLoss"
    options = ["--ssl_model_type=hubert", pseudo_kd]
    options += ["--shared_head=True", "--keep_layers=3"]
    run(command(corpus, output, f"--ssl_source={source}", *options))
    assert summary(output)["test-clean"]["exit_layers"] == [2, 3]
    trained = best_checkpoint_state(output)
    assert not any(key.startswith("heads.1.") for key in trained)
    assert not any(key.startswith("encoder.layers.3.") for key in trained)


def test_random_init_manual_activation_downsampling_and_bpe_with_torchrun(
    corpus, tmp_path
):
    output = str(tmp_path / "random")
    overrides = json.dumps(TINY_SSL)
    options = ["--ssl_source=null", f"--ssl_config_overrides={overrides}"]
    options += ["--train_exits=1", "--downsampling_method=conv"]
    options += ["--downsampling_factor=2", "--token_type=bpe", "--output_neurons=48"]
    options += ["--distributed_backend=gloo", "--device=cpu"]
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2")
    launcher = (*torchrun, "--master_port=29536")
    run(command(corpus, output, *options, launcher=launcher))
    results = summary(output)["test-other"]
    assert results["exit_layers"] == [2, 4] and len(results["wer"]) == 2
    trained = best_checkpoint_state(output)
    assert trained["frontend.downsampler.layer.weight"].shape == (1, 1, 81)
    assert_trained_up_to_exit(output, 1)


def test_hub_id_without_local_copy_fails_at_start_up(corpus, tmp_path):
    output = str(tmp_path / "bad")
    source = "facebook/wav2vec2-base"
    log = run(command(corpus, output, f"--ssl_source={source}"), expect_ok=False)
    assert f"ssl_source='{source}' is not a local folder" in log
    assert not os.path.exists(output)
