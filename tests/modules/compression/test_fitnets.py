"""FitNets hints (modules/compression/fitnets.py): the hidden states of the
first layers, the regressor (width and time alignment), the masked MSE and
the start-up checks of the FitNets keys."""

import pytest
import torch

from modules.compression.fitnets import (
    HintRegressor,
    configure_fitnets,
    hidden_after_layers,
    hint_loss,
)
from tests.modules.compression.tiny_experiment import experiment_hparams


def tiny_model(tmp_path, **keys):
    return experiment_hparams(str(tmp_path), **keys)[0]["model"]


def test_hidden_states_of_the_first_layers_only(tmp_path):
    model = tiny_model(tmp_path, num_layers=3)
    wavs, lens = torch.rand(2, 8000), torch.tensor([1.0, 0.6])
    calls = []
    model.encoder.layers[2].register_forward_hook(lambda *args: calls.append(1))
    hidden = hidden_after_layers(model, wavs, lens, 2)
    assert not calls
    *_, (_, layer, exit_hidden) = model.exit_representations(wavs, lens, 2)
    assert layer == 2
    torch.testing.assert_close(model.encoder.exit_representation(hidden), exit_hidden)


def test_regressor_projects_widths_and_interpolates_time():
    regressor = HintRegressor(3, 5)
    assert regressor(torch.rand(2, 4, 3), num_frames=4).shape == (2, 4, 5)
    same = HintRegressor(2, 2)
    assert isinstance(same.projection, torch.nn.Identity)
    assert not list(same.parameters())
    two_frames = torch.tensor([[[0.0, 4.0], [4.0, 0.0]]])
    stretched = same(two_frames, num_frames=4)
    expected = torch.tensor([[[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]]])
    torch.testing.assert_close(stretched, expected)


def test_hint_loss_is_a_masked_mean_squared_error():
    hint = torch.zeros(2, 3, 2)
    prediction = torch.tensor(
        [[[1.0, 3.0], [2.0, 2.0], [0.0, 0.0]], [[1.0, 1.0], [3.0, 3.0], [50.0, 50.0]]]
    )
    lens = torch.tensor([1.0, 2.0 / 3.0])
    # utterance 1: (5 + 4 + 0) / 3 = 3; utterance 2: (1 + 9) / 2 = 5
    assert hint_loss(prediction, hint, lens).item() == pytest.approx(4.0)
    prediction[1, 2] = -7.0  # padding
    assert hint_loss(prediction, hint, lens).item() == pytest.approx(4.0)


def fitnets_keys(tmp_path, **overrides):
    hparams = experiment_hparams(str(tmp_path / "student"))[0]
    hparams.update(fitnets_epochs=2, fitnets_hint_layer=2, fitnets_guided_layers=1)
    hparams.update(overrides)
    return hparams


def test_regressor_maps_the_student_width_to_the_teachers(tmp_path):
    teacher = tiny_model(tmp_path / "teacher", d_model=12, num_layers=3)
    hparams = fitnets_keys(tmp_path)
    setup = configure_fitnets(hparams, hparams["model"], teacher)
    assert (setup.hint_layer, setup.guided_layers, setup.epochs) == (2, 1, 2)
    projection = setup.regressor.projection
    assert (projection.in_features, projection.out_features) == (8, 12)
    assert configure_fitnets({"fitnets_epochs": 0}, None, None) is None


BAD_KEYS = [
    ({"fitnets_hint_layer": 4}, "fitnets_hint_layer=4: the teacher's .* 1..3"),
    ({"fitnets_hint_layer": None}, "fitnets_hint_layer=None: give a layer"),
    ({"fitnets_guided_layers": 3}, "fitnets_guided_layers=3: the student's .* 1..2"),
    ({"fitnets_epochs": 3}, "fitnets_epochs=3 leaves no .* number_of_epochs=3"),
    ({"fitnets_epochs": -1}, "fitnets_epochs=-1: give the number"),
    ({"lr_annealing": None}, "lr_annealing: FitNets restarts"),
]


@pytest.mark.parametrize("overrides, message", BAD_KEYS)
def test_fitnets_keys_that_do_not_fit_are_refused(tmp_path, overrides, message):
    teacher = tiny_model(tmp_path / "teacher", d_model=12, num_layers=3)
    hparams = fitnets_keys(tmp_path, **overrides)
    with pytest.raises(ValueError, match=message):
        configure_fitnets(hparams, hparams["model"], teacher)


def test_fitnets_without_a_teacher_is_refused(tmp_path):
    hparams = fitnets_keys(tmp_path)
    with pytest.raises(ValueError, match="fitnets_epochs=2 needs a frozen teacher"):
        configure_fitnets(hparams, hparams["model"], None)
