"""Waveform downsampling before the encoder, and the CTC side of its cost.

Dividing the waveform's length by ``f`` divides the frame rate of either
encoder family by ``f`` (an SSL model's 50 Hz becomes 50/f Hz; a filterbank
front-end's 100 Hz becomes 100/f Hz), and with it the encoder's cost.
Three ways (Zaiem et al., arXiv 2303.06740), chosen by ``downsampling_method``:

- ``signal``: resample 16 kHz -> 16000/f Hz (windowed-sinc low-pass, as
  ``torchaudio.functional.resample``). The result *is* audio at the lower rate:
  a filterbank front-end must be told (``sample_rate: 16000 / f`` for
  ``Fbank``), whereas an SSL model reads it as if it were 16 kHz audio.
  ``Fbank``'s window and hop are in milliseconds: at the new rate its default
  10 ms hop still gives 100 frames per second (no saving); ``hop_length:
  10 * f`` keeps the hop at 160 samples of the original rate and divides the
  frame rate by f;
- ``conv``: a learned ``Conv1d`` (1 -> 1 channel, stride f, no padding);
- ``avg``: average pooling (stride f, no padding);
- ``none``: the waveform as it is.

``conv`` and ``avg`` also output a sequence that the next stage indexes like
16 kHz samples ("16 kHz-like"): an SSL model's CNN is applied unchanged and
simply yields fewer frames. Relative lengths (SpeechBrain's convention) stay
valid up to a sample of rounding, so they are returned unchanged.

At f >= 3 there can be fewer frames than CTC needs for an utterance's labels
(character targets especially): :func:`check_ctc_feasible` says so by utterance
instead of a silently zeroed or NaN loss, and :class:`UpsampledCTCHead` predicts
``factor`` frames per encoder frame.
"""

import torch
import torchaudio

DOWNSAMPLING_METHODS = ("none", "signal", "conv", "avg")


def check_factor(factor):
    """The downsampling factor as an ``int``, or a clear error.

    Example
    -------
    >>> check_factor(3), check_factor(2.0)
    (3, 2)
    >>> check_factor(1.5)
    Traceback (most recent call last):
    ...
    ValueError: downsampling_factor=1.5 must be an integer >= 1 (e.g. 2, 3, 4)
    """
    is_number = isinstance(factor, (int, float)) and not isinstance(factor, bool)
    if not is_number or factor != int(factor) or factor < 1:
        raise ValueError(
            f"downsampling_factor={factor!r} must be an integer >= 1 (e.g. 2, 3, 4)"
        )
    return int(factor)


def default_kernel_size(method, factor):
    """Kernel length in samples: ``40 f + 1`` for conv, ``5 f + 1`` for avg.

    Factors 2..4 give 81..161 samples (conv) and 11..21 (avg), the ranges of
    the published experiments; ``None`` for methods without a kernel.

    Example
    -------
    >>> [default_kernel_size("conv", f) for f in (2, 3, 4)]
    [81, 121, 161]
    >>> [default_kernel_size("avg", f) for f in (2, 3, 4)]
    [11, 16, 21]
    """
    return {"conv": 40 * factor + 1, "avg": 5 * factor + 1}.get(method)


def lowpass_kernel(kernel_size, factor):
    """Hann-windowed sinc low-pass at the new Nyquist rate, unit DC gain.

    Example
    -------
    >>> kernel = lowpass_kernel(81, 2)
    >>> kernel.shape, round(kernel.sum().item(), 6)
    (torch.Size([81]), 1.0)
    """
    positions = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    kernel = torch.sinc(positions / factor)
    if kernel_size > 1:
        kernel = kernel * torch.hann_window(
            kernel_size, periodic=False, dtype=torch.float64
        )
    return (kernel / kernel.sum()).float()


