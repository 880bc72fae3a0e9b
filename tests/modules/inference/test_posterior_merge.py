"""Overlap merging (modules/inference/posterior_merge.py) through the whole
windowed pipeline, against hand computations on a fake model whose
posteriors are known per (recording frame, window position)."""

import pytest
import soundfile
import torch

from modules.inference.audio_windows import read_windows
from modules.inference.frame_geometry import FrameGeometry, WindowPlan
from modules.inference.posterior_merge import PosteriorMerger
from modules.inference.windowed_asr import transcribe_windows
from tests.modules.inference.fakes import (
    CollectFrames,
    known_log_probs,
    known_scorer,
    ramp_wav,
)

STRIDE = 10
NUM_SAMPLES = 1030  # 103 frames: the last window is shorter than the others


def merged_frames(tmp_path, window, hop, mode):
    """Frames the pipeline gives for a ramp recording, and the plan."""
    path = ramp_wav(tmp_path / "ramp.wav", NUM_SAMPLES)
    plan = WindowPlan(FrameGeometry(STRIDE, STRIDE), window=window, hop=hop)
    decoder = CollectFrames()
    with soundfile.SoundFile(path) as audio:
        result = transcribe_windows(
            read_windows(audio, plan),
            plan,
            known_scorer(NUM_SAMPLES, STRIDE),
            PosteriorMerger(mode),
            decoder,
        )
    return decoder.frames, plan, result


def windows_covering(plan):
    """``{recording frame: [(window position, window frames), ...]}``,
    computed from the window starts alone."""
    covering = {}
    for start in plan.starts(NUM_SAMPLES):
        frames = (min(NUM_SAMPLES, start + plan.window) - start) // STRIDE
        for position in range(frames):
            covering.setdefault(start // STRIDE + position, []).append(
                (position, frames)
            )
    return covering


def known(frame, position):
    """The fake model's log-posteriors of one frame at one position."""
    return known_log_probs(torch.tensor([frame]), torch.tensor([position]))[0]


@pytest.mark.parametrize("window, hop", [(200, 50), (200, 70), (300, 100)])
def test_average_is_the_mean_probability_over_covering_windows(tmp_path, window, hop):
    frames, plan, result = merged_frames(tmp_path, window, hop, "average")
    covering = windows_covering(plan)
    assert frames.shape[0] == NUM_SAMPLES // STRIDE == result.frames
    for frame, seen in covering.items():
        probs = torch.stack([known(frame, pos).exp() for pos, _ in seen])
        expected = probs.mean(0).log()
        assert torch.allclose(frames[frame].double(), expected, atol=1e-5), frame
    assert max(len(seen) for seen in covering.values()) == -(-window // hop)


def test_centre_takes_each_frame_from_the_window_where_it_is_most_central(tmp_path):
    frames, plan, _ = merged_frames(tmp_path, 200, 70, "centre")
    for frame, seen in windows_covering(plan).items():
        position = min(seen, key=lambda s: abs(s[0] - (s[1] - 1) / 2))[0]
        assert torch.allclose(frames[frame].double(), known(frame, position), atol=1e-6)
    # Windows of 20 frames start every 7 frames: frame 50 is at position 15,
    # 8 and 1 of those starting at frames 35, 42 and 49; 8 is the closest to
    # the centre (9.5).
    assert torch.allclose(frames[50].double(), known(50, 8), atol=1e-6)


def test_hop_equal_to_window_takes_every_frame_from_one_window(tmp_path):
    frames, plan, result = merged_frames(tmp_path, 200, 200, "average")
    assert [w.start for w in result.windows] == [
        0.0,
        0.0125,
        0.025,
        0.0375,
        0.05,
        0.0625,
    ]
    for frame in range(frames.shape[0]):
        assert torch.allclose(
            frames[frame].double(), known(frame, frame % 20), atol=1e-6
        )


def test_merger_holds_at_most_one_window_of_frames(tmp_path):
    _, plan, result = merged_frames(tmp_path, 200, 50, "average")
    assert result.peak_pending_frames == plan.window_frames == 20


def test_windows_out_of_order_or_with_a_gap_are_refused():
    merger = PosteriorMerger("average")
    merger.add(0, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="without gaps"):
        merger.add(5, torch.zeros(4, 3))
    merger.pop_finished(2)
    with pytest.raises(ValueError, match="must come in order"):
        merger.add(1, torch.zeros(4, 3))
    with pytest.raises(ValueError, match="not a merge mode"):
        PosteriorMerger("median")
