"""SSL encoders (wav2vec2, WavLM, HuBERT) as layer stacks, from tiny configs."""

import doctest
import functools
import json
import os

import pytest
import torch
import yaml
from speechbrain.nnet.schedulers import NoamScheduler
from speechbrain.utils.checkpoints import Checkpointer

transformers = pytest.importorskip("transformers")

from modules.exits.dynamic import dynamic_exit_forward  # noqa: E402
from modules.models.early_exit import EarlyExitCTC  # noqa: E402
from modules.nn import ssl as ssl_encoder  # noqa: E402
from modules.nn.downsampling import DownsampledFrontend, WaveformDownsampler  # noqa: E402
from modules.nn.ssl import (  # noqa: E402
    TINY_CONFIG,
    DNNHeadEarlyExitCTC,
    ScaledNoamScheduler,
    SSLFrontend,
    SSLLayerStack,
    build_from_config,
    build_ssl_encoder,
    normalize_waveforms,
    optimizer_with_ssl_lr,
)
from tests.recipes.recipe_runs import ROOT  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched key_padding_mask:UserWarning"
)

# 1600 and 1000 samples give 159 and 99 frames with TINY_CONFIG's CNN, and
# round(1000 / 1600 * 159) == 99: the stack's frame mask (from relative
# lengths) equals Hugging Face's (from the sample mask).
NUM_SAMPLES, SHORT_SAMPLES, SHORT_FRAMES = 1600, 1000, 99
ARCHITECTURES = {
    "post_ln": {"do_stable_layer_norm": False, "feat_extract_norm": "group"},
    "pre_ln": {"do_stable_layer_norm": True, "feat_extract_norm": "layer"},
}


def tiny_model(model_type, architecture="post_ln", num_layers=3):
    torch.manual_seed(0)
    overrides = {**TINY_CONFIG, **ARCHITECTURES[architecture]}
    overrides["num_hidden_layers"] = num_layers
    return build_from_config(model_type, overrides).eval()


def padded_batch():
    torch.manual_seed(1)
    wavs = torch.randn(2, NUM_SAMPLES)
    wavs[1, SHORT_SAMPLES:] = 0.0
    sample_mask = torch.ones(2, NUM_SAMPLES, dtype=torch.long)
    sample_mask[1, SHORT_SAMPLES:] = 0
    return wavs, torch.tensor([1.0, SHORT_SAMPLES / NUM_SAMPLES]), sample_mask


def run_stack(model, wavs, rel_lens, num_layers=None):
    frontend, stack = SSLFrontend(model), SSLLayerStack(model)
    with torch.no_grad():
        return stack(frontend(wavs, rel_lens), rel_lens, num_layers)


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


def count_layer_calls(stack):
    calls = []
    for index, layer in enumerate(stack.layers):
        layer.register_forward_hook(lambda *_, i=index: calls.append(i))
    return calls


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


def test_saved_model_loads_back_with_identical_outputs(tmp_path):
    model = tiny_model("wavlm", "pre_ln")
    model.save_pretrained(tmp_path)
    frontend, stack, size = build_ssl_encoder(str(tmp_path))
    assert (size, stack.num_layers, stack.pre_layer_norm) == (32, 3, True)
    assert frontend.normalize_wav  # LayerNorm CNN: pre-trained on normalised audio
    wavs, rel_lens, _ = padded_batch()
    with torch.no_grad():
        loaded = stack(frontend(wavs, rel_lens), rel_lens)
        original = SSLLayerStack(model)(
            SSLFrontend(model, normalize_wav=True)(wavs, rel_lens), rel_lens
        )
    torch.testing.assert_close(loaded, original, atol=0, rtol=0)


