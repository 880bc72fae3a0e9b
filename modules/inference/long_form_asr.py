"""Transcribing audio of any length with a trained experiment, from Python.

:class:`LongFormASR` plays the part of SpeechBrain's ``EncoderASR`` for
recordings of any length: built from an experiment folder
(:meth:`LongFormASR.from_experiment`), it transcribes a file window by window
(:meth:`~LongFormASR.transcribe_file`) or a waveform in one pass
(:meth:`~LongFormASR.transcribe_waveform`, the segmented decoding that
long-form evaluation compares with)::

    asr = LongFormASR.from_experiment("results/conformer_ctc_baseline/2024",
                                      window=20, mode="average")
    print(asr.transcribe_file("meeting.flac").text)
"""

import os

from tqdm import tqdm

from modules.data.tokenizer import ctc_labels, load_tokenizer
from modules.decoding.lm_decoders import build_lm_decoder
from modules.decoding.lm_files import resolve_lm
from modules.experiment_folder import open_experiment
from modules.inference.audio_windows import model_samples, open_audio, read_windows
from modules.inference.frame_geometry import measure_frame_geometry, plan_windows
from modules.inference.posterior_merge import PosteriorMerger
from modules.inference.settings import load_settings, parse_policy
from modules.inference.streaming_decoding import StreamingGreedy, streaming_lm_search
from modules.inference.windowed_asr import exit_scorer, transcribe_windows
from modules.nn.frontend import normalizers_to


class LongFormASR:
    """A CTC model, its tokenizer and the windowed inference settings.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        Any CTC model of the toolkit; it is put in eval mode on
        ``settings.device``.
    tokenizer : sentencepiece.SentencePieceProcessor
        Its tokenizer.
    settings : modules.inference.settings.LongFormSettings
        Window, hop, mode, exit or policy, device.
    lm_decoder : modules.decoding.lm_beam.LMDecoder, optional
        The LM beam search, flashlight or SpeechBrain (None: greedy CTC).
    reference_exit : int, optional
        The exit used when ``settings`` names neither an exit nor a policy
        (default: the model's last exit).
    blank : int
        Index of the CTC blank.

    Attributes
    ----------
    geometry : modules.inference.frame_geometry.FrameGeometry
        The model's frame geometry, measured once.
    plan : modules.inference.frame_geometry.WindowPlan
        The checked window and hop.
    exit_index : int or None
        The fixed exit (None with a policy).
    """

    def __init__(
        self, model, tokenizer, settings, lm_decoder=None, reference_exit=None, blank=0
    ):
        self.model = model.eval().to(settings.device)
        normalizers_to(self.model, settings.device)
        self.tokenizer = tokenizer
        self.settings = settings
        self.lm_decoder = lm_decoder
        self.blank = blank
        self.geometry = measure_frame_geometry(self.model)
        self.plan = plan_windows(
            self.geometry, settings.window, settings.hop_seconds, settings.hop_fraction
        )
        policy = None if settings.policy is None else parse_policy(settings.policy)
        self.exit_index = None
        if policy is None:
            default = reference_exit or model.num_exits
            self.exit_index = default if settings.exit is None else settings.exit
        self.scorer = exit_scorer(self.model, self.exit_index, policy, settings.device)

    @classmethod
    def from_experiment(cls, folder, **overrides):
        """Open an output folder of ``train.py`` at its best checkpoint.

        ``overrides`` are keys of ``settings.yaml`` (``window``, ``hop``,
        ``mode``, ``exit``, ``policy``, ``lm``...).
        """
        settings = load_settings(overrides)
        experiment = open_experiment(folder)
        path = experiment.tokenizer_model
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{folder}: the tokenizer {path} is missing; keep the "
                "experiment's tokenizer/ folder with it"
            )
        tokenizer = load_tokenizer(path)
        hparams = experiment.hparams
        asr = cls(
            experiment.model,
            tokenizer,
            settings,
            reference_exit=hparams.get("train_exits"),
            blank=hparams.get("blank_index", 0),
        )
        # After the window and exit checks: building an LM can take minutes.
        asr.lm_decoder = experiment_lm_decoder(experiment, tokenizer, settings)
        return asr

    def new_decoder(self):
        """A fresh streaming decoder (greedy, or the LM beam search)."""
        if self.lm_decoder is None:
            return StreamingGreedy(self.tokenizer, self.blank)
        return streaming_lm_search(self.lm_decoder)

    def transcribe_file(self, path, progress=False):
        """Transcribe an audio file of any length window by window.

        Arguments
        ---------
        path : str or pathlib.Path
            Any file soundfile reads (mono-mixed, resampled to 16 kHz).
        progress : bool
            Show a progress bar over the windows.

        Returns
        -------
        modules.inference.windowed_asr.LongFormResult
        """
        with open_audio(path, self.plan) as audio:
            total = model_samples(
                audio.frames, audio.samplerate, self.plan.geometry.sample_rate
            )
            with tqdm(
                total=len(self.plan.starts(total)),
                desc=os.path.basename(str(path)),
                unit="window",
                disable=not progress,
                dynamic_ncols=True,
            ) as bar:
                return transcribe_windows(
                    read_windows(audio, self.plan),
                    self.plan,
                    self.scorer,
                    PosteriorMerger(self.settings.merge_mode),
                    self.new_decoder(),
                    on_window=lambda _: bar.update(),
                )

    def transcribe_waveform(self, wav):
        """Words of a 16 kHz mono waveform ``[n]`` decoded in one pass (no
        windows), with the same exit or policy and decoder."""
        log_probs, _ = self.scorer(wav)
        decoder = self.new_decoder()
        decoder.feed(log_probs)
        return decoder.finish()


def experiment_lm_decoder(experiment, tokenizer, settings):
    """The LM beam search ``settings.lm`` asks for, or None (greedy), with
    the back end ``settings.lm_decoder``.

    ``auto`` builds (once) an ``lm_order``-gram LM from the experiment's
    corpus LM text into ``EXP/lm``; a path is checked as an ARPA / KenLM
    file.
    """
    if not settings.uses_lm:
        return None
    info = resolve_lm(
        settings.lm,
        experiment.hparams.get("data_folder", ""),
        experiment.folder / "lm",
        settings.lm_order,
        [os.getcwd()],
    )
    return build_lm_decoder(
        settings.lm_decoder,
        ctc_labels(tokenizer),
        info.path,
        settings.lm_weight,
        settings.word_bonus,
        settings.beam_size,
        blank_index=experiment.hparams.get("blank_index", 0),
    )
