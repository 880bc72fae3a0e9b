"""Waveform downsampling before the encoder, and the CTC side of its cost.

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
  frame rate by f (:func:`downsampled_fbank` does both);
- ``conv``: a learned ``Conv1d`` (1 -> 1 channel, stride f, no padding);
- ``avg``: average pooling (stride f, no padding);
- ``none`` (or ``null``): the waveform as it is.

``conv`` and ``avg`` also output ``16000 / f`` values per second of audio
(an SSL model's CNN reads them as if they were 16 kHz audio and simply yields
fewer frames; :func:`downsampled_fbank` treats them, like ``signal``, as audio
at ``16000 / f`` Hz). Relative lengths (SpeechBrain's convention) stay valid
up to a sample of rounding, so they are returned unchanged.

At f >= 3 there can be fewer frames than CTC needs for an utterance's labels
(character targets especially): :func:`check_ctc_feasible` says so by utterance
instead of a silently zeroed or NaN loss, and :class:`UpsampledCTCHead` predicts
several frames per encoder frame (YAML key ``ctc_upsampling``, see
:func:`ctc_head`).
"""

import torch
import torchaudio
from speechbrain.lobes.features import Fbank

from modules.nn.frontend import FeatureFrontend

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


def downsampled_fbank(downsampler, hop_length=10, win_length=25, **fbank_options):
    """SpeechBrain ``Fbank`` reading the output of ``downsampler``.

    Its sample rate is the downsampled rate and its hop and window (in ms)
    are multiplied by the factor, so that they still span 160 and 400 samples
    of the output: the frame rate is divided by the factor (100/f frames per
    second for the default 10 ms hop) and the FFT size is unchanged.

    Arguments
    ---------
    downsampler : WaveformDownsampler
        The downsampler in front of the filterbank (``none``: a plain Fbank).
    hop_length, win_length : float
        Hop and window in ms at the original rate.
    **fbank_options
        Other ``speechbrain.lobes.features.Fbank`` arguments (``n_mels``...).

    Example
    -------
    >>> down = WaveformDownsampler("avg", 3)
    >>> fbank = downsampled_fbank(down, n_mels=40)
    >>> fbank(down(torch.rand(1, 16000), torch.ones(1))[0]).shape
    torch.Size([1, 34, 40])
    """
    return Fbank(
        sample_rate=downsampler.output_sample_rate,
        hop_length=hop_length * downsampler.factor,
        win_length=win_length * downsampler.factor,
        **fbank_options,
    )


class DownsampledFrontend(torch.nn.Module):
    """A downsampler followed by any front-end taking ``(wavs, rel_lens)``.

    Arguments
    ---------
    downsampler : WaveformDownsampler
        Applied to the waveforms first.
    frontend : torch.nn.Module
        E.g. :class:`modules.nn.ssl.SSLFrontend` or
        :class:`modules.nn.frontend.FeatureFrontend`.

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


class DownsampledFeatureFrontend(FeatureFrontend):
    """:class:`modules.nn.frontend.FeatureFrontend` after a waveform downsampler.

    Unlike wrapping the front-end in :class:`DownsampledFrontend`, this keeps
    the front-end's parameter names, so that checkpoints of models without
    downsampling (``none`` adds no parameter) load into it and back.

    Arguments
    ---------
    downsampler : WaveformDownsampler
        Applied to the waveforms first; build ``features`` with
        :func:`downsampled_fbank` so that the frame rate drops with it.
    **frontend_options
        Arguments of :class:`modules.nn.frontend.FeatureFrontend`.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> down = WaveformDownsampler("signal", 2)
    >>> frontend = DownsampledFeatureFrontend(
    ...     down,
    ...     features=downsampled_fbank(down, n_mels=8),
    ...     normalizer=InputNormalization(norm_type="sentence"),
    ...     subsampler=torch.nn.Identity(),
    ... )
    >>> frontend(torch.rand(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 51, 8])
    """

    def __init__(self, downsampler, **frontend_options):
        super().__init__(**frontend_options)
        self.downsampler = downsampler

    def forward(self, wavs, rel_lens):
        """Encoder input frames ``[B, T', D]`` of the downsampled waveforms."""
        return super().forward(*self.downsampler(wavs, rel_lens))


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
            "repeated label). Set ctc_upsampling: True (or a larger integer) for "
            "the CTC upsampling head (UpsampledCTCHead), or lower "
            "downsampling_factor"
        )


def check_ctc_batch(log_probs, rel_lens, tokens, token_rel_lens, ids):
    """:func:`check_ctc_feasible` for one training batch of the recipes.

    Arguments
    ---------
    log_probs : torch.Tensor
        One exit's output ``[B, T, V]`` (every exit has the same ``T``).
    rel_lens : torch.Tensor
        Relative lengths of the utterances ``[B]``.
    tokens : torch.Tensor
        Padded targets ``[B, U]``.
    token_rel_lens : torch.Tensor
        Relative target lengths ``[B]``.
    ids : sequence of str
        Utterance ids.

    Example
    -------
    >>> tokens = torch.tensor([[5, 6, 7], [5, 5, 0]])
    >>> lens = torch.tensor([1.0, 2 / 3])
    >>> check_ctc_batch(torch.zeros(2, 4, 9), torch.ones(2), tokens, lens, ["a", "b"])
    >>> check_ctc_batch(
    ...     torch.zeros(2, 2, 9), torch.ones(2), tokens, lens, ["a", "b"]
    ... )  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: CTC is infeasible for utterance a: 2 output frames, 3 needed; b: ...
    """
    frames = torch.round(rel_lens * log_probs.shape[1]).long().tolist()
    labels = torch.round(token_rel_lens * tokens.shape[1]).long().cpu()
    check_ctc_feasible(frames, labels.tolist(), ids, tokens.cpu())
