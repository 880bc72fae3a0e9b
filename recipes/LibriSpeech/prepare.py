#!/usr/bin/env python3
"""Write SpeechBrain CSV manifests for the splits of a LibriSpeech-shaped folder.

Usage (from the repository root)::

    python recipes/LibriSpeech/prepare.py --data_folder D --save_folder S \\
        --splits train-clean-100 dev-clean test-clean

The preparation itself is :func:`modules.data.librispeech.prepare_librispeech`
(the library ``train.py`` calls); this is its command line.
"""

import argparse
import logging
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from modules.data.librispeech import prepare_librispeech  # noqa: E402
from modules.data.manifests import SORT_OPTIONS  # noqa: E402


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_folder", required=True)
    parser.add_argument("--save_folder", required=True)
    parser.add_argument("--splits", nargs="+", required=True)
    parser.add_argument("--min_duration", type=float, default=None)
    parser.add_argument("--max_duration", type=float, default=None)
    parser.add_argument("--sort", choices=SORT_OPTIONS, default="ascending")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--num_workers", type=int, default=8)
    return parser.parse_args(argv)


def main(argv=None):
    """Prepare the splits and print each manifest's path."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    paths = prepare_librispeech(**vars(parse_args(argv)))
    for split, path in paths.items():
        print(f"{split}: {path}")


if __name__ == "__main__":
    main()
