"""Paths the tests share."""

from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
