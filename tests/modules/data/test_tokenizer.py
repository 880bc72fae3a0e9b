"""Tests for modules/data/tokenizer.py."""

import csv
import os

import pytest

from modules.data.tokenizer import (
    BLANK_ID,
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    TokenizerError,
    tokenizer_folder,
    tokenizer_model_path,
    train_tokenizer,
)

SENTENCES = [
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "SPEECH RECOGNITION IS THE TASK OF TURNING AUDIO INTO TEXT",
    "SHE SELLS SEA SHELLS BY THE SEA SHORE",
    "A TOKENIZER SPLITS WORDS INTO SMALLER PIECES",
    "HOW MUCH WOOD WOULD A WOODCHUCK CHUCK",
    "THE RAIN IN SPAIN STAYS MAINLY IN THE PLAIN",
    "PETER PIPER PICKED A PECK OF PICKLED PEPPERS",
    "IT WAS THE BEST OF TIMES IT WAS THE WORST OF TIMES",
    "ALL THAT GLITTERS IS NOT GOLD",
    "TO BE OR NOT TO BE THAT IS THE QUESTION",
]
ROUNDTRIP = "THE QUICK FOX SELLS PICKLED SHELLS"


@pytest.fixture
def train_csv(tmp_path):
    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "duration", "wav", "spk_id", "wrd"])
        for i, text in enumerate(SENTENCES * 3):
            writer.writerow([f"utt{i}", "1.0", f"/x/utt{i}.flac", "1", text])
    return str(path)


@pytest.mark.parametrize(
    "model_type, vocab_size", [("bpe", 60), ("unigram", 40), ("char", None)]
)
def test_train_roundtrip_and_special_ids(train_csv, tmp_path, model_type, vocab_size):
    out = tmp_path / "tok"
    sp = train_tokenizer(train_csv, out, model_type=model_type, vocab_size=vocab_size)
    ids = sp.encode_as_ids(ROUNDTRIP)
    assert sp.decode_ids(ids) == ROUNDTRIP
    assert ids and min(ids) > EOS_ID  # specials never produced by encode
    assert BLANK_ID == PAD_ID == 0
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2, 3)
    assert [sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert sp.encode_as_ids("\u00e9")[-1] == UNK_ID  # unseen character
    assert sp.decode_ids([BLANK_ID, *ids, BOS_ID]) == ROUNDTRIP
    model = tokenizer_model_path(out, model_type, vocab_size)
    assert os.path.isfile(model)
    assert os.path.dirname(model) == tokenizer_folder(out, model_type, vocab_size)
    if model_type == "char":
        assert os.path.basename(os.path.dirname(model)) == "char"
        # 4 specials + word boundary + the distinct letters of the text
        letters = set("".join(SENTENCES)) - {" "}
        assert sp.vocab_size() == 4 + 1 + len(letters)
    else:
        assert sp.vocab_size() == vocab_size


def test_trained_once_then_reused(train_csv, tmp_path):
    out = tmp_path / "tok"
    train_tokenizer(train_csv, out, model_type="bpe", vocab_size=50)
    model = tokenizer_model_path(out, "bpe", 50)
    os.utime(model, ns=(10**18, 10**18))
    sp = train_tokenizer(train_csv, out, model_type="bpe", vocab_size=50)
    assert os.stat(model).st_mtime_ns == 10**18
    assert sp.vocab_size() == 50


def test_reuse_does_not_need_the_csv(train_csv, tmp_path):
    out = tmp_path / "tok"
    train_tokenizer(train_csv, out, model_type="char")
    os.remove(train_csv)
    assert train_tokenizer(train_csv, out, model_type="char").vocab_size() > 4


def test_other_config_gets_new_folder(train_csv, tmp_path):
    out = tmp_path / "tok"
    train_tokenizer(train_csv, out, model_type="bpe", vocab_size=50)
    first = tokenizer_model_path(out, "bpe", 50)
    os.utime(first, ns=(10**18, 10**18))
    sp = train_tokenizer(train_csv, out, model_type="bpe", vocab_size=60)
    assert sp.vocab_size() == 60
    assert os.stat(first).st_mtime_ns == 10**18
    assert sorted(os.listdir(out)) == ["bpe_50", "bpe_60"]


def test_changed_csv_in_same_folder_is_refused(train_csv, tmp_path):
    out = tmp_path / "tok"
    train_tokenizer(train_csv, out, model_type="bpe", vocab_size=50)
    other = tmp_path / "other.csv"
    other.write_text(open(train_csv).read())
    with pytest.raises(TokenizerError, match="another configuration.*train_csv"):
        train_tokenizer(str(other), out, model_type="bpe", vocab_size=50)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_type": "word"}, "Unknown model_type 'word'"),
        ({"vocab_size": "256"}, "vocab_size must be an int"),
        ({"vocab_size": 3}, "special tokens"),
    ],
)
def test_bad_arguments(train_csv, tmp_path, kwargs, message):
    with pytest.raises(TokenizerError, match=message):
        train_tokenizer(train_csv, tmp_path / "tok", **kwargs)


def test_missing_csv(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(TokenizerError, match="does not exist") as info:
        train_tokenizer(missing, tmp_path / "tok")
    assert missing in str(info.value)


def test_csv_without_text_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("ID,words\nu1,HELLO\n")
    with pytest.raises(TokenizerError, match="annotation_read='wrd'"):
        train_tokenizer(str(path), tmp_path / "tok")


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_vocab_too_large(train_csv, tmp_path, model_type):
    with pytest.raises(TokenizerError, match=r"vocab_size=5000 is too large") as info:
        train_tokenizer(train_csv, tmp_path / "tok", model_type, vocab_size=5000)
    msg = str(info.value)
    assert train_csv in msg and "smaller value (<= " in msg
    # a failed training leaves nothing behind
    assert not os.path.exists(tokenizer_folder(tmp_path / "tok", model_type, 5000))
    assert train_tokenizer(train_csv, tmp_path / "tok", model_type, 40)


def test_vocab_too_small_for_characters(train_csv, tmp_path):
    with pytest.raises(TokenizerError, match="larger value") as info:
        train_tokenizer(train_csv, tmp_path / "tok", "bpe", vocab_size=10)
    assert train_csv in str(info.value)
