"""Generate the synthetic corpus: folder checks, splits, LM text, summary.

The output folder is claimed by a marker file, ``SYNTHETIC_CORPUS.json``,
holding the options (hours, seed, generator version and, for the ``*-long``
sizes, the chapter layout). A later call with the same options resumes an
unfinished corpus or, when it is complete, returns at once; a folder with
other options or with anything else in it is refused and left untouched.
Every split is built in a hidden sibling folder,
``<root>/.<split>.partial``, and renamed into place only once complete, so
an interrupted run never leaves a split that looks finished.

Authors
 * efficient-asr contributors
"""

import contextlib
import dataclasses
import json
import multiprocessing
import os
import shutil
import time

from .espeak import find_library
from .grammar import Grammar
from .layout import (
    LM_FILE,
    scan_split,
    write_lines,
    write_speakers_file,
    write_transcripts,
)
from .plan import SPLITS, corpus_size, lm_sentences, plan_corpus
from .synthesis import SAMPLE_RATE, render_chapter, start_engine, stop_engine

MARKER_NAME = "SYNTHETIC_CORPUS.json"
GENERATOR = "efficient-asr synthetic LibriSpeech"
# Bump whenever a change alters the generated files for a given seed.
VERSION = 4
# "layout" is only written for the long-chapter sizes, so the markers of the
# standard sizes are unchanged.
OPTION_KEYS = ("generator", "version", "hours", "seed", "layout")


class CorpusFolderError(RuntimeError):
    """Raised when the output folder holds something we must not touch."""


def _read_marker(root):
    """Return the marker of ``root``, or ``None`` for a new, empty folder."""
    leave = "Nothing was changed: choose another --output_dir (or empty it yourself)."
    if os.path.exists(root) and not os.path.isdir(root):
        raise CorpusFolderError(f"{root} is a file, not a folder. {leave}")
    if not os.path.isdir(root) or not os.listdir(root):
        return None
    path = os.path.join(root, MARKER_NAME)
    if not os.path.isfile(path):
        raise CorpusFolderError(
            f"{root} is not empty and has no {MARKER_NAME}: it is not a synthetic "
            f"corpus of this generator. {leave}"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError) as error:
        raise CorpusFolderError(f"{path} is unreadable ({error}). {leave}") from error
    if not isinstance(marker, dict) or marker.get("generator") != GENERATOR:
        raise CorpusFolderError(f"{path} was not written by this generator. {leave}")
    return marker


def check_folder(root, options):
    """Check that ``root`` is new or holds our corpus with ``options``.

    Arguments
    ---------
    root : str
        The output folder.
    options : dict
        The requested options, keyed by :data:`OPTION_KEYS` (a missing key
        stands for None).

    Returns
    -------
    dict or None
        The existing marker, or ``None`` when the folder is new or empty.

    Raises
    ------
    CorpusFolderError
        When the folder holds anything else, including a corpus generated
        with other options.
    """
    marker = _read_marker(root)
    if marker is None:
        return None
    existing = {key: marker.get(key) for key in OPTION_KEYS}
    if existing != {key: options.get(key) for key in OPTION_KEYS}:
        raise CorpusFolderError(
            f"{root} holds a synthetic corpus generated with {existing}, not "
            f"{options}. Nothing was changed: use another --output_dir, or "
            f"delete {root} yourself to regenerate it."
        )
    return marker


