"""Train-once SentencePiece tokenizers for every recipe.

:func:`train_tokenizer` wraps SpeechBrain's
``speechbrain.tokenizers.SentencePiece.SentencePiece`` and returns a loaded
``sentencepiece.SentencePieceProcessor``. Each configuration gets its own
folder, ``<output_folder>/<model_type>_<vocab_size>/`` (``<output_folder>/char/``
for character models), so a second call with the same configuration reuses
the model without retraining and another configuration never touches it.

Special token ids (the same for every model type)::

    0  <pad>  padding AND CTC blank (never produced by ``encode``)
    1  <unk>  unknown symbol
    2  <s>    beginning of sentence (for attention / transducer decoders)
    3  </s>   end of sentence
    4+        ordinary pieces

The output layer of an acoustic model must have ``tokenizer.vocab_size()``
(= ``tokenizer.get_piece_size()``) units, the specials included;
``decode_ids`` drops the specials.

Example YAML use (train after data preparation, so the CSV exists)::

    tokenizer_fn: !name:modules.data.tokenizer.train_tokenizer
        output_folder: !ref <save_folder>/tokenizer
        model_type: bpe
        vocab_size: 256

    # in the train script:  tokenizer = hparams["tokenizer_fn"](train_csv)

DDP: train on the main process first, ``run_on_main(train_tokenizer,
kwargs=...)``, then call it on every process, which loads the trained model
(see ``modules.data.datasets.build_tokenizer``).

Authors
 * efficient-asr contributors
"""

import contextlib
import csv
import json
import logging
import os
import re

import sentencepiece as spm
from speechbrain.tokenizers.SentencePiece import SentencePiece
from speechbrain.utils.distributed import run_on_main

logger = logging.getLogger(__name__)

MODEL_TYPES = ("bpe", "unigram", "char")
PAD_ID = 0
BLANK_ID = 0  # CTC blank shares the <pad> id
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3
NUM_SPECIAL_TOKENS = 4
CONFIG_NAME = "tokenizer_config.json"
_SB_LOGGER = "speechbrain.tokenizers.SentencePiece"


class TokenizerError(RuntimeError):
    """Raised for unusable tokenizer inputs or a failed training.

    Example
    -------
    >>> raise TokenizerError("vocab_size must be an int, got 'big'.")
    Traceback (most recent call last):
    ...
    modules.data.tokenizer.TokenizerError: vocab_size must be an int, got 'big'.
    """


def tokenizer_folder(output_folder, model_type, vocab_size=None):
    """Return the folder that holds the tokenizer of one configuration.

    Arguments
    ---------
    output_folder : str
        Parent folder shared by all tokenizer configurations.
    model_type : str
        One of ``"bpe"``, ``"unigram"``, ``"char"``.
    vocab_size : int, optional
        Ignored for ``"char"``.

    Returns
    -------
    str
        ``<output_folder>/<model_type>_<vocab_size>`` or
        ``<output_folder>/char``.

    Example
    -------
    >>> tokenizer_folder("tok", "bpe", 256).replace(os.sep, "/")
    'tok/bpe_256'
    >>> tokenizer_folder("tok", "char", 256).replace(os.sep, "/")
    'tok/char'
    """
    name = "char" if model_type == "char" else f"{model_type}_{vocab_size}"
    return os.path.join(output_folder, name)


def tokenizer_model_path(output_folder, model_type, vocab_size=None):
    """Return the ``.model`` file written by :func:`train_tokenizer`.

    Arguments are those of :func:`tokenizer_folder`.

    Returns
    -------
    str
        ``<folder>/<vocab_size>_<model_type>.model`` (SpeechBrain's naming,
        ``0_char.model`` for character models).

    Example
    -------
    >>> tokenizer_model_path("tok", "bpe", 256).replace(os.sep, "/")
    'tok/bpe_256/256_bpe.model'
    """
    folder = tokenizer_folder(output_folder, model_type, vocab_size)
    size = 0 if model_type == "char" else vocab_size
    return os.path.join(folder, f"{size}_{model_type}.model")


