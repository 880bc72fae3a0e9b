"""Long-form WER of a trained experiment, next to its segmented WER.

Every recording of a long-form manifest
(:mod:`modules.data.long_form_manifest`: ``ID,duration,wav,wrd,segments``) is
transcribed twice with the
same model, exit and decoder: window by window over the whole recording
(:class:`~modules.inference.long_form_asr.LongFormASR`), and utterance by
utterance from its ``segments`` (each decoded alone, the hypotheses joined).
Both are scored as corpus WER over recordings against the same ``wrd``
(SpeechBrain's ``ErrorRateStats``)::

    python -m modules.inference.long_form_eval results/conformer_ctc_baseline/2024 \\
        --manifest long.csv --window 20 --hop 2.48 --mode average

writes, into ``--output`` (default ``EXP/long_form/<manifest>-<mode>-w<W>-h<H>``,
replaced as a whole once complete): ``transcripts.csv`` (reference and both
hypotheses per recording), ``wer_long_form.txt`` and ``wer_segmented.txt``
(SpeechBrain's alignments), and ``summary.json`` / ``summary.md`` (WERs,
time, real-time factor, peak memory, the manifest's path). Options:
``--help``; their defaults are ``modules/inference/settings.yaml``.
:func:`evaluate_long_form` evaluates one manifest into one folder, for this
command and for the long-form test stage of ``train.py``
(:mod:`modules.inference.long_form_stage`).
"""

import argparse
import csv
import dataclasses
import json
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import soundfile
from speechbrain.utils.metric_stats import ErrorRateStats

from modules.data.long_form_manifest import read_long_form_csv
from modules.data.preparation_error import PreparationError
from modules.decoding.lm_files import LMError
from modules.inference.audio_windows import open_audio, to_model_rate
from modules.inference.long_form_asr import LongFormASR
from modules.inference.settings import add_setting_arguments, setting_overrides


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def read_segment(path, segment, model_rate=16000):
    """The samples of one segment of a recording, mono, at ``model_rate``."""
    info = soundfile.info(path)
    start = round(segment.start * info.samplerate)
    stop = min(round(segment.end * info.samplerate), info.frames)
    block, rate = soundfile.read(
        path, start=start, stop=stop, dtype="float32", always_2d=True
    )
    return to_model_rate(block, rate, model_rate)


def read_recordings(manifest):
    """The recordings of a long-form manifest, a relative ``wav`` taken from
    the manifest's folder."""
    folder = os.path.dirname(os.path.abspath(manifest))
    return [
        dataclasses.replace(recording, wav=os.path.join(folder, recording.wav))
        for recording in read_long_form_csv(manifest)
    ]


def check_recordings(asr, recordings):
    """Open every recording (errors name the file) and check that its
    segments lie inside it, before any decoding."""
    for recording in recordings:
        with open_audio(recording.wav, asr.plan) as audio:
            seconds = audio.frames / audio.samplerate
        bad = [
            s.utterance_id
            for s in recording.segments
            if not 0 <= s.start < s.end <= seconds + 0.01
        ]
        if bad:
            raise ValueError(
                f"{recording.wav}: recording {recording.recording_id} is "
                f"{seconds:.2f} s long; its segments {bad} do not lie inside it "
                "(need 0 <= start < end <= length); fix the manifest"
            )


