"""The context-length warm-up: doubling lengths, halving batches, checkpoints."""

import pytest
from speechbrain.utils.checkpoints import Checkpointer

from modules.data.context_schedule import ContextWarmup, context_stages


def test_length_doubles_and_batch_halves_until_the_target():
    stages = context_stages(81.92, 5.12, 5000, 3)
    assert [s.seconds for s in stages] == [5.12, 10.24, 20.48, 40.96, 81.92]
    assert [s.batch_size for s in stages] == [48, 24, 12, 6, 3]
    assert len({s.seconds * s.batch_size for s in stages}) == 1  # same audio per batch
    assert [(s.first_recording, s.end_recording) for s in stages] == [
        (0, 5000),
        (5000, 10000),
        (10000, 15000),
        (15000, 20000),
        (20000, None),
    ]


def test_last_stage_is_the_target_even_when_doubling_overshoots():
    stages = context_stages(30.0, 5.0, 10, 1)
    assert [(s.seconds, s.batch_size) for s in stages] == [
        (5.0, 8),
        (10.0, 4),
        (20.0, 2),
        (30.0, 1),
    ]


@pytest.mark.parametrize("start", [None, 30.0, 60.0])
def test_no_warmup_is_one_stage_at_the_target(start):
    (stage,) = context_stages(30.0, start, 10, 4)
    assert (stage.seconds, stage.batch_size, stage.end_recording) == (30.0, 4, None)


def test_advance_reports_each_stage_change_once():
    warmup = ContextWarmup(40.0, 10.0, 100, 2)
    changes = [warmup.advance(30) for _ in range(12)]  # 30 ... 360 recordings
    assert [i for i, changed in enumerate(changes) if changed] == [3, 6]
    assert warmup.recordings_seen == 360 and warmup.stage.seconds == 40.0
    assert warmup.stage_at(99).seconds == 10.0 and warmup.stage_at(100).seconds == 20.0
    assert warmup.stage_at(10**9).batch_size == 2


def test_checkpoint_restores_the_count(tmp_path):
    warmup = ContextWarmup(40.0, 10.0, 100, 2)
    warmup.advance(150)
    Checkpointer(str(tmp_path), {"context_warmup": warmup}).save_checkpoint()
    resumed = ContextWarmup(40.0, 10.0, 100, 2)
    Checkpointer(str(tmp_path), {"context_warmup": resumed}).recover_if_possible()
    assert resumed.recordings_seen == 150 and resumed.stage.seconds == 20.0


@pytest.mark.parametrize(
    "args, key",
    [
        ((0.0, 5.0, 10, 1), "context_length_seconds"),
        ((30.0, -1.0, 10, 1), "context_warmup_start_seconds"),
        ((30.0, 5.0, 0, 1), "context_warmup_recordings"),
        ((30.0, 5.0, 2.5, 1), "context_warmup_recordings"),
        ((30.0, 5.0, 10, 0), "batch_size"),
    ],
)
def test_bad_values_name_their_key(args, key):
    with pytest.raises(ValueError, match=f"^{key} must be a positive"):
        ContextWarmup(*args)
