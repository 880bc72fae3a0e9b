"""The Conformer's positional encoding as one YAML key: each choice adds what
it says, composes with exits, layer removal and the AED model, keeps the
default checkpoints loadable, and bad names or combinations are refused."""

import glob
import os
from functools import partial

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.lobes.models.transformer.Transformer import (
    PositionalEncoding,
    TransformerDecoder,
)
from speechbrain.nnet.attention import RelPosEncXL

from modules.exits.dynamic import dynamic_exit_forward
from modules.exits.exit_policy import ExitPolicy
from modules.models.aed_early_exit import EarlyExitAED
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack
from modules.nn.positional_encoding import (
    SinusoidalPositions,
    conformer_attention_type,
)
from modules.nn.rotary import RoPEMHAWithTheta
from tests.paths import REPO_ROOT

D_MODEL = 16
CHOICES = ["relative", "rotary", "sine", "none"]
CONFORMER_YAMLS = sorted(
    glob.glob(os.path.join(REPO_ROOT, "hparams", "conformer*.yaml"))
)
TINY = {"d_model": 32, "d_ffn": 64, "nhead": 2, "num_layers": 2, "output_neurons": 48}


def conformer(positional_encoding, num_layers=2, kernel_size=3):
    return ConformerEncoder(
        num_layers,
        D_MODEL,
        32,
        2,
        kernel_size=kernel_size,
        attention_type=conformer_attention_type(positional_encoding),
    )


def make_stack(positional_encoding, seed=0, **kwargs):
    torch.manual_seed(seed)
    encoder = conformer(positional_encoding, **kwargs)
    return ConformerLayerStack(encoder, positional_encoding).eval()


def run(stack, x, rel_lens=None):
    with torch.no_grad():
        return stack(x, torch.ones(x.shape[0]) if rel_lens is None else rel_lens)


def identity_frontend(wavs, rel_lens):
    return wavs


class ExitAtOwnNumber(ExitPolicy):
    """Test policy: utterance ``i`` of the batch exits at exit ``i + 1``."""

    name = "own_number"

    def decide(self, obs, history):
        return obs.utterances + 1 == obs.index


@pytest.mark.parametrize("choice", CHOICES)
def test_only_none_leaves_the_encoder_blind_to_frame_order(choice):
    # With a 1-frame convolution kernel, only positional information can make
    # the output depend on where a frame is.
    stack = make_stack(choice, kernel_size=1)
    x = torch.rand(1, 12, D_MODEL)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    equivariant = torch.allclose(
        run(stack, x[:, order]), run(stack, x)[:, order], atol=1e-5
    )
    assert equivariant == (choice == "none")


def test_sine_adds_exactly_the_absolute_sinusoids():
    sine, plain = make_stack("sine"), make_stack("none")
    plain.load_state_dict(sine.state_dict())
    x = torch.rand(2, 11, D_MODEL)
    sinusoids = PositionalEncoding(D_MODEL, max_len=11)(x)  # SpeechBrain's table
    torch.testing.assert_close(run(sine, x), run(plain, x + sinusoids))


@pytest.mark.parametrize("choice", ["rotary", "none"])
def test_rotary_and_none_add_nothing_to_the_input(choice):
    stack = make_stack(choice)
    x = torch.rand(2, 10, D_MODEL)
    with torch.no_grad():
        hidden = x
        for layer in stack.encoder.layers:
            hidden = layer(hidden)[0]
        expected = stack.encoder.norm(hidden)
    torch.testing.assert_close(run(stack, x), expected)


def test_sinusoids_have_no_length_limit():
    table = SinusoidalPositions(8)(torch.zeros(1, 20000, 8))
    assert table.shape == (1, 20000, 8)
    expected = torch.tensor([19999.0, 19999.0 * 10000 ** (-2 / 8)])
    torch.testing.assert_close(
        table[0, -1, 0::2][:2], expected.sin(), atol=1e-3, rtol=0
    )


