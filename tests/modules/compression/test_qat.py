"""Quantization-aware training of weights: quantizer, gradients, checkpoints,
export."""

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from modules.checkpoints import AtomicCheckpointer
from modules.compression.qat import (
    BucketedWeightQuantizer,
    WeightQuantizationSettings,
    bucketed_min_max,
    has_weight_quantization,
    quantized_parameters,
    with_weight_quantization,
)
from modules.compression.qat_export import export_quantized
from modules.compression.quantization import (
    quantized_module_names,
    serialized_size_mb,
)
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL, VOCAB = 32, 9


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


def make_model(seed=0):
    torch.manual_seed(seed)
    encoder = ConformerLayerStack(
        ConformerEncoder(num_layers=2, d_model=D_MODEL, d_ffn=64, nhead=4)
    )
    return EarlyExitCTC(identity_frontend, encoder, D_MODEL, VOCAB)


def frames(seed=1):
    torch.manual_seed(seed)
    return torch.randn(2, 12, D_MODEL), torch.tensor([1.0, 0.75])


def test_quantizer_values_match_hand_computation():
    # Buckets of 4 of the flattened weight, 2 bits (4 levels per bucket):
    # bucket 1: min -1, max 2: levels -1, 0, 1, 2 (0.4 -> 0, 0.6 -> 1);
    # bucket 2: min 0, max 0.3: levels 0, 0.1, 0.2, 0.3 (0.14 -> 0.1,
    # 0.26 -> 0.3); bucket 3 is one value: a constant bucket, unchanged.
    weight = torch.tensor([-1.0, 0.4, 0.6, 2.0, 0.0, 0.14, 0.26, 0.3, 7.0])
    weight = weight.reshape(3, 3)
    expected = torch.tensor([-1.0, 0.0, 1.0, 2.0, 0.0, 0.1, 0.3, 0.3, 7.0])
    quantized = bucketed_min_max(weight, bits=2, bucket_size=4)
    assert quantized.shape == (3, 3)
    assert torch.allclose(quantized.reshape(-1), expected, atol=1e-6)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("stochastic", [False, True])
def test_levels_per_bucket_are_at_most_two_to_the_bits(bits, stochastic):
    torch.manual_seed(bits)
    weight = torch.randn(37, 29)
    quantized = bucketed_min_max(weight, bits, 64, stochastic).reshape(-1)
    for start in range(0, quantized.numel(), 64):
        bucket = quantized[start : start + 64]
        assert len(torch.unique(bucket)) <= 2**bits
        original = weight.reshape(-1)[start : start + 64]
        assert bucket.min() >= original.min() - 1e-6
        assert bucket.max() <= original.max() + 1e-6
    step = (weight.max() - weight.min()) / (2**bits - 1)
    assert (quantized - weight.reshape(-1)).abs().max() <= step + 1e-6


def test_straight_through_gradient_is_the_gradient_at_the_quantized_weights():
    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 5)
    x, target = torch.randn(4, 6), torch.randn(4, 5)
    plain = torch.nn.Linear(6, 5)
    quantized = with_weight_quantization(
        layer, {"bits": 3, "bucket_size": 8, "stochastic_rounding": False}
    )
    with torch.no_grad():
        plain.weight.copy_(quantized.weight)
        plain.bias.copy_(quantized.bias)
    assert not torch.equal(plain.weight, quantized.parametrizations.weight.original)
    torch.nn.functional.mse_loss(quantized(x), target).backward()
    torch.nn.functional.mse_loss(plain(x), target).backward()
    original = quantized.parametrizations
    assert torch.allclose(original.weight.original.grad, plain.weight.grad)
    assert torch.allclose(original.bias.original.grad, plain.bias.grad)


def test_stochastic_rounding_is_unbiased_and_only_in_training():
    torch.manual_seed(0)
    weight = torch.tensor([0.0, 0.05, 0.123, 0.5, 0.77, 1.0])
    draws = torch.stack(
        [bucketed_min_max(weight, 2, 6, stochastic=True) for _ in range(4000)]
    )
    # levels are 1/3 apart: the standard error of a mean over 4000 draws is
    # at most (1/3) / 2 / sqrt(4000) = 0.0026
    assert (draws.mean(0) - weight).abs().max() < 0.01
    nearest = bucketed_min_max(weight, 2, 6)
    assert (nearest - weight).abs().max() > 0.1
    quantizer = BucketedWeightQuantizer(2, 6, stochastic_rounding=True)
    assert torch.equal(quantizer.eval()(weight), nearest)
    assert len({tuple(quantizer.train()(weight).tolist()) for _ in range(20)}) > 1


def build_from_yaml(seed):
    """The model of a YAML that applies weight quantization, as a recipe does."""
    yaml = f"""
seed: {seed}
plain: !new:torch.nn.Sequential
    - !new:torch.nn.Linear [8, 16]
    - !new:torch.nn.Linear [16, 4]
weight_quantization: {{bits: 4, bucket_size: 32, stochastic_rounding: True}}
model: !apply:modules.compression.qat.with_weight_quantization
    [!ref <plain>, !ref <weight_quantization>]
"""
    torch.manual_seed(seed)
    return load_hyperpyyaml(yaml)["model"]