def _write_marker(root, marker):
    """Write the marker file atomically."""
    path = os.path.join(root, MARKER_NAME)
    with open(path + ".partial", "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)
    os.replace(path + ".partial", path)


@contextlib.contextmanager
def chapter_runner(num_workers, library, data):
    """Yield ``run(tasks)``, rendering chapters lazily in ``num_workers``.

    With one worker the chapters are rendered in this process. Worker
    processes are spawned, so the caller's threads and state are not copied
    (and a calling script needs the usual ``if __name__ == "__main__":``).
    """
    if num_workers <= 1:
        start_engine(library, data)
        try:
            yield lambda tasks: map(render_chapter, tasks)
        finally:
            stop_engine()
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(num_workers, start_engine, (library, data)) as pool:
        yield lambda tasks: pool.imap_unordered(render_chapter, tasks)


def build_split(root, split, chapters, run):
    """Render one split into a partial folder and rename it into place.

    Arguments
    ---------
    root : str
        Corpus folder.
    split : str
        Split name.
    chapters : list of Chapter
        The planned chapters.
    run : callable
        From :func:`chapter_runner`.

    Returns
    -------
    int
        Number of samples synthesised.
    """
    partial = os.path.join(root, f".{split}.partial")
    if os.path.isdir(partial):
        shutil.rmtree(partial)  # left by an interrupted run of ours
    tasks = [(write_transcripts(partial, chapter), chapter) for chapter in chapters]
    samples = sum(run(tasks))
    os.rename(partial, os.path.join(root, split))
    return samples


def _build_missing(root, plan, num_workers, library, data):
    """Build the splits not on disk yet; return the samples synthesised."""
    missing = [s for s in SPLITS if not os.path.isdir(os.path.join(root, s))]
    if not missing:
        return 0
    samples = 0
    with chapter_runner(num_workers, library, data) as run:
        for split in missing:
            start = time.perf_counter()
            done = build_split(root, split, plan[split], run)
            hours = done / SAMPLE_RATE / 3600
            print(f"{split}: {hours:.3f} h in {time.perf_counter() - start:.1f} s")
            samples += done
    return samples


def _summary(stats):
    """Lines printed at the end of a generation."""
    lines = [f"Synthetic LibriSpeech corpus in {stats['output_dir']}:"]
    for split, scan in stats["splits"].items():
        lines.append(
            f"  {split:<12} {scan['hours']:.3f} h, {scan['utterances']} utterances,"
            f" {scan['speakers']} speakers"
        )
    lines.append(
        f"  total {stats['total_hours']:.3f} h; grammar vocabulary "
        f"{stats['grammar_vocabulary']} words; LM text {stats['lm_sentences']} "
        "sentences"
    )
    lines.append(
        f"  synthesised {stats['generated_hours']:.3f} h in "
        f"{stats['wall_seconds']:.1f} s wall time: {stats['x_real_time']:.0f}x "
        f"real time (real-time factor {stats['real_time_factor']:.4f})"
    )
    return lines


def _finish(root, plan, options, generated, start, lm_count):
    """Measure the corpus, write SPEAKERS.TXT and the final marker."""
    scans = {split: scan_split(os.path.join(root, split)) for split in SPLITS}
    write_speakers_file(root, plan, scans)
    wall = time.perf_counter() - start
    generated_seconds = generated / SAMPLE_RATE
    stats = {
        "output_dir": root,
        "hours_requested": options["hours"],
        "seed": options["seed"],
        "splits": {
            split: {k: v for k, v in scan.items() if k != "speaker_seconds"}
            for split, scan in scans.items()
        },
        "total_hours": sum(scan["hours"] for scan in scans.values()),
        "grammar_vocabulary": len(Grammar().vocabulary()),
        "lm_sentences": lm_count,
        "generated_hours": generated_seconds / 3600,
        "wall_seconds": wall,
        "x_real_time": generated_seconds / wall,
        "real_time_factor": wall / generated_seconds if generated else 0.0,
    }
    _write_marker(root, {**options, "complete": True, "stats": stats})
    return {**stats, "skipped": False}


def generate_corpus(output_dir, size="tiny", seed=1234, hours=None, num_workers=None):
    """Generate (or find complete) a synthetic corpus in LibriSpeech layout.

    Arguments
    ---------
    output_dir : str
        Corpus folder; created if needed. It must be new, empty or hold a
        corpus of this generator with the same options.
    size : str
        ``"tiny"`` (about 3 minutes, for tests) or ``"small"`` (about
        2 hours, for the demo); ``"tiny-long"`` and ``"small-long"`` give
        each speaker one chapter of minutes (for long-form recordings, see
        :mod:`chapter_layout`). ``hours`` overrides the size's hours.
    seed : int
        Seed of everything random; the same seed gives the same files.
    hours : float, optional
        Total hours of audio, overriding ``size``.
    num_workers : int, optional
        Synthesis processes; default ``min(2, os.cpu_count())``.

    Returns
    -------
    dict
        Statistics: per split ``hours``, ``utterances``, ``speakers`` and
        ``chapters``; ``total_hours``, ``grammar_vocabulary``,
        ``lm_sentences``, ``generated_hours``, ``wall_seconds``,
        ``x_real_time``, ``real_time_factor`` and ``skipped`` (True when the
        corpus was already complete and nothing was done).

    Raises
    ------
    CorpusFolderError
        When ``output_dir`` holds anything but this corpus.
    espeak.EspeakUnavailableError
        When eSpeak NG cannot be loaded.
    """
    root = os.path.abspath(output_dir)
    corpus = corpus_size(size, hours)
    options = dict(zip(OPTION_KEYS, (GENERATOR, VERSION, corpus.hours, seed)))
    if corpus.layout is not None:
        options["layout"] = dataclasses.asdict(corpus.layout)
    marker = check_folder(root, options)
    if marker is not None and marker.get("complete"):
        print(f"Synthetic corpus {root} is already complete: skipped.")
        return {**marker["stats"], "skipped": True}
    library, data = find_library()  # fails before anything is written
    if num_workers is None:
        num_workers = min(2, os.cpu_count() or 1)
    start = time.perf_counter()
    os.makedirs(root, exist_ok=True)
    _write_marker(root, {**options, "complete": False})
    plan, eval_sentences = plan_corpus(seed, corpus)
    generated = _build_missing(root, plan, num_workers, library, data)
    if not os.path.isfile(os.path.join(root, LM_FILE)):
        lines = lm_sentences(seed, corpus.lm_sentences, eval_sentences)
        write_lines(os.path.join(root, LM_FILE), lines)
    stats = _finish(root, plan, options, generated, start, corpus.lm_sentences)
    print("\n".join(_summary(stats)))
    return stats
