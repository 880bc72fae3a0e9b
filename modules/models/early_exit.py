"""Early-exit CTC models: output heads after chosen layers of a layer stack.

A model with a single exit after its last layer is a plain CTC model, so the
baseline recipe and every early-exit recipe share this component.

Exits are numbered from 1 (the shallowest) to ``num_exits``; an exit is placed
*after* a 1-based layer number. Asking for exit ``k`` runs the front-end and the
layers up to exit ``k`` only: nothing above it is computed.

The same component carries the model-level options of two efficiency
techniques: CTC upsampling heads for a downsampled input
(:mod:`modules.nn.heads`) and layer removal (``keep_layers``; loading a
trained full model into the shortened one is :mod:`modules.compression.layer_removal`).
"""

from dataclasses import dataclass

import torch

from modules.nn.heads import ctc_head


def resolve_exit_layers(num_layers, exit_every=None, exit_layers=None):
    """1-based layer numbers after which exits are placed.

    Arguments
    ---------
    num_layers : int
        Layers in the encoder.
    exit_every : int, optional
        Place an exit every ``exit_every`` layers (the last layer always has one).
    exit_layers : list of int, optional
        Explicit layer numbers; exclusive with ``exit_every``.

    Returns
    -------
    list of int
        Sorted layer numbers; the last one is ``num_layers`` unless explicitly
        omitted from ``exit_layers``.

    Example
    -------
    >>> resolve_exit_layers(12, exit_every=2)
    [2, 4, 6, 8, 10, 12]
    >>> resolve_exit_layers(12, exit_layers=[3, 12])
    [3, 12]
    >>> resolve_exit_layers(12)
    [12]
    """
    if exit_every is not None and exit_layers is not None:
        raise ValueError("Give either exit_every or exit_layers in the YAML, not both")
    if exit_layers is None:
        step = num_layers if exit_every is None else exit_every
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"exit_every={exit_every} must be a positive integer")
        exit_layers = list(range(step, num_layers + 1, step))
        if not exit_layers or exit_layers[-1] != num_layers:
            exit_layers.append(num_layers)
    bad = [n for n in exit_layers if not isinstance(n, int) or not 1 <= n <= num_layers]
    if bad or not exit_layers:
        raise ValueError(
            f"exit_layers={list(exit_layers)}: every exit must sit after a layer "
            f"1..{num_layers} (the encoder has num_layers={num_layers}); fix "
            "exit_layers / exit_every in the YAML"
        )
    if sorted(set(exit_layers)) != list(exit_layers):
        raise ValueError(f"exit_layers={exit_layers} must be strictly increasing")
    return list(exit_layers)


def kept_exit_layers(exit_layers, keep_layers):
    """Exit layers after layer removal: those up to ``keep_layers``, plus one
    at ``keep_layers`` (the output of the shortened model).

    Arguments
    ---------
    exit_layers : list of int
        Exit layers of the full model.
    keep_layers : int
        Layers kept (YAML key ``keep_layers``).

    Returns
    -------
    list of int

    Example
    -------
    >>> kept_exit_layers([2, 4, 6, 8], 4), kept_exit_layers([2, 4, 6, 8], 5)
    ([2, 4], [2, 4, 5])
    >>> kept_exit_layers([12], 6)
    [6]
    """
    if not isinstance(keep_layers, int) or isinstance(keep_layers, bool):
        raise ValueError(
            f"keep_layers={keep_layers!r} must be an integer (the number of "
            "layers to keep), or null to keep them all"
        )
    kept = [layer for layer in exit_layers if layer <= keep_layers]
    return kept if keep_layers in kept else [*kept, keep_layers]


@dataclass
class ExitOutput:
    """What one exit produced.

    Arguments
    ---------
    index : int
        1-based exit number.
    layer : int
        1-based number of the layer the exit sits after.
    hidden : torch.Tensor
        The exit's input representation ``[B, T, D]``.
    log_probs : torch.Tensor
        Log-posteriors ``[B, T, V]``.
    """

    index: int
    layer: int
    hidden: torch.Tensor
    log_probs: torch.Tensor


