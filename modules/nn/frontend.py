"""From waveforms to the frames an encoder reads.

The chain is assembled in the YAML from SpeechBrain lobes; this module only
gives it one forward so that a whole model (front-end + encoder + exits) is a
single ``torch.nn.Module`` that training, evaluation and the benchmark share.
The downsampled variants put a
:class:`modules.nn.downsampling.WaveformDownsampler` first.
"""

import torch
from speechbrain.lobes.features import Fbank


class FeatureFrontend(torch.nn.Module):
    """Waveform -> features -> normalisation -> [SpecAugment] -> subsampling.

    Arguments
    ---------
    features : torch.nn.Module
        Feature extractor, e.g. ``speechbrain.lobes.features.Fbank``.
    normalizer : torch.nn.Module
        ``speechbrain.processing.features.InputNormalization`` (global or
        per-utterance statistics; relative lengths exclude the padding).
    subsampler : torch.nn.Module
        Convolutional subsampling, e.g.
        ``speechbrain.lobes.models.convolution.ConvolutionFrontEnd``, whose
        output ``[B, T', F', C]`` is flattened to ``[B, T', F' * C]``.
    projection : torch.nn.Module, optional
        Maps the flattened subsampled features to the encoder width (not
        needed when the subsampler already outputs that width).
    augmenter : torch.nn.Module, optional
        Feature augmentation applied in training mode only, e.g. SpeechBrain's
        ``Augmenter`` over time/frequency masking and time warping. It must
        keep the batch size (``concat_original: False``).

    Example
    -------
    >>> from speechbrain.lobes.features import Fbank
    >>> from speechbrain.lobes.models.convolution import ConvolutionFrontEnd
    >>> from speechbrain.processing.features import InputNormalization
    >>> frontend = FeatureFrontend(
    ...     Fbank(n_mels=40),
    ...     InputNormalization(norm_type="sentence"),
    ...     ConvolutionFrontEnd(
    ...         (1, 100, 40),
    ...         num_blocks=2,
    ...         num_layers_per_block=1,
    ...         out_channels=(8, 4),
    ...         kernel_sizes=(3, 3),
    ...         strides=(2, 2),
    ...         residuals=(False, False),
    ...     ),
    ...     torch.nn.Linear(40, 16),
    ... )
    >>> frontend(torch.rand(2, 16000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 26, 16])
    """

    def __init__(
        self, features, normalizer, subsampler, projection=None, augmenter=None
    ):
        super().__init__()
        self.features = features
        self.normalizer = normalizer
        self.subsampler = subsampler
        self.projection = projection or torch.nn.Identity()
        self.augmenter = augmenter

    def forward(self, wavs, rel_lens):
        """Encoder input frames ``[B, T', D]`` for waveforms ``[B, samples]``."""
        return self.frames(self.input_features(wavs, rel_lens))

    def input_features(self, wavs, rel_lens):
        """Normalised features ``[B, T, F]`` (SpecAugmented in training mode):
        what the subsampler reads."""
        feats = self.features(wavs)
        feats = self.normalizer(feats, rel_lens)
        if self.training and self.augmenter is not None:
            feats, _ = self.augmenter(feats, rel_lens)
        return feats

    def frames(self, feats):
        """Encoder input frames ``[B, T', D]`` for :meth:`input_features`."""
        frames = self.subsampler(feats)
        frames = frames.reshape(frames.shape[0], frames.shape[1], -1)
        return self.projection(frames)


def normalizers_to(module, device):
    """Move every ``InputNormalization`` inside ``module`` to ``device``.

    SpeechBrain keeps its running statistics outside ``state_dict``, so
    ``module.to(device)`` leaves them behind.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> model = torch.nn.Sequential(InputNormalization(norm_type="global"))
    >>> normalizers_to(model, "cpu")
    1
    """
    from speechbrain.processing.features import InputNormalization

    moved = 0
    for inner in module.modules():
        if isinstance(inner, InputNormalization):
            inner.to(device)
            moved += 1
    return moved


def downsampled_fbank(downsampler, hop_length=10, win_length=25, **fbank_options):
    """SpeechBrain ``Fbank`` reading the output of ``downsampler``.

    Its sample rate is the downsampled rate and its hop and window (in ms)
    are multiplied by the factor, so that they still span 160 and 400 samples
    of the output: the frame rate is divided by the factor (100/f frames per
    second for the default 10 ms hop) and the FFT size is unchanged.

    Arguments
    ---------
    downsampler : modules.nn.downsampling.WaveformDownsampler
        The downsampler in front of the filterbank (``none``: a plain Fbank).
    hop_length, win_length : float
        Hop and window in ms at the original rate.
    **fbank_options
        Other ``speechbrain.lobes.features.Fbank`` arguments (``n_mels``...).

    Example
    -------
    >>> from modules.nn.downsampling import WaveformDownsampler
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
    downsampler : modules.nn.downsampling.WaveformDownsampler
        Applied to the waveforms first.
    frontend : torch.nn.Module
        E.g. :class:`modules.nn.ssl.SSLFrontend` or
        :class:`FeatureFrontend`.

    Example
    -------
    >>> from modules.nn.downsampling import WaveformDownsampler
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
    """:class:`FeatureFrontend` after a waveform downsampler.

    Unlike wrapping the front-end in :class:`DownsampledFrontend`, this keeps
    the front-end's parameter names, so that checkpoints of models without
    downsampling (``none`` adds no parameter) load into it and back.

    Arguments
    ---------
    downsampler : modules.nn.downsampling.WaveformDownsampler
        Applied to the waveforms first; build ``features`` with
        :func:`downsampled_fbank` so that the frame rate drops with it.
    **frontend_options
        Arguments of :class:`FeatureFrontend`.

    Example
    -------
    >>> from speechbrain.processing.features import InputNormalization
    >>> from modules.nn.downsampling import WaveformDownsampler
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

    def input_features(self, wavs, rel_lens):
        """Normalised features ``[B, T, F]`` of the downsampled waveforms."""
        return super().input_features(*self.downsampler(wavs, rel_lens))
