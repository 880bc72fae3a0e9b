"""Layer removal: a trained full model's first N layers start a shorter one."""

import logging

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.processing.features import InputNormalization

from modules.checkpoints import AtomicCheckpointer
from modules.compression.layer_removal import (
    configure_layer_removal,
    init_from_checkpoint,
)
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL, VOCAB = 16, 7


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


def make_model(seed, num_layers=4, **kwargs):
    torch.manual_seed(seed)
    encoder = ConformerLayerStack(
        ConformerEncoder(
            num_layers=num_layers, d_model=D_MODEL, d_ffn=32, nhead=2, kernel_size=3
        )
    )
    return EarlyExitCTC(identity_frontend, encoder, D_MODEL, VOCAB, **kwargs).eval()


def save(model, folder, wer, normalizer=None):
    """One checkpoint of ``model`` in ``folder`` (an experiment's save/)."""
    recoverables = {"model": model}
    if normalizer is not None:
        recoverables["normalizer"] = normalizer
    checkpointer = AtomicCheckpointer(str(folder), recoverables)
    return str(checkpointer.save_checkpoint(meta={"WER": wer}).path)


@pytest.fixture
def inputs():
    torch.manual_seed(123)
    return torch.rand(2, 9, D_MODEL), torch.tensor([1.0, 0.6])


@pytest.mark.parametrize("shared_head", [False, True])
def test_kept_layers_and_heads_come_from_the_checkpoint(tmp_path, inputs, shared_head):
    source = make_model(0, exit_every=2, shared_head=shared_head)
    checkpoint = save(source, tmp_path / "save", wer=50.0)
    short = make_model(1, exit_every=2, shared_head=shared_head, keep_layers=3)
    new_head = [p.clone() for p in short.head(2).parameters()]
    assert init_from_checkpoint(short, checkpoint) == checkpoint
    with torch.no_grad():
        torch.testing.assert_close(
            short.exit_log_probs(*inputs, 1), source.exit_log_probs(*inputs, 1)
        )
    torch.testing.assert_close(
        short.encoder.layers[2].state_dict(), source.encoder.layers[2].state_dict()
    )
    expected = source.head(1).parameters() if shared_head else new_head
    for param, before in zip(short.head(2).parameters(), expected):
        torch.testing.assert_close(param, before)


def test_keeping_an_exit_layer_makes_its_exit_the_output(tmp_path, inputs):
    source = make_model(0, exit_every=2)
    short = make_model(1, exit_every=2, keep_layers=2)
    init_from_checkpoint(short, save(source, tmp_path / "save", wer=50.0))
    assert short.exit_layers == [2] and short.num_exits == 1
    with torch.no_grad():
        torch.testing.assert_close(
            short(*inputs)[-1], source.exit_log_probs(*inputs, 1)
        )


def test_save_folder_gives_the_best_checkpoint(tmp_path, inputs):
    save(make_model(0, exit_every=2), tmp_path / "save", wer=60.0)
    best = make_model(2, exit_every=2)
    save(best, tmp_path / "save", wer=30.0)
    short = make_model(1, exit_every=2, keep_layers=2)
    init_from_checkpoint(short, str(tmp_path / "save"))
    with torch.no_grad():
        torch.testing.assert_close(short(*inputs)[-1], best.exit_log_probs(*inputs, 1))


def test_normalizer_statistics_come_along(tmp_path):
    normalizer = InputNormalization(norm_type="global")
    normalizer(torch.rand(3, 20, 4) * 5 + 2, torch.ones(3))
    checkpoint = save(make_model(0), tmp_path / "save", 50.0, normalizer)
    fresh = InputNormalization(norm_type="global")
    configure_layer_removal(
        {
            "model": make_model(1, keep_layers=2),
            "init_from_checkpoint": checkpoint,
            "normalizer": fresh,
        }
    )
    torch.testing.assert_close(fresh.glob_mean, normalizer.glob_mean)


def test_keep_layers_alone_warns_that_nothing_is_loaded(caplog):
    model = make_model(0, keep_layers=2)
    with caplog.at_level(logging.WARNING):
        configure_layer_removal({"model": model, "keep_layers": 2})
    assert "keep_layers=2 without init_from_checkpoint" in caplog.text


def test_missing_or_empty_checkpoint_names_the_key(tmp_path):
    model = make_model(1, keep_layers=2)
    with pytest.raises(FileNotFoundError, match="init_from_checkpoint=.*does not"):
        init_from_checkpoint(model, str(tmp_path / "nothing"))
    (tmp_path / "save").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoint with a dev WER"):
        init_from_checkpoint(model, str(tmp_path / "save"))


@pytest.mark.parametrize(
    "source_kwargs, message",
    [
        ({"exit_every": 2, "shared_head": True}, "has 1 exit heads.*has 2 before"),
        ({"num_layers": 2, "exit_every": 1}, "does not fit.*layers.2"),
        ({"exit_every": 2, "ctc_upsampling": True}, "does not fit.*heads.0"),
    ],
)
def test_checkpoint_of_another_architecture_is_refused(
    tmp_path, source_kwargs, message
):
    checkpoint = save(make_model(0, **source_kwargs), tmp_path / "save", wer=50.0)
    with pytest.raises(ValueError, match=f"init_from_checkpoint=.*{message}"):
        init_from_checkpoint(make_model(1, exit_every=2, keep_layers=3), checkpoint)
