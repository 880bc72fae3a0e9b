"""Atomic checkpoints: a save killed half-way is never taken for a checkpoint."""

import pytest
import torch

from modules.checkpoints import AtomicCheckpointer


class Crash(RuntimeError):
    """Stands for the process being killed while saving."""


class FailingSave:
    """A recoverable whose saving fails after the model was written."""

    def __init__(self):
        self.fail = False

    def _save(self, path):
        if self.fail:
            raise Crash("killed while saving")
        torch.save({}, path)

    def _load(self, path, end_of_epoch=False):
        torch.load(path)


def make_checkpointer(folder, saver):
    checkpointer = AtomicCheckpointer(folder, {"model": torch.nn.Linear(2, 2)})
    checkpointer.add_recoverable(
        "state",
        saver,
        custom_save_hook=FailingSave._save,
        custom_load_hook=FailingSave._load,
    )
    return checkpointer


def test_interrupted_save_is_invisible_and_cleaned_up(tmp_path):
    saver = FailingSave()
    checkpointer = make_checkpointer(tmp_path, saver)
    first = checkpointer.save_checkpoint(meta={"epoch": 1})
    saver.fail = True
    with pytest.raises(Crash):
        checkpointer.save_checkpoint(meta={"epoch": 2})
    assert [c.meta["epoch"] for c in checkpointer.list_checkpoints()] == [1]
    assert len(list(tmp_path.iterdir())) == 2
    recovered = checkpointer.recover_if_possible()
    assert recovered.path == first.path
    saver.fail = False
    checkpointer.save_checkpoint(meta={"epoch": 3})
    assert sorted(c.meta["epoch"] for c in checkpointer.list_checkpoints()) == [1, 3]
    assert len(list(tmp_path.iterdir())) == 2
