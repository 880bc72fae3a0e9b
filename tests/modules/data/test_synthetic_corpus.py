"""Tests of the synthetic LibriSpeech corpus generator (tiny corpora only)."""

import filecmp
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import soundfile

from modules.data.synthetic import espeak as espeak_module
from modules.data.synthetic import lexicon as lexicon_module
from modules.data.synthetic.espeak import EspeakUnavailableError
from modules.data.synthetic.generate import CorpusFolderError, generate_corpus
from modules.data.synthetic.grammar import Grammar, render
from modules.data.synthetic.plan import SPLITS, corpus_size, plan_corpus
from modules.data.synthetic.speakers import TRAIN_VARIANTS, VOICES
from tests.paths import REPO_ROOT

CLI = os.path.join(REPO_ROOT, "recipes", "LibriSpeech", "generate_corpus.py")
TRANS_LINE = re.compile(r"^(\d+)-(\d+)-(\d{4}) [A-Z']+( [A-Z']+)*$")
SEED = 1234


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny corpus generated once in this process: (root, stats)."""
    root = str(tmp_path_factory.mktemp("synth") / "LibriSpeech")
    return root, generate_corpus(root, size="tiny", seed=SEED, num_workers=1)


def transcripts(root, splits=SPLITS):
    """Map ``split/.../x.trans.txt`` -> file content for ``splits``."""
    found = {}
    for split in splits:
        pattern = os.path.join(root, split, "*", "*", "*.trans.txt")
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def flac_files(root, split):
    """Relative paths of the FLAC files of one split."""
    pattern = os.path.join(root, split, "*", "*", "*.flac")
    return sorted(os.path.relpath(p, root) for p in glob.glob(pattern))


def speaker_settings(root):
    """SPEAKERS.TXT as {split: {speaker id: settings}}."""
    table = {}
    with open(os.path.join(root, "SPEAKERS.TXT"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(";"):
                continue
            spk, _sex, split, _minutes, name = (f.strip() for f in line.split("|"))
            table.setdefault(split, {})[spk] = name
    return table


def test_layout_and_audio_format(tiny):
    root, stats = tiny
    assert sorted(os.listdir(root)) == sorted(
        [*SPLITS, "SPEAKERS.TXT", "SYNTHETIC_CORPUS.json", "librispeech-lm-norm.txt"]
    )
    for split in SPLITS:
        for spk in os.listdir(os.path.join(root, split)):
            assert spk.isdigit()
            for chapter in os.listdir(os.path.join(root, split, spk)):
                assert chapter.isdigit()
                folder = os.path.join(root, split, spk, chapter)
                with open(os.path.join(folder, f"{spk}-{chapter}.trans.txt")) as f:
                    lines = f.read().splitlines()
                ids = []
                for line in lines:
                    match = TRANS_LINE.match(line)
                    assert match, line
                    assert match.group(1, 2) == (spk, chapter)
                    ids.append(line.split(" ", 1)[0])
                audio = sorted(
                    n[:-5] for n in os.listdir(folder) if n.endswith(".flac")
                )
                assert audio == sorted(ids)
                assert len(os.listdir(folder)) == len(ids) + 1
        assert stats["splits"][split]["utterances"] > 0
    for path in (
        flac_files(root, "train-synth")[:5] + flac_files(root, "test-other")[:5]
    ):
        info = soundfile.info(os.path.join(root, path))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert (info.format, info.subtype) == ("FLAC", "PCM_16")
        assert 1.5 < info.duration < 13.0
        samples, _ = soundfile.read(os.path.join(root, path))
        assert 0.1 < np.abs(samples).max() < 1.0


def test_stats_and_marker(tiny):
    root, stats = tiny
    assert not stats["skipped"]
    assert 0.02 < stats["total_hours"] < 0.1
    assert stats["grammar_vocabulary"] >= 1000
    with open(os.path.join(root, "SYNTHETIC_CORPUS.json")) as handle:
        marker = json.load(handle)
    assert marker["complete"] and marker["seed"] == SEED


def test_same_seed_same_files_any_worker_count(tiny, tmp_path):
    root, _ = tiny
    again = str(tmp_path / "again")
    generate_corpus(again, size="tiny", seed=SEED, num_workers=2)
    assert transcripts(again) == transcripts(root)
    for split in SPLITS:
        names = flac_files(root, split)
        assert flac_files(again, split) == names
        _, mismatch, errors = filecmp.cmpfiles(root, again, names, shallow=False)
        assert not mismatch and not errors


def test_other_seed_other_corpus(tiny, tmp_path):
    root, _ = tiny
    other = str(tmp_path / "other")
    generate_corpus(other, size="tiny", seed=SEED + 1, num_workers=1)
    assert sorted(transcripts(other).values()) != sorted(transcripts(root).values())


def test_speakers_disjoint(tiny):
    root, _ = tiny
    table = speaker_settings(root)
    assert set(table) == set(SPLITS)
    for split in SPLITS:
        assert set(table[split]) == set(os.listdir(os.path.join(root, split)))
    for split in SPLITS[1:]:
        assert not set(table[split]) & set(table["train-synth"])
        assert not set(table[split].values()) & set(table["train-synth"].values())
    assert not set(table["dev-clean"]) & set(table["test-clean"])
    for name in table["test-other"].values():
        variant = name.split()[0].split("+")[1]
        assert variant not in TRAIN_VARIANTS
    for split in SPLITS:
        for name in table[split].values():
            assert name.split("+")[0] in VOICES


def test_small_plan_covers_every_training_variant():
    """Many short training speakers, 40 speakers per evaluation split."""
    plan, _ = plan_corpus(SEED, corpus_size("small"))
    speakers = {
        split: {chapter.speaker_id: chapter.speaker for chapter in chapters}
        for split, chapters in plan.items()
    }
    assert len(speakers["train-synth"]) == 204
    for split in SPLITS[1:]:
        assert len(speakers[split]) == 40
    heard = Counter(s.variant for s in speakers["train-synth"].values())
    assert set(heard) == set(TRAIN_VARIANTS)
    assert min(heard.values()) >= 3


def test_grammar_vocabulary_and_rendering():
    vocabulary = Grammar().vocabulary()
    assert len(vocabulary) >= 1000
    full = lexicon_module.lexical_categories(None)
    kept = lexicon_module.lexical_categories()
    assert set(full) == set(kept)
    assert any(len(kept[name]) < len(full[name]) for name in full)
    assert all(set(kept[name]) <= set(full[name]) for name in full)
    assert all(re.fullmatch(r"[A-Z']+", word) for word in vocabulary)
    sentence = render(["a", "owl", "saw", "John", "'s", "a", "hat", "?"])
    assert sentence.transcript == "AN OWL SAW JOHN'S A HAT"
    assert sentence.speech_text == "an owl saw John's a hat?"


def test_lm_text_excludes_eval_sentences(tiny):
    root, stats = tiny
    with open(os.path.join(root, "librispeech-lm-norm.txt"), encoding="utf-8") as f:
        lm = f.read().splitlines()
    assert len(lm) == stats["lm_sentences"]
    assert all(re.fullmatch(r"[A-Z']+( [A-Z']+)*", line) for line in lm)
    evaluation = {
        line.split(" ", 1)[1]
        for text in transcripts(root, SPLITS[1:]).values()
        for line in text.splitlines()
    }
    training = {
        line.split(" ", 1)[1]
        for text in transcripts(root, SPLITS[:1]).values()
        for line in text.splitlines()
    }
    assert evaluation and not evaluation & set(lm)
    assert not evaluation & training


def test_second_call_skips(tiny, capsys):
    root, stats = tiny
    before = {
        p: os.stat(p).st_mtime_ns for p in glob.glob(root + "/**", recursive=True)
    }
    again = generate_corpus(root, size="tiny", seed=SEED)
    assert again["skipped"] and again["total_hours"] == stats["total_hours"]
    assert "skipped" in capsys.readouterr().out
    after = {p: os.stat(p).st_mtime_ns for p in glob.glob(root + "/**", recursive=True)}
    assert after == before


def test_resumes_interrupted_run(tiny, tmp_path):
    root, _ = tiny
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy)
    shutil.rmtree(os.path.join(copy, "test-clean"))
    os.makedirs(os.path.join(copy, ".test-clean.partial", "junk"))
    marker = os.path.join(copy, "SYNTHETIC_CORPUS.json")
    with open(marker) as handle:
        content = json.load(handle)
    with open(marker, "w") as handle:
        json.dump({**content, "complete": False, "stats": None}, handle)
    stats = generate_corpus(copy, size="tiny", seed=SEED, num_workers=1)
    assert not stats["skipped"]
    assert transcripts(copy) == transcripts(root)
    names = flac_files(root, "test-clean")
    _, mismatch, errors = filecmp.cmpfiles(root, copy, names, shallow=False)
    assert not mismatch and not errors
    assert not os.path.exists(os.path.join(copy, ".test-clean.partial"))


def test_refuses_foreign_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(CorpusFolderError, match=re.escape(str(folder))):
        generate_corpus(str(folder), size="tiny")
    assert os.listdir(folder) == ["notes.txt"]


def test_refuses_corpus_with_other_options(tiny):
    root, _ = tiny
    with pytest.raises(CorpusFolderError, match="other --output_dir"):
        generate_corpus(root, size="tiny", seed=SEED + 7)
    with pytest.raises(CorpusFolderError, match=re.escape(root)):
        generate_corpus(root, size="small", seed=SEED)


def test_missing_library_is_a_clear_error(tmp_path, monkeypatch):
    missing = [(str(tmp_path / "libespeak-ng.so"), None)]
    monkeypatch.setattr(espeak_module, "candidate_libraries", lambda: missing)
    target = tmp_path / "corpus"
    with pytest.raises(EspeakUnavailableError, match="pip install espeakng-loader"):
        generate_corpus(str(target), size="tiny")
    assert not target.exists()


def test_cli(tiny, tmp_path):
    root, _ = tiny
    command = [sys.executable, CLI, "--output_dir", root, "--seed", str(SEED)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert "skipped" in done.stdout
    (tmp_path / "other.txt").write_text("x")
    command[3] = str(tmp_path)
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 1 and str(tmp_path) in done.stderr
