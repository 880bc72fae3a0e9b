"""Where a model's output frames sit in the waveform, and the window plan.

A CTC model of the toolkit turns ``n`` samples into
``frames_per_step * (floor((n - receptive_field) / stride) + 1)`` output
frames: ``stride`` samples per encoder frame (feature hop x subsampling x
waveform downsampling, or the SSL CNN's strides), ``receptive_field`` the
fewest samples that give one frame, and ``frames_per_step`` the CTC
upsampling factor of its heads. :func:`measure_frame_geometry` reads these
off the model's own front-end (a few forward passes of short noise), so every
front-end of the toolkit is covered without a table of module types, and
checks that the frame count really follows that law.

A window that starts at a multiple of ``stride`` gives frames that sit
exactly on the recording's frame grid: its frame ``j`` is the recording's
frame ``start / stride * frames_per_step + j``. :func:`plan_windows` turns the
window and hop in seconds into such sample counts, refusing values off the
grid with an error naming the key.
"""

from dataclasses import dataclass

import torch

from modules.nn.heads import UpsampledCTCHead

SAMPLE_RATE = 16000
LONGEST_PROBE_SECONDS = 60


@dataclass(frozen=True)
class FrameGeometry:
    """How samples map to a model's output frames.

    Attributes
    ----------
    stride : int
        Samples per encoder frame.
    receptive_field : int
        Fewest samples that give one encoder frame.
    frames_per_step : int
        Output frames per encoder frame (CTC upsampling heads).
    sample_rate : int
        Sample rate of the model's input.

    Example
    -------
    >>> geometry = FrameGeometry(stride=640, receptive_field=480)
    >>> geometry.output_frames(32000), geometry.output_frames(479)
    (50, 0)
    >>> geometry.seconds(geometry.stride)
    0.04
    """

    stride: int
    receptive_field: int
    frames_per_step: int = 1
    sample_rate: int = SAMPLE_RATE

    def output_frames(self, num_samples):
        """Output frames the model gives for ``num_samples`` samples."""
        if num_samples < self.receptive_field:
            return 0
        steps = (num_samples - self.receptive_field) // self.stride + 1
        return steps * self.frames_per_step

    def first_frame(self, start_sample):
        """Recording frame of the first output frame of a window at
        ``start_sample`` (a multiple of ``stride``)."""
        return start_sample // self.stride * self.frames_per_step

    def seconds(self, num_samples):
        """``num_samples`` in seconds."""
        return num_samples / self.sample_rate


def upsampling_factor(model):
    """Output frames per encoder frame of ``model``'s CTC heads (1 without
    :class:`~modules.nn.heads.UpsampledCTCHead`).

    Example
    -------
    >>> upsampling_factor(torch.nn.Sequential(UpsampledCTCHead(4, 3, factor=3)))
    3
    >>> upsampling_factor(torch.nn.Linear(4, 3))
    1
    """
    factors = {m.factor for m in model.modules() if isinstance(m, UpsampledCTCHead)}
    if len(factors) > 1:
        raise ValueError(f"the model's CTC heads upsample differently: {factors}")
    return factors.pop() if factors else 1


def probe_frames(frontend, num_samples):
    """Encoder frames ``frontend`` gives for ``num_samples`` samples of
    noise (0 when the input is too short for it to run)."""
    if num_samples < 1:
        return 0
    noise = torch.randn(1, num_samples, generator=torch.Generator().manual_seed(0))
    device = next(frontend.parameters(), torch.zeros(0)).device
    try:
        with torch.inference_mode():
            return int(
                frontend(noise.to(device), torch.ones(1, device=device)).shape[1]
            )
    except (RuntimeError, ValueError):
        return 0


def fewest_samples(frontend, frames, high):
    """Smallest ``n <= high`` with at least ``frames`` frames (binary search)."""
    low = 1
    while low < high:
        middle = (low + high) // 2
        if probe_frames(frontend, middle) >= frames:
            high = middle
        else:
            low = middle + 1
    return high


def measure_frame_geometry(model, sample_rate=SAMPLE_RATE):
    """Stride and receptive field of ``model``'s front-end, in samples.

    Arguments
    ---------
    model : modules.models.early_exit.EarlyExitCTC
        Any CTC model of the toolkit (its ``frontend`` maps ``(wavs,
        rel_lens)`` to encoder frames). The front-end is probed in eval mode
        (no running statistics move, no augmentation runs), then put back in
        the mode it was in.
    sample_rate : int
        Sample rate of the model's input.

    Returns
    -------
    FrameGeometry

    Example
    -------
    >>> class Stacking(torch.nn.Module):  # 25 frames per second, 640 samples
    ...     def forward(self, wavs, lens):
    ...         return wavs[:, : wavs.shape[1] // 640 * 640].reshape(1, -1, 640)
    >>> model = torch.nn.Module()
    >>> model.frontend = Stacking()
    >>> measure_frame_geometry(model)
    FrameGeometry(stride=640, receptive_field=640, frames_per_step=1, sample_rate=16000)
    """
    frontend = model.frontend
    was_training = frontend.training
    frontend.eval()
    try:
        stride, receptive_field = stride_and_receptive_field(frontend, sample_rate)
    finally:
        frontend.train(was_training)
    return FrameGeometry(stride, receptive_field, upsampling_factor(model), sample_rate)


