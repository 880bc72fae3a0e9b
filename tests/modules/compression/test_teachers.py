"""Frozen KD teachers (modules/compression/teachers.py)."""

import pytest
import torch

from modules.checkpoints import AtomicCheckpointer
from modules.compression.teachers import load_frozen_teacher


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
