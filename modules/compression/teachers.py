"""Frozen teachers for knowledge distillation, loaded from a trained model.

Two kinds of teacher (YAML keys read by :mod:`modules.training.run_setup`):

- ``kd_teacher_checkpoint``: a checkpoint of the student's own architecture,
  loaded into a frozen copy of the student (:func:`load_frozen_teacher`);
- ``teacher``: a trained experiment folder of any CTC architecture, built
  from its own YAML (:func:`load_teacher_experiment`). The student adopts its
  tokenizer (:func:`adopt_teacher_tokenizer`), and logit distillation checks
  that both give the same frames for the same audio
  (:func:`check_teacher_frames`).
"""

import copy
import filecmp
import os
import shutil
from functools import partial

import torch
from speechbrain.processing.features import InputNormalization
from speechbrain.utils.distributed import run_on_main

from modules.checkpoints import resolve_checkpoint
from modules.data.tokenizer import tokenizer_model_path
from modules.experiment_folder import NotAnExperimentError, open_experiment
from modules.models.early_exit import EarlyExitCTC

# Audio of the start-up shape probes: an odd length, so that frame counts of
# different front-ends (rounding, padding) are unlikely to agree by chance.
PROBE_SECONDS = 1.37
PROBE_SAMPLES = round(PROBE_SECONDS * 16000)
# The YAML keys that set a CTC model's output frame rate.
FRAME_RATE_KEYS = (
    "subsampling_factor",
    "downsampling_method",
    "downsampling_factor",
    "ctc_upsampling",
)


def load_frozen_teacher(model, path, key="kd_teacher_checkpoint"):
    """A frozen copy of ``model`` with the weights of a trained checkpoint.

    Arguments
    ---------
    model : torch.nn.Module
        The student; the teacher is a deep copy of it (same architecture).
    path : str
        A checkpoint folder (``.../save/CKPT+...``) or an experiment's
        ``save`` folder, whose best checkpoint (lowest dev WER) is used.
    key : str
        The YAML key that gave ``path``, named in the errors.

    Returns
    -------
    torch.nn.Module
        The teacher, in eval mode, with ``requires_grad`` False everywhere.

    Example
    -------
    >>> import tempfile
    >>> from modules.checkpoints import AtomicCheckpointer
    >>> trained = torch.nn.Linear(2, 2)
    >>> save = tempfile.mkdtemp()
    >>> _ = AtomicCheckpointer(save, {"model": trained}).save_checkpoint(
    ...     meta={"WER": 10.0})
    >>> teacher = load_frozen_teacher(torch.nn.Linear(2, 2), save)
    >>> torch.equal(teacher.weight, trained.weight), teacher.training
    (True, False)
    >>> any(p.requires_grad for p in teacher.parameters())
    False
    """
    folder = resolve_checkpoint(path, key=key)
    teacher = copy.deepcopy(model)
    state = torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")
    try:
        teacher.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"{key}={path}: {folder}/model.ckpt does not match "
            f"this model's architecture ({str(error).splitlines()[0]} ...); "
            "the teacher must have the same YAML model keys"
        ) from error
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


