"""Tiny SSL models and a padded batch shared by the SSL tests."""

import torch

from modules.nn.ssl import SSLFrontend, SSLLayerStack
from modules.nn.ssl_loading import TINY_CONFIG, build_from_config

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


def count_layer_calls(stack):
    calls = []
    for index, layer in enumerate(stack.layers):
        layer.register_forward_hook(lambda *_, i=index: calls.append(i))
    return calls