def test_pytorch_bin_weights_and_ctc_checkpoints_load(tmp_path):
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(**TINY_CONFIG, vocab_size=5)
    ctc_model = transformers.Wav2Vec2ForCTC(config).eval()
    ctc_model.config.save_pretrained(tmp_path)
    torch.save(ctc_model.state_dict(), tmp_path / "pytorch_model.bin")
    frontend, stack, _ = build_ssl_encoder(str(tmp_path), model_type="wav2vec2")
    wavs, rel_lens, _ = padded_batch()
    with torch.no_grad():
        loaded = stack(frontend(wavs, rel_lens), rel_lens)
    expected = run_stack(ctc_model.wav2vec2, wavs, rel_lens)
    torch.testing.assert_close(loaded, expected, atol=0, rtol=0)


def test_preprocessor_config_decides_normalisation(tmp_path):
    tiny_model("hubert").save_pretrained(tmp_path)
    assert not build_ssl_encoder(str(tmp_path)).frontend.normalize_wav
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": 1}))
    assert build_ssl_encoder(str(tmp_path)).frontend.normalize_wav


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="--ssl_source=/path"):
        build_ssl_encoder("facebook/wav2vec2-base")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        build_ssl_encoder(str(tmp_path))
    tiny_model("hubert").save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="model_type='hubert'"):
        build_ssl_encoder(str(tmp_path), model_type="wavlm")
    with pytest.raises(ValueError, match="'hidden_sise' is not a field"):
        build_ssl_encoder(str(tmp_path), config_overrides={"hidden_sise": 8})
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}.*model.safetensors"):
        build_ssl_encoder(str(tmp_path))
    with pytest.raises(ValueError, match="ssl_model_type='bert'"):
        build_ssl_encoder(model_type="bert")


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


def dnn_head_model(**options):
    frontend, stack, size = build_ssl_encoder(
        config_overrides={**TINY_CONFIG, "num_hidden_layers": 4}
    )
    return DNNHeadEarlyExitCTC(frontend, stack, size, 7, exit_every=2, **options)


@pytest.mark.parametrize("shared_head", [False, True])
def test_dnn_heads_per_exit_or_shared(shared_head):
    model = dnn_head_model(dnn_blocks=2, dnn_neurons=24, shared_head=shared_head)
    assert len(model.heads) == (1 if shared_head else 2)
    assert (model.head(1) is model.head(2)) == shared_head
    dnn, output = model.head(1)
    assert [m.weight.shape for m in dnn if isinstance(m, torch.nn.Linear)] == [
        (24, 32),
        (24, 24),
    ]
    assert output.weight.shape == (7, 24)
    wavs, rel_lens, _ = padded_batch()
    log_probs = model.eval()(wavs, rel_lens)
    assert [lp.shape for lp in log_probs] == [(2, 159, 7)] * 2
    torch.testing.assert_close(log_probs[0].exp().sum(-1), torch.ones(2, 159))


def test_dnn_heads_without_blocks_with_upsampling_and_layer_removal():
    model = dnn_head_model(dnn_blocks=0, ctc_upsampling=True, keep_layers=3)
    assert model.exit_layers == [2, 3] and model.encoder.num_layers == 3
    dnn, output = model.head(2)
    assert len(dnn) == 0 and output.linear.weight.shape == (14, 32)
    wavs, rel_lens, _ = padded_batch()
    calls = count_layer_calls(model.encoder)
    assert model.eval().exit_log_probs(wavs, rel_lens, 2).shape == (2, 318, 7)
    assert calls == [0, 1, 2]


def two_group_optimizer(lr=1.0, ssl_lr=0.1):
    head, ssl = torch.nn.Linear(3, 2), torch.nn.Linear(3, 3)
    params = [*ssl.parameters(), *head.parameters()]
    adam = functools.partial(torch.optim.AdamW, lr=lr)
    return optimizer_with_ssl_lr(params, adam, [ssl], ssl_lr), head, ssl