@pytest.mark.parametrize("choice", CHOICES)
def test_an_utterance_does_not_depend_on_the_padding_of_its_batch(choice):
    stack = make_stack(choice)
    torch.manual_seed(1)
    frames = torch.rand(1, 7, D_MODEL)
    alone = run(stack, frames)
    batch = torch.cat([torch.cat([frames, torch.rand(1, 5, D_MODEL)], 1)] * 2)
    together = run(stack, batch, torch.tensor([7 / 12, 1.0]))
    torch.testing.assert_close(together[0, :7], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("choice", CHOICES)
def test_exits_layer_removal_and_dynamic_exits_run(choice):
    encoder = ConformerLayerStack(conformer(choice, num_layers=4), choice)
    model = EarlyExitCTC(identity_frontend, encoder, D_MODEL, 7, exit_every=1)
    x, lens = torch.rand(3, 9, D_MODEL), torch.tensor([1.0, 0.6, 0.8])
    with torch.no_grad():
        result = dynamic_exit_forward(model.eval(), x, lens, ExitAtOwnNumber(0.0))
        assert result.exit_index.tolist() == [1, 2, 3]
        for row, exit_index in enumerate(result.exit_index.tolist()):
            static = model.exit_log_probs(
                x[row : row + 1], lens[row : row + 1], exit_index
            )
            valid = round(lens[row].item() * 9)
            torch.testing.assert_close(
                result.log_probs[row, :valid], static[0, :valid], atol=1e-5, rtol=0
            )
    removed = EarlyExitCTC(
        identity_frontend, encoder, D_MODEL, 7, exit_every=1, keep_layers=2
    )
    assert removed.encoder.num_layers == 2 and len(removed(x, lens)) == 2


@pytest.mark.parametrize("choice", CHOICES)
def test_the_aed_model_trains_with_each_choice(choice):
    torch.manual_seed(0)
    decoder = partial(TransformerDecoder, 1, 2, 32, D_MODEL, normalize_before=True)
    encoder = ConformerLayerStack(conformer(choice), choice)
    model = EarlyExitAED(identity_frontend, encoder, D_MODEL, 7, decoder, exit_every=1)
    outputs = model(
        torch.rand(2, 9, D_MODEL), torch.ones(2), None, torch.ones(2, 3).long()
    )
    loss = sum(out.decoder_log_probs.sum() for out in outputs)
    loss.backward()
    assert all(out.decoder_log_probs.shape == (2, 3, 7) for out in outputs)


class CheckpointLayoutBeforeTheKey(torch.nn.Module):
    """What a relative ConformerLayerStack saved before positional_encoding
    existed: the encoder, its layers, and RelPosEncXL as ``positional``."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.layers = encoder.layers
        self.positional = RelPosEncXL(D_MODEL)


def test_default_stack_loads_a_checkpoint_saved_before_the_key(tmp_path):
    torch.manual_seed(5)
    saved = CheckpointLayoutBeforeTheKey(conformer("relative")).eval()
    torch.save(saved.state_dict(), tmp_path / "model.ckpt")
    stack = make_stack("relative", seed=6)
    stack.load_state_dict(torch.load(tmp_path / "model.ckpt"), strict=True)
    x = torch.rand(1, 10, D_MODEL)
    with torch.no_grad():
        pos_embs, hidden = saved.positional(x), x
        for layer in saved.layers:
            hidden = layer(hidden, pos_embs=pos_embs)[0]
        expected = saved.encoder.norm(hidden)
    torch.testing.assert_close(run(stack, x), expected)


@pytest.mark.parametrize("choice", ["rotary", "sine", "none"])
def test_other_choices_save_no_positional_state(choice):
    encoder = conformer(choice)
    expected = {f"encoder.{key}" for key in encoder.state_dict()}
    expected |= {f"layers.{key}" for key in encoder.layers.state_dict()}
    assert set(ConformerLayerStack(encoder, choice).state_dict()) == expected


@pytest.mark.parametrize("name", ["rope", "Relative", None, "absolute"])
def test_a_name_that_does_not_exist_is_refused_with_the_valid_ones(name):
    message = "positional_encoding=.* choose one of: relative, rotary, sine, none"
    with pytest.raises(ValueError, match=message):
        conformer_attention_type(name)
    with pytest.raises(ValueError, match=message):
        ConformerLayerStack(conformer("relative"), name)


@pytest.mark.parametrize(
    "built_for, choice",
    [("sine", "relative"), ("relative", "rotary"), ("rotary", "none")],
)
def test_an_encoder_built_for_another_choice_is_refused(built_for, choice):
    with pytest.raises(ValueError, match=f"positional_encoding: {choice} needs"):
        ConformerLayerStack(conformer(built_for), choice)


@pytest.mark.parametrize(
    "choice, theta, message",
    [
        ("relative", 1.5e6, "applies only to positional_encoding: rotary"),
        ("rotary", 0.5, "must be a number > 1"),
        ("rotary", "1.5e6", "must be a number > 1"),
        ("rotary", True, "must be a number > 1"),
        ("rotary", float("inf"), "must be a number > 1"),
    ],
)
def test_a_bad_rope_theta_is_refused(choice, theta, message):
    with pytest.raises(ValueError, match=f"rope_theta=.*{message}"):
        ConformerLayerStack(conformer(choice), choice, rope_theta=theta)


def load_yaml(path, tmp_path, **overrides):
    overrides = {**TINY, "data_folder": str(tmp_path), **overrides}
    overrides["output_folder"] = str(tmp_path / "out")
    with open(path) as fin:
        return load_hyperpyyaml(fin, overrides)


@pytest.mark.parametrize("path", CONFORMER_YAMLS, ids=os.path.basename)
def test_every_conformer_yaml_defaults_to_relative_and_wires_rotary(path, tmp_path):
    default = load_yaml(path, tmp_path)["encoder"]
    assert default.positional_encoding == "relative"
    assert default.encoder.attention_type == "RelPosMHAXL"
    assert isinstance(default.positional, RelPosEncXL)
    overrides = {"positional_encoding": "rotary", "rope_theta": 1500000.0}
    rotary = load_yaml(path, tmp_path, **overrides)["encoder"]
    attention = [layer.mha_layer for layer in rotary.layers]
    assert all(isinstance(a, RoPEMHAWithTheta) for a in attention)
    assert {a.rope_theta for a in attention} == {1.5e6}


def test_a_yaml_with_a_bad_name_fails_at_load(tmp_path):
    yaml_path = os.path.join(REPO_ROOT, "hparams", "conformer_ctc_early_exit.yaml")
    with pytest.raises(ValueError, match="positional_encoding='rope' does not exist"):
        load_yaml(yaml_path, tmp_path, positional_encoding="rope")


@pytest.mark.parametrize("choice", CHOICES)
def test_recipe_model_with_downsampling_and_layer_removal_runs(choice, tmp_path):
    yaml_path = os.path.join(REPO_ROOT, "hparams", "conformer_ctc_early_exit.yaml")
    overrides = {
        "positional_encoding": choice,
        "num_layers": 4,
        "exit_every": 2,
        "keep_layers": 2,
        "downsampling_method": "conv",
        "downsampling_factor": 2,
    }
    model = load_yaml(yaml_path, tmp_path, **overrides)["model"].eval()
    with torch.no_grad():
        log_probs = model(torch.rand(2, 16000) - 0.5, torch.tensor([1.0, 0.7]))
    assert len(log_probs) == 1 and log_probs[0].shape[-1] == 48
    assert torch.isfinite(log_probs[0]).all()
