"""The recipes' Brain (modules/training/ctc_brain.py): test-stage decoders,
training steps with manual exit activation or a frozen teacher, checkpoint
ranking at the end of validation, DDP settings."""

import copy
import functools
from types import SimpleNamespace

import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder

from modules.losses.distillation import LogitKDLoss
from modules.losses.exit_losses import EarlyExitCTCLoss
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack
from modules.training.ctc_brain import EarlyExitCTCBrain
from modules.training.run_setup import RunSetup
from tests.recipes.recipe_runs import above_exit


class Pieces:
    """A two-piece SentencePiece stand-in: blank and the word A."""

    def get_piece_size(self):
        return 2

    def id_to_piece(self, i):
        return ["<pad>", "▁A"][i]

    def decode_ids(self, ids):
        return " ".join("A" for _ in ids)


def brain(beam_size):
    hparams = SimpleNamespace(blank_index=0, test_beam_size=beam_size)
    return SimpleNamespace(hparams=hparams, tokenizer=Pieces())


def blank_heavy_frames():
    """Two frames of P(blank) 0.6, P(A) 0.4: the best path is blank-blank
    (0.36), but the label sequence "A" has probability 0.64."""
    return torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]).log(), torch.ones(1)


def test_beam_search_finds_the_most_probable_labels_greedy_misses():
    log_probs, lens = blank_heavy_frames()
    assert EarlyExitCTCBrain.greedy_words(brain(None), log_probs, lens) == [[]]
    decode = EarlyExitCTCBrain.beam_searcher(brain(4))
    assert decode(log_probs, lens) == [["A"]]


def test_beam_search_only_at_test_time_and_when_asked():
    with_beam = brain(4)
    with_beam.greedy_words = None
    with_beam.beam_searcher = lambda: "beam"
    stages = EarlyExitCTCBrain.stage_decoders
    assert list(stages(with_beam, sb.Stage.TEST)) == ["greedy", "beam"]
    assert list(stages(with_beam, sb.Stage.VALID)) == ["greedy"]
    without = brain(None)
    without.greedy_words = None
    assert list(stages(without, sb.Stage.TEST)) == ["greedy"]


def test_brain_takes_the_run_setup_and_tokenizer_as_arguments():
    model = torch.nn.Linear(2, 2)
    setup = RunSetup(
        model=model, exit_loss=EarlyExitCTCLoss(), train_exits=1, teacher=None
    )
    tokenizer = Pieces()
    made = EarlyExitCTCBrain(
        modules={"model": model},
        hparams={"blank_index": 0, "test_beam_size": None},
        run_opts={"device": "cpu"},
        run_setup=setup,
        tokenizer=tokenizer,
    )
    assert made.run_setup is setup and made.tokenizer is tokenizer
    assert not hasattr(made.hparams, "tokenizer")
    assert not hasattr(made.hparams, "exit_loss")


class Frames(torch.nn.Module):
    """Front-end stand-in: 16 samples per feature frame."""

    def forward(self, wavs, rel_lens):
        return wavs.reshape(wavs.shape[0], -1, 16)


def tiny_model():
    """A 4-layer early-exit CTC model with exits after layers 2 and 4."""
    torch.manual_seed(0)
    encoder = ConformerLayerStack(
        ConformerEncoder(num_layers=4, d_model=16, d_ffn=32, nhead=2)
    )
    return EarlyExitCTC(Frames(), encoder, 16, vocab_size=5, exit_every=2)


def training_brain(model, train_exits, teacher=None, loss=None):
    """A Brain on ``model`` with AdamW and a strong weight decay, ready for
    ``fit_batch``."""
    setup = RunSetup(
        model=model,
        exit_loss=loss or EarlyExitCTCLoss(num_exits=model.num_exits),
        train_exits=train_exits,
        teacher=teacher,
    )
    made = EarlyExitCTCBrain(
        modules={"model": model},
        opt_class=functools.partial(torch.optim.AdamW, lr=0.01, weight_decay=0.5),
        hparams={
            "blank_index": 0,
            "test_beam_size": None,
            "lr_annealing": lambda optimizer: None,
        },
        run_opts={"device": "cpu"},
        run_setup=setup,
        tokenizer=Pieces(),
    )
    made.init_optimizers()
    made.audio_seconds = 0.0
    return made


