"""TED-LIUM release 3 preparation: segmented and long-form manifests.

Reads the TED-LIUM 3 layout, one folder per split holding ``sph/`` and
``stm/``::

    TEDLIUM_release-3/legacy/{train,dev,test}/sph/<talk>.sph
    TEDLIUM_release-3/legacy/{train,dev,test}/stm/<talk>.stm
    TEDLIUM_release-3/data/{sph,stm}/...     (speaker-adaptation layout)

(``data_folder=TEDLIUM_release-3/legacy`` with splits ``dev test``, or
``data_folder=TEDLIUM_release-3`` with the split ``data``). soundfile
(libsndfile) reads NIST SPHERE files, but not shorten-compressed ones: those
are refused with a hint to decompress them first.

Each scored STM segment (:mod:`modules.data.tedlium_stm`; transcripts
normalised to upper-case words) is cut out of its talk and written as a
16 kHz FLAC file, ``<save_folder>/<split>/<talk>/<segment>.flac``, and
listed in ``<save_folder>/<split>.csv`` with the columns of the LibriSpeech
manifests (``ID, duration, wav, spk_id, wrd``; IDs are
``<talk>-<start cs>-<end cs>``, ``spk_id`` the STM speaker). With
``long_form=True`` the scored segments of each talk are also joined in
order into one recording per talk (:mod:`modules.data.long_form_join`):
``<save_folder>/long_form/<split>.csv``, whose segments are the STM
segments. Unscored stretches (gaps, ``ignore_time_segment_in_scoring``) are
left out, so the joined audio is exactly what the references cover.

Prepared once, like the LibriSpeech manifests: options and a fingerprint of
the split folder (file list, sizes, STM contents) are kept in
``<save_folder>/<split>.prep_opts.json``; every split is checked before
anything is written. Not DDP guarded: call it through ``run_on_main``.

Command line::

    python -m modules.data.tedlium TEDLIUM_release-3/legacy --splits dev test \\
        --output data/tedlium3

Authors
 * efficient-asr contributors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import soundfile

from modules.data.librispeech import needs_preparation, preparation_options_path
from modules.data.librispeech_scan import SAMPLE_RATE
from modules.data.long_form import write_long_form_split
from modules.data.long_form_join import (
    Utterance,
    fill_folder_atomically,
    plan_recordings,
)
from modules.data.manifests import atomic_write_text, write_csv
from modules.data.preparation_error import PreparationError
from modules.data.split_fingerprint import fingerprint_split
from modules.data.tedlium_scan import read_talks, segment_id

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
LONG_FORM_FOLDER = "long_form"


@dataclass(frozen=True)
class TedliumManifests:
    """The manifests :func:`prepare_tedlium` wrote (or would write).

    Arguments
    ---------
    segmented : dict
        Split -> segmented manifest (LibriSpeech columns).
    long_form : dict
        Split -> long-form manifest; empty when ``long_form=False``.
    """

    segmented: dict
    long_form: dict


def prepare_tedlium(
    data_folder, save_folder, splits, long_form=True, skip_prep=False, num_workers=4
):
    """Write the segmented (and long-form) manifests of TED-LIUM splits.

    Arguments
    ---------
    data_folder : str
        Folder holding the split folders (each with ``sph/`` and ``stm/``).
    save_folder : str
        Output folder (created if needed).
    splits : list of str
        Split folder names, e.g. ``["dev", "test"]``.
    long_form : bool
        Also join each talk's segments into one long-form recording.
    skip_prep : bool
        Only return the manifest paths.
    num_workers : int
        Talks processed in parallel.

    Returns
    -------
    TedliumManifests

    Raises
    ------
    PreparationError
        Listing every defect of every split (missing split, empty split,
        SPH without STM or the reverse, unreadable or compressed audio,
        malformed STM lines) before anything is written.

    Example
    -------
    >>> prepare_tedlium("TEDLIUM_release-3/legacy", "out", ["dev"],
    ...                 skip_prep=True).segmented
    {'dev': 'out/dev.csv'}
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    manifests = _manifest_paths(save_folder, splits, long_form)
    if skip_prep:
        return manifests
    data_folder = os.path.abspath(data_folder)
    pending, defects = [], []
    for split in splits:
        opts = _options(data_folder, split)
        if _redo(opts, manifests, split):
            talks, found = read_talks(data_folder, split, num_workers)
            defects.extend(found)
            pending.append((opts, split, talks))
    if defects:
        raise PreparationError(defects)
    os.makedirs(save_folder, exist_ok=True)
    for opts, split, talks in pending:
        _write_split(opts, manifests, split, talks, num_workers)
    return manifests


