"""Start-up set-up of teacher-student runs (modules/training/run_setup.py):
a trained experiment of another architecture as the frozen teacher, its exit,
its tokenizer, FitNets, and every bad combination refused before training."""

import pytest
from speechbrain.nnet.schedulers import NoamScheduler

from modules.losses.distillation import PseudoLabelKDLoss
from modules.losses.exit_losses import EarlyExitCTCLoss
from modules.losses.teacher_student import TeacherStudentKDLoss
from modules.training.ctc_brain import EarlyExitCTCBrain
from modules.training.run_setup import build_run_setup, build_run_tokenizer
from tests.modules.compression.tiny_experiment import (
    char_vocabulary,
    experiment_hparams,
    write_experiment,
)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny teacher experiment folder: 3 layers of width 12, 3 exits."""
    folder = tmp_path_factory.mktemp("teacher")
    return write_experiment(folder, d_model=12, num_layers=3).folder


@pytest.fixture
def student(tmp_path):
    """``hparams(**keys)``: a student YAML (2 layers of width 8) with
    ``keys`` set, in an empty output folder."""
    vocab = char_vocabulary(tmp_path / "vocab")

    def hparams(subsampling_factor=4, output_neurons=vocab, **keys):
        loaded, _ = experiment_hparams(
            str(tmp_path / "student"),
            subsampling_factor=subsampling_factor,
            output_neurons=output_neurons,
        )
        loaded.update(keys)
        return loaded

    return hparams


def test_teacher_student_run_setup(teacher, student):
    hparams = student(teacher=teacher)
    setup = build_run_setup(hparams)
    assert isinstance(setup.exit_loss, TeacherStudentKDLoss)
    assert setup.teacher.num_exits == 3 and not setup.teacher.training
    assert setup.teacher_exit == 3
    assert setup.tokenizer_path.startswith(hparams["tokenizer_folder"])
    assert build_run_tokenizer(hparams, setup).vocab_size() == hparams["output_neurons"]
    assert setup.fitnets is None and setup.teacher_view == "clean"
    assert build_run_setup(student(teacher=teacher, teacher_exit=1)).teacher_exit == 1


def test_fitnets_run_setup(teacher, student):
    setup = build_run_setup(student(teacher=teacher, fitnets_epochs=2))
    assert (setup.fitnets.hint_layer, setup.fitnets.guided_layers) == (1, 1)
    assert setup.fitnets.regressor.projection.out_features == 12


FITNETS = {"fitnets_epochs": 1}
BAD_KEYS = [
    ({"teacher_exit": 4}, "teacher_exit=4: the teacher has exits 1..3"),
    (
        {"teacher_exit": 2, "teacher": None, "loss_class": PseudoLabelKDLoss},
        "teacher_exit=2 but there is no frozen teacher",
    ),
    ({"teacher": None}, "TeacherStudentKDLoss distils .* but teacher is null"),
    ({"kd_teacher_checkpoint": "/x"}, "teacher and kd_teacher_checkpoint are both"),
    (
        {"loss_class": EarlyExitCTCLoss},
        "teacher is set but loss_class=.*EarlyExitCTCLoss uses no teacher",
    ),
    ({"teacher": "/no/such"}, "teacher=/no/such: .* is not an experiment folder"),
    ({"output_neurons": 9}, "teacher=.*output_neurons 8 .teacher. vs 9"),
    (
        {"subsampling_factor": 2},
        "teacher: 34 output frames .* the student 69 .subsampling_factor=2.",
    ),
    ({"fitnets_epochs": 3}, "fitnets_epochs=3 leaves no stage-2 epoch"),
    # The teacher's global statistics are not those the student starts with.
    ({"teacher_view": "augmented"}, "teacher_view=augmented: .* other features"),
    (
        {**FITNETS, "fitnets_hint_layer": 4},
        "fitnets_hint_layer=4: the teacher's encoder has layers 1..3",
    ),
    (
        {**FITNETS, "fitnets_guided_layers": 3},
        "fitnets_guided_layers=3: the student's encoder has layers 1..2",
    ),
    (
        {**FITNETS, "brain_class": EarlyExitCTCBrain},
        "fitnets_epochs > 0 needs brain_class",
    ),
    (
        {**FITNETS, "lr_annealing": NoamScheduler(0.1, 2)},
        "lr_annealing: FitNets restarts",
    ),
]


@pytest.mark.parametrize("keys, message", BAD_KEYS)
def test_bad_teacher_keys_are_refused_at_start_up(teacher, student, keys, message):
    hparams = student(**{"teacher": teacher, **keys})
    with pytest.raises(ValueError, match=message):
        build_run_setup(hparams)


def test_frame_rates_may_differ_without_logit_kd(teacher, student):
    hparams = student(teacher=teacher, subsampling_factor=2, fitnets_epochs=1)
    hparams["loss_class"] = PseudoLabelKDLoss
    setup = build_run_setup(hparams)
    assert setup.fitnets.epochs == 1 and setup.teacher_exit == 3


def test_fitnets_needs_a_teacher(student):
    hparams = student(teacher=None, fitnets_epochs=1, loss_class=EarlyExitCTCLoss)
    with pytest.raises(ValueError, match="fitnets_epochs=1 needs a frozen teacher"):
        build_run_setup(hparams)


def test_the_augmented_view_trains_a_student_alone(student):
    hparams = student(
        teacher=None, loss_class=EarlyExitCTCLoss, teacher_view="augmented"
    )
    assert build_run_setup(hparams).teacher_view == "clean"
