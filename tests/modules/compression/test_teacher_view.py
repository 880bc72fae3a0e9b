"""The input a frozen teacher reads (modules/compression/teacher_view.py):
the clean audio, or the student's SpecAugmented features, in the Brain's
KD step and in the FitNets hints; front-ends that compute other features
are refused at start-up."""

import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.lobes.features import Fbank
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.nnet.CNN import Conv1d
from speechbrain.processing.features import InputNormalization

from modules.compression.fitnets import hidden_after_layers
from modules.compression.teacher_view import check_teacher_view, student_view_features
from modules.losses.teacher_student import TeacherStudentKDLoss
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack
from modules.nn.frontend import FeatureFrontend
from modules.training.ctc_brain import EarlyExitCTCBrain
from modules.training.run_setup import RunSetup


class MaskFirstHalf(torch.nn.Module):
    """A deterministic stand-in for SpecAugment: zeroes the first half of
    the frames."""

    def forward(self, feats, lens):
        masked = feats.clone()
        masked[:, : feats.shape[1] // 2] = 0.0
        return masked, lens


def conformer_ctc(d_model, n_mels=8, norm_type="sentence", augmenter=None):
    """A 1-layer Conformer-CTC on a filterbank front-end, stride 4."""
    torch.manual_seed(d_model)
    frontend = FeatureFrontend(
        Fbank(n_mels=n_mels),
        InputNormalization(norm_type=norm_type),
        Conv1d(
            out_channels=d_model,
            kernel_size=4,
            stride=4,
            input_shape=[None, None, n_mels],
            padding="valid",
        ),
        augmenter=augmenter,
    )
    encoder = ConformerLayerStack(ConformerEncoder(1, d_model, 16, 2))
    return EarlyExitCTC(frontend, encoder, d_model, vocab_size=5)


def teacher_and_student():
    teacher = conformer_ctc(12).eval().requires_grad_(False)
    return teacher, conformer_ctc(8, augmenter=MaskFirstHalf()).train()


def test_the_same_features_are_accepted_and_other_ones_refused():
    teacher, student = teacher_and_student()
    assert check_teacher_view({"teacher_view": "augmented"}, teacher, student) == (
        "augmented"
    )
    assert check_teacher_view({"teacher_view": "clean"}, teacher, None) == "clean"
    for other in (conformer_ctc(8, n_mels=10), conformer_ctc(8, norm_type="global")):
        with pytest.raises(ValueError, match="computes other features than the"):
            check_teacher_view({"teacher_view": "augmented"}, teacher, other)
    with pytest.raises(ValueError, match="teacher_view='noisy': use one of"):
        check_teacher_view({"teacher_view": "noisy"}, teacher, student)


def kd_step_teacher_log_probs(teacher, student, view, batch):
    """The teacher's log-probs the Brain's training forward hands the loss."""
    setup = RunSetup(
        student,
        TeacherStudentKDLoss(),
        None,
        teacher,
        teacher_exit=1,
        teacher_view=view,
    )
    brain = EarlyExitCTCBrain(
        modules={"model": student},
        hparams={"blank_index": 0, "test_beam_size": None},
        run_opts={"device": "cpu"},
        run_setup=setup,
        tokenizer=None,
    )
    brain.audio_seconds = 0.0
    student.train()
    _, _, teacher_log_probs = brain.compute_forward(batch, sb.Stage.TRAIN)
    return teacher_log_probs


def test_the_augmented_teacher_reads_the_students_masked_features():
    teacher, student = teacher_and_student()
    torch.manual_seed(0)
    wavs = torch.randn(2, 6400)
    batch = PaddedBatch([{"id": f"u{n}", "sig": wav} for n, wav in enumerate(wavs)])
    lens = torch.ones(2)
    masked = student.frontend.input_features(wavs, lens)
    assert torch.all(masked[:, : masked.shape[1] // 2] == 0)
    torch.testing.assert_close(
        kd_step_teacher_log_probs(teacher, student, "augmented", batch),
        teacher.exit_log_probs(wavs, lens, 1, features=masked),
    )
    clean = kd_step_teacher_log_probs(teacher, student, "clean", batch)
    torch.testing.assert_close(clean, teacher.exit_log_probs(wavs, lens, 1))
    assert not torch.allclose(clean, teacher.exit_log_probs(wavs, lens, 1, masked))


def test_fitnets_hints_read_the_same_features():
    teacher, student = teacher_and_student()
    wavs, lens = torch.randn(1, 6400), torch.ones(1)
    features = student_view_features(student, "augmented", wavs, lens)
    state = teacher.encoder.begin(teacher.frontend.frames(features), lens)
    torch.testing.assert_close(
        hidden_after_layers(teacher, wavs, lens, 1, features),
        teacher.encoder.run_layer(0, state),
    )
    assert not torch.allclose(
        hidden_after_layers(teacher, wavs, lens, 1, features),
        hidden_after_layers(teacher, wavs, lens, 1),
    )