class WaveformDownsampler(torch.nn.Module):
    """Divide the length of waveforms by an integer factor.

    Arguments
    ---------
    method : str
        ``none``, ``signal``, ``conv`` or ``avg`` (YAML key
        ``downsampling_method``; see the module documentation).
    factor : int
        Downsampling factor, any integer >= 1 (``downsampling_factor``);
        ignored by ``none``.
    kernel_size : int, optional
        Kernel length in samples for ``conv`` / ``avg``
        (``downsampling_kernel``); default :func:`default_kernel_size`;
        ignored by the other methods.
    sample_rate : int
        Sample rate of the input waveforms.
    conv_init : str
        ``lowpass`` (default): the learned convolution starts as the windowed
        sinc low-pass of ``signal``, so a pre-trained encoder sees a sensible
        signal from the first step; ``random``: PyTorch's default init.

    Example
    -------
    >>> down = WaveformDownsampler("avg", 2, kernel_size=4)
    >>> wavs, lens = down(torch.rand(2, 16000), torch.tensor([1.0, 0.5]))
    >>> wavs.shape, lens.tolist(), down.output_sample_rate
    (torch.Size([2, 7999]), [1.0, 0.5], 8000.0)
    >>> WaveformDownsampler("signal", 3)(torch.rand(1, 16000), torch.ones(1))[0].shape
    torch.Size([1, 5334])
    """

    def __init__(
        self, method, factor, kernel_size=None, sample_rate=16000, conv_init="lowpass"
    ):
        super().__init__()
        if method not in DOWNSAMPLING_METHODS:
            raise ValueError(
                f"downsampling_method={method!r} is not known; choose one of "
                f"{', '.join(DOWNSAMPLING_METHODS)}"
            )
        self.method = method
        self.factor = 1 if method == "none" else check_factor(factor)
        self.sample_rate = sample_rate
        self.kernel_size = default_kernel_size(method, self.factor)
        if kernel_size is not None and self.kernel_size is not None:
            valid = isinstance(kernel_size, int) and not isinstance(kernel_size, bool)
            if not valid or kernel_size < 1:
                raise ValueError(
                    f"downsampling_kernel={kernel_size!r} must be an integer >= 1"
                )
            self.kernel_size = kernel_size
        self.layer = self._build_layer(conv_init)

    def _build_layer(self, conv_init):
        """The learned convolution, the pooling, or ``None``."""
        if self.method == "avg":
            return torch.nn.AvgPool1d(self.kernel_size, stride=self.factor)
        if self.method != "conv":
            return None
        conv = torch.nn.Conv1d(1, 1, self.kernel_size, stride=self.factor)
        if conv_init == "lowpass":
            with torch.no_grad():
                conv.weight.copy_(
                    lowpass_kernel(self.kernel_size, self.factor).view(1, 1, -1)
                )
                conv.bias.zero_()
        elif conv_init != "random":
            raise ValueError(f"conv_init={conv_init!r}: choose lowpass or random")
        return conv

    @property
    def output_sample_rate(self):
        """Samples per second of the output (``sample_rate / factor``)."""
        return self.sample_rate / self.factor

    def check_kernel_fits(self, wavs, rel_lens):
        """Raise a clear error when the kernel is longer than an utterance."""
        lengths = torch.round(rel_lens * wavs.shape[1])
        shortest = int(torch.argmin(lengths))
        samples = int(lengths[shortest])
        if self.kernel_size is not None and self.kernel_size > samples:
            raise ValueError(
                f"downsampling_kernel={self.kernel_size} is longer than utterance "
                f"{shortest} of the batch ({samples} samples, "
                f"{samples / self.sample_rate:.4f} s): lower downsampling_kernel or "
                "raise min_duration"
            )

    def forward(self, wavs, rel_lens):
        """``(downsampled wavs [B, samples'], relative lengths unchanged)``."""
        if self.method == "none" or (self.method == "signal" and self.factor == 1):
            return wavs, rel_lens
        self.check_kernel_fits(wavs, rel_lens)
        if self.method == "signal":
            return torchaudio.functional.resample(wavs, self.factor, 1), rel_lens
        return self.layer(wavs.unsqueeze(1)).squeeze(1), rel_lens


