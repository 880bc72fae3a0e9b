"""The AED Brain on one batch: manual exit activation in training, a frozen
teacher on the CTC side, which exits each decoder decodes at validation, and
the logged statistics."""

import copy
import dataclasses
import os

import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch

from modules.decoding.arpa import write_arpa
from modules.decoding.kneser_ney import estimate_kneser_ney
from modules.losses.aed import JointCTCAttentionLoss
from modules.losses.distillation import PseudoLabelKDLoss
from modules.training.aed_brain import EarlyExitAEDBrain
from modules.training.aed_setup import build_aed_run_setup
from modules.training.run_setup import load_training_hparams
from tests.paths import REPO_ROOT

SMALL = {
    "d_model": 16,
    "d_ffn": 32,
    "nhead": 2,
    "decoder_nhead": 2,
    "decoder_d_ffn": 32,
    "num_layers": 4,
    "exit_every": 2,
    "output_neurons": 12,
    "number_of_epochs": 8,
    "test_beam_size": 2,
}


class Pieces:
    """Tokenizer stand-in: token ``i`` is the word ``w<i>``."""

    def decode_ids(self, ids):
        return " ".join(f"w{i}" for i in ids)


def make_brain(folder, **overrides):
    """The recipe's Brain on a small model, writing under ``folder``."""
    overrides = {**SMALL, "output_folder": str(folder), **overrides}
    with open(os.path.join(REPO_ROOT, "hparams", "conformer_aed_early_exit.yaml")) as f:
        hparams = load_training_hparams(f.read(), overrides)
    setup = build_aed_run_setup(hparams)
    brain = EarlyExitAEDBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts={"device": "cpu"},
        run_setup=setup,
        tokenizer=Pieces(),
    )
    return brain, setup


def one_batch():
    torch.manual_seed(0)
    return PaddedBatch(
        [
            {
                "id": "a",
                "sig": torch.randn(16000),
                "wrd": "w5 w6",
                "tokens": torch.tensor([5, 6]),
            },
            {
                "id": "b",
                "sig": torch.randn(12000),
                "wrd": "w7",
                "tokens": torch.tensor([7]),
            },
        ]
    )


def test_manual_activation_trains_the_first_exit_and_its_decoder_only(tmp_path):
    brain, setup = make_brain(tmp_path, train_exits=1)
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    batch = one_batch()
    outputs = brain.compute_forward(batch, sb.Stage.TRAIN)
    assert [out.index for out in outputs[0]] == [1]
    loss = brain.compute_objectives(outputs, batch, sb.Stage.TRAIN)
    loss.backward()
    model = setup.model
    assert all(p.grad is not None for p in model.decoder(1).parameters())
    assert all(p.grad is None for p in model.decoder(2).parameters())
    assert all(p.grad is None for p in model.encoder.layers[2].parameters())
    assert len(setup.joint_loss.last_attention) == 1
    tokens_eos = outputs[2].tokens_eos.tolist()
    assert tokens_eos == [[5, 6, 3], [7, 3, 0]]


def test_validation_decodes_the_ranking_exit_by_attention_between_searches(tmp_path):
    brain, setup = make_brain(
        tmp_path, valid_search_interval=4, ranking_decoding="attention"
    )
    batch = one_batch()
    with torch.no_grad():
        for epoch, attention_exits in [(1, [2]), (4, [1, 2]), (8, [1, 2])]:
            brain.on_stage_start(sb.Stage.VALID, epoch)
            assert brain.decoded_exits["attention"] == attention_exits
            assert brain.decoded_exits["greedy"] == [1, 2]
            brain.compute_objectives(
                brain.compute_forward(batch, sb.Stage.VALID), batch, sb.Stage.VALID
            )
            scored = [len(stats.scores) for stats in brain.wer_stats["attention"]]
            assert scored == [2] * len(attention_exits)
    wers = {
        name: [stats.summarize("error_rate") for stats in per_exit]
        for name, per_exit in brain.wer_stats.items()
    }
    stats = brain.stage_stats(1.0, wers)
    assert stats["WER"] == stats["WER_attention_exit2"] == wers["attention"][1]
    assert stats["WER_exit1"] == wers["greedy"][0]


