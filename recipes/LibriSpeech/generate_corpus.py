#!/usr/bin/env python3
"""Generate the built-in synthetic corpus in the LibriSpeech layout.

Usage (from the repository root)::

    python recipes/LibriSpeech/generate_corpus.py --output_dir data/LibriSpeech \\
        --size small --seed 1234 [--hours H] [--num_workers N]

It writes the splits ``train-synth``, ``dev-clean``, ``test-clean`` and
``test-other`` and the LM text ``librispeech-lm-norm.txt`` (see
:mod:`modules.data.synthetic`). Running it again with the same
options does nothing; a folder with other content is refused.

Authors
 * efficient-asr contributors
"""

import argparse
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from modules.data.synthetic.espeak import EspeakUnavailableError  # noqa: E402
from modules.data.synthetic.generate import (  # noqa: E402
    CorpusFolderError,
    generate_corpus,
)
from modules.data.synthetic.plan import SIZES  # noqa: E402


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", required=True, help="corpus folder")
    parser.add_argument(
        "--size",
        default="tiny",
        choices=sorted(SIZES),
        help="tiny: a few minutes (tests); small: about 2 hours (demo)",
    )
    parser.add_argument("--seed", type=int, default=1234, help="random seed")
    parser.add_argument(
        "--hours", type=float, default=None, help="total hours, overrides --size"
    )
    parser.add_argument(
        "--num_workers",
        type=int,
        default=None,
        help="synthesis processes (default: min(2, number of CPUs))",
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Run the generator; return the process exit status."""
    args = parse_args(argv)
    try:
        generate_corpus(
            args.output_dir,
            size=args.size,
            seed=args.seed,
            hours=args.hours,
            num_workers=args.num_workers,
        )
    except (CorpusFolderError, EspeakUnavailableError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
