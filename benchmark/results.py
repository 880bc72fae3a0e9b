"""Typed rows of ``results.json``: one :class:`VariantResult` per variant.

:func:`benchmark.variant_stage.benchmark_variant` builds the rows; the
reports read their fields; :func:`results_to_json` turns them into the
dicts written to ``results.json``, and :meth:`VariantResult.from_json` reads
them back (:mod:`benchmark.aggregate`), old files included: the keys added
to the format over time may be missing, a key that was always there may not.

Example
-------
>>> summary = {"total_s": {"median": 2.0}, "rtf": 0.5}
>>> row = VariantResult(
...     "exit1", 1, 2, 36, 8.0, 4.0, 16, 3.0, None,
...     {"cpu": DeviceTiming(summary, 12.5)}, None, 12.5, None, None,
... )
>>> data = row.to_json()
>>> list(data)[:4], "lm_weights" in data, data["devices"]["cpu"]["wer"]
(['name', 'exit', 'layer', 'params'], False, 12.5)
>>> VariantResult.from_json(data) == row
True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

DEVICE_KEYS = {"cpu": "cpu", "cuda": "gpu"}
"""Device name -> prefix of its columns (``cpu_s``, ``gpu_s``, ...)."""


class ResultsFormatError(ValueError):
    """A ``results.json`` entry that misses keys its row needs."""


def require_keys(data: dict, keys, what: str) -> None:
    """Raise :class:`ResultsFormatError` naming the ``keys`` missing in ``data``.

    Example
    -------
    >>> require_keys({"wer": 1.0}, ("wer", "name"), "variant row")
    Traceback (most recent call last):
    ...
    benchmark.results.ResultsFormatError: variant row: missing key(s) ['name']
    """
    missing = [key for key in keys if key not in data]
    if missing:
        raise ResultsFormatError(f"{what}: missing key(s) {missing}")


@dataclass(frozen=True)
class DeviceTiming:
    """Timed passes of one variant on one device.

    Attributes
    ----------
    greedy : dict
        Greedy passes (:func:`benchmark.passes.summarize_passes`).
    wer : float
        Greedy WER of the first pass.
    lm : dict, optional
        LM passes, as ``greedy`` (None: no LM passes).
    wer_lm : float, optional
        WER of the first LM pass.

    Example
    -------
    >>> DeviceTiming({"rtf": 0.5}, 10.0).to_json()
    {'greedy': {'rtf': 0.5}, 'wer': 10.0}
    """

    greedy: dict
    wer: float
    lm: dict | None = None
    wer_lm: float | None = None

    def to_json(self) -> dict:
        """The ``results.json`` entry (LM keys only after LM passes)."""
        data = {"greedy": self.greedy, "wer": self.wer}
        if self.lm is not None:
            data.update(lm=self.lm, wer_lm=self.wer_lm)
        return data

    @classmethod
    def from_json(cls, data: dict) -> DeviceTiming:
        """Read back :meth:`to_json`'s output."""
        require_keys(data, ("greedy", "wer"), "device timing")
        return cls(data["greedy"], data["wer"], data.get("lm"), data.get("wer_lm"))

    def median_greedy_s(self) -> float:
        """Median time of a greedy pass (network + decoding)."""
        return self.greedy["total_s"]["median"]


@dataclass(frozen=True)
class DecoderCheck:
    """One LM back end on the log-probabilities of a variant's LM pass
    (:func:`benchmark.variant_stage.compare_decoders`).

    Attributes
    ----------
    decoder : str
        Back-end name (:data:`modules.decoding.lm_decoders.DECODERS`).
    alpha, beta : float
        Its weights (tuned on dev for it, or fixed).
    wer_lm : float
        Its WER on the test set.
    decode_s : dict
        Its decoding times over the rounds, alternated with the other back
        ends' (:func:`benchmark.timing.summarize`: median, min, max).
    same_hypothesis_fraction : float
        Fraction of utterances decoded as the reported back end does.

    Example
    -------
    >>> times = {"median": 1.0, "min": 1.0, "max": 1.0, "values": [1.0]}
    >>> check = DecoderCheck("flashlight", 0.6, 2.0, 10.0, times, 1.0)
    >>> DecoderCheck(**check.to_json()) == check
    True
    """

    decoder: str
    alpha: float
    beta: float
    wer_lm: float
    decode_s: dict
    same_hypothesis_fraction: float

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return asdict(self)


@dataclass(frozen=True)
class PyctcdecodeComparison:
    """pyctcdecode against SpeechBrain on the log-probs and LM of one pass
    (rows written before :class:`DecoderCheck` replaced it).

    Attributes
    ----------
    wer_lm, speechbrain_wer_lm : float
        WERs of pyctcdecode's and SpeechBrain's LM beam search.
    decode_s, speechbrain_decode_s : float
        Their decoding times.
    time_ratio : float, optional
        ``decode_s / speechbrain_decode_s`` (None if the latter is 0).
    same_hypothesis_fraction : float
        Fraction of utterances decoded identically.

    Example
    -------
    >>> check = PyctcdecodeComparison(10.0, 10.0, 1.0, 2.0, 0.5, 1.0)
    >>> PyctcdecodeComparison(**check.to_json()) == check
    True
    """

    wer_lm: float
    speechbrain_wer_lm: float
    decode_s: float
    speechbrain_decode_s: float
    time_ratio: float | None
    same_hypothesis_fraction: float

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return asdict(self)


