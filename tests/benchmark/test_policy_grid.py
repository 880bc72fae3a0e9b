"""Threshold grids of the dynamic exit policies, resolved at start-up."""

from benchmark.options import DEFAULT_POLICY_GRIDS
from benchmark.policy_grid import resolve_policy_grid


def test_default_grids_and_overrides():
    grid = resolve_policy_grid(
        "auto", None, "utterance", "greedy", DEFAULT_POLICY_GRIDS
    )
    assert list(grid) == ["entropy", "confidence", "similarity", "patience"]
    assert grid["entropy"] == DEFAULT_POLICY_GRIDS["entropy"]
    grid = resolve_policy_grid(
        "auto", {"patience": [2]}, "batch", "beam", DEFAULT_POLICY_GRIDS
    )
    assert "posterior" in grid and grid["patience"] == (2,)
    assert resolve_policy_grid("none", None, "utterance", "greedy", {}) == {}
    grid = resolve_policy_grid(
        ["entropy"], {"entropy": 0.3}, "utterance", "greedy", DEFAULT_POLICY_GRIDS
    )
    assert grid == {"entropy": (0.3,)}