def _manifest_paths(save_folder, splits, long_form):
    """The :class:`TedliumManifests` of ``splits`` in ``save_folder``."""
    long_folder = os.path.join(save_folder, LONG_FORM_FOLDER)
    return TedliumManifests(
        segmented={s: os.path.join(save_folder, s + ".csv") for s in splits},
        long_form={s: os.path.join(long_folder, s + ".csv") for s in splits}
        if long_form
        else {},
    )


def _options(data_folder, split):
    """Options and source fingerprint stored with a split's manifests.

    The fingerprint covers the split folder's file list and sizes and the
    content of its STM files.
    """
    split_folder = os.path.join(data_folder, split)
    digest = hashlib.sha256(str(fingerprint_split(split_folder)).encode())
    stm_folder = os.path.join(split_folder, "stm")
    names = os.listdir(stm_folder) if os.path.isdir(stm_folder) else []
    for name in sorted(n for n in names if n.endswith(".stm")):
        with open(os.path.join(stm_folder, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return {
        "format_version": FORMAT_VERSION,
        "data_folder": data_folder,
        "split": split,
        "fingerprint": digest.hexdigest(),
    }


def _redo(opts, manifests, split):
    """Whether a split must be prepared (a manifest missing or out of date)."""
    paths = [manifests.segmented[split], manifests.long_form.get(split)]
    return any([needs_preparation(opts, p) for p in paths if p is not None])


def _write_split(opts, manifests, split, talks, num_workers):
    """Write a split's segment audio and manifests, then its options file."""
    csv_path = manifests.segmented[split]
    opts_path = preparation_options_path(csv_path)
    if os.path.exists(opts_path):
        os.remove(opts_path)
    folder = os.path.splitext(csv_path)[0]

    def _fill(partial):
        with ThreadPoolExecutor(max(1, num_workers)) as pool:
            return list(pool.map(lambda t: _cut_talk(t, partial, folder), talks))

    per_talk = fill_folder_atomically(folder, _fill)
    entries = [entry for talk_entries in per_talk for entry in talk_entries]
    write_csv(entries, csv_path)
    if split in manifests.long_form:
        chapters = {
            talk.name: [
                Utterance(e["ID"], e["wav"], e["wrd"], e["duration"])
                for e in talk_entries
            ]
            for talk, talk_entries in zip(talks, per_talk)
        }
        planned = plan_recordings(chapters, None, 0.0)
        write_long_form_split(opts, manifests.long_form[split], planned, num_workers)
    atomic_write_text(opts_path, json.dumps(opts, indent=2, sort_keys=True))
    hours = sum(e["duration"] for e in entries) / 3600
    logger.info(
        "Wrote %s: %d segments of %d talks, %.2f h.",
        csv_path,
        len(entries),
        len(talks),
        hours,
    )


def _cut_talk(talk, partial, final):
    """Write a talk's segments as FLAC files; return their manifest entries.

    Files go to ``<partial>/<talk>/``; the entries name them in ``final``.
    """
    samples, _ = soundfile.read(talk.sph, dtype="int16")
    os.makedirs(os.path.join(partial, talk.name))
    entries = []
    for segment in talk.segments:
        utt_id = segment_id(segment)
        start = round(segment.start * SAMPLE_RATE)
        piece = samples[start : min(round(segment.end * SAMPLE_RATE), len(samples))]
        name = os.path.join(talk.name, utt_id + ".flac")
        soundfile.write(os.path.join(partial, name), piece, SAMPLE_RATE, format="FLAC")
        entries.append(
            {
                "ID": utt_id,
                "duration": len(piece) / SAMPLE_RATE,
                "wav": os.path.join(final, name),
                "spk_id": segment.speaker,
                "wrd": segment.words,
            }
        )
    return entries


def main(argv=None):
    """Command line entry point; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_folder", help="folder holding the split folders")
    parser.add_argument("--splits", nargs="+", required=True)
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument(
        "--no_long_form", action="store_true", help="only the segmented manifests"
    )
    parser.add_argument("--num_workers", type=int, help="talks in parallel")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    optional = {"num_workers": args.num_workers} if args.num_workers else {}
    try:
        manifests = prepare_tedlium(
            args.data_folder,
            args.output,
            args.splits,
            long_form=not args.no_long_form,
            **optional,
        )
    except PreparationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for split, path in manifests.segmented.items():
        print(f"{split}: {path} {manifests.long_form.get(split, '')}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