def load_teacher_experiment(folder, key="teacher"):
    """A trained experiment of this toolkit, frozen, as a distillation teacher.

    The teacher is built from its own ``hyperparams.yaml`` (any architecture)
    at its best checkpoint (lowest dev WER), normaliser statistics included
    (:func:`modules.experiment_folder.open_experiment`).

    Arguments
    ---------
    folder : str
        The teacher's experiment folder (``output_folder`` of ``train.py``).
    key : str
        The YAML key that gave ``folder``, named in the errors.

    Returns
    -------
    modules.experiment_folder.TrainedExperiment
        Its model is in eval mode with ``requires_grad`` False everywhere.

    Example
    -------
    >>> load_teacher_experiment("/no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: teacher=/no/such/folder: /no/such/folder is not an experiment ...
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise ValueError(
            f"{key}={folder!r}: give the output folder of a trained experiment "
            "(results/<experiment_name>/<seed>), or null"
        )
    try:
        trained = open_experiment(folder)
    except NotAnExperimentError as error:
        raise ValueError(f"{key}={folder}: {error}") from error
    if not isinstance(trained.model, EarlyExitCTC):
        raise ValueError(
            f"{key}={folder}: its model is a {type(trained.model).__name__}, "
            "not a CTC model of this toolkit (modules.models.early_exit."
            "EarlyExitCTC); distil from a CTC experiment"
        )
    trained.model.eval()
    trained.model.requires_grad_(False)
    return trained


def resolve_teacher_exit(teacher_exit, teacher):
    """The teacher's exit to distil from: ``teacher_exit`` (1-based), or the
    teacher's last exit when it is None.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> teacher = SimpleNamespace(num_exits=3)
    >>> resolve_teacher_exit(None, teacher), resolve_teacher_exit(2, teacher)
    (3, 2)
    >>> resolve_teacher_exit(4, teacher)
    Traceback (most recent call last):
        ...
    ValueError: teacher_exit=4: the teacher has exits 1..3; give one of them, or null for its last exit
    """  # noqa: E501
    if teacher_exit is None:
        return teacher.num_exits
    if (
        isinstance(teacher_exit, bool)
        or not isinstance(teacher_exit, int)
        or not 1 <= teacher_exit <= teacher.num_exits
    ):
        raise ValueError(
            f"teacher_exit={teacher_exit}: the teacher has exits "
            f"1..{teacher.num_exits}; give one of them, or null for its last exit"
        )
    return teacher_exit


def probe(model, run):
    """``run(wavs, rel_lens)`` on :data:`PROBE_SECONDS` of silence, with
    ``model`` in eval mode and no gradient: shapes at start-up, without
    SpecAugment. Global normalisers without statistics yet (an untrained
    student) compute them from the probe; every normaliser's statistics and
    the model's mode are restored afterwards.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> norm = InputNormalization(norm_type="global")
    >>> probe(norm, lambda wavs, lens: norm(wavs.unsqueeze(-1), lens)).shape
    torch.Size([1, 21920, 1])
    >>> norm.count, norm.training
    (0, True)
    """
    normalizers = [m for m in model.modules() if isinstance(m, InputNormalization)]
    statistics = [m._statistics_dict() for m in normalizers]
    was_training = model.training
    model.eval()
    for normalizer in normalizers:
        normalizer.train(normalizer.count == 0)
    try:
        with torch.no_grad():
            return run(torch.zeros(1, PROBE_SAMPLES), torch.ones(1))
    finally:
        model.train(was_training)
        for normalizer, saved in zip(normalizers, statistics):
            normalizer._load_statistics_dict(saved)


def frame_rate_settings(hparams):
    """The frame-rate keys of a YAML, as ``key=value`` text.

    Example
    -------
    >>> frame_rate_settings({"subsampling_factor": 4, "lr": 0.1})
    'subsampling_factor=4'
    """
    return ", ".join(f"{k}={hparams[k]}" for k in FRAME_RATE_KEYS if k in hparams)


def check_teacher_frames(teacher, teacher_exit, teacher_hparams, model, hparams):
    """Logit distillation compares teacher and student frame by frame: both
    must give the same number of frames and classes for the same audio.

    Arguments
    ---------
    teacher : modules.models.early_exit.EarlyExitCTC
        The frozen teacher.
    teacher_exit : int
        The teacher's exit distilled from.
    teacher_hparams, hparams : dict
        The teacher's and the student's YAML (their frame-rate keys are
        named in the error).
    model : modules.models.early_exit.EarlyExitCTC
        The student.
    """
    teacher_run = partial(teacher.exit_log_probs, exit_index=teacher_exit)
    _, t_frames, t_classes = probe(teacher, teacher_run).shape
    student_run = partial(model.exit_log_probs, exit_index=1)
    _, s_frames, s_classes = probe(model, student_run).shape
    if t_classes != s_classes:
        raise ValueError(
            f"teacher: {t_classes} output classes, the student {s_classes}; "
            "the student must use the teacher's tokenizer (output_neurons)"
        )
    if t_frames != s_frames:
        raise ValueError(
            f"teacher: {t_frames} output frames for {PROBE_SECONDS} s of audio "
            f"({frame_rate_settings(teacher_hparams)}), the student {s_frames} "
            f"({frame_rate_settings(hparams)}): logit distillation needs the "
            "same frame rate; use the teacher's values of these keys (or FitNets "
            "hints / pseudo-label KD, which do not compare frames)"
        )


def adopt_teacher_tokenizer(trained, hparams, key="teacher"):
    """The student uses the teacher's trained tokenizer.

    The teacher's tokenizer folder (model, vocabulary, configuration) is
    copied into the student's ``tokenizer_folder`` when it has none; a
    student folder that already holds another tokenizer is refused.

    Arguments
    ---------
    trained : modules.experiment_folder.TrainedExperiment
        The teacher.
    hparams : dict
        The student's YAML (``tokenizer_folder``, ``token_type``,
        ``output_neurons``).
    key : str
        The YAML key that named the teacher.

    Returns
    -------
    str
        The student's copy of the teacher's tokenizer model.
    """
    source = trained.tokenizer_model
    different = [
        f"{name} {trained.hparams.get(name)!r} (teacher) vs {hparams.get(name)!r}"
        for name in ("token_type", "output_neurons")
        if trained.hparams.get(name) != hparams.get(name)
    ]
    if different:
        raise ValueError(
            f"{key}={trained.folder}: the student must use the teacher's "
            f"tokenizer, but {'; '.join(different)}; set the teacher's values"
        )
    if not os.path.isfile(source):
        raise ValueError(
            f"{key}={trained.folder}: its tokenizer {source} is missing; keep "
            "the tokenizer/ folder with the experiment"
        )
    target = tokenizer_model_path(
        hparams["tokenizer_folder"], hparams["token_type"], hparams["output_neurons"]
    )
    if os.path.isfile(target) and not filecmp.cmp(source, target, shallow=False):
        raise ValueError(
            f"tokenizer_folder={hparams['tokenizer_folder']} holds another "
            f"tokenizer ({target}) than {key}={trained.folder}; give the student "
            "an empty tokenizer_folder (or another output_folder)"
        )
    # Every process calls run_on_main (its barrier), the main one copies.
    run_on_main(
        shutil.copytree,
        args=[os.path.dirname(source), os.path.dirname(target)],
        # Not the text dumps SentencePiece trained from.
        kwargs={"dirs_exist_ok": True, "ignore": shutil.ignore_patterns("*.txt")},
    )
    return target
