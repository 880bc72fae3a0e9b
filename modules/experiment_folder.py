"""A trained experiment folder, opened at its best checkpoint.

An experiment folder is the ``output_folder`` of ``train.py``:
``hyperparams.yaml`` (the YAML with the run's overrides, folders as resolved
paths), ``save/`` (checkpoints), ``manifests/`` and ``tokenizer/``.
:func:`open_experiment` rebuilds its objects from its own
``hyperparams.yaml`` with the folders pointed at where the experiment is now
(it may have been moved since training) and recovers its best checkpoint
(lowest dev ``WER``): model weights, feature normaliser statistics, and every
other recoverable of its checkpointer. The benchmark opens the experiments it
measures this way, and a distillation run its teacher.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.checkpoints import Checkpoint

from modules.data.tokenizer import tokenizer_model_path


class NotAnExperimentError(ValueError):
    """A folder that is not a trained experiment (no ``hyperparams.yaml``,
    or no checkpoint with a dev WER)."""


@dataclass(frozen=True)
class TrainedExperiment:
    """A trained experiment at its best checkpoint.

    Attributes
    ----------
    folder : pathlib.Path
        The experiment folder (resolved).
    hparams : dict
        Its ``hyperparams.yaml``, loaded with the folders relocated.
    checkpoint : speechbrain.utils.checkpoints.Checkpoint
        The recovered checkpoint (``path`` and ``meta``, with ``WER``).
    """

    folder: Path
    hparams: dict
    checkpoint: Checkpoint

    @property
    def model(self):
        """The model (YAML key ``model``) with the checkpoint's weights."""
        return self.hparams["model"]

    @property
    def tokenizer_model(self):
        """Path of the trained tokenizer's ``.model`` file (it may be absent
        when the tokenizer folder was not kept with the experiment)."""
        return tokenizer_model_path(
            self.hparams["tokenizer_folder"],
            self.hparams["token_type"],
            self.hparams["output_neurons"],
        )


def relocation_overrides(folder, yaml_text):
    """Point the folders inside an experiment at ``folder``, wherever it was
    trained (``hyperparams.yaml`` holds resolved paths); only keys the YAML
    has and folders that exist are overridden.

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "save").mkdir()
    >>> text = "output_folder: /old\\nsave_folder: /old/save\\nmanifest_folder: x"
    >>> overrides = relocation_overrides(folder, text)
    >>> sorted(overrides), overrides["save_folder"] == str(folder / "save")
    (['output_folder', 'save_folder'], True)
    """
    folder = Path(folder)
    keys = set(re.findall(r"^([A-Za-z_]\w*):", yaml_text, flags=re.MULTILINE))
    wanted = {
        "output_folder": folder,
        "save_folder": folder / "save",
        "manifest_folder": folder / "manifests",
        "tokenizer_folder": folder / "tokenizer",
    }
    return {k: str(v) for k, v in wanted.items() if k in keys and v.exists()}


def open_experiment(folder):
    """Load ``folder``'s hyperparameters and recover its best checkpoint.

    Arguments
    ---------
    folder : str or pathlib.Path
        Output folder of ``train.py``.

    Returns
    -------
    TrainedExperiment
        Its model is left in the mode the YAML built it in (training mode).

    Raises
    ------
    NotAnExperimentError
        If ``folder`` has no ``hyperparams.yaml`` or no checkpoint with a dev
        WER.

    Example
    -------
    >>> open_experiment("/no/such/experiment")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    modules.experiment_folder.NotAnExperimentError: /no/such/experiment is not ...
    """
    folder = Path(folder).resolve()
    yaml_path = folder / "hyperparams.yaml"
    if not yaml_path.is_file():
        what = "does not exist" if not folder.exists() else "has no hyperparams.yaml"
        raise NotAnExperimentError(
            f"{folder} is not an experiment folder: it {what} (expected the "
            "output_folder of `python train.py hparams/x.yaml`)."
        )
    text = yaml_path.read_text(encoding="utf-8")
    hparams = load_hyperpyyaml(text, relocation_overrides(folder, text))
    checkpointer = hparams["checkpointer"]
    checkpointer.checkpoints_dir = folder / "save"
    checkpoint = None
    if checkpointer.checkpoints_dir.is_dir():
        checkpoint = checkpointer.recover_if_possible(min_key="WER")
    if checkpoint is None:
        raise NotAnExperimentError(
            f"No checkpoint with a validation WER in {folder / 'save'}: train "
            "the experiment (at least one epoch) before using it."
        )
    return TrainedExperiment(folder, hparams, checkpoint)
