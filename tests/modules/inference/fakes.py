"""Models, audio and decoders the windowed-inference tests share.

``local_model`` is an early-exit CTC model whose every output frame depends
only on its own receptive field (a strided convolution over raw samples, then
pointwise layers): windowed inference with any window and hop must give the
frames a single pass over the whole recording gives. ``ramp_wav`` writes a
recording whose samples say where they are, so a fake model can give
posteriors known in advance for each (recording frame, window position).
"""

import numpy as np
import soundfile
import torch

from modules.experiment_folder import open_experiment
from modules.models.early_exit import EarlyExitCTC
from modules.nn.encoders import EncoderState, LayerStack
from tests.modules.compression.tiny_experiment import write_experiment

SAMPLE_RATE = 16000


class StridedFrames(torch.nn.Module):
    """Raw samples -> frames: a valid convolution of ``kernel`` samples
    every ``stride`` samples (receptive field ``kernel``)."""

    def __init__(self, stride, kernel, width):
        super().__init__()
        self.conv = torch.nn.Conv1d(1, width, kernel, stride=stride)

    def forward(self, wavs, rel_lens):
        return self.conv(wavs.unsqueeze(1)).transpose(1, 2)


class PointwiseStack(LayerStack):
    """Layers that look at one frame at a time."""

    def __init__(self, width, num_layers):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(width, width) for _ in range(num_layers)
        )

    def begin(self, x, rel_lens):
        return EncoderState(x)

    def run_layer(self, index, state):
        return torch.tanh(self.layers[index](state.hidden))


def local_model(stride=40, kernel=80, width=8, vocab=5, num_layers=2, seed=0):
    """A frame-local early-exit CTC model (an exit after every layer)."""
    torch.manual_seed(seed)
    model = EarlyExitCTC(
        StridedFrames(stride, kernel, width),
        PointwiseStack(width, num_layers),
        width,
        vocab,
        exit_every=1,
    )
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(3.0)
    return model.eval()


def write_wav(path, samples, rate=SAMPLE_RATE, subtype=None):
    """Write ``samples`` (``[n]`` or ``[n, channels]``) to ``path``."""
    soundfile.write(str(path), np.asarray(samples, dtype="float32"), rate, subtype)
    return str(path)


def ramp_wav(path, num_samples):
    """A float WAV whose sample ``i`` is ``i / num_samples``."""
    return write_wav(path, np.arange(num_samples) / num_samples, subtype="FLOAT")


def known_log_probs(frames, positions, vocab=4):
    """The fake model's log-posteriors ``[T, V]`` for recording frames
    ``frames`` seen at window positions ``positions``."""
    units = torch.arange(vocab, dtype=torch.float64)
    logits = torch.sin(frames.unsqueeze(1) * (units + 1) + 0.7 * positions.unsqueeze(1))
    return logits.log_softmax(-1)


def known_scorer(num_samples, stride):
    """A scorer for :func:`ramp_wav` recordings: frame ``j`` of a window is
    recording frame ``first + j``, read off the window's first sample."""

    def score(wav):
        first = round(float(wav[0]) * num_samples) // stride
        positions = torch.arange(len(wav) // stride)
        return known_log_probs(first + positions, positions).float(), 1

    return score


class CollectFrames:
    """A decoder that keeps the merged frames it is fed."""

    def __init__(self):
        self.chunks = []

    def feed(self, log_probs):
        self.chunks.append(log_probs)

    def finish(self):
        return []

    @property
    def frames(self):
        return torch.cat([c for c in self.chunks if c.numel()])


def joined_recording(folder, name, seconds, seed=0):
    """Noise utterances of ``seconds`` each, joined into ``folder/name.flac``.

    Returns the recording's path and its segments ``[[start_s, end_s,
    utterance_id], ...]``.
    """
    rng = np.random.default_rng(seed)
    parts, segments, start = [], [], 0
    for number, length in enumerate(seconds):
        samples = int(length * SAMPLE_RATE)
        parts.append(rng.uniform(-0.3, 0.3, samples) * np.hanning(samples))
        end = start + samples
        segments.append([start / SAMPLE_RATE, end / SAMPLE_RATE, f"{name}-{number}"])
        start = end
    path = write_wav(f"{folder}/{name}.flac", np.concatenate(parts))
    return path, segments


def tiny_experiment(folder):
    """The tiny experiment of the compression tests (2 layers, an exit after
    each, char tokenizer), with a new best checkpoint whose heads have large
    weights and no bias, so that its greedy transcripts are not empty."""
    write_experiment(folder)
    experiment = open_experiment(folder)
    torch.manual_seed(0)
    with torch.no_grad():
        for head in experiment.model.heads:
            head.bias.zero_()
            head.weight.normal_(std=3.0)
    experiment.hparams["checkpointer"].save_checkpoint(meta={"WER": 10.0})
    return str(folder)
