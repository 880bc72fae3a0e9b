"""Data for every recipe: corpus, manifests, tokenizer, datasets, loaders.

One path for all data: the built-in synthetic corpus is generated (once) into
``data_folder`` in the LibriSpeech layout, then read by the same preparation
code as a real LibriSpeech folder.
"""

import logging
import os

import speechbrain as sb
import torch
from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.distributed import run_on_main

from modules.data.tokenizer import train_tokenizer
from modules.data.librispeech import prepare_librispeech
from modules.data.synthetic import MARKER_NAME, generate_corpus

logger = logging.getLogger(__name__)


def wants_synthetic_corpus(hparams):
    """Whether ``data_folder`` is (or will be) the built-in synthetic corpus.

    A folder that exists without the synthetic marker is a real LibriSpeech
    folder given with ``--data_folder``: it is never written to.
    """
    folder = hparams["data_folder"]
    if not hparams.get("synthetic_corpus"):
        return False
    if os.path.isdir(folder) and os.listdir(folder):
        return os.path.exists(os.path.join(folder, MARKER_NAME))
    return True


def all_splits(hparams):
    """Train, dev and test split names, in that order, without repeats."""
    splits = hparams["train_splits"] + hparams["dev_splits"] + hparams["test_splits"]
    return list(dict.fromkeys(splits))


def prepare_data(hparams):
    """Generate the synthetic corpus if asked, then write the CSV manifests.

    Both steps run on the main process only and are skipped when their outputs
    exist for the same options.
    """
    if wants_synthetic_corpus(hparams):
        run_on_main(
            generate_corpus,
            kwargs={
                "output_dir": hparams["data_folder"],
                "size": hparams["synthetic_corpus"],
                "seed": hparams["synthetic_seed"],
            },
        )
    else:
        logger.info("Using %s as a LibriSpeech folder", hparams["data_folder"])
    run_on_main(
        prepare_librispeech,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["manifest_folder"],
            "splits": all_splits(hparams),
            "min_duration": hparams.get("min_duration"),
            "max_duration": hparams.get("max_duration"),
        },
    )


def manifest(hparams, split):
    """Path of a split's CSV manifest."""
    return os.path.join(hparams["manifest_folder"], f"{split}.csv")


def build_tokenizer(hparams):
    """Train (once per configuration) and load the tokenizer.

    It learns from the transcripts of the first training split, on the main
    process; every process then loads the trained model. Its size must
    equal the model's ``output_neurons`` (character models derive their size
    from the text, so the YAML must state it).
    """
    kwargs = {
        "train_csv": manifest(hparams, hparams["train_splits"][0]),
        "output_folder": hparams["tokenizer_folder"],
        "model_type": hparams["token_type"],
        "vocab_size": hparams["output_neurons"],
    }
    run_on_main(train_tokenizer, kwargs=kwargs)
    tokenizer = train_tokenizer(**kwargs)
    if tokenizer.vocab_size() != hparams["output_neurons"]:
        raise ValueError(
            f"output_neurons={hparams['output_neurons']} but the "
            f"{hparams['token_type']} tokenizer has {tokenizer.vocab_size()} "
            f"tokens; set --output_neurons={tokenizer.vocab_size()}"
        )
    return tokenizer


def _dataset(csv_paths, sort, max_duration=None):
    """Concatenated manifests as one dataset, sorted by duration if asked."""
    data = [sb.dataio.dataset.DynamicItemDataset.from_csv(p) for p in csv_paths]
    dataset = data[0]
    if len(data) > 1:
        rows = {}
        for part in data:
            rows.update(part.data)
        dataset = sb.dataio.dataset.DynamicItemDataset(rows)
    if sort in ("ascending", "descending"):
        return dataset.filtered_sorted(
            sort_key="duration", reverse=sort == "descending"
        )
    return dataset


def build_datasets(hparams, tokenizer):
    """Train, dev and per-test-split datasets with audio and token pipelines."""

    @sb.utils.data_pipeline.takes("wav")
    @sb.utils.data_pipeline.provides("sig")
    def audio_pipeline(wav):
        return sb.dataio.dataio.read_audio(wav)

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd", "tokens")
    def text_pipeline(wrd):
        yield wrd
        yield torch.LongTensor(tokenizer.encode_as_ids(wrd))

    train = _dataset(
        [manifest(hparams, s) for s in hparams["train_splits"]], hparams["sorting"]
    )
    dev = _dataset([manifest(hparams, s) for s in hparams["dev_splits"]], "ascending")
    tests = {
        s: _dataset([manifest(hparams, s)], "ascending") for s in hparams["test_splits"]
    }
    datasets = [train, dev, *tests.values()]
    sb.dataio.dataset.add_dynamic_item(datasets, audio_pipeline)
    sb.dataio.dataset.add_dynamic_item(datasets, text_pipeline)
    sb.dataio.dataset.set_output_keys(datasets, ["id", "sig", "wrd", "tokens"])
    return train, dev, tests


def train_loader_kwargs(hparams, train_set):
    """Loader options: dynamic batches by duration, or fixed sorted batches."""
    if not hparams.get("dynamic_batching"):
        kwargs = dict(hparams["train_dataloader_opts"])
        if hparams["sorting"] in ("ascending", "descending"):
            kwargs["shuffle"] = False
        return kwargs
    sampler = DynamicBatchSampler(
        train_set,
        length_func=lambda x: x["duration"],
        **hparams["dynamic_batch_sampler"],
    )
    return {"batch_sampler": sampler, "num_workers": hparams["num_workers"]}
