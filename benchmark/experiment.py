"""A trained experiment folder and its data, as the benchmark reads them.

:func:`load_experiment` opens the output folder of ``train.py``
(``hyperparams.yaml``, ``save/``, ``manifests/``, ``tokenizer/``) at its best
checkpoint, wherever the folder has been moved since training
(:func:`modules.experiment_folder.open_experiment`), with its tokenizer;
:func:`load_split` reads a manifest into padded :class:`Batch` objects kept in
memory, so that disk reads are never timed.

Examples
--------
>>> batch = Batch(["a"], torch.zeros(1, 32000), torch.tensor([0.5]), [["HI"]])
>>> split_seconds([batch], 16000)
1.0
>>> EvalSet("dev", [batch]).ids
['a']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import speechbrain as sb
import torch
import yaml

from benchmark.errors import BenchmarkError
from modules.data.datasets import manifest_dataset
from modules.experiment_folder import NotAnExperimentError, open_experiment
from modules.nn.lengths import audio_seconds

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

    @property
    def reference_exit(self) -> int:
        """The exit every other one is compared with: the deepest trained exit.

        With ``train_exits: K`` (manual exit activation) the exits above K
        were never trained and exit K ranked the checkpoints; with
        ``train_exits: null`` it is the last exit (1 for a single-exit model).
        """
        return self.hparams.get("train_exits") or getattr(self.model, "num_exits", 1)

    def reference_variant(self, variants):
        """The variant of :attr:`reference_exit` among ``variants``, else the
        last one (a variant list without that exit)."""
        found = [v for v in variants if v.exit_index == self.reference_exit]
        return found[0] if found else variants[-1]


class _UntaggedLoader(yaml.SafeLoader):
    """YAML loader that reads hyperpyyaml tags (``!new:``, ``!ref``, ...) as
    plain values, so that settings are read without building any object."""


def _untagged(loader, _suffix, node):
    """A tagged node as the plain value it holds."""
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_UntaggedLoader.add_multi_constructor("!", _untagged)


def read_plain_hparams(folder) -> dict:
    """``folder/hyperparams.yaml`` as plain values (tags not evaluated, no
    model built); ``{}`` when it is absent or unreadable (then
    :func:`load_experiment` says why).

    Example
    -------
    >>> read_plain_hparams("/no/such/experiment")
    {}
    """
    path = Path(folder) / "hyperparams.yaml"
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UntaggedLoader)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


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
    try:
        trained = open_experiment(folder)
    except NotAnExperimentError as error:
        raise BenchmarkError(str(error)) from error
    model = trained.model.eval()
    meta = {"path": str(trained.checkpoint.path), **trained.checkpoint.meta}
    hparams = trained.hparams
    return Experiment(trained.folder, hparams, model, load_tokenizer(hparams), meta)


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


@dataclass(frozen=True)
class EvalSet(BatchedUtterances):
    """A split in memory: batches, reference words, audio duration.

    Attributes
    ----------
    name : str
        Manifest name.
    batches : list of Batch
        The padded batches.
    """

    name: str
    batches: list

    @property
    def audio_s(self):
        """Unpadded audio duration in seconds (16 kHz audio)."""
        return split_seconds(self.batches, 16000)


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
    dataset = manifest_dataset([str(csv)], "ascending", max_utts=max_utts)
    opts = dict(exp.hparams.get("test_dataloader_opts", {"batch_size": 8}))
    opts["batch_size"] = batch_size or opts.get("batch_size", 8)
    loader = sb.dataio.dataloader.make_dataloader(dataset, **opts)
    return [
        Batch(list(b.id), b.sig.data, b.sig.lengths, [w.split() for w in b.wrd])
        for b in loader
    ]


def split_seconds(batches, sample_rate) -> float:
    """Total duration of the (unpadded) audio of ``batches``, in seconds
    (samples summed over the batches, then divided by ``sample_rate``)."""
    samples = sum(audio_seconds(b.rel_lens, b.wavs.shape[1], 1) for b in batches)
    return samples / sample_rate
