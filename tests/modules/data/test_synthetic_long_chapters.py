"""The long-chapter sizes of the synthetic corpus (plans only: no synthesis)."""

import json
from collections import Counter

import pytest

from modules.data.synthetic.generate import (
    GENERATOR,
    MARKER_NAME,
    VERSION,
    CorpusFolderError,
    generate_corpus,
)
from modules.data.synthetic.plan import (
    SPLITS,
    corpus_size,
    estimate_seconds,
    plan_corpus,
)
from modules.data.synthetic.speakers import TRAIN_VARIANTS

SEED = 1234


def chapter_seconds(chapter):
    """Planned length of a chapter (speech estimate plus silences)."""
    return sum(
        u.lead_seconds
        + u.trail_seconds
        + estimate_seconds(u.transcript, chapter.speaker.rate)
        for u in chapter.utterances
    )


def test_small_long_gives_minutes_long_chapters():
    plan, eval_sentences = plan_corpus(SEED, corpus_size("small-long"))
    for split, chapters in plan.items():
        speakers = [c.speaker_id for c in chapters]
        assert len(speakers) == len(set(speakers)), split  # one chapter each
    train = [chapter_seconds(c) for c in plan["train-synth"]]
    assert len(train) == 34 and min(train) > 150 and max(train) < 220
    for split in SPLITS[1:]:
        seconds = [chapter_seconds(c) for c in plan[split]]
        assert len(seconds) == 4 and min(seconds) > 210 and max(seconds) < 360
    heard = Counter(c.speaker.variant for c in plan["train-synth"])
    assert set(heard) == set(TRAIN_VARIANTS)
    training = {u.transcript for c in plan["train-synth"] for u in c.utterances}
    assert eval_sentences and not eval_sentences & training
    voices = {s: {c.speaker for c in plan[s]} for s in SPLITS}
    assert not any(voices[a] & voices[b] for a in SPLITS for b in SPLITS if a < b)


def test_standard_sizes_keep_their_short_chapters():
    assert corpus_size("small").layout is None and corpus_size("tiny").layout is None
    plan, _ = plan_corpus(SEED, corpus_size("tiny"))
    assert max(chapter_seconds(c) for s in SPLITS for c in plan[s]) < 60


def write_marker(folder, **options):
    folder.mkdir()
    marker = {"generator": GENERATOR, "version": VERSION, "seed": SEED, **options}
    (folder / MARKER_NAME).write_text(
        json.dumps({**marker, "complete": True, "stats": {}})
    )


def test_markers_tell_the_layouts_apart(tmp_path):
    standard = tmp_path / "tiny"
    write_marker(standard, hours=0.03)  # as written before long layouts existed
    assert generate_corpus(str(standard), size="tiny", seed=SEED)["skipped"]
    with pytest.raises(CorpusFolderError, match="train_chapter_seconds"):
        generate_corpus(str(standard), size="tiny-long", seed=SEED)
    layout = {
        "train_chapter_seconds": 30.0,
        "eval_chapter_seconds": 40.0,
        "eval_speakers": 2,
    }
    long_form = tmp_path / "tiny-long"
    write_marker(long_form, hours=0.03, layout=layout)
    assert generate_corpus(str(long_form), size="tiny-long", seed=SEED)["skipped"]
    with pytest.raises(CorpusFolderError, match="other --output_dir"):
        generate_corpus(str(long_form), size="tiny", seed=SEED)