def fixed_batch():
    torch.manual_seed(1)
    return PaddedBatch(
        [
            {"id": f"u{n}", "sig": torch.randn(640), "tokens": tokens, "wrd": "A"}
            for n, tokens in enumerate([torch.tensor([1, 2, 3]), torch.tensor([4])])
        ]
    )


def test_brain_lets_ddp_find_parameters_without_a_gradient():
    made = training_brain(tiny_model(), train_exits=1)
    assert made.find_unused_parameters is True


def test_manual_activation_leaves_the_layers_above_untouched_by_adamw():
    model = tiny_model()
    initial = {name: p.detach().clone() for name, p in model.named_parameters()}
    made = training_brain(model, train_exits=1)
    for _ in range(3):
        made.fit_batch(fixed_batch())
    above = [name for name in initial if above_exit(name, model, 1)]
    assert any(name.startswith("heads.1.") for name in above)
    assert any("layers.3." in name for name in above)
    for name, param in model.named_parameters():
        if name in above:
            assert param.grad is None, name
            assert torch.equal(param, initial[name]), name
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, initial[n])]
    assert "heads.0.weight" in changed
    assert any("layers.0." in name for name in changed)


def test_training_with_a_frozen_teacher_leaves_it_unchanged():
    model = tiny_model()
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    initial = copy.deepcopy(teacher.state_dict())
    loss = LogitKDLoss(num_exits=model.num_exits, temperature=2.0)
    made = training_brain(model, train_exits=None, teacher=teacher, loss=loss)
    for _ in range(2):
        made.fit_batch(fixed_batch())
    torch.testing.assert_close(teacher.state_dict(), initial, rtol=0, atol=0)
    assert all(p.grad is None for p in teacher.parameters())
    assert not torch.equal(model.heads[1].weight, teacher.heads[1].weight)


class LoggedStats:
    """``train_logger`` and ``checkpointer`` stand-in: records the calls."""

    def __init__(self):
        self.logged, self.saved = [], []

    def add_recoverable(self, name, obj):
        pass

    def log_stats(self, **stats):
        self.logged.append(stats)

    def save_and_keep_only(self, **kwargs):
        self.saved.append(kwargs)


class FixedErrorRate:
    def __init__(self, wer):
        self.wer = wer

    def summarize(self, field):
        assert field == "error_rate"
        return self.wer


def validation_end(train_exits, exit_wers):
    """``on_stage_end`` of a validation stage with the given per-exit WERs."""
    model = SimpleNamespace(num_exits=len(exit_wers))
    setup = RunSetup(model, EarlyExitCTCLoss(), train_exits, teacher=None)
    recorder = LoggedStats()
    made = EarlyExitCTCBrain(
        modules={"model": torch.nn.Linear(2, 2)},
        hparams={"blank_index": 0, "test_beam_size": None, "train_logger": recorder},
        run_opts={"device": "cpu"},
        checkpointer=recorder,
        run_setup=setup,
        tokenizer=Pieces(),
    )
    made.optimizer = SimpleNamespace(param_groups=[{"lr": 0.1}])
    made.train_stats = {"loss": 2.0}
    made.wer_stats = {"greedy": [FixedErrorRate(w) for w in exit_wers]}
    made.on_stage_end(sb.Stage.VALID, 1.5, epoch=1)
    return recorder


def test_checkpoints_are_ranked_by_the_deepest_trained_exit():
    recorder = validation_end(train_exits=1, exit_wers=[40.0, 99.0, 98.0])
    (saved,) = recorder.saved
    assert saved["meta"] == {"WER": 40.0, "ranking_exit": 1}
    assert saved["min_keys"] == ["WER"]
    (logged,) = recorder.logged
    assert logged["valid_stats"]["WER"] == 40.0
    assert logged["valid_stats"]["ranking_exit"] == 1
    assert logged["valid_stats"]["WER_exit3"] == 98.0


def test_checkpoints_are_ranked_by_the_last_exit_when_all_are_trained():
    recorder = validation_end(train_exits=None, exit_wers=[40.0, 99.0, 30.0])
    assert recorder.saved[0]["meta"] == {"WER": 30.0, "ranking_exit": 3}
