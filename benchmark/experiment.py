"""A trained experiment folder and its data, as the benchmark reads them.

:func:`load_experiment` opens the output folder of ``train.py``
(``hyperparams.yaml``, ``save/``, ``manifests/``, ``tokenizer/``) at its best
checkpoint, wherever the folder has been moved since training;
:func:`load_split` reads a manifest into padded :class:`Batch` objects kept in
memory, so that disk reads are never timed.

Examples
--------
>>> batch = Batch(["a"], torch.zeros(1, 32000), torch.tensor([0.5]), [["HI"]])
>>> audio_seconds([batch])
1.0
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import speechbrain as sb
import torch
from hyperpyyaml import load_hyperpyyaml


class BenchmarkError(RuntimeError):
    """A benchmark that cannot run as asked (bad folder, device, option)."""


# --------------------------------------------------------------------------
# Experiment folder
# --------------------------------------------------------------------------


@dataclass
class Experiment:
    """A trained experiment: hparams, model at its best checkpoint, tokenizer.

    Attributes
    ----------
    folder : Path
        The experiment's output folder (resolved).
    hparams : dict
        ``hyperparams.yaml`` loaded with the folders relocated to ``folder``.
    model : torch.nn.Module
        The model, in eval mode, at the checkpoint.
    tokenizer : object
        The trained SentencePiece tokenizer.
    checkpoint : dict
        ``path`` of the checkpoint and its meta data (``WER``, ...).
    """

    folder: Path
    hparams: dict
    model: torch.nn.Module
    tokenizer: object
    checkpoint: dict


def _relocation_overrides(folder: Path, yaml_text: str) -> dict:
    """Point the folders inside the experiment at ``folder``, wherever the
    experiment was trained (``hyperparams.yaml`` holds resolved paths)."""
    keys = set(re.findall(r"^([A-Za-z_]\w*):", yaml_text, flags=re.MULTILINE))
    wanted = {
        "output_folder": folder,
        "save_folder": folder / "save",
        "manifest_folder": folder / "manifests",
        "tokenizer_folder": folder / "tokenizer",
    }
    return {k: str(v) for k, v in wanted.items() if k in keys and v.exists()}


def load_tokenizer(hparams: dict):
    """The experiment's trained tokenizer.

    It is loaded directly when its model file is present, so that a moved
    experiment folder still works; else ``modules.data.datasets.build_tokenizer``
    builds (or finds) it as training does.

    Parameters
    ----------
    hparams : dict
        Loaded hyperparameters (``tokenizer_folder``, ``token_type``,
        ``output_neurons``).

    Returns
    -------
    sentencepiece.SentencePieceProcessor
    """
    from modules.data.tokenizer import load_tokenizer as load_model
    from modules.data.tokenizer import tokenizer_model_path

    path = tokenizer_model_path(
        hparams["tokenizer_folder"], hparams["token_type"], hparams["output_neurons"]
    )
    if os.path.isfile(path):
        return load_model(path)
    from modules.data.datasets import build_tokenizer

    return build_tokenizer(hparams)


def load_experiment(folder) -> Experiment:
    """Load ``folder``'s hparams, best checkpoint (min ``WER``) and tokenizer.

    Parameters
    ----------
    folder : str or Path
        Output folder of ``train.py``.

    Returns
    -------
    Experiment

    Raises
    ------
    BenchmarkError
        If ``folder`` is not an experiment folder or has no checkpoint.
    """
    folder = Path(folder).resolve()
    yaml_path = folder / "hyperparams.yaml"
    if not yaml_path.is_file():
        what = "does not exist" if not folder.exists() else "has no hyperparams.yaml"
        raise BenchmarkError(
            f"{folder} is not an experiment folder: it {what} (expected the "
            "output_folder of `python train.py hparams/x.yaml`)."
        )
    text = yaml_path.read_text(encoding="utf-8")
    hparams = load_hyperpyyaml(text, _relocation_overrides(folder, text))
    checkpointer = hparams["checkpointer"]
    checkpointer.checkpoints_dir = folder / "save"
    checkpoint = None
    if checkpointer.checkpoints_dir.is_dir():
        checkpoint = checkpointer.recover_if_possible(min_key="WER")
    if checkpoint is None:
        raise BenchmarkError(
            f"No checkpoint with a validation WER in {folder / 'save'}: train "
            "the experiment (at least one epoch) before benchmarking it."
        )
    model = hparams["model"].eval()
    meta = {"path": str(checkpoint.path), **checkpoint.meta}
    return Experiment(folder, hparams, model, load_tokenizer(hparams), meta)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@dataclass
class Batch:
    """One padded batch kept in memory (so that disk reads are never timed).

    Attributes
    ----------
    ids : list of str
        Utterance ids.
    wavs : torch.Tensor
        ``[B, samples]`` padded audio.
    rel_lens : torch.Tensor
        ``[B]`` relative lengths.
    words : list of list of str
        Reference words of every utterance.
    """

    ids: list
    wavs: torch.Tensor
    rel_lens: torch.Tensor
    words: list


class BatchedUtterances:
    """Mixin for holders of a ``batches`` list of :class:`Batch`."""

    @property
    def ids(self):
        """Utterance ids in batch order."""
        return [i for b in self.batches for i in b.ids]

    @property
    def references(self):
        """Reference word lists in batch order."""
        return [w for b in self.batches for w in b.words]


def _dataset(csv: Path, max_utts=None):
    """The manifest's dataset, ``max_utts`` of it spread evenly, sorted by
    duration, yielding ``id``, ``sig`` and ``wrd``."""
    dataset = sb.dataio.dataset.DynamicItemDataset.from_csv(str(csv))
    if max_utts and max_utts < len(dataset):
        keys = list(dataset.data)
        step = len(keys) / max_utts
        keep = {keys[int(i * step)] for i in range(max_utts)}
        dataset = dataset.filtered_sorted(key_test={"id": lambda i: i in keep})
    dataset = dataset.filtered_sorted(sort_key="duration")
    read = sb.utils.data_pipeline.takes("wav")(
        sb.utils.data_pipeline.provides("sig")(sb.dataio.dataio.read_audio)
    )
    sb.dataio.dataset.add_dynamic_item([dataset], read)
    sb.dataio.dataset.set_output_keys([dataset], ["id", "sig", "wrd"])
    return dataset


def load_split(exp: Experiment, split: str, batch_size=None, max_utts=None):
    """Batches of a split (sorted by duration, as the test stage does).

    Parameters
    ----------
    exp : Experiment
        Experiment whose ``manifest_folder`` holds ``<split>.csv``.
    split : str
        Manifest name, e.g. ``"test-clean"``.
    batch_size : int, optional
        Default: the YAML's ``test_dataloader_opts`` (else 8).
    max_utts : int, optional
        Keep that many utterances spread evenly over the split.

    Returns
    -------
    list of Batch

    Raises
    ------
    BenchmarkError
        If the manifest does not exist.
    """
    csv = Path(exp.hparams["manifest_folder"]) / f"{split}.csv"
    if not csv.is_file():
        found = sorted(p.stem for p in csv.parent.glob("*.csv"))
        raise BenchmarkError(f"No manifest {csv} (manifests there: {found}).")
    dataset = _dataset(csv, max_utts)
    opts = dict(exp.hparams.get("test_dataloader_opts", {"batch_size": 8}))
    opts["batch_size"] = batch_size or opts.get("batch_size", 8)
    loader = sb.dataio.dataloader.make_dataloader(dataset, **opts)
    return [
        Batch(list(b.id), b.sig.data, b.sig.lengths, [w.split() for w in b.wrd])
        for b in loader
    ]


def audio_seconds(batches, sample_rate=16000) -> float:
    """Total duration of the (unpadded) audio of ``batches``, in seconds."""
    samples = sum(float((b.rel_lens * b.wavs.shape[1]).sum()) for b in batches)
    return samples / sample_rate