def test_ctc_ranking_decodes_attention_only_in_the_search_epochs(tmp_path):
    brain, _ = make_brain(tmp_path, valid_search_interval=4, ranking_decoding="ctc")
    batch = one_batch()
    with torch.no_grad():
        for epoch, attention_exits in [(1, []), (4, [1, 2])]:
            brain.on_stage_start(sb.Stage.VALID, epoch)
            assert brain.decoded_exits["attention"] == attention_exits
            brain.compute_objectives(
                brain.compute_forward(batch, sb.Stage.VALID), batch, sb.Stage.VALID
            )
            wers = {
                name: [stats.summarize("error_rate") for stats in per_exit]
                for name, per_exit in brain.wer_stats.items()
            }
            stats = brain.stage_stats(1.0, wers)
            assert stats["WER"] == stats["WER_exit2"] == wers["greedy"][1]
            assert ("WER_attention_exit2" in stats) == (epoch == 4)


def test_test_stage_decodes_every_exit_three_ways(tmp_path):
    brain, _ = make_brain(tmp_path, max_decode_ratio=0.2)
    batch = one_batch()
    brain.on_stage_start(sb.Stage.TEST)
    with torch.no_grad():
        brain.compute_objectives(
            brain.compute_forward(batch, sb.Stage.TEST), batch, sb.Stage.TEST
        )
    assert brain.decoded_exits == {
        "greedy": [1, 2],
        "attention": [1, 2],
        "joint": [1, 2],
    }
    for name in ("greedy", "attention", "joint"):
        assert [len(hyps) for hyps in brain.hypotheses[name]] == [2, 2]


def test_a_frozen_teacher_distils_into_the_ctc_side(tmp_path):
    brain, setup = make_brain(tmp_path)
    kd = PseudoLabelKDLoss(alpha=0.0, num_exits=2)
    teacher = copy.deepcopy(setup.model).eval().requires_grad_(False)
    brain.run_setup = dataclasses.replace(
        setup,
        exit_loss=kd,
        joint_loss=JointCTCAttentionLoss(kd, ctc_weight=1.0),
        teacher=teacher,
        teacher_exit=1,
    )
    batch = one_batch()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    loss = brain.compute_objectives(
        brain.compute_forward(batch, sb.Stage.TRAIN), batch, sb.Stage.TRAIN
    )
    wavs, lens = batch.sig
    with torch.no_grad():
        outputs = setup.model(wavs, lens)
        pseudo = teacher.exit_log_probs(wavs, lens, 1)
    expected = kd(outputs, lens, *batch.tokens, teacher_log_probs=pseudo)
    torch.testing.assert_close(loss.detach(), expected)


class PieceList(Pieces):
    """:class:`Pieces` with the piece list of a SentencePiece model."""

    def get_piece_size(self):
        return SMALL["output_neurons"]

    def id_to_piece(self, i):
        return f"w{i}"


def test_decoding_lm_adds_the_joint_search_with_lm_and_its_files(tmp_path):
    arpa = tmp_path / "tokens.arpa"
    sentences = [["w5", "w6"], ["w7"], ["w5", "w7", "w6"]]
    write_arpa(estimate_kneser_ney(sentences, 2), arpa)
    brain, _ = make_brain(
        tmp_path, max_decode_ratio=0.2, decoding_lm=str(arpa), decoding_lm_weight=0.6
    )
    brain.tokenizer = PieceList()
    batch = one_batch()
    brain.on_stage_start(sb.Stage.TEST)
    with torch.no_grad():
        brain.compute_objectives(
            brain.compute_forward(batch, sb.Stage.TEST), batch, sb.Stage.TEST
        )
    exits = brain.decoded_exits["joint"]
    assert brain.decoded_exits["joint_lm"] == exits
    assert [len(hyps) for hyps in brain.hypotheses["joint_lm"]] == [2] * len(exits)
    assert brain.token_lm.weight == 0.6 and brain.token_lm.tokens[5] == "w5"
    brain.test_set_name = "test-clean"
    brain.write_test_outputs()
    folder = tmp_path / "test" / "test-clean"
    assert (folder / "transcripts_joint_lm.csv").is_file()
    assert (folder / f"wer_exit{exits[-1]}_joint_lm.txt").is_file()
    wers = {
        name: [stats.summarize("error_rate") for stats in per_exit]
        for name, per_exit in brain.wer_stats.items()
    }
    assert f"WER_joint_lm_exit{exits[-1]}" in brain.stage_stats(1.0, wers)
