"""Early-exit AED: sharing options, what runs for an exit, padding independence."""

from functools import partial

import pytest
import torch
from speechbrain.lobes.models.transformer.Conformer import ConformerEncoder
from speechbrain.lobes.models.transformer.Transformer import TransformerDecoder

from modules.decoding.aed_search import (
    AEDSearchOptions,
    greedy_searcher,
    joint_beam_searcher,
)
from modules.models.aed_early_exit import EarlyExitAED
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import ConformerLayerStack

D_MODEL = 32
VOCAB = 11
SEARCH = AEDSearchOptions(2, 3, 0, 3, 0.4, True, 0.5, None)


def identity_frontend(wavs, rel_lens):
    """Test front-end: inputs are already encoder frames."""
    return wavs


def make_encoder(num_layers=6):
    return ConformerLayerStack(
        ConformerEncoder(
            num_layers=num_layers, d_model=D_MODEL, d_ffn=64, nhead=4, kernel_size=3
        )
    )


def make_model(decoder_width=D_MODEL, **kwargs):
    torch.manual_seed(0)
    decoder = partial(
        TransformerDecoder, 1, 4, 64, decoder_width, normalize_before=True, causal=True
    )
    kwargs.setdefault("exit_every", 2)
    model = EarlyExitAED(
        identity_frontend, make_encoder(), D_MODEL, VOCAB, decoder, **kwargs
    )
    return model.eval()


def record_calls(modules, calls, name):
    for index, module in enumerate(modules):
        module.register_forward_hook(lambda *_, i=index: calls.append((name, i)))


def hooked(model):
    """The model with hooks recording every encoder layer and decoder run."""
    calls = []
    record_calls(model.encoder.layers, calls, "layer")
    record_calls(model.decoders, calls, "decoder")
    return calls


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, (3, 1, 3)),
        ({"shared_decoder": True}, (1, 1, 3)),
        ({"shared_embedding": False, "shared_output": True}, (3, 3, 1)),
    ],
)
def test_sharing_options(kwargs, expected):
    model = make_model(**kwargs)
    counts = (len(model.decoders), len(model.embeddings), len(model.output_layers))
    assert counts == expected
    shared = model.decoder(1) is model.decoder(3)
    assert shared == kwargs.get("shared_decoder", False)


def test_ctc_part_has_the_early_exit_ctc_keys():
    torch.manual_seed(0)
    ctc = EarlyExitCTC(identity_frontend, make_encoder(), D_MODEL, VOCAB, exit_every=2)
    aed_keys = set(make_model().state_dict())
    assert set(ctc.state_dict()) <= aed_keys
    assert any(key.startswith("decoders.2.") for key in aed_keys)


def test_decoder_width_must_match_the_encoder():
    with pytest.raises(ValueError, match="decoder_d_model=48 .* d_model=32"):
        make_model(decoder_width=48)


def test_exit_k_runs_its_layers_and_its_decoder_only():
    model = make_model()
    calls = hooked(model)
    x, lens = torch.rand(2, 9, D_MODEL), torch.tensor([1.0, 0.7])
    with torch.no_grad():
        hidden = model.exit_hidden(x, lens, 2)
        assert calls == [("layer", 0), ("layer", 1), ("layer", 2), ("layer", 3)]
        calls.clear()
        model.attention_log_probs(2, hidden, lens, torch.tensor([[2, 5], [2, 6]]))
        assert calls == [("decoder", 1)]
        calls.clear()
        greedy_searcher(model.exit_decoder(2), model.output_layer(2), SEARCH)(
            hidden, lens
        )
        joint_beam_searcher(
            model.exit_decoder(2), model.output_layer(2), model.head(2), SEARCH
        )(hidden, lens)
    assert calls and set(calls) == {("decoder", 1)}


def test_training_forward_runs_the_first_k_exits_only():
    model = make_model()
    calls = hooked(model)
    tokens_bos = torch.tensor([[2, 5, 6], [2, 7, 0]])
    outputs = model(torch.rand(2, 9, D_MODEL), torch.ones(2), 1, tokens_bos)
    assert [out.index for out in outputs] == [1]
    assert outputs[0].decoder_log_probs.shape == (2, 3, VOCAB)
    assert sorted(set(calls)) == [("decoder", 0), ("layer", 0), ("layer", 1)]


def test_an_utterance_does_not_depend_on_the_padding_of_its_batch():
    model = make_model()
    torch.manual_seed(1)
    frames = torch.rand(1, 6, D_MODEL)
    tokens = torch.tensor([[2, 5, 6, 7]])
    alone = model(frames, torch.ones(1), tokens_bos=tokens)
    padded_frames = torch.cat([frames, torch.rand(1, 4, D_MODEL)], dim=1)
    batch = torch.cat([padded_frames, torch.rand(1, 10, D_MODEL)])
    batch_tokens = torch.tensor([[2, 5, 6, 7, 0, 0], [2, 8, 9, 4, 5, 6]])
    together = model(batch, torch.tensor([0.6, 1.0]), tokens_bos=batch_tokens)
    for one, both in zip(alone, together):
        torch.testing.assert_close(
            both.decoder_log_probs[0, :4], one.decoder_log_probs[0], atol=1e-5, rtol=0
        )