def test_checkpoint_round_trip(tmp_path):
    trained = build_from_yaml(seed=0)
    checkpointer = AtomicCheckpointer(tmp_path, recoverables={"model": trained})
    checkpointer.save_checkpoint()
    assert sorted(trained.state_dict()) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    fresh = build_from_yaml(seed=1)
    x = torch.randn(3, 8)
    assert not torch.equal(fresh.eval()(x), trained.eval()(x))
    AtomicCheckpointer(tmp_path, recoverables={"model": fresh}).recover_if_possible()
    assert torch.equal(fresh.eval()(x), trained.eval()(x))
    plain = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 4))
    plain.load_state_dict(trained.state_dict())
    original = trained[0].parametrizations.weight.original
    assert torch.equal(plain[0].weight, original)


@pytest.mark.parametrize("bits", [1, 17, 8.0, True])
def test_bits_outside_2_to_16_are_refused(bits):
    with pytest.raises(ValueError, match="weight_quantization.bits"):
        with_weight_quantization(torch.nn.Linear(2, 2), {"bits": bits})


def test_bits_null_leaves_the_model_in_full_precision():
    # The YAML's weight_quantization_bits: null (switched on from the command
    # line with --weight_quantization_bits=8) keeps the model as it is.
    model = torch.nn.Linear(2, 2)
    settings = {"bits": None, "bucket_size": 256}
    assert with_weight_quantization(model, settings) is model
    assert not has_weight_quantization(model)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"bits": 8, "bucket_size": 0}, "weight_quantization.bucket_size"),
        ({"bits": 8, "stochastic_rounding": "yes"}, "stochastic_rounding"),
        ({"bits": 8, "buckets": 4}, r"unknown key\(s\) \['buckets'\]"),
        ({"bucket_size": 4}, "bits is missing"),
        ({"bits": 8, "exclude": ["("]}, "weight_quantization.exclude"),
        ([8], "expected a mapping"),
    ],
)
def test_bad_settings_name_their_key(settings, message):
    with pytest.raises(ValueError, match=message):
        with_weight_quantization(torch.nn.Linear(2, 2), settings)


def test_none_leaves_the_model_unchanged_and_twice_is_refused():
    layer = torch.nn.Linear(2, 2)
    assert with_weight_quantization(layer, None) is layer
    assert not has_weight_quantization(layer)
    with_weight_quantization(layer, {"bits": 8})
    with pytest.raises(ValueError, match="already quantizes"):
        with_weight_quantization(layer, {"bits": 4})


def test_selection_of_parameters():
    model = make_model()
    settings = WeightQuantizationSettings(8, exclude=("^heads\\.",))
    chosen = {
        f"{m}.{p}" if m else p for m, _, p in quantized_parameters(model, settings)
    }
    assert "encoder.encoder.layers.0.mha_layer.in_proj_weight" in chosen
    assert "encoder.encoder.layers.0.ffn_module1.1.ffn.0.bias" in chosen
    assert not any(name.startswith(("heads.", "encoder.layers.")) for name in chosen)
    # 1-D norm scales never; biases only with quantize_biases
    assert "encoder.encoder.layers.0.norm1.norm.weight" not in chosen
    no_bias = WeightQuantizationSettings(8, quantize_biases=False)
    assert all(p != "bias" for _, _, p in quantized_parameters(model, no_bias))


def test_conformer_trains_and_exports_to_int8_kernels():
    model = with_weight_quantization(make_model(), {"bits": 8, "bucket_size": 256})
    wavs, lens = frames()
    model.train()
    model(wavs, lens)[0].sum().backward()
    original = model.heads[0].parametrizations.weight.original
    assert original.grad is not None and original.grad.abs().sum() > 0
    model.eval()
    with torch.inference_mode():
        fake = model.exit_log_probs(wavs, lens, 1)
    exported = export_quantized(model, "dynamic-int8")
    assert has_weight_quantization(model) and not has_weight_quantization(exported)
    assert len(quantized_module_names(exported)) == 2 * 7  # heads stay fp32
    with torch.inference_mode():
        real = exported.exit_log_probs(wavs, lens, 1)
    assert (real - fake).abs().max() < 0.1
    assert serialized_size_mb(exported) < 0.7 * serialized_size_mb(model)
    # the trained model is left as it was (parametrize shares classes between
    # a module and its deep copy)
    with torch.inference_mode():
        assert torch.equal(model.exit_log_probs(wavs, lens, 1), fake)
    assert sorted(model.heads[0].state_dict()) == ["bias", "weight"]


def test_weight_norm_of_an_ssl_encoder_is_left_alone():
    from modules.nn.ssl import build_ssl_encoder
    from modules.nn.ssl_loading import TINY_CONFIG

    def ssl_model(seed):
        torch.manual_seed(seed)
        frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
        model = EarlyExitCTC(frontend, stack, size, VOCAB)
        return with_weight_quantization(model, {"bits": 8})

    model = ssl_model(0)
    conv = model.encoder.pos_conv_embed.conv  # weight norm, a parametrization
    assert list(conv.parametrizations) == ["weight", "bias"]
    assert isinstance(conv.parametrizations.bias[0], BucketedWeightQuantizer)
    assert not isinstance(conv.parametrizations.weight[0], BucketedWeightQuantizer)
    state = model.state_dict()
    prefix = "encoder.pos_conv_embed.conv."
    assert (
        prefix + "bias" in state
        and prefix + "parametrizations.weight.original0" in state
    )
    copy = ssl_model(1)
    copy.load_state_dict(state)
    wavs, lens = torch.randn(1, 8000), torch.ones(1)
    with torch.inference_mode():
        assert torch.equal(copy.eval()(wavs, lens)[0], model.eval()(wavs, lens)[0])
    exported = export_quantized(model, "dynamic-int8")
    assert list(exported.encoder.pos_conv_embed.conv.parametrizations) == ["weight"]