def train_tokenizer(
    train_csv,
    output_folder,
    model_type="bpe",
    vocab_size=256,
    annotation_read="wrd",
    character_coverage=1.0,
    max_sentencepiece_length=10,
    num_sequences=None,
):
    """Train (once) and load a SentencePiece tokenizer.

    Arguments
    ---------
    train_csv : str
        SpeechBrain CSV manifest whose ``annotation_read`` column is the
        training text (only read when a model must be trained).
    output_folder : str
        Parent folder; the model goes to
        :func:`tokenizer_folder` ``(output_folder, model_type, vocab_size)``.
    model_type : str
        ``"bpe"``, ``"unigram"`` or ``"char"``.
    vocab_size : int
        Total number of tokens, the 4 specials included. Ignored (derived
        from the text) for ``"char"``.
    annotation_read : str
        CSV column holding the text.
    character_coverage : float
        Fraction of characters covered by the model (1.0 for English).
    max_sentencepiece_length : int
        Maximum number of characters per piece.
    num_sequences : int, optional
        Train on at most (about) this many CSV rows.

    Returns
    -------
    sentencepiece.SentencePieceProcessor
        The loaded model; ``vocab_size()`` is the output layer size and ids
        0-3 are ``<pad>``/blank, ``<unk>``, ``<s>``, ``</s>``.

    Raises
    ------
    TokenizerError
        Unknown ``model_type``, bad ``vocab_size``, missing or unusable CSV,
        a folder trained with another configuration, or a vocabulary that
        does not fit the data.

    Example
    -------
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> csv_path = os.path.join(tmp, "train.csv")
    >>> with open(csv_path, "w") as f:
    ...     _ = f.write("ID,wrd\\nu1,HELLO WORLD\\nu2,GOOD MORNING WORLD\\n")
    >>> sp = train_tokenizer(csv_path, tmp, model_type="char")
    >>> sp.id_to_piece([BLANK_ID, UNK_ID, BOS_ID, EOS_ID])
    ['<pad>', '<unk>', '<s>', '</s>']
    >>> sp.decode_ids(sp.encode_as_ids("HELLO WORLD"))
    'HELLO WORLD'
    >>> import shutil
    >>> shutil.rmtree(tmp)
    """
    _check_arguments(model_type, vocab_size)
    if model_type == "char":
        vocab_size = None
    config = {
        "train_csv": os.path.abspath(train_csv),
        "annotation_read": annotation_read,
        "model_type": model_type,
        "vocab_size": vocab_size,
        "character_coverage": character_coverage,
        "max_sentencepiece_length": max_sentencepiece_length,
        "num_sequences": num_sequences,
        "special_ids": {"pad": PAD_ID, "unk": UNK_ID, "bos": BOS_ID, "eos": EOS_ID},
    }
    model_path = tokenizer_model_path(output_folder, model_type, vocab_size)
    _check_config(os.path.dirname(model_path), config)
    if not os.path.isfile(model_path):
        _check_csv(config["train_csv"], annotation_read)
        run_on_main(_remove_stale_text, args=[os.path.dirname(model_path)])
    _run_sentencepiece(config, os.path.dirname(model_path))
    run_on_main(_write_config, args=[os.path.dirname(model_path), config])
    return load_tokenizer(model_path)


def _check_arguments(model_type, vocab_size):
    """Validate the model type and vocabulary size."""
    if model_type not in MODEL_TYPES:
        raise TokenizerError(
            f"Unknown model_type {model_type!r}; expected one of {MODEL_TYPES}."
        )
    if model_type == "char":
        return
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TokenizerError(
            f"vocab_size must be an int for model_type={model_type!r}, "
            f"got {vocab_size!r}."
        )
    if vocab_size <= NUM_SPECIAL_TOKENS:
        raise TokenizerError(
            f"vocab_size={vocab_size} leaves no room for pieces: it includes "
            f"the {NUM_SPECIAL_TOKENS} special tokens (<pad>/blank, <unk>, "
            "<s>, </s>)."
        )


def _check_config(folder, config):
    """Refuse to reuse a folder trained with another configuration."""
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    diff = sorted(
        k for k in set(stored) | set(config) if stored.get(k) != config.get(k)
    )
    if diff:
        details = ", ".join(
            f"{k}: {stored.get(k)!r} -> {config.get(k)!r}" for k in diff
        )
        raise TokenizerError(
            f"Tokenizer folder {folder} was trained with another configuration "
            f"({details}). Use another output_folder or delete {folder}."
        )


