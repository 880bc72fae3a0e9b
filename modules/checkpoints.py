"""A checkpointer whose checkpoints only become visible once complete.

SpeechBrain's ``Checkpointer`` writes a checkpoint's meta file (``CKPT.yaml``,
which is what marks a folder as a checkpoint) *before* the parameter files, so
a run killed while saving leaves a checkpoint that looks complete but is not,
and the next run fails to resume from it. Here the meta file is written under
a temporary name and renamed into place after every parameter file is saved;
unfinished checkpoint folders are removed at the next save.
"""

import os
import shutil

from speechbrain.utils.checkpoints import METAFNAME, Checkpointer
from speechbrain.utils.distributed import ddp_barrier, if_main_process

PARTIAL_SUFFIX = ".partial"


class AtomicCheckpointer(Checkpointer):
    """``speechbrain.utils.checkpoints.Checkpointer`` with atomic saves.

    Takes the same arguments as SpeechBrain's ``Checkpointer``.

    Example
    -------
    >>> import tempfile, torch
    >>> model = torch.nn.Linear(2, 2)
    >>> ckpt = AtomicCheckpointer(tempfile.mkdtemp(), {"model": model})
    >>> saved = ckpt.save_checkpoint()
    >>> (saved.path / METAFNAME).exists()
    True
    >>> len(ckpt.list_checkpoints())
    1
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include=None, end_of_epoch=True):
        """Write the meta file under a temporary name (renamed when done)."""
        partial = fpath.with_name(fpath.name + PARTIAL_SUFFIX)
        return super()._save_checkpoint_metafile(
            partial, meta_to_include or {}, end_of_epoch
        )

    def save_checkpoint(self, *args, **kwargs):
        """Save, then publish the checkpoint by renaming its meta file.

        Every process waits for the renaming (DDP): a process that listed the
        checkpoints before it would delete other checkpoints than the main
        process, and their collective calls would no longer match (a hang).
        """
        if if_main_process():
            self.remove_unfinished_checkpoints()
        checkpoint = super().save_checkpoint(*args, **kwargs)
        if checkpoint is not None:
            meta = checkpoint.path / METAFNAME
            os.replace(meta.with_name(meta.name + PARTIAL_SUFFIX), meta)
        ddp_barrier()
        return checkpoint

    def remove_unfinished_checkpoints(self):
        """Delete checkpoint folders left behind by a run killed while saving."""
        if not self.checkpoints_dir.is_dir():
            return
        for folder in self.checkpoints_dir.iterdir():
            if (folder / (METAFNAME + PARTIAL_SUFFIX)).exists():
                shutil.rmtree(folder)


def resolve_checkpoint(path, key="init_from_checkpoint"):
    """The checkpoint folder of ``path``: itself, or its best (min dev WER).

    Example
    -------
    >>> resolve_checkpoint("/no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileNotFoundError: init_from_checkpoint=/no/such/folder does not exist; ...
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{key}={path} does not exist; give an experiment's save folder or "
            "one of its checkpoint folders (save/CKPT+...)"
        )
    if os.path.exists(os.path.join(path, "model.ckpt")):
        return path
    best = Checkpointer(path).find_checkpoint(min_key="WER")
    if best is None:
        raise FileNotFoundError(
            f"{key}={path} holds no checkpoint with a dev WER (no model.ckpt, "
            "no end-of-epoch CKPT+* folder); train that experiment for an epoch "
            "first, give one CKPT+* folder, or fix the path"
        )
    return str(best.path)
