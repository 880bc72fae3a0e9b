"""Typed rows of the ``policies`` entry of ``results.json``.

:func:`benchmark.policy_sweep.sweep_policies` builds one
:class:`PolicyPointResult` per ``(policy, threshold)`` and the reference exit's
:class:`ReferenceResult`; :func:`benchmark.policy_stage.benchmark_policies`
adds their timing (:class:`PointTiming`) and, with
:func:`benchmark.policy_sweep.mark_results`, their savings
(:class:`RelativeChange`) and Pareto flags; :class:`PolicySweepResult` holds
the whole entry. ``to_json`` gives the dicts written to ``results.json``.

Example
-------
>>> dev = SplitMeasurement(20.0, 1.0, 2.0, {1: 3}, 30, 15.0, 10.0, 5.0)
>>> row = PolicyPointResult("entropy", 0.5, "entropy@0.5", dev, chosen=False)
>>> list(row.to_json())
['policy', 'threshold', 'name', 'dev', 'chosen']
>>> test = dev.with_timing(PointTiming())
>>> marked = PolicyPointResult("entropy", 0.5, "entropy@0.5", dev, True, True, test)
>>> list(marked.to_json())
['policy', 'threshold', 'name', 'dev', 'chosen', 'meets_tolerance', 'test']
>>> list(marked.to_json()["test"])[-5:]
['devices', 'lm_weights', 'wer_lm', 'cpu_s', 'gpu_s']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from benchmark.results import DEVICE_KEYS, VariantResult


@dataclass(frozen=True)
class PointTiming:
    """What the timed passes of a policy point (or of the reference exit) measured.

    Attributes
    ----------
    devices : dict, optional
        Device name -> :class:`benchmark.results.DeviceTiming` (None: not
        timed).
    lm_weights : dict, optional
        LM weights of the LM passes (None: no LM passes).
    wer_lm : float, optional
        WER of the first LM pass.
    cpu_s, gpu_s : float, optional
        Median time of a greedy pass over the test set (network +
        decoding), None when not timed on that device.

    Example
    -------
    >>> PointTiming().to_json()
    {'devices': None, 'lm_weights': None, 'wer_lm': None, 'cpu_s': None, 'gpu_s': None}
    """

    devices: dict | None = None
    lm_weights: dict | None = None
    wer_lm: float | None = None
    cpu_s: float | None = None
    gpu_s: float | None = None

    @classmethod
    def measured(cls, devices: dict, lm_weights, wer_lm) -> PointTiming:
        """The timing of ``devices`` (device -> :class:`benchmark.results.
        DeviceTiming`), with ``cpu_s`` and ``gpu_s`` read from them."""
        seconds = {
            f"{prefix}_s": devices[device].median_greedy_s()
            if device in devices
            else None
            for device, prefix in DEVICE_KEYS.items()
        }
        return cls(devices, lm_weights, wer_lm, **seconds)

    @classmethod
    def of_variant(cls, row: VariantResult) -> PointTiming:
        """The timing of a benchmarked variant."""
        return cls.measured(row.devices, row.lm_weights, row.wer_lm)

    def to_json(self) -> dict:
        """The timing keys of a ``results.json`` test measurement."""
        devices = self.devices
        if devices is not None:
            devices = {device: timing.to_json() for device, timing in devices.items()}
        return {
            "devices": devices,
            "lm_weights": self.lm_weights,
            "wer_lm": self.wer_lm,
            "cpu_s": self.cpu_s,
            "gpu_s": self.gpu_s,
        }


@dataclass(frozen=True)
class SplitMeasurement:
    """Greedy WER, exits and MACs of one pass over a split, and its timing.

    Attributes
    ----------
    wer : float
        Greedy WER.
    mean_exit, mean_layers : float
        Mean exit and mean number of layers run.
    exit_counts : dict
        Exit -> utterances that took it.
    macs_total, macs_per_batch, macs_per_audio_second : float
        MACs counted on the pass.
    encoder_macs_per_audio_second : float
        MACs of the encoder layers alone.
    timing : PointTiming, optional
        Timed passes (test set only; None on dev).

    Example
    -------
    >>> dev = SplitMeasurement(20.0, 1.0, 2.0, {1: 3}, 30, 15.0, 10.0, 5.0)
    >>> dev.cpu_s is None, list(dev.to_json())[:3]
    (True, ['wer', 'mean_exit', 'mean_layers'])
    """

    wer: float
    mean_exit: float
    mean_layers: float
    exit_counts: dict
    macs_total: float
    macs_per_batch: float
    macs_per_audio_second: float
    encoder_macs_per_audio_second: float
    timing: PointTiming | None = None

    @property
    def cpu_s(self) -> float | None:
        """Median CPU time of a greedy pass (None: not timed)."""
        return self.timing.cpu_s if self.timing is not None else None

    @property
    def gpu_s(self) -> float | None:
        """Median GPU time of a greedy pass (None: not timed)."""
        return self.timing.gpu_s if self.timing is not None else None

    @property
    def wer_lm(self) -> float | None:
        """WER of the first LM pass (None: no LM pass)."""
        return self.timing.wer_lm if self.timing is not None else None

    def with_timing(self, timing: PointTiming) -> SplitMeasurement:
        """This measurement with ``timing``."""
        return replace(self, timing=timing)

    def to_json(self) -> dict:
        """The ``results.json`` entry: the measurement, then the timing keys
        when timed."""
        data = {f.name: getattr(self, f.name) for f in fields(self)[:-1]}
        if self.timing is not None:
            data.update(self.timing.to_json())
        return data


@dataclass(frozen=True)
class RelativeChange:
    """Savings and WER changes of a point relative to the reference exit, in
    %.

    Attributes
    ----------
    mac_saving_pct, encoder_mac_saving_pct : float, optional
        MACs (all, encoder layers) saved.
    time_saving_pct, gpu_time_saving_pct : float, optional
        CPU and GPU time saved: ``100 * (1 - median ratio)`` of the paired
        timing (None: not timed).
    wer_change_pct, wer_lm_change_pct : float, optional
        Relative WER changes (None: unknown).
    """

    mac_saving_pct: float | None
    encoder_mac_saving_pct: float | None
    time_saving_pct: float | None
    gpu_time_saving_pct: float | None
    wer_change_pct: float | None
    wer_lm_change_pct: float | None


@dataclass(frozen=True)
class PolicyPointResult:
    """One ``(policy, threshold)``: dev and test measurements, choice, marks.

    Attributes
    ----------
    policy : str
        Policy name.
    threshold : float
        Its threshold.
    name : str
        Its variant's name.
    dev : SplitMeasurement
        Measured on the dev set.
    chosen : bool
        Whether it is its policy's operating point, chosen on dev.
    meets_tolerance : bool, optional
        Chosen points: whether it met the WER tolerance (None otherwise).
    test : SplitMeasurement, optional
        Measured on the test set.
    relative : RelativeChange, optional
        Set by :func:`benchmark.policy_sweep.mark_results`.
    pareto : bool, optional
        On the test Pareto front; set by ``mark_results``.
    time_ratios : dict, optional
        Timed points: device -> :func:`benchmark.timing.summarize` of the
        per-round ratios of its greedy pass time to the reference's, timed
        alternately (:mod:`benchmark.paired_timing`); the time savings use
        their median.
    """

    policy: str
    threshold: float
    name: str
    dev: SplitMeasurement
    chosen: bool
    meets_tolerance: bool | None = None
    test: SplitMeasurement | None = None
    relative: RelativeChange | None = None
    pareto: bool | None = None
    time_ratios: dict | None = None

    def to_json(self) -> dict:
        """The ``results.json`` row; the keys still None are left out."""
        data = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                data[field.name] = value
        for name in ("dev", "test"):
            if name in data:
                data[name] = data[name].to_json()
        if self.relative is not None:
            data["relative"] = asdict(self.relative)
        return data


@dataclass(frozen=True)
class ReferenceResult:
    """The reference exit, static (the deepest trained one): the reference
    of the policies.

    Attributes
    ----------
    name : str
        Its variant's name.
    layer : int
        Layers it runs.
    dev, test : SplitMeasurement
        Its measurements (``test`` with the timing of its benchmarked row).
    """

    name: str
    layer: int
    dev: SplitMeasurement
    test: SplitMeasurement

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return {
            "name": self.name,
            "layer": self.layer,
            "dev": self.dev.to_json(),
            "test": self.test.to_json(),
        }


@dataclass(frozen=True)
class StaticPoint:
    """A benchmarked static exit as a point of the WER / MACs plane.

    Example
    -------
    >>> StaticPoint("exit1", 2, 30.0, 1e9, pareto=True).to_json()["pareto"]
    True
    """

    name: str
    layer: int | None
    wer: float
    macs_per_audio_second: float
    pareto: bool | None = None

    @classmethod
    def of_variant(cls, row: VariantResult) -> StaticPoint:
        """The point of a benchmarked variant (not yet marked)."""
        return cls(row.name, row.layer, row.wer, row.macs_per_audio_second)

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return asdict(self)


@dataclass(frozen=True)
class PolicySweepResult:
    """The ``policies`` entry of ``results.json``.

    Attributes
    ----------
    dev_set : str
        The split the thresholds were chosen on.
    dev_utts : int
        Its number of utterances.
    reference : ReferenceResult
        The reference exit.
    rows : list of PolicyPointResult
        One per point, in grid order.
    static : list of StaticPoint
        The static exits, marked.
    """

    dev_set: str
    dev_utts: int
    reference: ReferenceResult
    rows: list
    static: list

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return {
            "dev_set": self.dev_set,
            "dev_utts": self.dev_utts,
            "reference": self.reference.to_json(),
            "rows": [row.to_json() for row in self.rows],
            "static": [point.to_json() for point in self.static],
        }
