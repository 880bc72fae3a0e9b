"""Dynamic early exit: a policy stops each utterance during the forward pass.

:func:`dynamic_exit_forward` runs an :class:`~modules.models.early_exit.EarlyExitCTC`
exit by exit. At every exit the policy (:mod:`modules.exits.policies`) sees the
utterances still running and says which of them exit there; those leave the
batch (their log-posteriors are kept), and the layers up to the next exit run
only on the others: the encoder state's hidden states and padding mask are
index-selected, so no layer ever computes a row whose utterance has exited.
The loop stops when no utterance is left; the last exit takes whoever
remains.

The remaining utterances keep the batch's padded length ``T``; padded frames
are masked as in a static forward, so each utterance's outputs equal those of
the static model at the exit it took (up to float rounding).

The loop itself is :func:`exit_decisions`, which yields every exit's
observation and decision: :func:`dynamic_exit_forward` keeps the exiting
utterances' log-posteriors, :mod:`modules.exits.aed_dynamic` their hidden
states, for the attention decoder of the exit they took. The benchmark's
:class:`benchmark.variants.PolicyVariant` wraps :func:`dynamic_exit_forward`
to record where every utterance exited.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from modules.exits.observation import ExitObservation
from modules.nn.lengths import frame_mask

__all__ = [
    "DynamicExitResult",
    "dynamic_exit_forward",
    "exit_decisions",
    "select_utterances",
]


@dataclass
class DynamicExitResult:
    """Outputs of a dynamic-exit forward pass, in the input's batch order.

    Arguments
    ---------
    log_probs : torch.Tensor
        ``[B, T, V]``: each utterance's log-posteriors at the exit it took.
    exit_index : torch.Tensor
        1-based exit taken by each utterance, ``[B]``.
    layers_run : torch.Tensor
        Encoder layers computed for each utterance, ``[B]`` (the layer its
        exit sits after).
    """

    log_probs: torch.Tensor
    exit_index: torch.Tensor
    layers_run: torch.Tensor

    @property
    def mean_layers(self):
        """Mean number of encoder layers run per utterance."""
        return self.layers_run.float().mean().item()


def select_utterances(state, rows):
    """The encoder state restricted to the utterances at positions ``rows``.

    A state that has a ``select(rows)`` method is asked to do it (a layer
    stack with other per-utterance context can provide one). Otherwise the
    hidden states ``[B, T, D]`` and the padding mask ``[B, T]`` are
    index-selected and the other fields (relative positional embeddings
    ``[1, 2T - 1, D]``, shared across the batch) are kept as they are.

    Example
    -------
    >>> from modules.nn.encoders import EncoderState
    >>> state = EncoderState(
    ...     torch.arange(6.0).view(3, 2, 1),
    ...     torch.tensor([[False, False], [False, True], [False, False]]),
    ...     torch.zeros(1, 3, 1))
    >>> small = select_utterances(state, torch.tensor([2, 1]))
    >>> small.hidden[..., 0].tolist(), small.padding_mask.tolist()
    ([[4.0, 5.0], [2.0, 3.0]], [[False, False], [False, True]])
    >>> small.pos_embs is state.pos_embs
    True
    """
    if hasattr(state, "select"):
        return state.select(rows)
    mask = state.padding_mask
    return dataclasses.replace(
        state,
        hidden=state.hidden.index_select(0, rows),
        padding_mask=None if mask is None else mask.index_select(0, rows),
    )


def _decide(policy, obs, history, last):
    """The policy's decision for ``obs`` (everyone exits at the last exit)."""
    rows = obs.utterances.shape[0]
    if last:
        return torch.ones(rows, dtype=torch.bool, device=obs.utterances.device)
    done = policy.decide(obs, history)
    if done.shape != (rows,):
        raise ValueError(
            f"{policy!r}.decide returned shape {tuple(done.shape)}; expected "
            f"one boolean per running utterance, ({rows},)"
        )
    return done.to(device=obs.utterances.device, dtype=torch.bool)


