"""End-to-end context-length training on the tiny-long built-in corpus.

``train.py hparams/conformer_ctc_context.yaml`` with a tiny model, a 20.48 s
context and a warm-up of 14 chunks per stage (5.12 s chunks in batches of
4, then 10.24 s in batches of 2, then 20.48 s one by one), checkpointing
after every batch, is killed after the first batch of the 10.24 s stage and
run again. The warm-up the two runs went through, read from the train log,
must be the one the schedule gives from the chunk counts (computed here
from the prepared manifests), the killed epoch must continue at its next
batch, and each epoch's line must carry its stage, time per step and peak
memory.
"""

import glob
import json
import math
import os
import signal
import subprocess
import time

import pytest
import yaml

from modules.data.context_chunks import cut_context_chunks, utterance_transcripts
from modules.data.context_schedule import ContextWarmup
from modules.data.long_form_manifest import read_long_form_csv
from tests.recipes.recipe_runs import ROOT, run, train_command

CONTEXT = ["--context_length_seconds=20.48", "--context_batch_seconds=20.48"]
WARMUP_RECORDINGS = 14


def context_command(corpus, output, epochs=4):
    overrides = [
        "--synthetic_corpus=tiny-long",
        "--num_layers=2",
        f"--number_of_epochs={epochs}",
        f"--context_warmup_recordings={WARMUP_RECORDINGS}",
        "--test_splits=[test-clean]",
        "--long_form_splits=[test-clean]",
        "--ckpt_interval_steps=1",
        *CONTEXT,
    ]
    return train_command("conformer_ctc_context.yaml", corpus, output, overrides)


def newest_loader_state(output):
    """The training loader's state in the checkpoint a rerun resumes from
    (the newest complete one), or None."""
    newest = None
    for meta_path in glob.glob(os.path.join(output, "save", "CKPT+*", "CKPT.yaml")):
        try:
            with open(meta_path) as fin:
                unixtime = yaml.safe_load(fin)["unixtime"]
            folder = os.path.dirname(meta_path)
            with open(os.path.join(folder, "dataloader-TRAIN.ckpt")) as fin:
                state = json.load(fin)
        except (FileNotFoundError, TypeError, KeyError):
            continue  # deleted or replaced while being read
        if newest is None or unixtime > newest[0]:
            newest = (unixtime, state)
    return newest and newest[1]


def run_killed_in_second_stage(command, output, console):
    """Start ``command`` (its output into the file ``console``) and kill it
    once a batch of the second warm-up stage (index 1) has been
    checkpointed; return the loader state a rerun resumes from."""
    with open(console, "w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 600
        try:
            while time.time() < deadline and process.poll() is None:
                state = newest_loader_state(output)
                if state and state["stage"] == 1 and state["batches_done"] >= 1:
                    break
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    return newest_loader_state(output)


@pytest.fixture(scope="module")
def resumed(tiny_long_corpus, tmp_path_factory):
    """Output folder, console output of both runs, and the loader state the
    rerun resumed from."""
    folder = tmp_path_factory.mktemp("context")
    output, console = str(folder / "run"), str(folder / "killed.log")
    command = context_command(tiny_long_corpus, output)
    state = run_killed_in_second_stage(command, output, console)
    with open(console) as fin:
        killed = fin.read()
    return output, killed + run(command), state


def logged_epochs(output):
    """Epoch -> training statistics of its (last) train log line."""
    epochs = {}
    with open(os.path.join(output, "train_log.txt")) as fin:
        for line in fin:
            if line.startswith("epoch: "):
                epoch = int(line.split(",")[0].split(": ")[1])
                train = line.split(" - ")[1].split(", ")
                epochs[epoch] = dict(
                    item[len("train ") :].split(": ") for item in train
                )
    return epochs


def expected_schedule(output, epochs):
    """(length, batch size, steps, chunks seen after) of every epoch, from
    the chunk counts of the prepared data and the warm-up's stages."""
    recordings = read_long_form_csv(
        os.path.join(output, "long_form_manifests", "train-synth.csv")
    )
    transcripts = utterance_transcripts(
        [os.path.join(output, "manifests", "train-synth.csv")]
    )
    warmup = ContextWarmup(20.48, 5.12, WARMUP_RECORDINGS, 1)
    counts = [
        len(cut_context_chunks(recordings, transcripts, stage.seconds))
        for stage in warmup.stages
    ]
    schedule = []
    for _ in range(epochs):
        stage = warmup.stage
        chunks, steps = counts[stage.index], 0
        while steps < math.ceil(chunks / stage.batch_size):
            steps += 1
            size = min(stage.batch_size, chunks - (steps - 1) * stage.batch_size)
            if warmup.advance(size):
                break
        schedule.append(
            (stage.seconds, stage.batch_size, steps, warmup.recordings_seen)
        )
    return schedule


def test_killed_run_resumes_inside_its_epoch_on_schedule(resumed):
    output, _, state = resumed
    expected = expected_schedule(output, 4)
    # The first run stopped inside the epoch of the 10.24 s stage.
    killed = next(k for k, e in enumerate(expected) if e[0] == 10.24)
    assert state["stage"] == 1 and 1 <= state["batches_done"] < expected[killed][2]
    epochs = logged_epochs(output)
    assert sorted(epochs) == [1, 2, 3, 4]
    logged = [
        (
            float(stats["context_seconds"]),
            int(stats["batch_size"]),
            int(stats["steps"]),
            int(stats["recordings_seen"]),
        )
        for _, stats in sorted(epochs.items())
    ]
    # The rerun logs only the batches it trained of the killed epoch.
    length, batch_size, steps, seen = expected[killed]
    expected[killed] = (length, batch_size, steps - state["batches_done"], seen)
    assert logged == expected
    assert len({length for length, *_ in expected}) == 3
    assert expected[0][3] < WARMUP_RECORDINGS  # a stage longer than an epoch


def test_every_epoch_logs_its_step_time_and_peak_memory(resumed):
    output, _, _ = resumed
    for stats in logged_epochs(output).values():
        assert float(stats["step_seconds"]) > 0
        assert float(stats["peak_rss_mb"]) > 10


def test_stage_changes_and_left_out_utterances_are_logged(resumed):
    _, console, _ = resumed
    assert "Context warm-up: stage 2 of 3 from now on (10.24 s chunks" in console
    assert "Context warm-up: stage 3 of 3 from now on (20.48 s chunks" in console
    assert "longer than context_warmup_start_seconds=5.12 left out" in console


def test_long_form_test_recordings_are_prepared(resumed):
    output, _, _ = resumed
    recordings = read_long_form_csv(
        os.path.join(output, "long_form_manifests", "test-clean.csv")
    )
    assert len(recordings) == 2  # whole chapters of the two test speakers
    assert all(r.duration > 20.48 for r in recordings)
