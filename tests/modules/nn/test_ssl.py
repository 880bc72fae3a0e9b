"""SSL encoders (wav2vec2, WavLM, HuBERT) as layer stacks, from tiny configs."""

import pytest
import torch
import transformers

from modules.exits.dynamic import dynamic_exit_forward
from modules.models.early_exit import EarlyExitCTC
from modules.nn.downsampling import WaveformDownsampler
from modules.nn.frontend import DownsampledFrontend
from modules.nn.ssl import (
    SSLFrontend,
    SSLLayerStack,
    build_ssl_encoder,
    normalize_waveforms,
)
from modules.nn.ssl_loading import TINY_CONFIG
from tests.modules.nn.tiny_ssl import (
    ARCHITECTURES,
    NUM_SAMPLES,
    SHORT_FRAMES,
    count_layer_calls,
    padded_batch,
    run_stack,
    tiny_model,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched key_padding_mask:UserWarning"
)


def assert_valid_frames_close(ours, theirs):
    torch.testing.assert_close(ours[0], theirs[0], atol=1e-4, rtol=1e-4)
    short = slice(0, SHORT_FRAMES)
    torch.testing.assert_close(ours[1, short], theirs[1, short], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
@pytest.mark.parametrize("model_type", ["wav2vec2", "wavlm", "hubert"])
def test_all_layers_match_hugging_face(model_type, architecture):
    model = tiny_model(model_type, architecture)
    wavs, rel_lens, sample_mask = padded_batch()
    with torch.no_grad():
        reference = model(wavs, attention_mask=sample_mask, output_hidden_states=True)
    frame_mask = model._get_feature_vector_attention_mask(159, sample_mask)
    assert frame_mask.sum(1).tolist() == [159, SHORT_FRAMES]
    ours = run_stack(model, wavs, rel_lens)
    assert_valid_frames_close(ours, reference.last_hidden_state)
    for k in (1, 2):
        expected = reference.hidden_states[k]
        if architecture == "pre_ln":
            expected = model.encoder.layer_norm(expected)
        assert_valid_frames_close(run_stack(model, wavs, rel_lens, k), expected)


def test_unpadded_batch_matches_hugging_face_without_mask():
    model = tiny_model("wav2vec2")
    wavs = torch.randn(2, NUM_SAMPLES)
    with torch.no_grad():
        reference = model(wavs).last_hidden_state
    torch.testing.assert_close(run_stack(model, wavs, torch.ones(2)), reference)


def test_normalisation_matches_hugging_face_feature_extractor():
    wavs, rel_lens, sample_mask = padded_batch()
    wavs = wavs * 3 + 1
    expected = transformers.Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm(
        [w.numpy() for w in wavs], sample_mask.numpy()
    )
    ours = normalize_waveforms(wavs, rel_lens)
    expected = torch.stack([torch.from_numpy(row) for row in expected])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["wav2vec2", "wavlm"])
@pytest.mark.parametrize("exit_index, layers_run", [(1, [0, 1]), (2, [0, 1, 2, 3])])
def test_early_exit_k_runs_only_its_layers(model_type, exit_index, layers_run):
    frontend, stack, size = build_ssl_encoder(
        model_type=model_type,
        config_overrides={**TINY_CONFIG, "num_hidden_layers": 4},
    )
    model = EarlyExitCTC(frontend, stack, size, vocab_size=7, exit_every=2).eval()
    calls = count_layer_calls(stack)
    wavs, rel_lens, _ = padded_batch()
    with torch.no_grad():
        outputs = model(wavs, rel_lens, num_exits=exit_index)
        assert calls == layers_run
        calls.clear()
        assert model.exit_log_probs(wavs, rel_lens, exit_index).shape == (2, 159, 7)
    assert calls == layers_run
    assert [out.shape for out in outputs] == [(2, 159, 7)] * exit_index


class ExitFirstUtteranceEarly:
    """A dynamic exit policy: utterance 0 exits at exit 1, the rest later."""

    history_size = 0

    def decide(self, obs, history):
        return obs.utterances == 0


@pytest.mark.parametrize("model_type", ["wav2vec2", "wavlm"])
def test_dynamic_exits_continue_with_the_remaining_utterances(model_type):
    frontend, stack, size = build_ssl_encoder(
        model_type=model_type,
        config_overrides={**TINY_CONFIG, "num_hidden_layers": 4},
    )
    model = EarlyExitCTC(frontend, stack, size, vocab_size=7, exit_every=2).eval()
    wavs, rel_lens, _ = padded_batch()
    with torch.no_grad():
        static = model(wavs, rel_lens)
    result = dynamic_exit_forward(model, wavs, rel_lens, ExitFirstUtteranceEarly())
    assert result.exit_index.tolist() == [1, 2]
    torch.testing.assert_close(result.log_probs[0], static[0][0])
    short = slice(0, SHORT_FRAMES)  # the padded utterance goes on alone
    torch.testing.assert_close(
        result.log_probs[1, short], static[1][1, short], atol=1e-5, rtol=1e-5
    )