def _check_csv(train_csv, annotation_read):
    """Check that the CSV exists and has non-empty ``annotation_read`` text."""
    if not os.path.isfile(train_csv):
        raise TokenizerError(f"Tokenizer training CSV {train_csv} does not exist.")
    with open(train_csv, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if annotation_read not in (reader.fieldnames or []):
            raise TokenizerError(
                f"Tokenizer training CSV {train_csv} has no column "
                f"annotation_read={annotation_read!r} (columns: {reader.fieldnames})."
            )
        if not any((row[annotation_read] or "").strip() for row in reader):
            raise TokenizerError(
                f"Tokenizer training CSV {train_csv} has no text in column "
                f"{annotation_read!r}."
            )


def _remove_stale_text(folder):
    """Remove text dumps left by an interrupted training (SB would reuse them)."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.endswith(".txt"):
            os.remove(os.path.join(folder, name))


def _run_sentencepiece(config, folder):
    """Train (if needed) through SpeechBrain's wrapper, translating errors."""
    model_type = config["model_type"]
    try:
        with _quiet_char_vocab_warning(model_type == "char"):
            SentencePiece(
                model_dir=folder,
                vocab_size=config["vocab_size"] or 0,
                annotation_train=config["train_csv"],
                annotation_read=config["annotation_read"],
                model_type=model_type,
                character_coverage=config["character_coverage"],
                max_sentencepiece_length=config["max_sentencepiece_length"],
                num_sequences=config["num_sequences"],
                pad_id=PAD_ID,
                unk_id=UNK_ID,
                bos_id=BOS_ID,
                eos_id=EOS_ID,
            )
    except RuntimeError as err:
        _remove_stale_text(folder)
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
        raise TokenizerError(_explain_training_error(err, config)) from err


def _explain_training_error(err, config):
    """Turn a SentencePiece training error into an actionable message."""
    csv_path, size = config["train_csv"], config["vocab_size"]
    msg = str(err)
    too_high = re.search(r"too high.*<= *(\d+)", msg)
    if too_high:
        return (
            f"vocab_size={size} is too large for the text in {csv_path}: it "
            f"supports at most {too_high.group(1)} tokens. Set vocab_size to a "
            f"smaller value (<= {too_high.group(1)}) or train on more text."
        )
    too_low = re.search(r"required_chars\. *\d+ vs (\d+)", msg)
    if too_low:
        return (
            f"vocab_size={size} is smaller than the {too_low.group(1)} "
            f"characters and special tokens needed by the text in {csv_path}. "
            "Set vocab_size to a larger value or lower character_coverage."
        )
    return f"SentencePiece training on {csv_path} failed ({config}): {msg}"


@contextlib.contextmanager
def _quiet_char_vocab_warning(active):
    """Hide SB's "vocab size requested" warning, meaningless for char models."""

    def _filter(record):
        return "vocab size" not in record.getMessage()

    sb_logger = logging.getLogger(_SB_LOGGER)
    if active:
        sb_logger.addFilter(_filter)
    try:
        yield
    finally:
        sb_logger.removeFilter(_filter)


def _write_config(folder, config):
    """Atomically store the configuration next to the model."""
    path = os.path.join(folder, CONFIG_NAME)
    tmp_path = path + f".{os.getpid()}.tmp"
    with open(tmp_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.replace(tmp_path, path)


def load_tokenizer(model_path):
    """Load a model written by :func:`train_tokenizer` and check its ids.

    Arguments
    ---------
    model_path : str
        Path of a ``.model`` file.

    Returns
    -------
    sentencepiece.SentencePieceProcessor
        The loaded model.

    Example
    -------
    >>> load_tokenizer("/no/x.model")
    Traceback (most recent call last):
    ...
    modules.data.tokenizer.TokenizerError: Tokenizer model /no/x.model does not exist.
    """
    if not os.path.isfile(model_path):
        raise TokenizerError(f"Tokenizer model {model_path} does not exist.")
    sp = spm.SentencePieceProcessor()
    sp.load(model_path)
    ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
    if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
        raise TokenizerError(
            f"Tokenizer model {model_path} has special ids (pad, unk, bos, eos)"
            f" = {ids}, expected {(PAD_ID, UNK_ID, BOS_ID, EOS_ID)}."
        )
    return sp


def ctc_labels(tokenizer) -> list[str]:
    """The tokenizer's pieces indexed by id (id 0 is the blank ``<pad>``).

    Examples
    --------
    >>> class Pieces:
    ...     def get_piece_size(self):
    ...         return 3
    ...
    ...     def id_to_piece(self, i):
    ...         return ["<pad>", "▁A", "B"][i]
    >>> ctc_labels(Pieces())
    ['<pad>', '▁A', 'B']
    """
    return [tokenizer.id_to_piece(i) for i in range(tokenizer.get_piece_size())]