def stride_and_receptive_field(frontend, sample_rate):
    """``(stride, receptive field)`` of ``frontend`` in samples, checked to
    hold past the first frames."""
    longest = LONGEST_PROBE_SECONDS * sample_rate
    high = sample_rate
    while probe_frames(frontend, high) < 2 and high < longest:
        high *= 2
    if probe_frames(frontend, high) < 2:
        raise ValueError(
            f"the model's front-end gives fewer than 2 frames for "
            f"{LONGEST_PROBE_SECONDS} s of audio: it cannot be run in windows"
        )
    receptive_field = fewest_samples(frontend, 1, high)
    stride = fewest_samples(frontend, 2, high) - receptive_field
    for steps in (3, 10):
        edge = receptive_field + steps * stride
        if (probe_frames(frontend, edge), probe_frames(frontend, edge - 1)) != (
            steps + 1,
            steps,
        ):
            raise ValueError(
                "the model's front-end does not give one frame every "
                f"{stride} samples past its first {receptive_field}: its frames "
                "cannot be placed on a regular grid for windowed inference"
            )
    return stride, receptive_field


@dataclass(frozen=True)
class WindowPlan:
    """Window and hop in samples, on the model's frame grid.

    Attributes
    ----------
    geometry : FrameGeometry
        The model's frame geometry.
    window : int
        Samples whose frames a window contributes (a multiple of the stride).
    hop : int
        Samples between window starts (a multiple of the stride).

    The audio read for a window is :attr:`read_length` samples: ``window``
    plus what the receptive field needs beyond one stride, so that a window
    gives exactly ``window / stride`` encoder frames.

    Example
    -------
    >>> plan = WindowPlan(FrameGeometry(320, 400), window=32000, hop=4000)
    >>> plan.read_length, plan.geometry.output_frames(plan.read_length)
    (32080, 100)
    """

    geometry: FrameGeometry
    window: int
    hop: int

    @property
    def read_length(self):
        """Samples of audio read for one full window."""
        extra = max(0, self.geometry.receptive_field - self.geometry.stride)
        return self.window + extra

    @property
    def window_frames(self):
        """Output frames of one full window."""
        return self.window // self.geometry.stride * self.geometry.frames_per_step

    def starts(self, num_samples):
        """Start sample of every window of a ``num_samples`` recording: one
        every ``hop``, the last one the first whose audio reaches the end (a
        window too short to give a frame is left out: the one before it
        already gave every frame of the recording).

        Example
        -------
        >>> plan = WindowPlan(FrameGeometry(10, 10), window=40, hop=20)
        >>> plan.starts(100), plan.starts(40), plan.starts(105)
        ([0, 20, 40, 60], [0], [0, 20, 40, 60, 80])
        """
        starts = [0]
        while starts[-1] + self.read_length < num_samples:
            starts.append(starts[-1] + self.hop)
        if len(starts) > 1 and num_samples - starts[-1] < self.geometry.receptive_field:
            starts.pop()
        return starts


def on_grid(key, seconds, geometry):
    """``seconds`` as a sample count that is a positive multiple of the
    stride, or a ``ValueError`` naming ``key`` and the nearest valid values."""
    stride = geometry.stride
    samples = seconds * geometry.sample_rate
    steps = round(samples / stride)
    if seconds <= 0 or abs(samples - steps * stride) > 1e-6 * geometry.sample_rate:
        below = max(1, int(samples // stride)) * stride
        raise ValueError(
            f"{key}={seconds} s is not a positive multiple of the model's frame "
            f"stride ({geometry.seconds(stride)} s = {stride} samples): use e.g. "
            f"{key}={geometry.seconds(below):g} or "
            f"{key}={geometry.seconds(below + stride):g}"
        )
    return steps * stride


def plan_windows(geometry, window, hop=None, hop_fraction=0.125):
    """Check ``window`` and ``hop`` (seconds) against ``geometry``.

    Arguments
    ---------
    geometry : FrameGeometry
        From :func:`measure_frame_geometry`.
    window : float
        Window length in seconds (YAML key / option ``window``).
    hop : float, optional
        Seconds between window starts (``hop``); ``None``: ``window *
        hop_fraction`` rounded down to the frame stride.
    hop_fraction : float
        The default hop as a fraction of the window.

    Returns
    -------
    WindowPlan

    Example
    -------
    >>> geometry = FrameGeometry(stride=640, receptive_field=480)
    >>> plan = plan_windows(geometry, 20)
    >>> plan.window, plan.hop, plan.hop / 16000
    (320000, 39680, 2.48)
    >>> plan_windows(geometry, 20, hop=2.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: hop=2.5 s is not a positive multiple of ... hop=2.48 or hop=2.52
    """
    window_samples = on_grid("window", window, geometry)
    if window_samples < geometry.receptive_field:
        raise ValueError(
            f"window={window} s is shorter than the model's receptive field "
            f"({geometry.seconds(geometry.receptive_field)} s): use a longer window"
        )
    if hop is None:
        steps = max(1, int(window_samples * hop_fraction) // geometry.stride)
        return WindowPlan(geometry, window_samples, steps * geometry.stride)
    hop_samples = on_grid("hop", hop, geometry)
    if hop_samples > window_samples:
        raise ValueError(
            f"hop={hop} s is larger than window={window} s: frames between "
            "windows would get no posterior; use a hop of at most the window"
        )
    return WindowPlan(geometry, window_samples, hop_samples)
