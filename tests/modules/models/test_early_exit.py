"""Early-exit component: exit placement, heads, and layers actually run."""

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from modules.models.early_exit import EarlyExitCTC, resolve_exit_layers
from modules.nn.encoders import ConformerLayerStack

D_MODEL = 32


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


def make_model(num_layers=6, **exit_kwargs):
    torch.manual_seed(0)
    encoder = ConformerLayerStack(
        ConformerEncoder(
            num_layers=num_layers, d_model=D_MODEL, d_ffn=64, nhead=4, kernel_size=3
        )
    )
    return EarlyExitCTC(identity_frontend, encoder, D_MODEL, 11, **exit_kwargs).eval()


def count_layer_calls(model):
    calls = []
    for index, layer in enumerate(model.encoder.layers):
        layer.register_forward_hook(lambda *_, i=index: calls.append(i))
    return calls


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"exit_every": 2}, [2, 4, 6, 8, 10, 12]),
        ({"exit_every": 5}, [5, 10, 12]),
        ({"exit_layers": [1, 7, 12]}, [1, 7, 12]),
        ({}, [12]),
    ],
)
def test_exit_positions(kwargs, expected):
    assert resolve_exit_layers(12, **kwargs) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"exit_layers": [2, 14]}, "exit_layers"),
        ({"exit_layers": [0, 12]}, "exit_layers"),
        ({"exit_layers": [4, 2]}, "strictly increasing"),
        ({"exit_every": 0}, "exit_every"),
        ({"exit_every": 2, "exit_layers": [2]}, "not both"),
    ],
)
def test_bad_exit_positions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve_exit_layers(12, **kwargs)


@pytest.mark.parametrize("exit_index, layers_run", [(1, [0, 1]), (2, [0, 1, 2, 3])])
def test_exit_k_runs_only_its_layers(exit_index, layers_run):
    model = make_model(exit_every=2)
    calls = count_layer_calls(model)
    x, lens = torch.rand(2, 9, D_MODEL), torch.tensor([1.0, 0.7])
    outputs = model(x, lens, num_exits=exit_index)
    assert len(outputs) == exit_index
    assert calls == layers_run
    calls.clear()
    model.exit_log_probs(x, lens, exit_index)
    assert calls == layers_run


def test_all_exits_from_one_pass_match_truncated_runs():
    model = make_model(exit_every=2)
    x, lens = torch.rand(3, 12, D_MODEL), torch.tensor([1.0, 0.8, 0.5])
    with torch.no_grad():
        all_exits = model(x, lens)
        for k in range(1, model.num_exits + 1):
            torch.testing.assert_close(
                model.exit_log_probs(x, lens, k), all_exits[k - 1]
            )


def test_stopping_iteration_stops_computation():
    model = make_model(exit_every=1)
    calls = count_layer_calls(model)
    for output in model.iter_exits(torch.rand(1, 5, D_MODEL), torch.ones(1)):
        if output.index == 3:
            break
    assert calls == [0, 1, 2]


def test_padding_does_not_change_valid_frames():
    model = make_model(exit_every=3)
    x = torch.rand(1, 8, D_MODEL)
    padded = torch.cat([x, torch.rand(1, 4, D_MODEL) * 100], dim=1)
    with torch.no_grad():
        short = model(x, torch.ones(1))[-1]
        long = model(padded, torch.tensor([8 / 12]))[-1][:, :8]
    torch.testing.assert_close(short, long, atol=1e-4, rtol=1e-4)


def test_shared_and_separate_heads():
    separate, shared = (
        make_model(exit_every=2),
        make_model(exit_every=2, shared_head=True),
    )
    assert len(separate.heads) == 3 and len(shared.heads) == 1
    assert shared.head(1) is shared.head(3)
    assert separate.head(1) is not separate.head(3)


def test_unknown_exit_is_a_clear_error():
    model = make_model(exit_every=2)
    with pytest.raises(ValueError, match="exits 1..3"):
        model.exit_log_probs(torch.rand(1, 4, D_MODEL), torch.ones(1), 4)


def test_layer_removal_keeps_first_layers():
    model = make_model(num_layers=6)
    model.encoder.keep_first_layers(4)
    assert model.encoder.num_layers == 4
    with pytest.raises(ValueError, match="keep_layers=5"):
        model.encoder.keep_first_layers(5)


@pytest.mark.parametrize(
    "exit_kwargs, keep, full, exits",
    [
        ({"exit_every": 2}, 4, [2, 4, 6], [2, 4]),
        ({"exit_every": 2}, 3, [2, 4, 6], [2, 3]),
        ({}, 2, [6], [2]),
        ({"exit_every": 2, "shared_head": True}, 5, [2, 4, 6], [2, 4, 5]),
    ],
)
def test_keep_layers_drops_the_exits_above(exit_kwargs, keep, full, exits):
    model = make_model(num_layers=6, keep_layers=keep, **exit_kwargs)
    assert model.exit_layers == exits and model.full_exit_layers == full
    assert model.encoder.num_layers == keep
    assert len(model.heads) == (1 if exit_kwargs.get("shared_head") else len(exits))
    calls = count_layer_calls(model)
    outputs = model(torch.rand(2, 5, D_MODEL), torch.ones(2))
    assert len(outputs) == len(exits) and calls == list(range(keep))


@pytest.mark.parametrize(
    "keep, message",
    [
        (7, "keep_layers=7 is not possible: the encoder has 6 layers"),
        (0, "keep_layers=0 is not possible"),
        (2.5, "keep_layers=2.5 must be an integer"),
        (True, "keep_layers=True must be an integer"),
    ],
)
def test_bad_keep_layers_names_the_key(keep, message):
    with pytest.raises(ValueError, match=message):
        make_model(num_layers=6, exit_every=2, keep_layers=keep)


@pytest.mark.parametrize("shared_head", [False, True])
def test_ctc_upsampling_heads_on_every_exit(shared_head):
    plain = make_model(num_layers=4, exit_every=2, shared_head=shared_head)
    model = make_model(
        num_layers=4, exit_every=2, shared_head=shared_head, ctc_upsampling=True
    )
    x, lens = torch.rand(2, 5, D_MODEL), torch.ones(2)
    assert [lp.shape for lp in model(x, lens)] == [(2, 10, 11)] * 2
    assert [lp.shape for lp in plain(x, lens)] == [(2, 5, 11)] * 2
    assert model.exit_log_probs(x, lens, 1).shape == (2, 10, 11)
    assert len(model.heads) == len(plain.heads)
    assert all(head.factor == 2 for head in model.heads)
