"""Dynamic exits of an attention encoder-decoder (modules/exits/aed_dynamic.py):
the CTC heads decide, no encoder layer above an utterance's exit and no
other exit's decoder runs for it, and its hypothesis is the one its exit
gives it in a static decoding."""

from functools import partial

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.lobes.models.transformer.Transformer import TransformerDecoder

from modules.decoding.aed_search import AEDSearchOptions, joint_beam_searcher
from modules.exits.aed_dynamic import dynamic_exit_decode
from modules.exits.exit_policy import ExitPolicy
from modules.exits.policies import build_policy
from modules.models.aed_early_exit import EarlyExitAED
from modules.nn.encoders import ConformerLayerStack

D_MODEL = 16
VOCAB = 9
BEAM = 2
LENS = torch.tensor([0.5, 1.0, 0.75])  # 6, 12 and 9 valid frames
OPTIONS = AEDSearchOptions(
    bos_index=2,
    eos_index=3,
    blank_index=0,
    beam_size=BEAM,
    ctc_weight=0.4,
    length_normalization=True,
    max_decode_ratio=0.5,
    ctc_scorer_beam_scale=None,
)


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


class FirstUtteranceExits(ExitPolicy):
    """Test policy: the batch's first utterance exits at the first exit, the
    others run to the last one."""

    name = "first"

    def criterion(self, obs, history):
        return (obs.utterances == 0).float()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    encoder = ConformerLayerStack(ConformerEncoder(4, D_MODEL, 32, 2))
    decoder = partial(TransformerDecoder, 1, 2, 32, D_MODEL)
    aed = EarlyExitAED(
        identity_frontend, encoder, D_MODEL, VOCAB, decoder, exit_every=2
    )
    return aed.eval()


@pytest.fixture(scope="module")
def batch():
    torch.manual_seed(1)
    return torch.randn(3, 12, D_MODEL), LENS


def joint_decode(model):
    """``decode(exit, hidden, rel_lens)``: that exit's joint beam search."""
    searchers = {
        k: joint_beam_searcher(
            model.exit_decoder(k), model.output_layer(k), model.head(k), OPTIONS
        )
        for k in (1, 2)
    }

    def decode(exit_index, hidden, rel_lens):
        hyps, *_ = searchers[exit_index](hidden, rel_lens)
        return [list(map(int, hyp)) for hyp in hyps]

    return decode


def record_batch_sizes(modules):
    """Forward pre-hooks recording the batch size of every call of each
    module; returns ``(sizes per module, handles)``."""
    sizes = [[] for _ in modules]
    handles = [
        module.register_forward_pre_hook(
            lambda mod, args, kwargs, seen=seen: seen.append(args[0].shape[0]),
            with_kwargs=True,
        )
        for module, seen in zip(modules, sizes)
    ]
    return sizes, handles


def decode_with_hooks(model, batch, policy):
    """Decode ``batch`` with ``policy``; the batch sizes seen by the four
    encoder layers and the two exits' decoders."""
    modules = [*model.encoder.layers, model.decoder(1), model.decoder(2)]
    sizes, handles = record_batch_sizes(modules)
    try:
        result = dynamic_exit_decode(model, *batch, policy, joint_decode(model))
    finally:
        for handle in handles:
            handle.remove()
    return result, sizes[:4], sizes[4], sizes[5]


def test_utterances_sure_at_the_first_exit_run_nothing_above_it(model, batch):
    sure = build_policy("entropy", 1000.0)
    result, layers, decoder1, decoder2 = decode_with_hooks(model, batch, sure)
    assert result.exit_index.tolist() == [1, 1, 1]
    assert result.layers_run.tolist() == [2, 2, 2]
    assert [len(calls) for calls in layers] == [1, 1, 0, 0]
    assert decoder1 and set(decoder1) == {3 * BEAM}
    assert decoder2 == []


def test_each_utterance_runs_only_its_exits_layers_and_decoder(model, batch):
    result, layers, decoder1, decoder2 = decode_with_hooks(
        model, batch, FirstUtteranceExits(0.5)
    )
    assert result.exit_index.tolist() == [1, 2, 2]
    assert result.layers_run.tolist() == [2, 4, 4]
    assert layers == [[3], [3], [2], [2]]
    assert decoder1 and set(decoder1) == {BEAM}
    assert decoder2 and set(decoder2) == {2 * BEAM}


def test_hypotheses_are_those_of_the_exit_taken(model, batch):
    """Utterance 0 is decoded alone at exit 1, the others together at exit 2
    (SpeechBrain's searchers cap the steps at max_decode_ratio x the longest
    utterance decoded together, so each is compared with the same company)."""
    result = dynamic_exit_decode(
        model, *batch, FirstUtteranceExits(0.5), joint_decode(model)
    )
    wavs, lens = batch
    decode = joint_decode(model)
    with torch.no_grad():
        first = wavs[:1, :6], torch.ones(1)  # utterance 0, unpadded
        alone = decode(1, model.exit_hidden(*first, 1), first[1])
        together = decode(2, model.exit_hidden(wavs, lens, 2), lens)
    assert result.hypotheses == [alone[0], together[1], together[2]]
    assert any(result.hypotheses), "every hypothesis is empty"
