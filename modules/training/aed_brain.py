"""The ``Brain`` of the early-exit attention encoder-decoder recipe.

Training runs the exits the loss needs (all, or the first ``train_exits``),
each with its teacher-forced decoder, and applies the joint CTC/attention
loss. Validation decodes from one encoder pass: greedy CTC on every exit's
head, and greedy attention decoding with the ranking exit's decoder (the
deepest trained exit; its WER ranks the checkpoints) and, every
``valid_search_interval`` epochs and at the last one, with every exit's
decoder (autoregressive decoding costs far more than the CTC heads on a CPU).
The test stage decodes every exit three ways: greedy CTC, greedy attention and
SpeechBrain's joint CTC/attention beam search, each with its own per-exit WER
files and transcripts, as in the CTC recipes: greedy CTC without suffix,
``_attention`` and ``_joint``; with ``decoding_lm`` set, also the joint search
with the token-level n-gram (``_joint_lm``), the LM resolved (built for
``auto``) when the test stage starts.
"""

import os
from functools import cached_property

import speechbrain as sb
import torch

from modules.compression.teachers import resolve_teacher_exit
from modules.decoding.aed_search import (
    greedy_searcher,
    hypotheses_words,
    joint_beam_searcher,
)
from modules.losses.aed import teacher_forcing_targets
from modules.losses.ctc_feasibility import check_ctc_batch
from modules.training.ctc_brain import EarlyExitCTCBrain, decoder_suffix


