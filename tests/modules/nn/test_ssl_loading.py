"""SSL models from local folders only, and their loading errors."""

import json

import pytest
import torch
import transformers

from modules.nn.ssl import SSLFrontend, SSLLayerStack, build_ssl_encoder
from modules.nn.ssl_loading import TINY_CONFIG
from tests.modules.nn.tiny_ssl import padded_batch, run_stack, tiny_model

pytestmark = pytest.mark.filterwarnings(
    "ignore:Support for mismatched key_padding_mask:UserWarning"
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