@dataclass
class PassResult:
    """One way of transcribing every recording (long-form or segmented).

    ``seconds`` counts reading the audio and decoding; ``peak_rss_mb`` is
    the process's peak so far when the pass ended (the long-form pass runs
    first, so its peak is its own).
    """

    hypotheses: dict = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def error_rate(self, recordings):
        """SpeechBrain's ``ErrorRateStats`` over the recordings."""
        stats = ErrorRateStats()
        stats.append(
            [r.recording_id for r in recordings],
            [self.hypotheses[r.recording_id] for r in recordings],
            [r.words.split() for r in recordings],
        )
        return stats

    def summary(self, recordings, audio_seconds):
        """WER, time, real-time factor and peak memory."""
        return {
            "wer": float(self.error_rate(recordings).summarize("error_rate")),
            "seconds": round(self.seconds, 3),
            "real_time_factor": round(self.seconds / audio_seconds, 5),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def long_form_pass(asr, recordings, progress=False):
    """Windowed transcription of every recording."""
    result, exits = PassResult(), []
    for recording in recordings:
        decoded = asr.transcribe_file(recording.wav, progress=progress)
        result.hypotheses[recording.recording_id] = decoded.words
        result.seconds += decoded.seconds
        exits += [w.exit for w in decoded.windows]
    result.peak_rss_mb = peak_rss_mb()
    return result, exits


def segmented_pass(asr, recordings):
    """Every utterance decoded alone, joined per recording."""
    result = PassResult()
    for recording in recordings:
        words = []
        for segment in recording.segments:
            tic = time.perf_counter()
            wav = read_segment(recording.wav, segment, asr.geometry.sample_rate)
            words += asr.transcribe_waveform(wav)
            result.seconds += time.perf_counter() - tic
        result.hypotheses[recording.recording_id] = words
    result.peak_rss_mb = peak_rss_mb()
    return result


def evaluation_summary(asr, recordings, long_form, segmented, exits):
    """The numbers of ``summary.json``."""
    audio_seconds = sum(r.duration for r in recordings)
    settings, geometry = asr.settings, asr.geometry
    long_summary = long_form.summary(recordings, audio_seconds)
    long_summary["mean_exit"] = sum(exits) / len(exits)
    seg_summary = segmented.summary(recordings, audio_seconds)
    change = None
    if seg_summary["wer"]:
        change = 100 * (long_summary["wer"] / seg_summary["wer"] - 1)
    return {
        "recordings": len(recordings),
        "audio_seconds": round(audio_seconds, 3),
        "window_seconds": geometry.seconds(asr.plan.window),
        "hop_seconds": geometry.seconds(asr.plan.hop),
        "mode": settings.mode,
        "exit": asr.exit_index,
        "policy": settings.policy,
        "lm": str(settings.lm),
        "frame_stride_seconds": geometry.seconds(geometry.stride),
        "long_form": long_summary,
        "segmented": seg_summary,
        "long_vs_segmented_relative_wer_percent": change,
    }


def summary_markdown(summary):
    """``summary.md``: the two passes side by side."""
    lines = [
        f"Long-form evaluation: {summary['recordings']} recordings, "
        f"{summary['audio_seconds'] / 60:.1f} min; window "
        f"{summary['window_seconds']} s, hop {summary['hop_seconds']} s, mode "
        f"{summary['mode']}, LM {summary['lm']}.",
        "",
        "| decoding | WER % | seconds | real-time factor | peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name in ("long_form", "segmented"):
        row = summary[name]
        lines.append(
            f"| {name} | {row['wer']:.2f} | {row['seconds']:.1f} | "
            f"{row['real_time_factor']:.4f} | {row['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_evaluation(folder, recordings, long_form, segmented, summary):
    """Write every output file into a temporary folder, then put it in place
    of ``folder`` (a run that stops half-way leaves no partial folder)."""
    folder = Path(folder)
    staging = folder.with_name(folder.name + f".tmp-{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=False)
    with open(staging / "transcripts.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ID", "duration", "wrd", "long_form", "segmented"])
        for r in recordings:
            writer.writerow(
                [
                    r.recording_id,
                    r.duration,
                    r.words,
                    " ".join(long_form.hypotheses[r.recording_id]),
                    " ".join(segmented.hypotheses[r.recording_id]),
                ]
            )
    for name, result in (("long_form", long_form), ("segmented", segmented)):
        with open(staging / f"wer_{name}.txt", "w", encoding="utf-8") as f:
            result.error_rate(recordings).write_stats(f)
    (staging / "summary.json").write_text(json.dumps(summary, indent=2))
    (staging / "summary.md").write_text(summary_markdown(summary))
    if folder.exists():
        old = folder.with_name(folder.name + f".old-{os.getpid()}")
        folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old)
    else:
        staging.rename(folder)


def default_output(experiment, manifest, asr):
    """``EXP/long_form/<manifest>-<mode>-w<window>-h<hop>``."""
    geometry, plan = asr.geometry, asr.plan
    name = (
        f"{Path(manifest).stem}-{asr.settings.mode}-w{geometry.seconds(plan.window):g}"
        f"-h{geometry.seconds(plan.hop):g}"
    )
    return Path(experiment) / "long_form" / name


def parse_args(argv=None):
    """The command line (defaults: ``modules/inference/settings.yaml``)."""
    parser = argparse.ArgumentParser(
        description="Long-form (windowed) WER of a trained experiment next to "
        "its segmented WER."
    )
    parser.add_argument("experiment", help="output folder of train.py")
    parser.add_argument("--manifest", required=True, help="long-form CSV")
    parser.add_argument("--output", help="result folder (default: EXP/long_form/...)")
    add_setting_arguments(parser)
    parser.add_argument("--progress", action="store_true", help="progress bars")
    return parser.parse_args(argv)


def evaluate_long_form(asr, manifest, output, progress=False):
    """Both passes over one long-form manifest, written into one folder.

    Arguments
    ---------
    asr : modules.inference.long_form_asr.LongFormASR
        The model, window, hop, mode, exit and decoder.
    manifest : str or pathlib.Path
        Long-form CSV (``ID,duration,wav,wrd,segments``).
    output : str or pathlib.Path
        Result folder, replaced as a whole once complete
        (:func:`write_evaluation`).
    progress : bool
        Progress bars over the windows.

    Returns
    -------
    dict
        The content of ``summary.json`` (:func:`evaluation_summary`, with the
        manifest's absolute path).
    """
    recordings = read_recordings(manifest)
    check_recordings(asr, recordings)
    long_form, exits = long_form_pass(asr, recordings, progress)
    segmented = segmented_pass(asr, recordings)
    summary = evaluation_summary(asr, recordings, long_form, segmented, exits)
    summary["manifest"] = os.path.abspath(manifest)
    write_evaluation(output, recordings, long_form, segmented, summary)
    return summary


def main(argv=None):
    """Run the evaluation and print the summary table."""
    args = parse_args(argv)
    read_recordings(args.manifest)  # a bad manifest is refused before the model
    asr = LongFormASR.from_experiment(args.experiment, **setting_overrides(args))
    output = Path(args.output or default_output(args.experiment, args.manifest, asr))
    summary = evaluate_long_form(asr, args.manifest, output, args.progress)
    print(summary_markdown(summary) + f"Written to {output}")
    return summary


if __name__ == "__main__":
    try:
        main()
    except (LMError, PreparationError, ValueError, FileNotFoundError) as error:
        sys.exit(f"long_form_eval: {error}")
