"""CTC output heads: linear, or several frames per encoder frame."""

import pytest
import torch

from modules.nn.heads import UpsampledCTCHead, ctc_head, ctc_upsampling_factor


def test_upsampled_head_shapes_and_frame_order():
    torch.manual_seed(0)
    head = UpsampledCTCHead(8, 5, factor=3)
    x = torch.randn(2, 4, 8)
    logits = head(x)
    assert logits.shape == (2, 12, 5)
    flat = head.linear(x)
    for t in range(4):
        for j in range(3):
            torch.testing.assert_close(
                logits[:, 3 * t + j], flat[:, t, 5 * j : 5 * (j + 1)]
            )
    with pytest.raises(ValueError, match="ctc_upsampling=0"):
        UpsampledCTCHead(8, 5, factor=0)


@pytest.mark.parametrize("value, factor", [(False, 1), (True, 2), (1, 1), (3, 3)])
def test_ctc_upsampling_values(value, factor):
    assert ctc_upsampling_factor(value) == factor
    head = ctc_head(8, 5, value)
    assert head(torch.randn(2, 4, 8)).shape == (2, 4 * factor, 5)
    assert isinstance(head, UpsampledCTCHead) == (factor > 1)


@pytest.mark.parametrize("value", [0, -1, 1.5, "yes", None])
def test_bad_ctc_upsampling_names_the_key(value):
    with pytest.raises(ValueError, match="ctc_upsampling="):
        ctc_upsampling_factor(value)
