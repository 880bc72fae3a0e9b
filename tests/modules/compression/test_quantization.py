"""Post-training quantization: int8 copies of an early-exit Conformer."""

import copy
import io

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from modules.compression import quantization
from modules.compression.int8_storage import (
    int8_stored_weight_names,
    storable_weights,
    store_weights_int8,
)
from modules.compression.quantization import (
    DEFAULT_KEEP_FP32,
    PTQ_METHODS,
    PTQMethod,
    available_methods,
    check_method,
    linear_module_names,
    quantize_model,
    quantized_module_names,
    serialized_size_mb,
    unique_state_dict,
)
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL, VOCAB = 64, 11


class ProjectionFrontend(torch.nn.Module):
    """Test front-end: inputs are features, projected by one linear layer."""

    def __init__(self):
        super().__init__()
        self.projection = torch.nn.Linear(D_MODEL, D_MODEL)

    def forward(self, feats, rel_lens):
        return self.projection(feats)


def make_model(seed=0):
    """A 2-layer Conformer with exits after both layers."""
    torch.manual_seed(seed)
    encoder = ConformerLayerStack(
        ConformerEncoder(num_layers=2, d_model=D_MODEL, d_ffn=128, nhead=4)
    )
    frontend = ProjectionFrontend()
    return EarlyExitCTC(frontend, encoder, D_MODEL, VOCAB, exit_every=1).eval()


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def inputs():
    torch.manual_seed(1)
    return torch.randn(2, 30, D_MODEL), torch.tensor([1.0, 0.6])


def log_probs(model, inputs, exit_index=2):
    with torch.inference_mode():
        return model.exit_log_probs(*inputs, exit_index)


def test_every_method_is_installed():
    assert available_methods() == list(PTQ_METHODS)


@pytest.mark.parametrize("method", list(PTQ_METHODS))
def test_quantized_copy_is_close_and_leaves_the_model_alone(model, inputs, method):
    reference = log_probs(model, inputs)
    quantized = quantize_model(model, method)
    # Every nn.Linear but the two heads: frontend, per layer 4 FFN layers,
    # out_proj, linear_pos and the convolution module's output linear.
    assert len(quantized_module_names(quantized)) == 1 + 2 * 7
    assert all(
        not name.startswith("heads") for name in quantized_module_names(quantized)
    )
    assert quantized_module_names(model) == []
    out = log_probs(quantized, inputs)
    assert out.shape == reference.shape
    assert (out - reference).abs().max() < 0.1
    agree = (out.argmax(-1) == reference.argmax(-1)).float().mean()
    assert agree > 0.9
    assert torch.equal(log_probs(model, inputs), reference)


def test_heads_can_be_quantized_too(model):
    quantized = quantize_model(model, "dynamic-int8", keep_fp32=())
    names = quantized_module_names(quantized)
    assert {"heads.0", "heads.1"} <= set(names)
    assert len(names) == 1 + 2 * 7 + 2


def test_aliased_layers_are_quantized_and_counted_once(model):
    # ConformerLayerStack reaches its layers as encoder.encoder.layers and
    # encoder.layers: one module each, one name each.
    names = linear_module_names(model)
    assert not any(n.startswith("encoder.layers.") for n in names)
    quantized = quantize_model(model, "dynamic-int8")
    alias = quantized.encoder.layers[0].ffn_module1[1].ffn[0]
    assert alias is quantized.encoder.encoder.layers[0].ffn_module1[1].ffn[0]
    assert type(alias).__name__ == "Linear" and alias.__module__.startswith(
        "torch.ao.nn.quantized"
    )
    keys = unique_state_dict(quantized)
    assert not any(k.startswith("encoder.layers.") for k in keys)
    assert any(k.startswith("encoder.encoder.layers.") for k in keys)


def test_size_is_the_saved_state(model):
    fp32 = serialized_size_mb(model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert fp32 == pytest.approx(buffer.tell() / 1e6, rel=0.05)
    params = sum(p.numel() for p in model.parameters())
    assert fp32 == pytest.approx(4 * params / 1e6, rel=0.1)
    int8 = serialized_size_mb(quantize_model(model, "dynamic-int8"))
    linear = sum(
        model.get_submodule(n).weight.numel() for n in linear_module_names(model)
    )
    linear_names = set(linear_module_names(model))
    other = sum(
        getattr(module, param).numel()
        for name, module, param in storable_weights(model, DEFAULT_KEEP_FP32)
        if name not in linear_names
    )
    # int8 weights save 3 bytes per quantized or int8-stored weight
    assert fp32 - int8 == pytest.approx(3 * (linear + other) / 1e6, rel=0.1)


def test_weights_without_int8_kernels_are_stored_in_int8(model, inputs):
    quantized = quantize_model(model, "dynamic-int8")
    stored = int8_stored_weight_names(quantized)
    assert "encoder.encoder.layers.0.mha_layer.in_proj_weight" in stored
    assert "encoder.encoder.layers.1.convolution_module.conv.weight" in stored
    assert not any(name.startswith("heads") for name in stored)
    assert int8_stored_weight_names(model) == []


def test_int8_storage_rounds_each_weight_to_its_channel_grid(model, inputs):
    stored = copy.deepcopy(model)
    names = store_weights_int8(stored)
    for name in names:
        module_name, _, param = name.rpartition(".")
        before = getattr(model.get_submodule(module_name), param)
        after = getattr(stored.get_submodule(module_name), param)
        scale = before.abs().amax(dim=tuple(range(1, before.dim())), keepdim=True) / 127
        assert after.dtype == torch.float32
        assert ((after - before).abs() <= scale / 2 + 1e-7).all(), name
    reference, output = log_probs(model, inputs), log_probs(stored, inputs)
    assert not torch.equal(reference, output)
    assert (reference.exp() - output.exp()).abs().max() < 0.05


def test_unknown_method_names_the_key_and_the_choices():
    with pytest.raises(
        ValueError, match="quantization method 'int3' is unknown"
    ) as err:
        check_method("int3")
    assert "dynamic-int8, torchao-int8-dynamic, torchao-int8-weight-only" in str(
        err.value
    )
    with pytest.raises(ValueError, match="benchmark_options.quantization 'int3'"):
        check_method("int3", key="benchmark_options.quantization")


def test_method_the_install_lacks_is_refused(monkeypatch):
    missing = PTQMethod(
        "int4", True, "torchao.quantization:NoSuchConfig", lambda model, names: None
    )
    monkeypatch.setitem(quantization.PTQ_METHODS, "int4", missing)
    assert "int4" not in available_methods()
    with pytest.raises(
        ValueError, match="'int4' needs torchao.quantization:NoSuchConfig"
    ):
        quantize_model(torch.nn.Linear(2, 2), "int4")


def test_ssl_model_is_quantized_too():
    from modules.models.ssl_early_exit import DNNHeadEarlyExitCTC
    from modules.nn.ssl import build_ssl_encoder
    from modules.nn.ssl_loading import TINY_CONFIG

    torch.manual_seed(0)
    frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    model = DNNHeadEarlyExitCTC(frontend, stack, size, 7, dnn_neurons=16).eval()
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.8])
    quantized = quantize_model(model, "dynamic-int8")
    names = quantized_module_names(quantized)
    assert "encoder.layers.0.attention.q_proj" in names
    assert not any(name.startswith("heads.") for name in names)
    with torch.inference_mode():
        reference = model.exit_log_probs(wavs, lens, 1)
        assert (quantized.exit_log_probs(wavs, lens, 1) - reference).abs().max() < 0.1
