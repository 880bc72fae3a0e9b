"""CTC feasibility: enough output frames for every utterance's labels."""

import pytest
import torch

from modules.losses.ctc_feasibility import (
    check_ctc_batch,
    check_ctc_feasible,
    ctc_min_frames,
)
from modules.nn.heads import UpsampledCTCHead


def test_ctc_min_frames_counts_repeats():
    targets = torch.tensor([[1, 1, 1, 0], [1, 2, 1, 2], [3, 3, 0, 0]])
    assert ctc_min_frames(targets, torch.tensor([3, 4, 1])) == [5, 4, 1]


def test_ctc_feasibility_check_names_the_utterance():
    targets = torch.tensor([[1, 2, 2, 3], [4, 5, 6, 0]])
    check_ctc_feasible(
        torch.tensor([5, 3]), torch.tensor([4, 3]), ["ok-1", "ok-2"], targets
    )
    with pytest.raises(
        ValueError,
        match=r"103-1240-0000: 4 output frames, 5 needed.*UpsampledCTCHead.*"
        r"downsampling_factor",
    ):
        check_ctc_feasible([4, 3], [4, 3], ["103-1240-0000", "ok"], targets)
    with pytest.raises(ValueError, match="short-2: 2 output frames, 3 needed"):
        check_ctc_feasible([9, 2], [4, 3], ["ok", "short-2"])


def test_ctc_is_feasible_again_with_the_upsampling_head():
    frames, factor = 3, 2
    targets = torch.tensor([[1, 2, 2, 3]])
    with pytest.raises(ValueError):
        check_ctc_feasible([frames], [4], ["u"], targets)
    check_ctc_feasible([frames * factor], [4], ["u"], targets)
    log_probs = UpsampledCTCHead(8, 5, factor)(torch.randn(1, frames, 8)).log_softmax(
        -1
    )
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        targets,
        torch.tensor([frames * factor]),
        torch.tensor([4]),
    )
    assert torch.isfinite(loss)


def test_batch_check_names_the_utterance_and_the_fixes():
    tokens = torch.tensor([[3, 4, 4, 5], [3, 0, 0, 0]])
    token_lens = torch.tensor([1.0, 0.25])
    ids = ["long-utt", "short-utt"]
    check_ctc_batch(torch.zeros(2, 5, 7), torch.ones(2), tokens, token_lens, ids)
    with pytest.raises(
        ValueError,
        match=r"utterance long-utt: 4 output frames, 5 needed \(1 in the batch.*"
        r"ctc_upsampling: True.*downsampling_factor",
    ):
        check_ctc_batch(
            torch.zeros(2, 5, 7), torch.tensor([0.8, 0.2]), tokens, token_lens, ids
        )