def test_ssl_parameters_get_their_own_learning_rate():
    opt, head, ssl = two_group_optimizer()
    head_group, ssl_group = opt.param_groups
    assert {id(p) for p in head_group["params"]} == {id(p) for p in head.parameters()}
    assert {id(p) for p in ssl_group["params"]} == {id(p) for p in ssl.parameters()}
    assert (head_group["lr"], ssl_group["lr"]) == (1.0, 0.1)
    scheduler = ScaledNoamScheduler(lr_initial=1.0, n_warmup_steps=4)
    noam = NoamScheduler(lr_initial=1.0, n_warmup_steps=4)
    plain = torch.optim.SGD(head.parameters(), lr=1.0)
    for _ in range(6):
        scheduler(opt), noam(plain)
        expected = plain.param_groups[0]["lr"]
        assert head_group["lr"] == pytest.approx(expected)
        assert ssl_group["lr"] == pytest.approx(0.1 * expected)


def test_learning_rate_ratio_survives_a_checkpoint(tmp_path):
    opt, _, _ = two_group_optimizer(lr=0.002, ssl_lr=0.0005)
    scheduler = ScaledNoamScheduler(lr_initial=0.002, n_warmup_steps=4)
    for _ in range(3):
        scheduler(opt)
    checkpointer = Checkpointer(tmp_path, {"opt": opt, "noam": scheduler})
    checkpointer.save_checkpoint()
    new_opt, _, _ = two_group_optimizer(lr=0.002, ssl_lr=0.0005)
    new_scheduler = ScaledNoamScheduler(lr_initial=0.002, n_warmup_steps=4)
    Checkpointer(
        tmp_path, {"opt": new_opt, "noam": new_scheduler}
    ).recover_if_possible()
    assert new_scheduler.n_steps == 3
    assert [g["lr_scale"] for g in new_opt.param_groups] == [1.0, 0.25]
    scheduler(opt), new_scheduler(new_opt)
    assert [g["lr"] for g in new_opt.param_groups] == [
        g["lr"] for g in opt.param_groups
    ]


def load_recipe(**overrides):
    from hyperpyyaml import load_hyperpyyaml

    overrides = {"ssl_source": None, "output_folder": "unused", **overrides}
    with open(os.path.join(ROOT, "hparams", "ssl_ctc_early_exit.yaml")) as fin:
        return load_hyperpyyaml(fin, yaml.safe_dump(overrides))


def test_recipe_yaml_options():
    hparams = load_recipe(
        ssl_model_type="wavlm",
        ssl_config_overrides={**TINY_CONFIG, "num_hidden_layers": 6},
        ssl_freeze=True,
        keep_layers=4,
        shared_head=True,
        dnn_neurons=16,
        downsampling_method="avg",
        downsampling_factor=2,
    )
    model = hparams["model"]
    assert model.encoder.relative_bias  # WavLM
    assert model.exit_layers == [2, 4] and len(model.heads) == 1
    assert isinstance(model.frontend.downsampler.layer, torch.nn.AvgPool1d)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.heads.parameters())
    opt = hparams["opt_class"](model.parameters())
    assert [g["lr"] for g in opt.param_groups] == [hparams["lr"], hparams["ssl_lr"]]
    wavs, rel_lens, _ = padded_batch()
    assert model.eval()(wavs, rel_lens)[0].shape == (2, 78, 32)


def test_recipe_yaml_default_is_wav2vec2_base_shaped():
    model = load_recipe()["model"]
    ssl = model.encoder
    assert ssl.num_layers == 12 and model.exit_layers == [2, 4, 6, 8, 10, 12]
    assert ssl.layers[0].attention.k_proj.weight.shape == (768, 768)
    assert len(model.frontend.frontend.feature_extractor.conv_layers) == 7
    assert model.head(6)[1].weight.shape == (32, 1024)
    cnn = model.frontend.frontend.feature_extractor
    assert not any(p.requires_grad for p in cnn.parameters())


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


def test_doctests():
    assert doctest.testmod(ssl_encoder).failed == 0
