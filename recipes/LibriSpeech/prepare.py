#!/usr/bin/env python3
"""Write SpeechBrain CSV manifests for the splits of a LibriSpeech-shaped folder.

Usage (from the repository root)::

    python recipes/LibriSpeech/prepare.py --data_folder D --save_folder S \\
        --splits train-clean-100 dev-clean test-clean

The preparation itself is :func:`modules.data.librispeech.prepare_librispeech`
(the library ``train.py`` calls); this is its command line. A corpus with
defects is reported as one ``<path>: <what is wrong>`` line per defect on
stderr (exit status 1, nothing written); bad arguments exit with status 2.
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
from modules.data.preparation_error import PreparationError  # noqa: E402

EXIT_CORPUS_DEFECTS = 1
EXIT_BAD_ARGUMENTS = 2


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
    """Prepare the splits and print each manifest's path.

    Returns
    -------
    int
        The exit status: 0 on success, :data:`EXIT_CORPUS_DEFECTS` when the
        corpus has defects, :data:`EXIT_BAD_ARGUMENTS` on bad arguments.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        paths = prepare_librispeech(**vars(parse_args(argv)))
    except PreparationError as err:
        for line in err.listed_defects():
            print(line, file=sys.stderr)
        return EXIT_CORPUS_DEFECTS
    except ValueError as err:
        print(f"prepare.py: error: {err}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
