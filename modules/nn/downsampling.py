"""Waveform downsampling before the encoder.

Dividing the waveform's length by ``f`` divides the frame rate of either
encoder family by ``f`` (an SSL model's 50 Hz becomes 50/f Hz; a filterbank
front-end's 100 Hz becomes 100/f Hz), and with it the encoder's cost.
Three ways (Zaiem et al., arXiv 2303.06740), chosen by the YAML key
``downsampling_method``:

- ``signal``: resample 16 kHz -> 16000/f Hz (windowed-sinc low-pass, as
  ``torchaudio.functional.resample``). The result *is* audio at the lower rate:
  a filterbank front-end must be told (``sample_rate: 16000 / f`` for
  ``Fbank``), whereas an SSL model reads it as if it were 16 kHz audio.
  ``Fbank``'s window and hop are in milliseconds: at the new rate its default
  10 ms hop still gives 100 frames per second (no saving); ``hop_length:
  10 * f`` keeps the hop at 160 samples of the original rate and divides the
  frame rate by f (:func:`modules.nn.frontend.downsampled_fbank` does both);
- ``conv``: a learned ``Conv1d`` (1 -> 1 channel, stride f, no padding);
- ``avg``: average pooling (stride f, no padding);
- ``none`` (or ``null``): the waveform as it is.

``conv`` and ``avg`` also output ``16000 / f`` values per second of audio
(an SSL model's CNN reads them as if they were 16 kHz audio and simply yields
fewer frames; :func:`modules.nn.frontend.downsampled_fbank` treats them, like
``signal``, as audio at ``16000 / f`` Hz). Relative lengths (SpeechBrain's
convention) stay valid up to a sample of rounding, so they are returned
unchanged.

At f >= 3 there can be fewer frames than CTC needs for an utterance's labels
(character targets especially): :mod:`modules.losses.ctc_feasibility` says so
by utterance instead of a silently zeroed or NaN loss, and
:class:`modules.nn.heads.UpsampledCTCHead` predicts several frames per encoder
frame (YAML key ``ctc_upsampling``).
"""

import torch
import torchaudio

from modules.nn.lengths import absolute_lengths

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
    method : str or None
        ``none`` (or ``None``), ``signal``, ``conv`` or ``avg`` (YAML key
        ``downsampling_method``; see the module documentation).
    factor : int
        Downsampling factor, any integer >= 1 (``downsampling_factor``);
        must be 1 with ``none``.
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

    SpeechBrain's ``speechbrain.lobes.downsampling`` is not used. Measured on
    the same batch at factors 2, 3 and 4 with these kernels, its
    ``PoolingDownsampler`` and (given the same weights) ``Conv1DDownsampler``
    give identical outputs, but ``SignalDownsampler`` resamples to
    ``int(16000 / 3)`` = 5333 Hz at factor 3 (5333 samples from 1 s instead
    of 5334, values off by up to 1.1), ``Conv1DDownsampler`` starts from
    PyTorch's random init under other parameter names (``downsampler.conv.*``),
    and none of them takes relative lengths or checks that the kernel fits the
    shortest utterance.

    Example
    -------
    >>> down = WaveformDownsampler("avg", 2, kernel_size=4)
    >>> wavs, lens = down(torch.rand(2, 16000), torch.tensor([1.0, 0.5]))
    >>> wavs.shape, lens.tolist(), down.output_sample_rate
    (torch.Size([2, 7999]), [1.0, 0.5], 8000.0)
    >>> WaveformDownsampler("signal", 3)(torch.rand(1, 16000), torch.ones(1))[0].shape
    torch.Size([1, 5334])
    >>> WaveformDownsampler(None, 1).method
    'none'
    """

    def __init__(
        self, method, factor, kernel_size=None, sample_rate=16000, conv_init="lowpass"
    ):
        super().__init__()
        self.method = "none" if method is None else method
        if self.method not in DOWNSAMPLING_METHODS:
            raise ValueError(
                f"downsampling_method={method!r} is not known; choose one of "
                f"{', '.join(DOWNSAMPLING_METHODS)} (or null)"
            )
        self.factor = check_factor(factor)
        if self.method == "none" and self.factor != 1:
            raise ValueError(
                f"downsampling_factor={factor!r} has no effect with "
                f"downsampling_method: {method}; choose signal, conv or avg, or "
                "set downsampling_factor: 1"
            )
        self.sample_rate = sample_rate
        self.kernel_size = default_kernel_size(self.method, self.factor)
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
        lengths = absolute_lengths(rel_lens, wavs.shape[1])
        shortest = int(torch.argmin(lengths))
        samples = int(lengths[shortest])
        if self.kernel_size is not None and self.kernel_size > samples:
            raise ValueError(
                f"downsampling_kernel={self.kernel_size} is longer than utterance "
                f"{shortest} of the batch ({samples} samples, "
                f"{samples / self.sample_rate:.4f} s): lower downsampling_kernel or "
                "raise min_duration"
            )

    def check_min_duration(self, min_duration):
        """Start-up check: the kernel fits utterances of ``min_duration`` s.

        Example
        -------
        >>> WaveformDownsampler("conv", 4).check_min_duration(0.5)
        >>> down = WaveformDownsampler("avg", 2, kernel_size=9000)
        >>> down.check_min_duration(0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: downsampling_kernel=9000 samples is longer than the shortest...
        """
        if self.kernel_size is None or min_duration is None:
            return
        samples = int(min_duration * self.sample_rate)
        if self.kernel_size > samples:
            raise ValueError(
                f"downsampling_kernel={self.kernel_size} samples is longer than "
                f"the shortest utterances allowed (min_duration={min_duration} s "
                f"= {samples} samples); lower downsampling_kernel or raise "
                "min_duration"
            )

    def forward(self, wavs, rel_lens):
        """``(downsampled wavs [B, samples'], relative lengths unchanged)``."""
        if self.method == "none" or (self.method == "signal" and self.factor == 1):
            return wavs, rel_lens
        self.check_kernel_fits(wavs, rel_lens)
        if self.method == "signal":
            return torchaudio.functional.resample(wavs, self.factor, 1), rel_lens
        return self.layer(wavs.unsqueeze(1)).squeeze(1), rel_lens
