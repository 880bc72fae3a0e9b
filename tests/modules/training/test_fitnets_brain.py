"""The FitNets Brain (modules/training/fitnets_brain.py) in-process on a tiny
model: stage 1 trains the first layers and the regressor only, stage 2 the
whole student; each stage has its own schedule; runs stopped after any epoch
resume in the right stage, and the tested checkpoint is a stage-2 one."""

import functools

import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.nnet.schedulers import LinearWarmupScheduler
from speechbrain.utils.epoch_loop import EpochCounter
from speechbrain.utils.metric_stats import ErrorRateStats
from speechbrain.utils.train_logger import FileTrainLogger

from modules.checkpoints import AtomicCheckpointer
from modules.compression.fitnets import FitNetsSetup, HintRegressor
from modules.losses.teacher_student import TeacherStudentKDLoss
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack
from modules.training.fitnets_brain import FitNetsCTCBrain
from modules.training.run_setup import RunSetup
from tests.modules.training.test_ctc_brain import Frames, Pieces

UPDATES = 2  # batches of one epoch
STAGE_1 = 2  # epochs


class Frontend(torch.nn.Module):
    """Frames of 16 samples, projected to the model's width."""

    def __init__(self, width):
        super().__init__()
        self.frames = Frames()
        self.projection = torch.nn.Linear(16, width)

    def forward(self, wavs, rel_lens):
        return self.projection(self.frames(wavs, rel_lens))


def model(width, seed):
    torch.manual_seed(seed)
    encoder = ConformerLayerStack(ConformerEncoder(2, width, 2 * width, nhead=2))
    return EarlyExitCTC(Frontend(width), encoder, width, vocab_size=5, exit_every=1)


def utterances():
    torch.manual_seed(3)
    tokens = torch.tensor([1, 2])
    return [
        {"id": f"u{n}", "sig": torch.randn(640), "tokens": tokens, "wrd": "A"}
        for n in range(2 * UPDATES)
    ]


def fitnets_brain(folder, epochs):
    """A Brain on a fresh student (same seed every time, as a new process)."""
    student, teacher = model(16, seed=0), model(24, seed=1)
    teacher.eval().requires_grad_(False)
    fitnets = FitNetsSetup(1, 1, STAGE_1, HintRegressor(16, 24))
    setup = RunSetup(
        student,
        TeacherStudentKDLoss(num_exits=2),
        None,
        teacher,
        teacher_exit=2,
        fitnets=fitnets,
    )
    schedule = LinearWarmupScheduler(0.01, 1, None)
    counter = EpochCounter(epochs)
    checkpointer = AtomicCheckpointer(
        folder / "save",
        {"model": student, "lr_scheduler": schedule, "counter": counter},
    )
    hparams = {
        "blank_index": 0,
        "test_beam_size": None,
        "lr_annealing": schedule,
        "epoch_counter": counter,
        "train_logger": FileTrainLogger(folder / "log.txt"),
        "error_rate_computer": ErrorRateStats,
    }
    return FitNetsCTCBrain(
        modules={"model": student},
        opt_class=functools.partial(torch.optim.AdamW, lr=0.01),
        hparams=hparams,
        run_opts={"device": "cpu", "noprogressbar": True},
        checkpointer=checkpointer,
        run_setup=setup,
        tokenizer=Pieces(),
    )


def fit(brain):
    loader = {"batch_size": 2, "collate_fn": PaddedBatch}
    data = utterances()
    brain.fit(
        brain.hparams.epoch_counter,
        data,
        data,
        train_loader_kwargs=loader,
        valid_loader_kwargs=loader,
    )
    return brain


def state(brain):
    modules = brain.run_setup.model, brain.run_setup.fitnets.regressor
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


def changed(before, after):
    return {k for k in after if not torch.equal(before[k], after[k])}


def checkpoint_metas(brain):
    return [ckpt.meta for ckpt in brain.checkpointer.list_checkpoints()]


def test_stage_one_trains_the_first_layers_and_the_regressor_only(tmp_path):
    brain = fitnets_brain(tmp_path, epochs=1)
    model_before, regressor_before = state(brain)
    fit(brain)
    model_after, regressor_after = state(brain)
    trained = changed(model_before, model_after)
    assert {
        "frontend.projection.weight",
        "encoder.layers.0.norm1.norm.weight",
    } <= trained
    first_layer = ("frontend.", "encoder.layers.0.", "encoder.encoder.layers.0.")
    assert all(k.startswith(first_layer) for k in trained)
    assert changed(regressor_before, regressor_after) == {
        "projection.weight",
        "projection.bias",
    }
    (meta,) = checkpoint_metas(brain)
    assert meta["fitnets_stage"] == 1 and "WER" not in meta
    schedule = brain.hparams.lr_annealing
    assert schedule.num_training_steps == STAGE_1 * UPDATES
    assert schedule.current_step == UPDATES


def test_runs_resume_in_the_right_stage_with_its_schedule(tmp_path):
    first = fit(fitnets_brain(tmp_path, epochs=1))
    _, regressor_epoch_1 = state(first)
    # killed after epoch 1, rerun up to the end of stage 1
    second = fitnets_brain(tmp_path, epochs=STAGE_1)
    second.checkpointer.recover_if_possible()
    torch.testing.assert_close(state(second)[1], regressor_epoch_1)
    fit(second)
    assert second.hparams.lr_annealing.current_step == STAGE_1 * UPDATES
    model_stage_1, _ = state(second)
    # killed between the stages, rerun with 2 stage-2 epochs
    third = fit(fitnets_brain(tmp_path, epochs=STAGE_1 + 2))
    model_stage_2, regressor_stage_2 = state(third)
    assert any(k.startswith("heads.1.") for k in changed(model_stage_1, model_stage_2))
    assert "encoder.layers.1.norm1.norm.weight" in changed(model_stage_1, model_stage_2)
    torch.testing.assert_close(regressor_stage_2, state(second)[1])
    schedule = third.hparams.lr_annealing
    assert schedule.num_training_steps == 2 * UPDATES
    assert schedule.current_step == 2 * UPDATES  # restarted once, at epoch 3
    (meta,) = checkpoint_metas(third)
    assert "WER" in meta and "fitnets_stage" not in meta
    log = (tmp_path / "log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log] == [f"epoch: {n}" for n in range(1, 5)]
    assert ["hint_loss" in line for line in log] == [True, True, False, False]
    assert ["valid WER" in line for line in log] == [False, False, True, True]
