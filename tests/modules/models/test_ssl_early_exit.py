"""Early-exit CTC with DNN exit heads on an SSL encoder, and its recipe YAML."""

import os

import pytest
import torch
import transformers  # noqa: F401 (required: a broken install fails here)
import yaml

from modules.models.ssl_early_exit import DNNHeadEarlyExitCTC
from modules.nn.ssl import build_ssl_encoder
from modules.nn.ssl_loading import TINY_CONFIG
from tests.modules.nn.tiny_ssl import count_layer_calls, padded_batch
from tests.paths import REPO_ROOT as ROOT

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched key_padding_mask:UserWarning"
)


def dnn_head_model(**options):
    frontend, stack, size = build_ssl_encoder(
        config_overrides={**TINY_CONFIG, "num_hidden_layers": 4}
    )
    return DNNHeadEarlyExitCTC(frontend, stack, size, 7, exit_every=2, **options)


@pytest.mark.parametrize("shared_head", [False, True])
def test_dnn_heads_per_exit_or_shared(shared_head):
    model = dnn_head_model(dnn_blocks=2, dnn_neurons=24, shared_head=shared_head)
    assert len(model.heads) == (1 if shared_head else 2)
    assert (model.head(1) is model.head(2)) == shared_head
    dnn, output = model.head(1)
    assert [m.weight.shape for m in dnn if isinstance(m, torch.nn.Linear)] == [
        (24, 32),
        (24, 24),
    ]
    assert output.weight.shape == (7, 24)
    wavs, rel_lens, _ = padded_batch()
    log_probs = model.eval()(wavs, rel_lens)
    assert [lp.shape for lp in log_probs] == [(2, 159, 7)] * 2
    torch.testing.assert_close(log_probs[0].exp().sum(-1), torch.ones(2, 159))


def test_dnn_heads_without_blocks_with_upsampling_and_layer_removal():
    model = dnn_head_model(dnn_blocks=0, ctc_upsampling=True, keep_layers=3)
    assert model.exit_layers == [2, 3] and model.encoder.num_layers == 3
    dnn, output = model.head(2)
    assert len(dnn) == 0 and output.linear.weight.shape == (14, 32)
    wavs, rel_lens, _ = padded_batch()
    calls = count_layer_calls(model.encoder)
    assert model.eval().exit_log_probs(wavs, rel_lens, 2).shape == (2, 318, 7)
    assert calls == [0, 1, 2]


def load_recipe(**overrides):
    from hyperpyyaml import load_hyperpyyaml

    overrides = {"ssl_source": None, "output_folder": "unused", **overrides}
    with open(os.path.join(ROOT, "hparams", "ssl_ctc_early_exit.yaml")) as fin:
        return load_hyperpyyaml(fin, yaml.safe_dump(overrides))


def test_recipe_yaml_options():
    hparams = load_recipe(
        ssl_model_type="wavlm",
        ssl_config_overrides={**TINY_CONFIG, "num_hidden_layers": 6},
        ssl_freeze=True,
        keep_layers=4,
        shared_head=True,
        dnn_neurons=16,
        downsampling_method="avg",
        downsampling_factor=2,
    )
    model = hparams["model"]
    assert model.encoder.relative_bias  # WavLM
    assert model.exit_layers == [2, 4] and len(model.heads) == 1
    assert isinstance(model.frontend.downsampler.layer, torch.nn.AvgPool1d)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.heads.parameters())
    opt = hparams["opt_class"](model.parameters())
    assert [g["lr"] for g in opt.param_groups] == [hparams["lr"], hparams["ssl_lr"]]
    wavs, rel_lens, _ = padded_batch()
    assert model.eval()(wavs, rel_lens)[0].shape == (2, 78, 32)


def test_recipe_yaml_default_is_wav2vec2_base_shaped():
    model = load_recipe()["model"]
    ssl = model.encoder
    assert ssl.num_layers == 12 and model.exit_layers == [2, 4, 6, 8, 10, 12]
    assert ssl.layers[0].attention.k_proj.weight.shape == (768, 768)
    assert len(model.frontend.frontend.feature_extractor.conv_layers) == 7
    assert model.head(6)[1].weight.shape == (32, 1024)
    cnn = model.frontend.frontend.feature_extractor
    assert not any(p.requires_grad for p in cnn.parameters())
