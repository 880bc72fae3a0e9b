"""Decoders of the recipes' test stage (modules/training/ctc_brain.py)."""

from types import SimpleNamespace

import speechbrain as sb
import torch

from modules.losses.exit_losses import EarlyExitCTCLoss
from modules.training.ctc_brain import EarlyExitCTCBrain
from modules.training.run_setup import RunSetup


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