class DownsampledFrontend(torch.nn.Module):
    """A downsampler followed by any front-end taking ``(wavs, rel_lens)``.

    Arguments
    ---------
    downsampler : WaveformDownsampler
        Applied to the waveforms first.
    frontend : torch.nn.Module
        E.g. :class:`modules.ssl_encoder.SSLFrontend` or
        :class:`modules.frontend.FeatureFrontend`.

    Example
    -------
    >>> frontend = DownsampledFrontend(
    ...     WaveformDownsampler("avg", 2), lambda wavs, lens: wavs.unsqueeze(-1)
    ... )
    >>> frontend(torch.rand(2, 100), torch.ones(2)).shape
    torch.Size([2, 45, 1])
    """

    def __init__(self, downsampler, frontend):
        super().__init__()
        self.downsampler = downsampler
        self.frontend = frontend

    def forward(self, wavs, rel_lens):
        """The front-end's output for the downsampled waveforms."""
        return self.frontend(*self.downsampler(wavs, rel_lens))


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
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(
                f"ctc_upsampling factor={factor!r} must be an integer >= 1"
            )
        self.factor = factor
        self.vocab_size = vocab_size
        self.linear = torch.nn.Linear(input_size, factor * vocab_size)

    def forward(self, x):
        """Logits ``[B, factor * T, vocab_size]`` for ``x`` ``[B, T, input_size]``."""
        batch, frames, _ = x.shape
        return self.linear(x).reshape(batch, frames * self.factor, self.vocab_size)


def ctc_min_frames(targets, target_lens):
    """Frames CTC needs per utterance: labels plus repeated consecutive labels.

    A blank must separate two equal consecutive labels, hence the repeats.

    Example
    -------
    >>> ctc_min_frames(torch.tensor([[1, 1, 2, 0], [3, 4, 4, 4]]), [3, 4])
    [4, 6]
    """
    needed = []
    for row, length in zip(targets, target_lens):
        labels = row[: int(length)]
        repeats = int((labels[1:] == labels[:-1]).sum()) if len(labels) > 1 else 0
        needed.append(int(length) + repeats)
    return needed


def check_ctc_feasible(frame_lens, target_lens, ids, targets=None):
    """Raise a clear error when an utterance has too few frames for CTC.

    Arguments
    ---------
    frame_lens : sequence of int or torch.Tensor
        Output frames per utterance (``round(rel_lens * T)``, times the
        upsampling factor with :class:`UpsampledCTCHead`).
    target_lens : sequence of int or torch.Tensor
        Labels per utterance.
    ids : sequence of str
        Utterance ids, named in the error.
    targets : torch.Tensor, optional
        Padded labels ``[B, U]``; repeated consecutive labels then count too
        (without them only the number of labels is checked).

    Example
    -------
    >>> check_ctc_feasible([5, 9], [5, 3], ["a", "b"])
    >>> targets = torch.tensor([[1, 1, 2], [1, 2, 3]])
    >>> check_ctc_feasible([3, 3], [3, 3], ["a", "b"], targets)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: CTC is infeasible for utterance a: 3 output frames, 4 needed (1 in...
    """
    if targets is None:
        needed = [int(n) for n in target_lens]
    else:
        needed = ctc_min_frames(targets, target_lens)
    short = [
        f"{uid}: {int(frames)} output frames, {need} needed"
        for uid, frames, need in zip(ids, frame_lens, needed)
        if int(frames) < need
    ]
    if short:
        raise ValueError(
            f"CTC is infeasible for utterance {'; '.join(short[:5])} "
            f"({len(short)} in the batch; CTC needs a frame per label plus one per "
            "repeated label). Use the CTC upsampling head (UpsampledCTCHead) or a "
            "lower downsampling_factor"
        )
