"""The context run's loader: one warm-up stage per epoch, resumable inside it."""

import os

import numpy as np
import pytest
import soundfile
from speechbrain.utils.checkpoints import Checkpointer

from modules.data.context_schedule import ContextWarmup
from modules.data.long_form_manifest import LongFormRecording, Segment
from modules.training.context_loader import (
    ContextStageLoader,
    epoch_batches,
    planned_updates,
)
from modules.training.context_setup import ContextTrainingData

RATE = 16000


def write_recording(folder, name, seconds_per_utterance):
    """A noise WAV of the joined utterances, with its segments."""
    total = sum(seconds_per_utterance)
    path = os.path.join(folder, f"{name}.wav")
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, int(total * RATE))
    soundfile.write(path, noise.astype("float32"), RATE)
    segments, start = [], 0.0
    for k, seconds in enumerate(seconds_per_utterance):
        segments.append(Segment(start, start + seconds, f"{name}-{k}"))
        start += seconds
    words = " ".join(f"W{name}{k}" for k in range(len(segments)))
    return LongFormRecording(name, total, path, words, tuple(segments))


@pytest.fixture
def context_data(tmp_path):
    """Factory of fresh training data: two recordings of 8 utterances of
    0.5 s; warm-up at 0.5 s (batches of 4) for 12 chunks, then 1.0 s
    (batches of 2)."""
    recordings = [write_recording(str(tmp_path), n, [0.5] * 8) for n in ("a", "b")]
    transcripts = {
        s.utterance_id: f"W{r.recording_id}{k}"
        for r in recordings
        for k, s in enumerate(r.segments)
    }

    def make():
        warmup = ContextWarmup(1.0, 0.5, 12, 2)
        return ContextTrainingData(warmup, recordings, transcripts)

    return make


def batch_ids(loader, limit=None, epoch=1):
    """Chunk IDs of the batches of one epoch; the warm-up advances after
    each, as the Brain does after training a batch."""
    loader.set_epoch(epoch)
    found = []
    for batch in loader:
        found.append(list(batch.id))
        loader.data.warmup.advance(len(batch.id))
        if len(found) == limit:
            break
    return found


def test_epoch_batches_cover_every_chunk_in_a_seeded_order():
    batches = epoch_batches(10, 3, seed=5, epoch=2)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert batches == epoch_batches(10, 3, seed=5, epoch=2)
    assert batches != epoch_batches(10, 3, seed=5, epoch=3)


def test_epoch_batches_give_every_process_as_many_full_batches():
    shards = [epoch_batches(11, 2, 0, 1, rank=r, world_size=2) for r in (0, 1)]
    assert [len(s) for s in shards] == [2, 2]
    flat = [i for shard in shards for b in shard for i in b]
    assert len(flat) == len(set(flat)) == 8
    assert all(len(b) == 2 for shard in shards for b in shard)


def test_an_epoch_ends_when_the_stage_changes(context_data):
    data = context_data()
    loader = ContextStageLoader(data, seed=0)
    assert len(loader) == 4  # 16 chunks of 0.5 s in batches of 4
    first = batch_ids(loader)
    assert [len(b) for b in first] == [4, 4, 4]  # the stage ends at 12 chunks
    assert data.warmup.stage.seconds == 1.0
    second = batch_ids(loader, epoch=2)
    assert [len(b) for b in second] == [2] * 4  # 8 chunks of 1.0 s
    chunk_ids = sorted(c for b in second for c in b)
    assert chunk_ids == sorted(f"{r}-c{k:03d}" for r in "ab" for k in range(4))


def test_planned_updates_count_what_the_loader_gives(context_data):
    data = context_data()
    loader = ContextStageLoader(data, seed=3)
    batches = sum(len(batch_ids(loader, epoch=e)) for e in range(1, 5))
    counts = [len(data.stage_chunks(s)) for s in data.warmup.stages]
    warmup = context_data().warmup
    assert planned_updates(warmup, counts, 4) == batches == 3 + 3 * 4
    assert planned_updates(warmup, counts, 4, accumulation=2) == 1 + 3 * 2


def save_after(data, loader, folder, batches, end_of_epoch=False):
    """Train ``batches`` batches of epoch 1, then checkpoint the warm-up and
    the loader; return the trained batches."""
    checkpointer = Checkpointer(folder, {"warmup": data.warmup, "loader": loader})
    trained = batch_ids(loader, limit=batches)
    checkpointer.save_checkpoint(end_of_epoch=end_of_epoch)
    return trained


def recovered(context_data, folder):
    """A fresh warm-up and loader recovered from ``folder``."""
    data = context_data()
    loader = ContextStageLoader(data, seed=0)
    checkpointer = Checkpointer(folder, {"warmup": data.warmup, "loader": loader})
    checkpointer.recover_if_possible()
    return data, loader


def test_a_killed_epoch_resumes_at_its_next_batch(context_data, tmp_path):
    reference = batch_ids(ContextStageLoader(context_data(), seed=0))
    data = context_data()
    loader = ContextStageLoader(data, seed=0)
    assert save_after(data, loader, tmp_path, 1) == reference[:1]
    data, loader = recovered(context_data, tmp_path)
    assert data.warmup.recordings_seen == 4
    assert batch_ids(loader) == reference[1:]


def test_a_checkpoint_after_the_stage_changed_starts_the_new_stage(
    context_data, tmp_path
):
    data = context_data()
    loader = ContextStageLoader(data, seed=0)
    save_after(data, loader, tmp_path, 3)  # the third batch ends the stage
    data, loader = recovered(context_data, tmp_path)
    assert data.warmup.stage.seconds == 1.0
    assert [len(b) for b in batch_ids(loader, epoch=1)] == [2] * 4


def test_an_end_of_epoch_checkpoint_starts_the_next_epoch_whole(context_data, tmp_path):
    data = context_data()
    save_after(data, ContextStageLoader(data, seed=0), tmp_path, 1, end_of_epoch=True)
    _, loader = recovered(context_data, tmp_path)
    assert [len(b) for b in batch_ids(loader)] == [4, 4]  # 4 of 12 chunks done
