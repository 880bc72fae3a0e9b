"""Dynamic exits of an attention encoder-decoder: the CTC heads decide where
each utterance stops, then only that exit's decoder decodes it.

While the encoder runs exit by exit (:func:`modules.exits.dynamic.exit_decisions`),
a policy of :mod:`modules.exits.policies` reads every exit's CTC posteriors
and stops the utterances it is sure of; their hidden states at that exit are
kept (:func:`dynamic_exit_states`) and the layers above run only for the
others. Then every exit that took utterances decodes them, and only them,
with its own decoder on their hidden states cut to the group's longest
utterance (:func:`decode_exit_groups`), e.g. the joint CTC /
attention beam search of :mod:`modules.decoding.aed_search`: no encoder layer
above an utterance's exit and no other exit's decoder ever computes it.

The two halves are separate calls so that the encoder pass and the
autoregressive decoding can be timed apart; :func:`dynamic_exit_decode` runs
both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modules.exits.dynamic import exit_decisions
from modules.nn.lengths import absolute_lengths

__all__ = [
    "DynamicDecodeResult",
    "DynamicExitStates",
    "ExitGroup",
    "decode_exit_groups",
    "dynamic_exit_decode",
    "dynamic_exit_states",
    "trimmed_group",
]


@dataclass
class ExitGroup:
    """The utterances of a batch that took one exit.

    Arguments
    ---------
    exit_index : int
        1-based exit number.
    utterances : torch.Tensor
        Their positions in the batch, ``[b]``.
    hidden : torch.Tensor
        Their hidden states at that exit, ``[b, T, D]`` (the batch's padded
        length ``T``).
    """

    exit_index: int
    utterances: torch.Tensor
    hidden: torch.Tensor


@dataclass
class DynamicExitStates:
    """What the encoder pass of a dynamic-exit decoding produced.

    Arguments
    ---------
    groups : list of ExitGroup
        One per exit that took utterances, shallowest first.
    exit_index : torch.Tensor
        1-based exit taken by each utterance, ``[B]`` (batch order).
    layers_run : torch.Tensor
        Encoder layers computed for each utterance, ``[B]``.
    """

    groups: list
    exit_index: torch.Tensor
    layers_run: torch.Tensor


@dataclass
class DynamicDecodeResult:
    """Hypotheses of a dynamic-exit decoding and where each utterance exited.

    Arguments
    ---------
    hypotheses : list
        One hypothesis per utterance, in batch order.
    exit_index, layers_run : torch.Tensor
        As :class:`DynamicExitStates`.
    """

    hypotheses: list
    exit_index: torch.Tensor
    layers_run: torch.Tensor


@torch.no_grad()
def dynamic_exit_states(model, wavs, rel_lens, policy) -> DynamicExitStates:
    """Run the encoder of ``model`` letting ``policy`` stop each utterance at
    an exit, from that exit's CTC posteriors; keep the hidden states of the
    utterances at the exit they took.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        Any early-exit model (an :class:`modules.models.aed_early_exit.
        EarlyExitAED` for decoding), in eval mode.
    wavs, rel_lens : torch.Tensor
        The batch and its relative lengths ``[B]``.
    policy : modules.exits.exit_policy.ExitPolicy
        Decides at each exit which running utterances exit there.

    Returns
    -------
    DynamicExitStates
    """
    exit_index = torch.zeros(wavs.shape[0], dtype=torch.long, device=wavs.device)
    groups = []
    for obs, done in exit_decisions(model, wavs, rel_lens, policy):
        if done.any():
            rows = done.nonzero().squeeze(1)
            utterances = obs.utterances.index_select(0, rows)
            groups.append(
                ExitGroup(obs.index, utterances, obs.hidden.index_select(0, rows))
            )
            exit_index[utterances] = obs.index
    layers = torch.tensor(model.exit_layers, device=exit_index.device)
    return DynamicExitStates(groups, exit_index, layers[exit_index - 1])


def trimmed_group(group: ExitGroup, rel_lens):
    """A group's hidden states cut to its longest utterance, and their
    relative lengths to that length (SpeechBrain's searchers need a longest
    utterance of relative length 1).

    Example
    -------
    >>> group = ExitGroup(1, torch.tensor([1, 2]), torch.zeros(2, 10, 3))
    >>> hidden, lens = trimmed_group(group, torch.tensor([0.4, 0.8]))
    >>> hidden.shape[1], lens.tolist()
    (8, [0.5, 1.0])
    """
    frames = absolute_lengths(rel_lens, group.hidden.shape[1])
    longest = max(int(frames.max()), 1)
    return group.hidden[:, :longest], frames.float() / longest


def decode_exit_groups(states: DynamicExitStates, rel_lens, decode) -> list:
    """Decode every exit group with its own exit's decoder, on its hidden
    states cut to its longest utterance (:func:`trimmed_group`).

    SpeechBrain's searchers stop after ``max_decode_ratio`` steps per frame
    of the longest utterance they decode together: a group's cap follows
    its own longest utterance, as a static decoding's follows its batch's.

    Arguments
    ---------
    states : DynamicExitStates
        The encoder pass (:func:`dynamic_exit_states`).
    rel_lens : torch.Tensor
        Relative lengths of the whole batch ``[B]``.
    decode : callable
        ``decode(exit_index, hidden, rel_lens) -> list``: one hypothesis per
        row of ``hidden``, e.g. that exit's joint beam search.

    Returns
    -------
    list
        One hypothesis per utterance, in batch order.
    """
    hypotheses = [None] * states.exit_index.shape[0]
    for group in states.groups:
        lens = rel_lens.to(group.utterances.device).index_select(0, group.utterances)
        decoded = decode(group.exit_index, *trimmed_group(group, lens))
        for position, hypothesis in zip(group.utterances.tolist(), decoded):
            hypotheses[position] = hypothesis
    return hypotheses


@torch.no_grad()
def dynamic_exit_decode(model, wavs, rel_lens, policy, decode) -> DynamicDecodeResult:
    """The encoder pass with ``policy`` (:func:`dynamic_exit_states`), then
    every exit's decoder on the utterances that took it
    (:func:`decode_exit_groups`).

    Example
    -------
    >>> from functools import partial
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from speechbrain.lobes.models.transformer.Transformer import (
    ...     TransformerDecoder,
    ... )
    >>> from modules.exits.policies import build_policy
    >>> from modules.models.aed_early_exit import EarlyExitAED
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> _ = torch.manual_seed(0)
    >>> encoder = ConformerLayerStack(ConformerEncoder(4, 16, 32, 2))
    >>> decoder = partial(TransformerDecoder, 1, 2, 32, 16)
    >>> model = EarlyExitAED(lambda w, l: w, encoder, 16, 6, decoder, exit_every=2)
    >>> model = model.eval()
    >>> x, lens = torch.rand(3, 5, 16), torch.tensor([1.0, 0.6, 0.8])
    >>> def decode(exit_index, hidden, rel_lens):  # a stand-in decoder
    ...     return [f"exit{exit_index}"] * hidden.shape[0]
    >>> sure = build_policy("entropy", 9.0)  # below 9 nats: exit 1 for all
    >>> dynamic_exit_decode(model, x, lens, sure, decode).hypotheses
    ['exit1', 'exit1', 'exit1']
    >>> never = build_policy("confidence", 1.0)  # never met: the last exit
    >>> result = dynamic_exit_decode(model, x, lens, never, decode)
    >>> result.hypotheses, result.layers_run.tolist()
    (['exit2', 'exit2', 'exit2'], [4, 4, 4])
    """
    states = dynamic_exit_states(model, wavs, rel_lens, policy)
    hypotheses = decode_exit_groups(states, rel_lens, decode)
    return DynamicDecodeResult(hypotheses, states.exit_index, states.layers_run)
