"""Output heads: what turns an encoder layer's hidden states into CTC logits.

A linear layer, or :class:`UpsampledCTCHead`, which predicts several frames
per encoder frame so that an input downsampled by
:mod:`modules.nn.downsampling` still has enough frames for CTC (YAML key
``ctc_upsampling``); :func:`build_dnn` gives the DNN blocks that the SSL
recipe puts before it.
"""

import torch


def ctc_upsampling_factor(ctc_upsampling):
    """Output frames per encoder frame for the YAML key ``ctc_upsampling``.

    ``False`` (or 1): none; ``True``: 2, the published setting; an integer
    ``k >= 2``: ``k``.

    Example
    -------
    >>> [ctc_upsampling_factor(v) for v in (False, True, 1, 3)]
    [1, 2, 1, 3]
    >>> ctc_upsampling_factor(1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ctc_upsampling=1.5 must be True, False or an integer >= 1 ...
    """
    if isinstance(ctc_upsampling, bool):
        return 2 if ctc_upsampling else 1
    if not isinstance(ctc_upsampling, int) or ctc_upsampling < 1:
        raise ValueError(
            f"ctc_upsampling={ctc_upsampling!r} must be True, False or an integer "
            ">= 1 (output frames per encoder frame)"
        )
    return ctc_upsampling


def ctc_head(input_size, vocab_size, ctc_upsampling=False):
    """A CTC output layer: linear, or :class:`UpsampledCTCHead`.

    Arguments
    ---------
    input_size : int
        Width of the encoder output.
    vocab_size : int
        CTC output units, blank included.
    ctc_upsampling : bool or int
        See :func:`ctc_upsampling_factor`.

    Example
    -------
    >>> ctc_head(8, 5)
    Linear(in_features=8, out_features=5, bias=True)
    >>> ctc_head(8, 5, ctc_upsampling=True).factor
    2
    """
    factor = ctc_upsampling_factor(ctc_upsampling)
    if factor == 1:
        return torch.nn.Linear(input_size, vocab_size)
    return UpsampledCTCHead(input_size, vocab_size, factor)


class UpsampledCTCHead(torch.nn.Module):
    """CTC output layer predicting ``factor`` frames per encoder frame.

    A linear layer gives ``factor x vocab_size`` outputs per frame, reshaped
    into ``factor`` consecutive frames of ``vocab_size`` logits, so that a
    downsampled encoder still has enough frames for CTC. Relative lengths are
    unchanged; absolute ones are multiplied by ``factor``.

    Arguments
    ---------
    input_size : int
        Width of the encoder output.
    vocab_size : int
        CTC output units, blank included.
    factor : int
        Output frames per input frame.

    Example
    -------
    >>> head = UpsampledCTCHead(16, 10, factor=2)
    >>> head(torch.rand(3, 7, 16)).shape
    torch.Size([3, 14, 10])
    """

    def __init__(self, input_size, vocab_size, factor=2):
        super().__init__()
        self.factor = ctc_upsampling_factor(factor)
        self.vocab_size = vocab_size
        self.linear = torch.nn.Linear(input_size, factor * vocab_size)

    def forward(self, x):
        """Logits ``[B, factor * T, vocab_size]`` for ``x`` ``[B, T, input_size]``."""
        batch, frames, _ = x.shape
        return self.linear(x).reshape(batch, frames * self.factor, self.vocab_size)


def build_dnn(input_size, num_blocks, neurons, dropout):
    """``num_blocks`` x (Linear, LayerNorm, LeakyReLU, Dropout).

    LayerNorm rather than the BatchNorm of SpeechBrain's SSL recipes: it
    normalises each frame on its own, so that padded frames never enter the
    statistics and an utterance's output does not depend on its batch.

    Example
    -------
    >>> build_dnn(32, 2, 16, 0.1)(torch.rand(2, 5, 32)).shape
    torch.Size([2, 5, 16])
    >>> len(build_dnn(32, 0, 16, 0.1))
    0
    """
    layers = []
    for block in range(num_blocks):
        layers += [
            torch.nn.Linear(neurons if block else input_size, neurons),
            torch.nn.LayerNorm(neurons),
            torch.nn.LeakyReLU(),
            torch.nn.Dropout(dropout),
        ]
    return torch.nn.Sequential(*layers)
