"""Frozen KD teachers (modules/compression/teachers.py): a copy of the
student's architecture, or a trained experiment of another one (with its
tokenizer and frame-rate checks)."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from modules.checkpoints import AtomicCheckpointer
from modules.compression.teachers import (
    adopt_teacher_tokenizer,
    check_teacher_frames,
    load_frozen_teacher,
    load_teacher_experiment,
)
from tests.modules.compression.tiny_experiment import (
    char_vocabulary,
    experiment_hparams,
    write_experiment,
)
from tests.recipes.recipe_runs import file_digest


def save(model, folder, wer):
    """One checkpoint of ``model`` in ``folder`` (an experiment's save/)."""
    checkpointer = AtomicCheckpointer(str(folder), {"model": model})
    return str(checkpointer.save_checkpoint(meta={"WER": wer}).path)


def test_teacher_is_a_frozen_copy_with_the_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    save(torch.nn.Linear(3, 2), tmp_path / "save", wer=40.0)
    best = torch.nn.Linear(3, 2)
    save(best, tmp_path / "save", wer=20.0)
    student = torch.nn.Linear(3, 2)
    teacher = load_frozen_teacher(student, str(tmp_path / "save"))
    assert teacher is not student and not teacher.training
    torch.testing.assert_close(teacher.state_dict(), best.state_dict())
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in student.parameters())
    assert not torch.equal(student.weight, teacher.weight)


def test_teacher_of_another_shape_names_the_key(tmp_path):
    checkpoint = save(torch.nn.Linear(4, 2), tmp_path / "save", wer=20.0)
    with pytest.raises(ValueError, match="kd_teacher_checkpoint=.*does not match"):
        load_frozen_teacher(torch.nn.Linear(3, 2), checkpoint)
    with pytest.raises(FileNotFoundError, match="kd_teacher_checkpoint=.*does not"):
        load_frozen_teacher(torch.nn.Linear(3, 2), str(tmp_path / "none"))


# ---------------------------------------------------------------------------
# A teacher experiment of another architecture (YAML key ``teacher``)
# ---------------------------------------------------------------------------
@pytest.fixture
def teacher_folder(tmp_path):
    """A tiny teacher experiment (d_model 12), moved after it was written."""
    written = write_experiment(tmp_path / "trained", d_model=12)
    moved = tmp_path / "moved"
    shutil.move(written.folder, moved)
    written.folder = str(moved)
    return written


def student_hparams(tmp_path, **keys):
    """A student YAML (d_model 8) with an empty output folder."""
    keys.setdefault("output_neurons", char_vocabulary(tmp_path / "vocab"))
    return experiment_hparams(str(tmp_path / "student"), **keys)[0]


def test_teacher_is_built_from_its_own_yaml_at_its_best_checkpoint(teacher_folder):
    trained = load_teacher_experiment(teacher_folder.folder)
    assert trained.folder == Path(teacher_folder.folder)
    assert trained.checkpoint.meta["WER"] == 40.0
    torch.testing.assert_close(trained.model.state_dict(), teacher_folder.best_state)
    torch.testing.assert_close(
        trained.hparams["normalizer"].glob_mean, teacher_folder.best_statistics
    )
    assert trained.hparams["d_model"] == 12
    assert not trained.model.training
    assert not any(p.requires_grad for p in trained.model.parameters())
    assert trained.tokenizer_model.startswith(teacher_folder.folder)


def test_a_folder_that_is_not_an_experiment_names_the_key(tmp_path):
    with pytest.raises(ValueError, match="teacher=.*does not exist"):
        load_teacher_experiment(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="teacher=.*has no hyperparams.yaml"):
        load_teacher_experiment(str(tmp_path))
    untrained = write_experiment(tmp_path / "exp")
    shutil.rmtree(Path(untrained.folder) / "save")
    with pytest.raises(ValueError, match="teacher=.*No checkpoint with a valid"):
        load_teacher_experiment(untrained.folder)
    with pytest.raises(ValueError, match="teacher=3: give the output folder"):
        load_teacher_experiment(3)


def test_student_adopts_the_teachers_tokenizer(teacher_folder, tmp_path):
    trained = load_teacher_experiment(teacher_folder.folder)
    hparams = student_hparams(tmp_path)
    copied = adopt_teacher_tokenizer(trained, hparams)
    assert copied.startswith(str(tmp_path / "student" / "tokenizer"))
    assert file_digest(copied) == file_digest(trained.tokenizer_model)
    assert adopt_teacher_tokenizer(trained, hparams) == copied  # a resumed run
    assert not any(name.endswith(".txt") for name in os.listdir(Path(copied).parent))


def test_student_with_another_tokenizer_is_refused(teacher_folder, tmp_path):
    trained = load_teacher_experiment(teacher_folder.folder)
    hparams = student_hparams(tmp_path)
    other = Path(adopt_teacher_tokenizer(trained, hparams))
    other.write_bytes(b"another tokenizer")
    with pytest.raises(ValueError, match="tokenizer_folder=.* holds another"):
        adopt_teacher_tokenizer(trained, hparams)
    hparams = student_hparams(tmp_path / "b", output_neurons=9)
    with pytest.raises(ValueError, match="output_neurons 8 .teacher. vs 9"):
        adopt_teacher_tokenizer(trained, hparams)
    hparams["output_neurons"], hparams["token_type"] = 8, "bpe"
    with pytest.raises(ValueError, match="token_type 'char' .teacher. vs 'bpe'"):
        adopt_teacher_tokenizer(trained, hparams)
    os.remove(trained.tokenizer_model)
    with pytest.raises(ValueError, match="teacher=.*its tokenizer .* is missing"):
        adopt_teacher_tokenizer(trained, student_hparams(tmp_path / "c"))


def test_logit_kd_needs_the_teachers_frame_rate(teacher_folder, tmp_path):
    trained = load_teacher_experiment(teacher_folder.folder)
    same = student_hparams(tmp_path)
    check_teacher_frames(trained.model, 2, trained.hparams, same["model"], same)
    assert same["model"].training
    faster = student_hparams(tmp_path, subsampling_factor=2)
    with pytest.raises(ValueError, match="frame") as error:
        check_teacher_frames(trained.model, 1, trained.hparams, faster["model"], faster)
    message = str(error.value)
    assert "teacher: 34 output frames for 1.37 s" in message
    assert "the student 69 (subsampling_factor=2)" in message
    assert "(subsampling_factor=4)" in message
    wider = student_hparams(tmp_path / "w", output_neurons=9)
    with pytest.raises(ValueError, match="8 output classes, the student 9"):
        check_teacher_frames(trained.model, 2, trained.hparams, wider["model"], wider)
