"""From waveforms to the frames an encoder reads.

The chain is assembled in the YAML from SpeechBrain lobes; this module only
gives it one forward so that a whole model (front-end + encoder + exits) is a
single ``torch.nn.Module`` that training, evaluation and the benchmark share.
"""

import torch


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
        feats = self.features(wavs)
        feats = self.normalizer(feats, rel_lens)
        if self.training and self.augmenter is not None:
            feats, _ = self.augmenter(feats, rel_lens)
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