class EarlyExitCTC(torch.nn.Module):
    """Front-end + layer stack + CTC heads after chosen layers.

    Arguments
    ---------
    frontend : torch.nn.Module
        Maps ``(wavs, rel_lens)`` to encoder input ``[B, T, D]``.
    encoder : modules.nn.encoders.LayerStack
        The layers, run one by one.
    output_size : int
        Width ``D`` of the encoder's hidden states.
    vocab_size : int
        CTC output units, blank included (blank is index 0).
    exit_every : int, optional
        An exit every ``exit_every`` layers.
    exit_layers : list of int, optional
        Explicit exit positions (1-based layer numbers).
    shared_head : bool
        One head shared by all exits (wav2vec2-ee) instead of one per exit.
    ctc_upsampling : bool or int
        Every head predicts several frames per encoder frame
        (:class:`modules.nn.heads.UpsampledCTCHead`; ``True``: 2), for an
        input downsampled so much that CTC lacks frames. ``False``: linear.
    keep_layers : int, optional
        Layer removal: keep only the first ``keep_layers`` layers of the
        encoder; the exits above are dropped and the exit after layer
        ``keep_layers`` (a new head if there was none) is the output. The
        full layout stays in ``full_exit_layers``, to map the heads of a
        checkpoint of the full model (:mod:`modules.compression.layer_removal`).

    Example
    -------
    >>> from speechbrain.lobes.models.transformer.Conformer import (
    ...     ConformerEncoder,
    ... )
    >>> from modules.nn.encoders import ConformerLayerStack
    >>> enc = ConformerLayerStack(
    ...     ConformerEncoder(num_layers=4, d_model=32, d_ffn=64, nhead=4)
    ... )
    >>> frontend = lambda wavs, lens: wavs
    >>> model = EarlyExitCTC(frontend, enc, 32, vocab_size=10, exit_every=2)
    >>> x = torch.rand(2, 7, 32)
    >>> [lp.shape[-1] for lp in model(x, torch.ones(2))]
    [10, 10]
    >>> len(model(x, torch.ones(2), num_exits=1))
    1
    >>> enc = ConformerLayerStack(
    ...     ConformerEncoder(num_layers=4, d_model=32, d_ffn=64, nhead=4)
    ... )
    >>> short = EarlyExitCTC(
    ...     frontend, enc, 32, 10, exit_every=2, ctc_upsampling=True, keep_layers=3
    ... )
    >>> short.exit_layers, short.full_exit_layers, enc.num_layers
    ([2, 3], [2, 4], 3)
    >>> [lp.shape[1] for lp in short(x, torch.ones(2))]
    [14, 14]
    """

    def __init__(
        self,
        frontend,
        encoder,
        output_size,
        vocab_size,
        exit_every=None,
        exit_layers=None,
        shared_head=False,
        ctc_upsampling=False,
        keep_layers=None,
    ):
        super().__init__()
        self.frontend = frontend
        self.encoder = encoder
        self.full_exit_layers = resolve_exit_layers(
            encoder.num_layers, exit_every, exit_layers
        )
        self.exit_layers = self.full_exit_layers
        if keep_layers is not None:
            self.exit_layers = kept_exit_layers(self.full_exit_layers, keep_layers)
            encoder.keep_first_layers(keep_layers)
        num_heads = 1 if shared_head else len(self.exit_layers)
        self.heads = torch.nn.ModuleList(
            ctc_head(output_size, vocab_size, ctc_upsampling) for _ in range(num_heads)
        )
        self.shared_head = shared_head

    @property
    def num_exits(self):
        """Number of exits."""
        return len(self.exit_layers)

    def head(self, exit_index):
        """Output head of a 1-based exit."""
        return self.heads[0 if self.shared_head else exit_index - 1]

    def check_exit(self, exit_index):
        """Raise a clear error for an exit that does not exist."""
        if not 1 <= exit_index <= self.num_exits:
            raise ValueError(
                f"exit {exit_index} does not exist: the model has exits "
                f"1..{self.num_exits} after layers {self.exit_layers}"
            )

    def exit_representations(self, wavs, rel_lens, last_exit=None, features=None):
        """Yield ``(exit index, layer, hidden)`` per exit, running layers lazily.

        A caller that stops iterating (a dynamic exit policy, say) stops the
        computation: the layers above the last yielded exit never run.
        ``features``: the front-end's ``input_features`` (of a
        :class:`modules.nn.frontend.FeatureFrontend`), computed already (a
        teacher reading its student's SpecAugmented view); None: from ``wavs``.
        """
        last_exit = last_exit or self.num_exits
        self.check_exit(last_exit)
        if features is None:
            frames = self.frontend(wavs, rel_lens)
        else:
            frames = self.frontend.frames(features)
        state = self.encoder.begin(frames, rel_lens)
        layer = 0
        for index, exit_layer in enumerate(self.exit_layers[:last_exit], start=1):
            while layer < exit_layer:
                state.hidden = self.encoder.run_layer(layer, state)
                layer += 1
            yield index, exit_layer, self.encoder.exit_representation(state.hidden)

    def iter_exits(self, wavs, rel_lens, last_exit=None, features=None):
        """Yield an :class:`ExitOutput` per exit, computing layers lazily."""
        for index, layer, hidden in self.exit_representations(
            wavs, rel_lens, last_exit, features
        ):
            log_probs = self.head(index)(hidden).log_softmax(-1)
            yield ExitOutput(index, layer, hidden, log_probs)

    def forward(self, wavs, rel_lens, num_exits=None, features=None):
        """Log-posteriors ``[B, T, V]`` of the first ``num_exits`` exits
        (``features``: see :meth:`exit_representations`)."""
        exits = self.iter_exits(wavs, rel_lens, num_exits, features)
        return [out.log_probs for out in exits]

    def exit_log_probs(self, wavs, rel_lens, exit_index, features=None):
        """Log-posteriors of one exit: its layers and its head only."""
        *_, (_, _, hidden) = self.exit_representations(
            wavs, rel_lens, exit_index, features
        )
        return self.head(exit_index)(hidden).log_softmax(-1)
