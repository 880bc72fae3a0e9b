"""The ``Brain`` of every CTC recipe (plain or early-exit).

Training computes the exits the loss needs (all, or the first ``train_exits``
for manual exit activation) and applies the YAML's exit loss. Validation and
test decode every exit from one pass over the encoder and keep an
``ErrorRateStats`` per exit; the test stage also writes per-exit transcripts,
and with ``test_beam_size`` set it adds SpeechBrain's CTC beam search (no LM;
the benchmark stage adds the n-gram LM) next to greedy decoding.
"""

import os
import time

import speechbrain as sb
import torch
from speechbrain.decoders.ctc import CTCBeamSearcher

from modules.compression.teacher_view import student_view_features
from modules.compression.teachers import resolve_teacher_exit
from modules.data.tokenizer import ctc_labels
from modules.decoding.greedy import greedy_words
from modules.losses.ctc_feasibility import check_ctc_batch
from modules.nn.frontend import normalizers_to
from modules.nn.lengths import audio_seconds
from modules.training.wer_report import write_transcripts


def decoder_suffix(name):
    """Suffix of a test-stage decoder's log keys and files: none for
    ``greedy`` (the files every recipe writes), ``_beam`` for ``beam``."""
    return "" if name == "greedy" else f"_{name}"


class EarlyExitCTCBrain(sb.Brain):
    """Brain for :class:`modules.models.early_exit.EarlyExitCTC` models.

    Arguments
    ---------
    *args, **kwargs
        SpeechBrain's ``Brain`` arguments (``modules`` with the model under
        ``model``, possibly DDP-wrapped at run time; ``opt_class``,
        ``hparams``, ``run_opts``, ``checkpointer``).
    run_setup : modules.training.run_setup.RunSetup
        The run-time objects: the unwrapped model, the exit loss, the manual
        exit activation and the frozen KD teacher (or None).
    tokenizer : sentencepiece.SentencePieceProcessor
        Turns the CTC label ids into words.

    Configuration read from ``hparams``: ``blank_index``, ``test_beam_size``
    (null for greedy decoding only), ``output_folder``, ``lr_annealing`` (a
    per-update learning-rate schedule: SpeechBrain's ``NoamScheduler``, or its
    ``LinearWarmupScheduler`` with ``num_training_steps: null``, which is then
    set to the epochs times the updates of one epoch), ``epoch_counter``,
    ``train_logger`` and ``error_rate_computer``.

    Example
    -------
    >>> from modules.losses.exit_losses import EarlyExitCTCLoss
    >>> from modules.training.run_setup import RunSetup
    >>> model = torch.nn.Linear(2, 2)
    >>> setup = RunSetup(model, EarlyExitCTCLoss(), train_exits=1, teacher=None)
    >>> brain = EarlyExitCTCBrain(
    ...     modules={"model": model},
    ...     hparams={"blank_index": 0, "test_beam_size": None},
    ...     run_opts={"device": "cpu"},
    ...     run_setup=setup,
    ...     tokenizer=None,
    ... )
    >>> brain.run_setup.train_exits
    1
    """

    def __init__(self, *args, run_setup, tokenizer, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_setup = run_setup
        self.tokenizer = tokenizer
        # Exits above train_exits, SSL layerdrop and frozen encoder parts leave
        # parameters without a gradient: DDP has to find them at every step.
        self.find_unused_parameters = True

    def compute_forward(self, batch, stage):
        """Log-posteriors of the exits this stage needs, the relative lengths,
        and in training the frozen teacher's log-posteriors (None without
        one), read from the view ``teacher_view`` says."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        if stage != sb.Stage.TRAIN:
            return self.modules.model(wavs, wav_lens), wav_lens, None
        self.audio_seconds += audio_seconds(wav_lens, wavs.shape[1], 16000)
        features = student_view_features(
            self.run_setup.model, self.run_setup.teacher_view, wavs, wav_lens
        )
        exit_log_probs = self.modules.model(
            wavs, wav_lens, self.run_setup.train_exits, features=features
        )
        return exit_log_probs, wav_lens, self.teacher_log_probs(batch, features)

    def teacher_log_probs(self, batch, features=None):
        """The frozen teacher's log-posteriors at its distilled exit (None
        without a frozen teacher), from ``features`` when given."""
        teacher = self.run_setup.teacher
        if teacher is None:
            return None
        with torch.no_grad():
            exit_index = resolve_teacher_exit(self.run_setup.teacher_exit, teacher)
            return teacher.exit_log_probs(*batch.sig, exit_index, features=features)

    def compute_objectives(self, predictions, batch, stage):
        """Exit loss; at valid/test time also greedy decoding of every exit."""
        exit_log_probs, wav_lens, teacher_log_probs = predictions
        tokens, token_lens = batch.tokens
        if stage == sb.Stage.TRAIN:
            # A batch CTC cannot align (too few frames after downsampling)
            # stops training with an error naming the utterance, instead of
            # a silent zero loss.
            check_ctc_batch(exit_log_probs[0], wav_lens, tokens, token_lens, batch.id)
        loss = self.run_setup.exit_loss(
            exit_log_probs, wav_lens, tokens, token_lens, teacher_log_probs
        )
        if stage != sb.Stage.TRAIN:
            self.decode_exits(exit_log_probs, wav_lens, batch)
        return loss

    def decode_exits(self, exit_log_probs, wav_lens, batch):
        """Hypotheses of every exit, by every decoder of the stage, into the
        WER statistics."""
        references = [words.split() for words in batch.wrd]
        for decoder, decode in self.decoders.items():
            for k, log_probs in enumerate(exit_log_probs):
                words = decode(log_probs, wav_lens)
                self.wer_stats[decoder][k].append(batch.id, words, references)
                self.hypotheses[decoder][k].extend(" ".join(w) for w in words)
        self.utterances.extend(zip(batch.id, batch.wrd))

    def greedy_words(self, log_probs, wav_lens):
        """Best-path CTC decoding of a batch into word lists."""
        return greedy_words(
            log_probs, wav_lens, self.tokenizer, self.hparams.blank_index
        )

    def beam_searcher(self):
        """SpeechBrain's ``CTCBeamSearcher`` over the tokenizer's pieces (no
        LM), as a batch decoder into word lists."""
        searcher = CTCBeamSearcher(
            blank_index=self.hparams.blank_index,
            vocab_list=ctc_labels(self.tokenizer),
            beam_size=self.hparams.test_beam_size,
        )

        def decode(log_probs, wav_lens):
            hyps = searcher(log_probs.detach().float().cpu(), wav_lens.cpu())
            return [best[0].text.split() for best in hyps]

        return decode

    def stage_decoders(self, stage):
        """``{name: decode}``: greedy always; beam search at test time when
        ``test_beam_size`` is set."""
        decoders = {"greedy": self.greedy_words}
        if stage == sb.Stage.TEST and self.hparams.test_beam_size:
            decoders["beam"] = self.beam_searcher()
        return decoders

    def make_dataloader(self, dataset, stage, **loader_kwargs):
        """SpeechBrain's loader; remembers how many batches an epoch has."""
        loader = super().make_dataloader(dataset, stage, **loader_kwargs)
        if stage == sb.Stage.TRAIN:
            self.train_batches = len(loader)
        return loader

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Advance the warm-up learning-rate schedule after each update."""
        if should_step:
            self.hparams.lr_annealing(self.optimizer)

    def on_stage_start(self, stage, epoch=None):
        """Fresh statistics for the stage."""
        self.stage_start = time.time()
        self.audio_seconds = 0.0
        if stage != sb.Stage.TRAIN:
            exits = range(self.run_setup.model.num_exits)
            self.decoders = self.stage_decoders(stage)
            self.wer_stats = {
                name: [self.hparams.error_rate_computer() for _ in exits]
                for name in self.decoders
            }
            self.hypotheses = {name: [[] for _ in exits] for name in self.decoders}
            self.utterances = []

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint on validation, write results on test."""
        if stage == sb.Stage.TRAIN:
            elapsed = time.time() - self.stage_start
            self.train_stats = {
                "loss": stage_loss,
                "audio_s_per_s": self.audio_seconds / max(elapsed, 1e-9),
                "epoch_minutes": elapsed / 60,
            }
            return
        wers = {
            name: [stats.summarize("error_rate") for stats in per_exit]
            for name, per_exit in self.wer_stats.items()
        }
        stage_stats = self.stage_stats(stage_loss, wers)
        if stage == sb.Stage.VALID:
            lr = self.optimizer.param_groups[0]["lr"]
            self.hparams.train_logger.log_stats(
                stats_meta={"epoch": epoch, "lr": lr},
                train_stats=self.train_stats,
                valid_stats=stage_stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={
                    "WER": stage_stats["WER"],
                    "ranking_exit": stage_stats["ranking_exit"],
                },
                min_keys=["WER"],
            )
        else:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stage_stats,
            )
            self.test_wers = wers
            self.write_test_outputs()

    def stage_stats(self, stage_loss, wers):
        """Logged statistics of a valid/test stage: the loss, ``WER`` (greedy,
        of the ranking exit: the deepest trained one, which ranks the
        checkpoints), ``ranking_exit`` and every exit's WER per decoder."""
        ranking_exit = self.run_setup.ranking_exit
        stage_stats = {
            "loss": stage_loss,
            "WER": wers["greedy"][ranking_exit - 1],
            "ranking_exit": ranking_exit,
        }
        for name, per_exit in wers.items():
            stage_stats.update(
                {
                    f"WER{decoder_suffix(name)}_exit{k + 1}": w
                    for k, w in enumerate(per_exit)
                }
            )
        return stage_stats

    def write_test_outputs(self):
        """Per-exit WER details and per-utterance transcripts of a test set,
        per decoder (greedy files have no suffix, beam-search ones ``_beam``)."""
        folder = os.path.join(self.hparams.output_folder, "test", self.test_set_name)
        os.makedirs(folder, exist_ok=True)
        ids = [utt_id for utt_id, _ in self.utterances]
        refs = [words for _, words in self.utterances]
        for name, per_exit in self.wer_stats.items():
            suffix = decoder_suffix(name)
            for k, stats in enumerate(per_exit):
                path = os.path.join(folder, f"wer_exit{k + 1}{suffix}.txt")
                with open(path, "w") as fout:
                    stats.write_stats(fout)
            write_transcripts(
                os.path.join(folder, f"transcripts{suffix}.csv"),
                ids,
                refs,
                self.hypotheses[name],
            )

    def on_fit_start(self):
        """Recover as usual; feature statistics and teacher (with its own
        statistics) to the device.

        A schedule with ``num_training_steps: null`` gets the run's number of
        updates after recovery (which restores the saved value), so that
        resuming with more epochs stretches the decay instead of training on
        at a zero learning rate.
        """
        schedule = self.hparams.lr_annealing
        follows_run = getattr(schedule, "num_training_steps", 0) is None
        super().on_fit_start()
        if follows_run:
            updates = self.train_batches // self.grad_accumulation_factor
            schedule.num_training_steps = self.hparams.epoch_counter.limit * updates
        self.normalizers_to_device()
        if self.run_setup.teacher is not None:
            self.run_setup.teacher.to(self.device)
            normalizers_to(self.run_setup.teacher, self.device)

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Load the best checkpoint, then put feature statistics on the device."""
        super().on_evaluate_start(max_key=max_key, min_key=min_key)
        self.normalizers_to_device()

    def normalizers_to_device(self):
        """InputNormalization keeps its statistics outside ``state_dict``."""
        normalizers_to(self.modules, self.device)

    def evaluate_test_set(self, name, dataset, loader_kwargs):
        """Evaluate the best checkpoint on one test set: per-exit WERs of
        every decoder, ``{"greedy": [...], "beam": [...]}``."""
        self.test_set_name = name
        self.evaluate(dataset, min_key="WER", test_loader_kwargs=loader_kwargs)
        return self.test_wers
