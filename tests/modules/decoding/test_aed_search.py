"""Greedy and joint CTC/attention searches of one exit, on decoders and CTC
heads whose outputs are set by hand."""

import dataclasses

import torch
from speechbrain.nnet.linear import Linear

from modules.decoding.aed_search import (
    AEDSearchOptions,
    greedy_searcher,
    hypotheses_words,
    joint_beam_searcher,
)
from modules.decoding.arpa import write_arpa
from modules.decoding.kneser_ney import estimate_kneser_ney
from modules.decoding.token_lm import TokenLM

VOCAB = 8
BOS, EOS, BLANK = 2, 3, 0
OPTIONS = AEDSearchOptions(BOS, EOS, BLANK, 4, 0.0, True, 1.0, None)
TOKENS = ("<pad>", "<unk>", "<s>", "</s>", "a", "b", "c", "d")
"""The pieces of token ids 0..7 for the n-gram tests."""


class ScriptedDecoder:
    """A decoder whose next-token scores depend on the prefix length only:
    ``script[u]`` is the preferred token after ``u`` tokens (then EOS)."""

    def __init__(self, script, margin=5.0):
        self.script = script
        self.margin = margin

    def decode(self, tgt, encoder_out, enc_len=None):
        steps = tgt.shape[1]
        scores = torch.zeros(tgt.shape[0], steps, VOCAB)
        for u in range(steps):
            best = self.script[u] if u < len(self.script) else EOS
            scores[:, u, best] = self.margin
        return scores, None


def identity_output():
    """A SpeechBrain ``Linear`` that passes the decoder's scores through."""
    layer = Linear(input_size=VOCAB, n_neurons=VOCAB, bias=False)
    with torch.no_grad():
        layer.w.weight.copy_(torch.eye(VOCAB))
    return layer


class FrameTokens(torch.nn.Module):
    """A CTC head reading frame ``t``'s preferred token from the input."""

    def forward(self, x):
        return x * 10.0


def ctc_frames(tokens, frames=8):
    """Encoder states whose CTC posteriors spell ``tokens`` (blanks between)."""
    states = torch.zeros(1, frames, VOCAB)
    states[0, :, BLANK] = 1.0
    for t, token in enumerate(tokens):
        states[0, 2 * t + 1, BLANK] = 0.0
        states[0, 2 * t + 1, token] = 1.0
    return states


def test_greedy_and_attention_beam_follow_the_decoder():
    decoder, output = ScriptedDecoder([5, 6, 7]), identity_output()
    states = torch.rand(2, 8, VOCAB)
    greedy, *_ = greedy_searcher(decoder, output, OPTIONS)(states, torch.ones(2))
    beam, *_ = joint_beam_searcher(decoder, output, None, OPTIONS)(
        states, torch.ones(2)
    )
    assert [list(map(int, h)) for h in greedy] == [[5, 6, 7], [5, 6, 7]]
    assert [list(map(int, h)) for h in beam] == [[5, 6, 7], [5, 6, 7]]


def test_the_ctc_head_corrects_a_weak_decoder_in_the_joint_search():
    decoder, output = ScriptedDecoder([5, 6, 7], margin=0.5), identity_output()
    states = ctc_frames([5, 4, 7])
    joint = dataclasses.replace(OPTIONS, ctc_weight=0.7)
    attention, *_ = joint_beam_searcher(decoder, output, FrameTokens(), OPTIONS)(
        states, torch.ones(1)
    )
    both, *_ = joint_beam_searcher(decoder, output, FrameTokens(), joint)(
        states, torch.ones(1)
    )
    pre_beam = dataclasses.replace(joint, ctc_scorer_beam_scale=2.0)
    pruned, *_ = joint_beam_searcher(decoder, output, FrameTokens(), pre_beam)(
        states, torch.ones(1)
    )
    assert list(map(int, attention[0])) == [5, 6, 7]
    assert list(map(int, both[0])) == [5, 4, 7]
    assert list(map(int, pruned[0])) == [5, 4, 7]


def test_max_decode_ratio_bounds_the_hypotheses():
    decoder, output = ScriptedDecoder([5] * 20), identity_output()
    short = dataclasses.replace(OPTIONS, max_decode_ratio=0.5)
    hyps, *_ = greedy_searcher(decoder, output, short)(
        torch.rand(1, 8, VOCAB), torch.ones(1)
    )
    assert len(hyps[0]) == 4


def test_hypotheses_become_words():
    class Pieces:
        def decode_ids(self, ids):
            return " ".join(f"w{i}" for i in ids)

    assert hypotheses_words([[5, 6], []], Pieces()) == [["w5", "w6"], []]


def token_arpa(folder, sentences):
    """A token-level bigram ARPA over :data:`TOKENS`' pieces, estimated in
    Python (SpeechBrain's KenLMScorer starts from an empty context, not
    ``<s>``, and Kneser-Ney's bigrams of a trigram are continuation counts)."""
    path = folder / "tokens.arpa"
    write_arpa(estimate_kneser_ney([s.split() for s in sentences], 2), path)
    return TokenLM(str(path), 1.0, TOKENS)


def test_the_token_lm_flips_a_weak_decoders_choice(tmp_path):
    decoder, output = ScriptedDecoder([5, 6, 7], margin=0.5), identity_output()
    lm = token_arpa(tmp_path, ["b a d"] * 20 + ["a b c d"])
    states = torch.rand(1, 8, VOCAB)
    searches = {
        "none": joint_beam_searcher(decoder, output, None, OPTIONS),
        "weight 0": joint_beam_searcher(
            decoder, output, None, OPTIONS, dataclasses.replace(lm, weight=0.0)
        ),
        "lm": joint_beam_searcher(decoder, output, None, OPTIONS, lm),
    }
    hyps = {
        name: list(map(int, searcher(states, torch.ones(1))[0][0]))
        for name, searcher in searches.items()
    }
    assert hyps == {"none": [5, 6, 7], "weight 0": [5, 6, 7], "lm": [5, 4, 7]}
    assert searches["lm"].scorer.weights["kenlm"] == 1.0


def test_the_token_lm_scores_the_ctc_pre_beam_tokens(tmp_path):
    decoder, output = ScriptedDecoder([5, 6, 7], margin=0.5), identity_output()
    lm = token_arpa(tmp_path, ["b a d"] * 20)
    options = dataclasses.replace(OPTIONS, ctc_weight=0.3, ctc_scorer_beam_scale=2.0)
    searcher = joint_beam_searcher(decoder, output, FrameTokens(), options, lm)
    assert list(searcher.scorer.partial_scorers) == ["ctc", "kenlm"]
    assert searcher.scorer.weights["ctc"] == 0.3
    hyps, *_ = searcher(ctc_frames([5, 4, 7]), torch.ones(1))
    assert list(map(int, hyps[0])) == [5, 4, 7]
