"""A tiny experiment folder written in-process (no training run): the YAML of
a small early-exit CTC model, a char tokenizer, and two checkpoints whose best
(lowest dev WER) is not the newest. Teachers and students of the start-up
tests are built from the same YAML."""

import os
from dataclasses import dataclass

import torch
from hyperpyyaml import load_hyperpyyaml

from modules.data.tokenizer import train_tokenizer

TEXT = ["ABBA BAA", "AB AB CAB"]

EXPERIMENT_YAML = """
output_folder: {folder}
save_folder: !ref <output_folder>/save
tokenizer_folder: !ref <output_folder>/tokenizer
token_type: char
output_neurons: {output_neurons}
blank_index: 0
min_duration: 0.5
subsampling_factor: {subsampling_factor}
d_model: {d_model}
num_layers: {num_layers}
number_of_epochs: 3
normalizer: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
frontend: !new:modules.nn.frontend.FeatureFrontend
    features: !new:speechbrain.lobes.features.Fbank
        n_mels: 8
    normalizer: !ref <normalizer>
    subsampler: !new:speechbrain.nnet.CNN.Conv1d
        input_shape: [null, null, 8]
        out_channels: !ref <d_model>
        kernel_size: !ref <subsampling_factor>
        stride: !ref <subsampling_factor>
        padding: valid
model: !new:modules.models.early_exit.EarlyExitCTC
    frontend: !ref <frontend>
    encoder: !new:modules.nn.encoders.ConformerLayerStack
        encoder: !new:speechbrain.lobes.models.transformer.Conformer.ConformerEncoder
            num_layers: !ref <num_layers>
            d_model: !ref <d_model>
            d_ffn: 16
            nhead: 2
            kernel_size: 3
    output_size: !ref <d_model>
    vocab_size: !ref <output_neurons>
    exit_every: 1
loss_class: !name:modules.losses.teacher_student.TeacherStudentKDLoss
loss_options: {{}}
train_exits: null
teacher: null
teacher_exit: null
kd_teacher_checkpoint: null
keep_layers: null
init_from_checkpoint: null
fitnets_epochs: 0
fitnets_hint_layer: 1
fitnets_guided_layers: 1
brain_class: !name:modules.training.fitnets_brain.FitNetsCTCBrain
lr_annealing: !new:speechbrain.nnet.schedulers.LinearWarmupScheduler
    initial_value: 0.01
    num_warmup_steps: 2
    num_training_steps: null
checkpointer: !new:modules.checkpoints.AtomicCheckpointer
    checkpoints_dir: !ref <save_folder>
    recoverables:
        model: !ref <model>
        normalizer: !ref <normalizer>
"""


@dataclass
class TinyExperiment:
    """What :func:`write_experiment` saved."""

    folder: str
    best_state: dict
    best_statistics: torch.Tensor


def char_vocabulary(folder):
    """Train the char tokenizer of ``TEXT`` into ``folder``; its size."""
    os.makedirs(folder, exist_ok=True)
    csv_path = os.path.join(folder, "train.csv")
    with open(csv_path, "w") as fout:
        fout.write("ID,wrd\n" + "".join(f"u{i},{t}\n" for i, t in enumerate(TEXT)))
    return train_tokenizer(csv_path, folder, model_type="char").vocab_size()


def experiment_hparams(folder, overrides="", **keys):
    """The YAML of a tiny experiment in ``folder`` (``keys``: d_model,
    num_layers, subsampling_factor, output_neurons), loaded."""
    values = {
        "folder": folder,
        "d_model": 8,
        "num_layers": 2,
        "subsampling_factor": 4,
        "output_neurons": 7,
        **keys,
    }
    return load_hyperpyyaml(EXPERIMENT_YAML.format(**values), overrides), values


def save_checkpoint(hparams, wer, seed):
    """Random weights and global normaliser statistics, checkpointed."""
    torch.manual_seed(seed)
    model = hparams["model"]
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.3)
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 8000) * seed, torch.tensor([1.0, 0.7]))
    hparams["checkpointer"].save_checkpoint(meta={"WER": wer})
    return {k: v.clone() for k, v in model.state_dict().items()}


def write_experiment(folder, **keys):
    """A trained-experiment stand-in in ``folder``: ``hyperparams.yaml``, a
    char tokenizer and two checkpoints (the best one first)."""
    folder = str(folder)
    keys.setdefault("output_neurons", char_vocabulary(f"{folder}/tokenizer"))
    hparams, values = experiment_hparams(folder, **keys)
    with open(os.path.join(folder, "hyperparams.yaml"), "w") as fout:
        fout.write(EXPERIMENT_YAML.format(**values))
    best = save_checkpoint(hparams, wer=40.0, seed=1)
    statistics = hparams["normalizer"].glob_mean.clone()
    save_checkpoint(hparams, wer=60.0, seed=2)
    return TinyExperiment(folder, best, statistics)