def test_freezing_options():
    frontend, stack, _ = build_ssl_encoder(config_overrides=TINY_CONFIG)
    assert not any(p.requires_grad for p in frontend.feature_extractor.parameters())
    assert all(p.requires_grad for p in frontend.feature_projection.parameters())
    assert all(p.requires_grad for p in stack.parameters())
    frontend, stack, _ = build_ssl_encoder(config_overrides=TINY_CONFIG, freeze=True)
    assert not any(p.requires_grad for m in (frontend, stack) for p in m.parameters())
    stack.train()
    assert not any(m.training for m in stack.modules())


def test_gradients_flow_through_a_frozen_cnn_to_a_learned_input():
    frontend, stack, _ = build_ssl_encoder(config_overrides=TINY_CONFIG, freeze=True)
    downsampler = torch.nn.Conv1d(1, 1, 3, padding=1)
    wavs = downsampler(torch.randn(2, 1, NUM_SAMPLES)).squeeze(1)
    stack(frontend(wavs, torch.ones(2)), torch.ones(2)).sum().backward()
    assert downsampler.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in frontend.parameters())


@pytest.mark.parametrize("method", ["signal", "conv", "avg"])
def test_downsampling_before_the_ssl_model_divides_its_frame_rate(method):
    frontend, stack, size = build_ssl_encoder(config_overrides=TINY_CONFIG)
    downsampled = DownsampledFrontend(WaveformDownsampler(method, 2), frontend)
    model = EarlyExitCTC(downsampled, stack, size, vocab_size=5, exit_every=1)
    wavs, rel_lens, _ = padded_batch()
    log_probs = model(wavs, rel_lens)
    # 1600 samples -> 800 (signal), 760 (conv, kernel 81), 795 (avg, kernel 11)
    # -> the tiny CNN's frames (159 without downsampling)
    frames = {"signal": 79, "conv": 75, "avg": 78}[method]
    assert [lp.shape[1] for lp in log_probs] == [frames] * 2
    log_probs[-1].sum().backward()
    if method == "conv":
        assert downsampled.downsampler.layer.weight.grad.abs().sum() > 0


def test_training_step_with_trainable_cnn():
    frontend, stack, _ = build_ssl_encoder(
        config_overrides=TINY_CONFIG, freeze_feature_extractor=False
    )
    frontend.train(), stack.train()
    wavs, rel_lens, _ = padded_batch()
    stack(frontend(wavs, rel_lens), rel_lens).pow(2).mean().backward()
    conv = frontend.feature_extractor.conv_layers[0].conv
    assert conv.weight.grad is not None


def test_layerdrop_skips_layers_in_training_only():
    overrides = {**TINY_CONFIG, "num_hidden_layers": 3, "layerdrop": 1.0}
    _, stack, _ = build_ssl_encoder(model_type="wavlm", config_overrides=overrides)
    calls = count_layer_calls(stack)
    x = torch.randn(1, 20, 32)
    stack.train()(x, torch.ones(1))
    assert calls == [0]  # WavLM's layer 0 computes the position bias
    calls.clear()
    stack.eval()(x, torch.ones(1))
    assert calls == [0, 1, 2]


def test_layer_removal_keeps_outputs_of_remaining_layers():
    model = tiny_model("hubert", num_layers=4)
    wavs, rel_lens, _ = padded_batch()
    before = run_stack(model, wavs, rel_lens, num_layers=2)
    frontend, stack = SSLFrontend(model), SSLLayerStack(model)
    stack.keep_first_layers(2)
    assert stack.num_layers == 2
    with torch.no_grad():
        torch.testing.assert_close(stack(frontend(wavs, rel_lens), rel_lens), before)


def test_usable_from_yaml():
    from hyperpyyaml import load_hyperpyyaml

    yaml = """
    ssl: !apply:modules.nn.ssl.build_ssl_encoder
        model_type: hubert
        config_overrides: {hidden_size: 32, num_hidden_layers: 2,
            num_attention_heads: 2, intermediate_size: 64, conv_dim: [16, 16],
            conv_kernel: [10, 3], conv_stride: [5, 2],
            num_conv_pos_embeddings: 16, num_conv_pos_embedding_groups: 2}
    model: !new:modules.models.early_exit.EarlyExitCTC
        frontend: !ref <ssl.frontend>
        encoder: !ref <ssl.stack>
        output_size: !ref <ssl.hidden_size>
        vocab_size: 5
        exit_every: 1
    """
    hparams = load_hyperpyyaml(yaml)
    model = hparams["model"].eval()
    assert model.frontend is hparams["ssl"].frontend
    assert model.encoder is hparams["ssl"].stack
    outputs = model(torch.randn(1, NUM_SAMPLES), torch.ones(1))
    assert [out.shape for out in outputs] == [(1, 159, 5)] * 2
