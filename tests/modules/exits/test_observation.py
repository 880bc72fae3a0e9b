"""What one exit produced: lazy head, frame rates, selection of rows
(modules/exits/observation.py)."""

import pytest
import torch

from modules.exits.observation import ExitObservation
from modules.exits.policies import build_policy
from tests.modules.exits.observations import observation


def test_upsampling_head_outputs_use_valid_frames_at_their_rate():
    """A CTC-upsampling head emits 2 outputs per encoder frame: the valid
    mask is repeated, so padding stays out of the criterion and lengths."""
    confident, uniform = [0.9, 0.1], [0.5, 0.5]
    log_probs = torch.tensor([[confident, confident, uniform, uniform]]).log()
    valid = torch.tensor([[True, False]])
    obs = observation(log_probs, valid, hidden=torch.zeros(1, 2, 2))
    assert obs.lengths.tolist() == [2]
    confidence = build_policy("confidence", 0.5).criterion(obs, [])
    torch.testing.assert_close(confidence, torch.tensor([0.9]))


def test_head_runs_on_first_use_and_selection_keeps_what_is_known():
    calls = []

    def head(hidden):
        calls.append(hidden.shape[0])
        return hidden

    hidden = torch.tensor([[[0.0, 3.0, 0.0]], [[0.0, 0.0, 3.0]], [[0.0, 3.0, 0.0]]])
    valid = torch.ones(3, 1, dtype=torch.bool)
    obs = ExitObservation(2, 4, hidden, valid, torch.tensor([5, 6, 7]), head)
    assert calls == []
    picked = obs.select(torch.tensor([2, 1]))
    assert picked.transcripts == [[1], [2]] and calls == [2]
    assert obs.transcripts == [[1], [2], [1]] and calls == [2, 3]
    kept = obs.select(torch.tensor([1]))
    assert kept.utterances.tolist() == [6] and kept.transcripts == [[2]]
    assert calls == [2, 3] and (kept.index, kept.layer) == (2, 4)


def test_observation_errors():
    valid = torch.ones(1, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="log_probs or a head"):
        ExitObservation(1, 1, torch.zeros(1, 2, 2), valid, torch.tensor([0]))
    obs = observation(torch.zeros(1, 3, 2), valid=valid)
    with pytest.raises(ValueError, match="whole multiple"):
        _ = obs.output_valid
