"""Windowed inference (modules/inference/windowed_asr.py and long_form_asr.py)
on real models of the toolkit: frames placed exactly, results equal to a
single pass when nothing differs, exits and policies per window."""

import pytest
import soundfile
import torch

from modules.decoding.greedy import greedy_ctc_decode
from modules.decoding.lm_files import LMError
from modules.decoding.ngram import build_lm
from modules.inference.audio_windows import read_windows
from modules.inference.frame_geometry import measure_frame_geometry, plan_windows
from modules.inference.long_form_asr import LongFormASR
from modules.inference.posterior_merge import PosteriorMerger
from modules.inference.windowed_asr import exit_scorer, transcribe_windows
from tests.modules.inference.fakes import (
    CollectFrames,
    joined_recording,
    local_model,
    tiny_experiment,
)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return tiny_experiment(tmp_path_factory.mktemp("experiment"))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    path, _ = joined_recording(folder, "talk", [1.3, 0.9, 1.6, 1.1])
    return path


def whole_log_probs(model, path, exit_index):
    wav = torch.from_numpy(soundfile.read(path, dtype="float32")[0])
    with torch.inference_mode():
        return model.exit_log_probs(wav.unsqueeze(0), torch.ones(1), exit_index)[0]


@pytest.mark.parametrize("mode", ["average", "centre"])
@pytest.mark.parametrize("window, hop", [(0.2, 0.05), (0.5, 0.125), (0.3, 0.3)])
def test_frame_local_model_gives_the_single_pass_frames(recording, mode, window, hop):
    model = local_model(stride=40, kernel=100)
    plan = plan_windows(measure_frame_geometry(model), window, hop)
    assert plan.read_length == plan.window + 60
    decoder = CollectFrames()
    with soundfile.SoundFile(recording) as audio:
        transcribe_windows(
            read_windows(audio, plan),
            plan,
            exit_scorer(model, exit_index=2),
            PosteriorMerger(mode),
            decoder,
        )
    expected = whole_log_probs(model, recording, 2)
    assert decoder.frames.shape == expected.shape
    assert torch.allclose(decoder.frames, expected, atol=1e-5)


def test_a_window_covering_the_recording_equals_one_pass(experiment, recording):
    asr = LongFormASR.from_experiment(experiment, window=6.4, mode="centre")
    result = asr.transcribe_file(recording)
    assert len(result.windows) == 1
    tokens = greedy_ctc_decode(
        whole_log_probs(asr.model, recording, 2).unsqueeze(0), torch.ones(1)
    )[0]
    assert len(tokens) > 5
    assert result.words == asr.tokenizer.decode_ids(tokens).split()
    wav = torch.from_numpy(soundfile.read(recording, dtype="float32")[0])
    assert asr.transcribe_waveform(wav) == result.words
    assert result.audio_seconds == pytest.approx(4.9)


@pytest.mark.parametrize(
    "back_end, searcher",
    [("flashlight", "FlashlightLMDecoder"), ("speechbrain", "SpeechBrainLMDecoder")],
)
def test_lm_beam_search_of_a_covering_window_equals_the_search_on_one_pass(
    experiment, recording, tmp_path, back_end, searcher
):
    (tmp_path / "text.txt").write_text("AB BA\nBAA AB CAB\nAB AB\n" * 5)
    lm = build_lm(tmp_path / "text.txt", tmp_path / "lm.arpa", 2, "python", None)
    asr = LongFormASR.from_experiment(
        experiment, window=6.4, lm=str(lm), lm_decoder=back_end
    )
    assert asr.lm_decoder.lm_path == str(lm)
    assert type(asr.lm_decoder).__name__ == searcher
    log_probs = whole_log_probs(asr.model, recording, 2)
    expected = asr.lm_decoder.decode_one(log_probs.numpy()).split()
    assert asr.transcribe_file(recording).words == expected and expected
    with pytest.raises(LMError, match="--lm /no/such.arpa"):
        LongFormASR.from_experiment(experiment, window=6.4, lm="/no/such.arpa")


def test_windows_record_their_span_and_the_reference_exit(experiment, recording):
    asr = LongFormASR.from_experiment(experiment, window=1.28)
    assert asr.plan.hop == 0.16 * 16000
    result = asr.transcribe_file(recording)
    assert [w.exit for w in result.windows] == [2] * len(result.windows)
    assert result.windows[-1].end == pytest.approx(4.9)
    assert result.frames == asr.geometry.output_frames(int(4.9 * 16000))
    assert result.peak_pending_frames == asr.plan.window_frames


def test_a_policy_decides_the_exit_of_every_window(experiment, recording):
    eager = LongFormASR.from_experiment(experiment, window=2.56, policy="entropy@1e6")
    first = LongFormASR.from_experiment(experiment, window=2.56, exit=1)
    result = eager.transcribe_file(recording)
    assert {w.exit for w in result.windows} == {1}
    assert result.words == first.transcribe_file(recording).words
    never = LongFormASR.from_experiment(experiment, window=2.56, policy="confidence@1")
    assert {w.exit for w in never.transcribe_file(recording).windows} == {2}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exit": 3}, "exit 3 does not exist"),
        ({"window": 0.05}, "window=0.05 s is not a positive multiple"),
        ({"window": 1.28, "hop": 2.56}, "hop=2.56 s is larger than window"),
        ({"policy": "boredom@2"}, "policy='boredom' is unknown"),
        ({"exit": 1, "policy": "entropy@0.3"}, "either exit or policy"),
        ({"mode": "none", "hop": 0.16}, "mode=none means hop = window"),
    ],
)
def test_bad_settings_are_refused_before_decoding(experiment, overrides, message):
    with pytest.raises(ValueError, match=message):
        LongFormASR.from_experiment(experiment, **overrides)
