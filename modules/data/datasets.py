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

from modules.data.librispeech import prepare_librispeech
from modules.data.synthetic.generate import MARKER_NAME, generate_corpus
from modules.data.tokenizer import train_tokenizer

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


def _spread(dataset, max_utts):
    """``max_utts`` utterances of ``dataset`` spread evenly over it."""
    keys = list(dataset.data)
    step = len(keys) / max_utts
    keep = {keys[int(i * step)] for i in range(max_utts)}
    return dataset.filtered_sorted(key_test={"id": lambda i: i in keep})


def _concatenated(csv_paths):
    """Concatenated manifests as one dataset."""
    data = [sb.dataio.dataset.DynamicItemDataset.from_csv(p) for p in csv_paths]
    dataset = data[0]
    if len(data) > 1:
        rows = {}
        for part in data:
            rows.update(part.data)
        dataset = sb.dataio.dataset.DynamicItemDataset(rows)
    return dataset


def manifest_dataset(csv_paths, sort, tokenizer=None, max_utts=None):
    """Concatenated manifests as one dataset yielding ``id``, ``sig``
    (the audio), ``wrd`` and, given a tokenizer, ``tokens``.

    Parameters
    ----------
    csv_paths : list of str
        CSV manifests (``id``, ``duration``, ``wav``, ``wrd`` columns).
    sort : str
        ``"ascending"`` or ``"descending"`` by duration; anything else keeps
        the manifests' order.
    tokenizer : sentencepiece.SentencePieceProcessor, optional
        Encodes ``wrd`` into ``tokens``; None: no ``tokens``.
    max_utts : int, optional
        Keep that many utterances spread evenly (before sorting).

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "dev.csv")
    >>> rows = ["ID,duration,wav,wrd", "a,2.0,a.wav,HI", "b,1.0,b.wav,HO"]
    >>> with open(path, "w") as handle:
    ...     _ = handle.write(os.linesep.join(rows))
    >>> manifest_dataset([path], "ascending").data_ids
    ['b', 'a']
    >>> manifest_dataset([path], None, max_utts=1).data_ids
    ['a']
    """
    dataset = _concatenated(csv_paths)
    if max_utts and max_utts < len(dataset):
        dataset = _spread(dataset, max_utts)
    if sort in ("ascending", "descending"):
        dataset = dataset.filtered_sorted(
            sort_key="duration", reverse=sort == "descending"
        )
    sb.dataio.dataset.add_dynamic_item([dataset], _read_audio)
    keys = ["id", "sig", "wrd"]
    if tokenizer is not None:
        sb.dataio.dataset.add_dynamic_item([dataset], _text_pipeline(tokenizer))
        keys.append("tokens")
    sb.dataio.dataset.set_output_keys([dataset], keys)
    return dataset


@sb.utils.data_pipeline.takes("wav")
@sb.utils.data_pipeline.provides("sig")
def _read_audio(wav):
    """The waveform of a manifest's ``wav`` path."""
    return sb.dataio.dataio.read_audio(wav)


def _text_pipeline(tokenizer):
    """Dynamic item ``wrd -> (wrd, tokens)`` with ``tokenizer``."""

    @sb.utils.data_pipeline.takes("wrd")
    @sb.utils.data_pipeline.provides("wrd", "tokens")
    def text_pipeline(wrd):
        yield wrd
        yield torch.LongTensor(tokenizer.encode_as_ids(wrd))

    return text_pipeline


def build_datasets(hparams, tokenizer):
    """Train, dev and per-test-split datasets with audio and token pipelines."""
    train = manifest_dataset(
        [manifest(hparams, s) for s in hparams["train_splits"]],
        hparams["sorting"],
        tokenizer,
    )
    dev = manifest_dataset(
        [manifest(hparams, s) for s in hparams["dev_splits"]], "ascending", tokenizer
    )
    tests = {
        s: manifest_dataset([manifest(hparams, s)], "ascending", tokenizer)
        for s in hparams["test_splits"]
    }
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