def _collect(outputs, exit_index, obs, done):
    """Store the exiting rows' log-posteriors and exit; return ``outputs``."""
    if not done.any():
        return outputs
    exiting = obs.select(done.nonzero().squeeze(1))
    log_probs = exiting.log_probs
    if outputs is None:
        shape = (exit_index.shape[0],) + tuple(log_probs.shape[1:])
        outputs = log_probs.new_zeros(shape)
    outputs[exiting.utterances] = log_probs
    exit_index[exiting.utterances] = obs.index
    return outputs


def _remember(history, obs, size):
    """The last ``size`` observations, ``obs`` included (none when 0)."""
    return (history + [obs])[-size:] if size > 0 else []


def exit_decisions(model, wavs, rel_lens, policy):
    """Run ``model`` exit by exit; yield ``(obs, done)`` at every exit reached.

    ``obs`` is the :class:`~modules.exits.observation.ExitObservation` of the
    utterances still running and ``done`` the policy's decision for them
    (everyone exits at the last exit). The utterances that exit leave the
    batch before the next layer runs; the generator stops when no utterance
    is left, so no layer above an utterance's exit ever computes it. Run it
    under ``torch.no_grad()``.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        Any early-exit model (its ``frontend``, ``encoder`` layer stack,
        ``exit_layers`` and ``head``); put it in eval mode first.
    wavs : torch.Tensor
        Input batch, as for ``model(wavs, rel_lens)``.
    rel_lens : torch.Tensor
        Relative lengths ``[B]``.
    policy : modules.exits.exit_policy.ExitPolicy
        Decides at each exit which running utterances exit there.

    Yields
    ------
    tuple
        ``(obs, done)``, ``done`` a ``BoolTensor[b]`` over ``obs``'s rows.
    """
    x = model.frontend(wavs, rel_lens)
    state = model.encoder.begin(x, rel_lens)
    valid = frame_mask(rel_lens.to(x.device), x.shape[1])
    running = torch.arange(x.shape[0], device=x.device)
    history, layer = [], 0
    for index, exit_layer in enumerate(model.exit_layers, start=1):
        while layer < exit_layer:
            state.hidden = model.encoder.run_layer(layer, state)
            layer += 1
        hidden = model.encoder.exit_representation(state.hidden)
        obs = ExitObservation(
            index, exit_layer, hidden, valid, running, model.head(index)
        )
        done = _decide(policy, obs, history, index == model.num_exits)
        yield obs, done
        if done.all():
            return
        history = _remember(history, obs, policy.history_size)
        if done.any():
            rows = (~done).nonzero().squeeze(1)
            state = select_utterances(state, rows)
            history = [past.select(rows) for past in history]
            valid, running = valid[rows], running[rows]


@torch.no_grad()
def dynamic_exit_forward(model, wavs, rel_lens, policy):
    """Run ``model`` letting ``policy`` stop each utterance at an exit
    (:func:`exit_decisions`).

    Arguments
    ---------
    model, wavs, rel_lens, policy
        As :func:`exit_decisions`.

    Returns
    -------
    DynamicExitResult
        Log-posteriors, exit and layers run per utterance.

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from modules.models.early_exit import EarlyExitCTC
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> from modules.exits.policies import build_policy
    >>> _ = torch.manual_seed(0)
    >>> encoder = ConformerLayerStack(
    ...     ConformerEncoder(num_layers=4, d_model=16, d_ffn=32, nhead=2))
    >>> model = EarlyExitCTC(lambda w, l: w, encoder, 16, 5, exit_every=2)
    >>> model = model.eval()
    >>> x, lens = torch.rand(3, 6, 16), torch.tensor([1.0, 0.5, 0.8])
    >>> result = dynamic_exit_forward(model, x, lens, build_policy("entropy", 9.0))
    >>> result.exit_index.tolist(), result.layers_run.tolist()
    ([1, 1, 1], [2, 2, 2])
    >>> result.log_probs.shape
    torch.Size([3, 6, 5])
    """
    exit_index = torch.zeros(wavs.shape[0], dtype=torch.long, device=wavs.device)
    outputs = None
    for obs, done in exit_decisions(model, wavs, rel_lens, policy):
        outputs = _collect(outputs, exit_index, obs, done)
    layers = torch.tensor(model.exit_layers, device=exit_index.device)[exit_index - 1]
    return DynamicExitResult(outputs, exit_index, layers)
