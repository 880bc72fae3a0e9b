"""Which input a frozen KD teacher reads: the clean audio, or the student's
SpecAugmented features.

YAML key ``teacher_view``:

- ``clean`` (default; the published "Listen to the Teacher" set-up): the
  teacher runs on the un-augmented waveform while the student reads its
  SpecAugmented view, so the student learns to predict clean-input outputs
  from masked input;
- ``augmented``: the teacher reads the very features the student reads,
  masks and time warping included, so both compute the same function of
  the same input ("consistent teaching", function matching: Beyer et al.
  2022, arXiv 2106.05237). It needs the two front-ends to compute the same
  features (filterbank, waveform downsampling, normalisation), checked at
  start-up on a probe signal; the teacher's subsampler, encoder and heads
  then read them. With global normalisation, the student's own running
  statistics (of the training data) stand in for the teacher's.

The view applies to every loss that reads the frozen teacher: logit KD and
the FitNets hints.
"""

import torch

from modules.compression.teachers import PROBE_SAMPLES, probe

__all__ = ["TEACHER_VIEWS", "check_teacher_view", "student_view_features"]

TEACHER_VIEWS = ("clean", "augmented")


def check_teacher_view(hparams, teacher, model):
    """The YAML's ``teacher_view``, checked against the teacher and student.

    Arguments
    ---------
    hparams : dict
        The student's YAML (``teacher_view``; absent reads ``clean``).
    teacher : modules.models.early_exit.EarlyExitCTC or None
        The frozen teacher.
    model : modules.models.early_exit.EarlyExitCTC
        The student.

    Returns
    -------
    str
        ``clean`` or ``augmented``; ``clean`` without a frozen teacher (the
        same YAML trains the student alone: nothing reads another view).

    Example
    -------
    >>> check_teacher_view({}, None, None)
    'clean'
    >>> check_teacher_view({"teacher_view": "augmented"}, None, None)
    'clean'
    >>> check_teacher_view({"teacher_view": "noisy"}, None, None)
    Traceback (most recent call last):
        ...
    ValueError: teacher_view='noisy': use one of clean, augmented
    """
    view = hparams.get("teacher_view") or "clean"
    if view not in TEACHER_VIEWS:
        raise ValueError(
            f"teacher_view={view!r}: use one of {', '.join(TEACHER_VIEWS)}"
        )
    if view == "clean" or teacher is None:
        return "clean"
    check_same_features(teacher, model)
    return view


def check_same_features(teacher, model):
    """Teacher and student front-ends must compute the same features for the
    same audio (compared on seeded noise, in eval mode)."""
    for name, net in (("teacher", teacher), ("student", model)):
        if not hasattr(net.frontend, "input_features"):
            raise ValueError(
                f"teacher_view=augmented needs filterbank front-ends "
                f"(modules.nn.frontend.FeatureFrontend); the {name}'s is "
                f"{type(net.frontend).__name__}: use teacher_view: clean"
            )
    norm_types = [
        getattr(net.frontend.normalizer, "norm_type", None) for net in (teacher, model)
    ]
    if norm_types[0] != norm_types[1]:
        raise ValueError(
            "teacher_view=augmented: the teacher's front-end computes other "
            f"features than the student's (normalisation {norm_types[0]} vs "
            f"{norm_types[1]}); give the student the teacher's normalizer, or "
            "use teacher_view: clean"
        )
    noise = torch.randn(1, PROBE_SAMPLES, generator=torch.Generator().manual_seed(0))
    teacher_feats, student_feats = (
        probe(net, lambda _, lens, net=net: net.frontend.input_features(noise, lens))
        for net in (teacher, model)
    )
    same = teacher_feats.shape == student_feats.shape and torch.allclose(
        teacher_feats, student_feats, atol=1e-4
    )
    if not same:
        raise ValueError(
            "teacher_view=augmented: the teacher's front-end computes other "
            f"features than the student's (shapes {tuple(teacher_feats.shape)} "
            f"and {tuple(student_feats.shape)}); give the student the "
            "teacher's n_mels, downsampling_* and normalizer settings, or use "
            "teacher_view: clean"
        )


def student_view_features(model, teacher_view, wavs, rel_lens):
    """The student's input features (SpecAugmented in training mode), for
    the student and the teacher to read; None with the ``clean`` view.

    Example
    -------
    >>> from modules.nn.frontend import FeatureFrontend
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.processing.features import InputNormalization
    >>> norm = InputNormalization(norm_type="sentence")
    >>> model = torch.nn.Module()
    >>> model.frontend = FeatureFrontend(Fbank(n_mels=8), norm, torch.nn.Identity())
    >>> wavs, lens = torch.rand(1, 1600), torch.ones(1)
    >>> student_view_features(model, "clean", wavs, lens)
    >>> student_view_features(model, "augmented", wavs, lens).shape
    torch.Size([1, 11, 8])
    """
    if teacher_view != "augmented":
        return None
    return model.frontend.input_features(wavs, rel_lens)