class EarlyExitAEDBrain(EarlyExitCTCBrain):
    """Brain for :class:`modules.models.aed_early_exit.EarlyExitAED` models.

    Arguments
    ---------
    *args, **kwargs
        As :class:`modules.training.ctc_brain.EarlyExitCTCBrain`; ``run_setup``
        is a :class:`modules.training.aed_setup.AEDRunSetup` (its
        ``joint_loss``, ``search`` and ``valid_search_interval`` are used).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> setup = SimpleNamespace(
    ...     ranking_exit=2, valid_search_interval=3, decoding_lm=None,
    ...     ranking_decoding="attention",
    ... )
    >>> brain = EarlyExitAEDBrain(
    ...     modules={"model": torch.nn.Linear(2, 2)},
    ...     hparams={"blank_index": 0},
    ...     run_opts={"device": "cpu"},
    ...     run_setup=setup,
    ...     tokenizer=None,
    ... )
    >>> sorted(brain.stage_decoders(sb.Stage.TEST))
    ['attention', 'greedy', 'joint']
    >>> brain.decoded_exits = {"greedy": [1, 2], "attention": [2]}
    >>> stats = brain.stage_stats(1.0, {"greedy": [40.0, 30.0], "attention": [20.0]})
    >>> stats["WER"], stats["WER_exit2"], stats["WER_attention_exit2"]
    (20.0, 30.0, 20.0)
    >>> "WER_attention_exit1" in stats
    False
    """

    def compute_forward(self, batch, stage):
        """Every needed exit's CTC log-posteriors, hidden states and
        teacher-forced decoder output."""
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        tokens, token_lens = batch.tokens
        search = self.run_setup.search
        targets = teacher_forcing_targets(
            tokens, token_lens, search.bos_index, search.eos_index
        )
        num_exits = None
        if stage == sb.Stage.TRAIN:
            num_exits = self.run_setup.train_exits
            self.audio_seconds += float((wav_lens * wavs.shape[1]).sum()) / 16000
        outputs = self.modules.model(
            wavs, wav_lens, num_exits, tokens_bos=targets.tokens_bos
        )
        return outputs, wav_lens, targets

    def compute_objectives(self, predictions, batch, stage):
        """Joint loss; at valid/test time also every exit's decoding."""
        outputs, wav_lens, targets = predictions
        tokens, token_lens = batch.tokens
        ctc_log_probs = [out.log_probs for out in outputs]
        teacher_log_probs = None
        if stage == sb.Stage.TRAIN:
            check_ctc_batch(ctc_log_probs[0], wav_lens, tokens, token_lens, batch.id)
            teacher_log_probs = self.teacher_log_probs(batch)
        loss = self.run_setup.joint_loss(
            ctc_log_probs,
            wav_lens,
            tokens,
            token_lens,
            [out.decoder_log_probs for out in outputs],
            targets,
            teacher_log_probs,
        )
        if stage != sb.Stage.TRAIN:
            self.decode_exits(outputs, wav_lens, batch)
        return loss

    def teacher_log_probs(self, batch):
        """The frozen teacher's CTC log-posteriors at ``teacher_exit`` (its
        last exit by default), or None without a frozen teacher."""
        teacher = self.run_setup.teacher
        if teacher is None:
            return None
        exit_index = resolve_teacher_exit(self.run_setup.teacher_exit, teacher)
        with torch.no_grad():
            return teacher.exit_log_probs(*batch.sig, exit_index)

    def decode_exits(self, outputs, wav_lens, batch):
        """Hypotheses of the exits each decoder of the stage decodes, into the
        WER statistics."""
        references = [words.split() for words in batch.wrd]
        for decoder, decode in self.decoders.items():
            for slot, exit_index in enumerate(self.decoded_exits[decoder]):
                words = decode(outputs[exit_index - 1], wav_lens)
                self.wer_stats[decoder][slot].append(batch.id, words, references)
                self.hypotheses[decoder][slot].extend(" ".join(w) for w in words)
        self.utterances.extend(zip(batch.id, batch.wrd))

    def on_stage_start(self, stage, epoch=None):
        """Fresh statistics; which exits each decoder decodes this stage."""
        super().on_stage_start(stage, epoch)
        if stage == sb.Stage.TRAIN:
            return
        every_exit = list(range(1, self.run_setup.model.num_exits + 1))
        self.decoded_exits = {name: every_exit for name in self.decoders}
        if stage == sb.Stage.VALID and not self.every_exit_searched(epoch):
            ranked = self.run_setup.ranking_decoding == "attention"
            exits = [self.run_setup.ranking_exit] if ranked else []
            self.decoded_exits["attention"] = exits
            self.wer_stats["attention"] = [
                self.hparams.error_rate_computer() for _ in exits
            ]
            self.hypotheses["attention"] = [[] for _ in exits]

    def every_exit_searched(self, epoch):
        """Whether every exit is decoded by attention at this epoch's
        validation: every ``valid_search_interval`` epochs and the last."""
        interval = self.run_setup.valid_search_interval
        last = epoch == self.hparams.epoch_counter.limit
        return last or bool(interval and epoch % interval == 0)

    def stage_decoders(self, stage):
        """``{name: decode(exit output, wav_lens)}``: greedy CTC and greedy
        attention always; the joint beam search at test time, and with the
        token n-gram (``joint_lm``) when the run has ``decoding_lm``."""
        decoders = {
            "greedy": lambda out, lens: self.greedy_words(out.log_probs, lens),
            "attention": self.searcher_decoder(self.greedy_searcher),
        }
        if stage == sb.Stage.TEST:
            decoders["joint"] = self.searcher_decoder(self.joint_searcher)
            if self.run_setup.decoding_lm is not None:
                decoders["joint_lm"] = self.searcher_decoder(self.joint_lm_searcher)
        return decoders

    def searcher_decoder(self, build):
        """A decoder running ``build(exit_index)``'s searcher (built once per
        exit and stage) on an exit's hidden states."""
        searchers = {}

        def decode(output, wav_lens):
            if output.index not in searchers:
                searchers[output.index] = build(output.index)
            hyps, *_ = searchers[output.index](output.hidden, wav_lens)
            return hypotheses_words(hyps, self.tokenizer)

        return decode

    def greedy_searcher(self, exit_index):
        """Greedy attention decoding with exit ``exit_index``'s decoder."""
        model = self.run_setup.model
        return greedy_searcher(
            model.exit_decoder(exit_index),
            model.output_layer(exit_index),
            self.run_setup.search,
        )

    def joint_searcher(self, exit_index, lm=None):
        """Joint CTC/attention beam search with exit ``exit_index``'s decoder
        and CTC head (and the token n-gram ``lm``, if given)."""
        model = self.run_setup.model
        return joint_beam_searcher(
            model.exit_decoder(exit_index),
            model.output_layer(exit_index),
            model.head(exit_index),
            self.run_setup.search,
            lm,
        )

    def joint_lm_searcher(self, exit_index):
        """The joint search of exit ``exit_index`` with the token n-gram."""
        return self.joint_searcher(exit_index, self.token_lm)

    @cached_property
    def token_lm(self):
        """The run's token n-gram (:class:`modules.decoding.token_lm.TokenLM`):
        ``decoding_lm``'s file, or for ``auto`` the one built (and cached)
        from the corpus LM text into the synthetic corpus's ``lm`` folder,
        else ``<output_folder>/lm``
        (:meth:`modules.decoding.token_lm.TokenLMRequest.resolve`)."""
        return self.run_setup.decoding_lm.resolve(
            self.tokenizer,
            self.hparams.data_folder,
            os.path.join(self.hparams.output_folder, "lm"),
        )

    def stage_stats(self, stage_loss, wers):
        """Logged statistics of a valid/test stage: the loss, ``WER`` (greedy
        attention or, with ``ranking_decoding: ctc``, greedy CTC WER of the
        ranking exit, which ranks the checkpoints),
        ``ranking_exit`` and the WER of every decoded exit per decoder
        (``WER_exitK``: greedy CTC; ``WER_attention_exitK``,
        ``WER_joint_exitK``)."""
        ranking_exit = self.run_setup.ranking_exit
        ranked = (
            "attention" if self.run_setup.ranking_decoding == "attention" else "greedy"
        )
        stage_stats = {
            "loss": stage_loss,
            "WER": wers[ranked][self.decoded_exits[ranked].index(ranking_exit)],
            "ranking_exit": ranking_exit,
        }
        for name, per_exit in wers.items():
            for exit_index, wer in zip(self.decoded_exits[name], per_exit):
                stage_stats[f"WER{decoder_suffix(name)}_exit{exit_index}"] = wer
        return stage_stats