VARIANT_REQUIRED_KEYS = (
    "name", "exit", "layer", "params", "macs_per_batch",
    "macs_per_audio_second", "devices", "wer",
)  # fmt: skip
"""Keys every ``results.json`` variant row has; the others may be missing
from files written before they were added."""


OMITTED_WHEN_NONE = (
    "lm_weights", "pyctcdecode", "quantization", "size_mb",
    "quantized_mac_fraction", "time_ratios", "decoder_checks",
)  # fmt: skip
"""Keys a ``results.json`` row leaves out when their value is None."""


@dataclass(frozen=True)
class VariantResult:
    """Cost, timing and WERs of one variant (a row of ``results.json``).

    Attributes
    ----------
    name : str
        Variant name.
    exit : int, optional
        Its exit (None: not a static exit).
    layer : int, optional
        Layers it runs.
    params : int
        Parameters it uses.
    macs_per_batch, macs_per_audio_second, macs_total : float
        MACs on the test set (:func:`benchmark.cost.measure_cost`).
    encoder_macs_per_audio_second : float, optional
        MACs of the encoder layers alone.
    lm_weights : dict, optional
        LM weights (:func:`benchmark.lm_setup.lm_weights_for`); None: no LM.
    devices : dict
        Device name -> :class:`DeviceTiming`.
    pyctcdecode : PyctcdecodeComparison, optional
        The cross-check of the LM pass in rows written before
        ``decoder_checks`` (None in newer rows).
    wer, wer_lm : float
        Greedy and LM WERs on the first device (``wer_lm`` None: no LM).
    wer_train : float, optional
        The WER of ``wer_summary.json`` for the same exit.
    quantization : str, optional
        The post-training quantization method of a quantized variant (None:
        the experiment's model, fake-quantized weights included).
    size_mb : float, optional
        Size of the whole model it runs, as saved (MB, 1e6 bytes).
    quantized_mac_fraction : float, optional
        Fraction of its MACs in modules with int8 weights (0 for fp32).
    time_ratios : dict, optional
        A quantized variant's greedy time over its fp32 exit's, per device:
        :func:`benchmark.timing.summarize` of the per-round ratios of
        alternated passes (:mod:`benchmark.paired_timing`).
    decoder_checks : list of DecoderCheck, optional
        Every LM back end on the log-probs of the LM pass, the reported one
        first (None: not run).

    Rows written before the last five fields existed read them as None.
    """

    name: str
    exit: int | None
    layer: int | None
    params: int
    macs_per_batch: float
    macs_per_audio_second: float
    macs_total: float | None
    encoder_macs_per_audio_second: float | None
    lm_weights: dict | None
    devices: dict
    pyctcdecode: PyctcdecodeComparison | None
    wer: float
    wer_lm: float | None
    wer_train: float | None
    quantization: str | None = None
    size_mb: float | None = None
    quantized_mac_fraction: float | None = None
    time_ratios: dict | None = None
    decoder_checks: list | None = None

    def to_json(self) -> dict:
        """The ``results.json`` row; the keys of :data:`OMITTED_WHEN_NONE`
        are left out when None."""
        data = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in OMITTED_WHEN_NONE and value is None:
                continue
            data[field.name] = value
        data["devices"] = {d: t.to_json() for d, t in self.devices.items()}
        if self.pyctcdecode is not None:
            data["pyctcdecode"] = self.pyctcdecode.to_json()
        if self.decoder_checks is not None:
            data["decoder_checks"] = [c.to_json() for c in self.decoder_checks]
        return data

    @classmethod
    def from_json(cls, data: dict) -> VariantResult:
        """Read back a ``results.json`` row.

        Raises
        ------
        ResultsFormatError
            If a key of :data:`VARIANT_REQUIRED_KEYS` is missing; keys this
            class does not know are ignored.
        """
        require_keys(data, VARIANT_REQUIRED_KEYS, f"variant {data.get('name')!r}")
        values = {field.name: data.get(field.name) for field in fields(cls)}
        values["devices"] = {
            device: DeviceTiming.from_json(timing)
            for device, timing in data["devices"].items()
        }
        if values["pyctcdecode"] is not None:
            values["pyctcdecode"] = PyctcdecodeComparison(**values["pyctcdecode"])
        if values["decoder_checks"] is not None:
            values["decoder_checks"] = [
                DecoderCheck(**c) for c in values["decoder_checks"]
            ]
        return cls(**values)


def results_to_json(results: dict) -> dict:
    """The content of ``results.json``: ``results`` with its typed
    ``variants``, ``policies`` and ``long_form`` rows turned into dicts, in
    the same key order.

    Example
    -------
    >>> results_to_json({"test_set": "test", "variants": [], "policies": None})
    {'test_set': 'test', 'variants': [], 'policies': None}
    """
    data = dict(results)
    data["variants"] = [row.to_json() for row in results["variants"]]
    if results.get("policies") is not None:
        data["policies"] = results["policies"].to_json()
    if "long_form" in results:
        data["long_form"] = [row.to_json() for row in results["long_form"]]
    return data
