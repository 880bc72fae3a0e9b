"""Every option of the benchmark and its default, in one place.

:class:`BenchmarkOptions` is what :func:`benchmark.run.run_benchmark` can be
told; the command line (:mod:`benchmark.cli`) takes its defaults from it and
``train.py`` checks the YAML's ``benchmark_options`` with
:meth:`BenchmarkOptions.from_mapping` before training.

Example
-------
>>> opts = BenchmarkOptions.from_mapping({"beam_size": 20, "tune": "last"})
>>> opts.beam_size, opts.repeats
(20, 3)
>>> BenchmarkOptions.from_mapping({"beam": 20})
Traceback (most recent call last):
...
benchmark.errors.OptionError: benchmark_options: unknown option(s) ['beam']...
>>> BenchmarkOptions.from_mapping({"pyctcdecode": "last"}).cross_check
'last'
>>> BenchmarkOptions(lm_decoder="kenlm")
Traceback (most recent call last):
...
benchmark.errors.OptionError: lm_decoder: unknown LM decoder(s) ['kenlm']; ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cached_property

from benchmark.errors import OptionError
from benchmark.policy_grid import resolve_policy_grid
from benchmark.variants import VARIANT_BUILDERS
from modules.compression.quantization import DEFAULT_KEEP_FP32, check_method
from modules.decoding.lm_decoders import DECODERS, check_decoder_names

DEFAULT_POLICY_GRIDS = {
    "entropy": (0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
    "confidence": (0.6, 0.7, 0.8, 0.9, 0.95),
    "posterior": (0.5, 0.7, 0.9, 0.95, 0.99),
    "similarity": (0.5, 0.8, 0.9, 0.95, 0.99),
    "patience": (1, 2, 3),
}
"""Default thresholds per policy. Entropy (nats) and similarity extend the
published ranges (0.01-0.10 and 0.90-0.99) towards weaker models, whose
posteriors are flatter and whose layers differ more."""

VARIANT_CHOICES = ("each", "last", "none")
"""Values of ``tune`` and ``cross_check``."""

DEFAULT_LM_DECODER = "flashlight"
"""The LM beam search the benchmark reports (:data:`modules.decoding.
lm_decoders.DECODERS`). Measured on the built-in corpus (2026-11-30,
test-clean, 200 utterances; beam 20, the corpus 4-gram; each back end's
weights tuned on 200 dev-clean utterances; 3 rounds alternating the back
ends on the same log-probs, 1 thread, docs/results.md): the 4-layer
baseline, WER 1.88 % in 0.22 s (flashlight), 2.86 % in 1.21 s
(pyctcdecode), 2.52 % in 2.08 s (SpeechBrain); a 2-layer KD student, 5.38 %
in 0.32 s, 5.25 % in 1.86 s, 4.95 % in 3.55 s (flashlight - SpeechBrain:
+0.43 points, bootstrap 95 % interval -0.30 to +1.18). The fastest, at a
WER within noise of the others."""

RENAMED_OPTIONS = {"pyctcdecode": "cross_check"}
"""Old option name -> its name now; the old name is still accepted."""

POLICY_TIMING = ("chosen", "all")
"""Values of ``policy_timing``."""

MIN_POLICY_ROUNDS = 3
"""Fewest rounds of a policy point's timing, alternated with the reference
exit's (``repeats`` when larger; :mod:`benchmark.paired_timing`); quantized
variants are timed the same way against their fp32 exit."""

DEFAULT_QUANTIZATION = "dynamic-int8"
"""The post-training quantization method ``quantization: [default]`` (or a
bare ``--quantization``) names. Measured on this project's 2-core AMD EPYC
(AVX2, no VNNI; torch 2.13, torchao 0.18, 1 thread), a 4-layer d_model-144
Conformer on 1 x 10 s / 8 x 10 s of audio, median per-round time over fp32's
(alternated rounds): torch's ``quantize_dynamic`` 1.02x / 0.98x, torchao's
int8 weight-only 1.07x / 1.02x, torchao's dynamic int8 6.3x / 5.5x (not
compiled). The fastest is the default; none is clearly faster than fp32."""

QUANTIZATION_EXITS = ("last", "each")
"""Values of ``quantization_exits``: the reference exit's quantized copy
only, or every exit's."""


@dataclass(frozen=True)
class BenchmarkOptions:
    """Everything :func:`benchmark.run.run_benchmark` can be told (CLI flags
    of the same names).

    Attributes
    ----------
    test_set, dev_set : str, optional
        Manifest names; default: the YAML's first test and dev splits.
    lm : str, optional
        ``"auto"`` (build from the corpus LM text), a path, or ``"none"``.
    lm_order : int
        Order of a built LM.
    lm_cache : str, optional
        Folder of a built LM (default: ``<data_folder>/lm`` for the built-in
        corpus, else ``EXP/lm``).
    devices : str
        ``"auto"`` (CPU, plus GPU when present), or a comma-separated list of
        ``cpu``/``cuda``; naming ``cuda`` without a GPU is an error.
    repeats : int
        Timed passes without LM per variant and device; for a timed policy
        point, rounds of passes alternated with the reference exit's (at
        least :data:`MIN_POLICY_ROUNDS`, :mod:`benchmark.paired_timing`).
    lm_repeats : int
        Timed passes with LM per variant and device (beam search is slow).
    warmup_batches : int
        Untimed batches (first, middle, last) before each timing.
    threads : int, optional
        CPU threads (``torch.set_num_threads``); default: torch's.
    beam_size : int
        Beam width of the LM searches.
    alphas, betas : sequence of float
        Grid for the LM weight and word insertion bonus.
    tune : str
        ``"each"`` (tune every variant on dev), ``"last"`` (tune the
        reference exit, the last one or exit K of ``train_exits: K``, and
        apply to all) or ``"none"`` (use ``alpha``/``beta``).
    alpha, beta : float
        Weights used when ``tune="none"``.
    tune_max_utts : int, optional
        Dev utterances used for tuning (evenly spread; None: all): the LM
        weights and, for an AED, its dynamic exits' thresholds
        (:mod:`benchmark.aed_dynamic_stage`).
    lm_decoder : str
        The LM beam search whose WER and time are reported:
        ``"flashlight"``, ``"pyctcdecode"`` or ``"speechbrain"``
        (:mod:`modules.decoding.lm_decoders`; default
        :data:`DEFAULT_LM_DECODER`).
    cross_check : str
        Which variants' LM passes are decoded again by every back end of
        ``cross_check_decoders``, each with its own weights (tuned as
        ``tune`` says), in alternated timed rounds: ``"each"`` variant,
        ``"last"`` (the reference exit) or ``"none"``. Its old name,
        ``pyctcdecode``, is still accepted.
    cross_check_decoders : sequence of str
        The back ends compared with ``lm_decoder`` (comma-separated or a
        list; ``lm_decoder`` itself is always in the comparison).
    variants : sequence of str
        Keys of :data:`benchmark.variants.VARIANT_BUILDERS`.
    policies : str or sequence of str
        Dynamic exit policies (:mod:`modules.exits.policies`) run on an
        early-exit model: ``"auto"`` (every policy ``policy_decoder``
        allows), ``"none"`` (off), or names.
    policy_thresholds : dict, optional
        ``{policy: [threshold, ...]}`` replacing the default grids of
        :data:`DEFAULT_POLICY_GRIDS`.
    policy_mode : str
        ``"utterance"`` (each utterance exits on its own) or ``"batch"``.
    policy_decoder : str
        ``"greedy"``, or ``"beam"``: the posterior policy's n-best CTC beam
        search (no LM); the posterior policy needs it.
    policy_tolerance : float
        A threshold is chosen on dev when its dev WER is at most
        ``(1 + policy_tolerance)`` times the reference exit's (the last one,
        or exit K of ``train_exits: K``).
    policy_timing : str
        Time the dev-chosen thresholds only (``"chosen"``) or every
        threshold (``"all"``, greedy passes; LM passes stay chosen-only).
    policy_lm : bool
        LM passes (WER+LM, CPU+LM time) for the dev-chosen thresholds.
    quantization : sequence of str
        Post-training quantization methods
        (:data:`modules.compression.quantization.PTQ_METHODS`; ``default``:
        :data:`DEFAULT_QUANTIZATION`), each adding a variant that runs an
        int8 copy of the model (for a quantization-aware model: its export,
        :func:`modules.compression.qat_export.export_quantized`), timed on CPU
        alternately with its fp32 exit. Empty: none.
    quantization_exits : str
        ``"last"``: quantized variants of the reference exit only;
        ``"each"``: of every exit.
    quantization_keep_fp32 : sequence of str
        Module-name patterns whose linear layers stay fp32 (default: the
        CTC heads; empty: quantize them too).
    batch_size : int, optional
        Test batch size (default: the YAML's ``test_dataloader_opts``).
    max_utts : int, optional
        Use only this many test utterances, evenly spread (smoke tests; an
        AED's beam searches on a small CPU).
    output : str, optional
        Output folder (default ``EXP/benchmark/<test set>``).
    progressbar : bool
        Show tqdm progress bars.

    Raises
    ------
    benchmark.errors.OptionError
        A ``ValueError`` naming the option whose value is bad.
    """

    test_set: str | None = None
    dev_set: str | None = None
    lm: str | None = "auto"
    lm_order: int = 4
    lm_cache: str | None = None
    devices: str = "auto"
    repeats: int = 3
    lm_repeats: int = 1
    warmup_batches: int = 3
    threads: int | None = None
    beam_size: int = 100
    alphas: tuple = (0.3, 0.6, 1.0)
    betas: tuple = (0.0, 1.0, 2.0)
    tune: str = "each"
    alpha: float = 0.5
    beta: float = 1.0
    tune_max_utts: int | None = 200
    lm_decoder: str = DEFAULT_LM_DECODER
    cross_check: str = "each"
    cross_check_decoders: tuple = tuple(DECODERS)
    variants: tuple = ("exits",)
    policies: str | tuple | None = "auto"
    policy_thresholds: dict | None = None
    policy_mode: str = "utterance"
    policy_decoder: str = "greedy"
    policy_tolerance: float = 0.10
    policy_timing: str = "chosen"
    policy_lm: bool = True
    quantization: tuple = ()
    quantization_exits: str = "last"
    quantization_keep_fp32: tuple = DEFAULT_KEEP_FP32
    batch_size: int | None = None
    max_utts: int | None = None
    output: str | None = None
    progressbar: bool = True

    def __post_init__(self):
        """Reject bad choices, variants and policy settings early."""
        for name in ("tune", "cross_check"):
            if getattr(self, name) not in VARIANT_CHOICES:
                raise OptionError(f"{name} must be each, last or none")
        self._check_lm_decoders()
        if self.repeats < 1 or self.lm_repeats < 1:
            raise OptionError("repeats and lm_repeats must be >= 1")
        unknown = set(self.variants) - set(VARIANT_BUILDERS)
        if unknown:
            raise OptionError(
                f"unknown variants {sorted(unknown)}; known: {sorted(VARIANT_BUILDERS)}"
            )
        tolerance = self.policy_tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
            tolerance = -1
        if not tolerance >= 0:
            raise OptionError(
                f"policy_tolerance={self.policy_tolerance!r}: expected a number >= 0"
            )
        if self.policy_timing not in POLICY_TIMING:
            raise OptionError(
                f"policy_timing={self.policy_timing!r}: choose one of {POLICY_TIMING}"
            )
        self.policy_grid  # noqa: B018 (resolving it validates the policies)
        self._check_quantization()

    def _check_lm_decoders(self):
        """Check ``lm_decoder`` and resolve ``cross_check_decoders``."""
        try:
            check_decoder_names([self.lm_decoder], "lm_decoder")
            names = _items(self.cross_check_decoders)
            check_decoder_names(names, "cross_check_decoders")
        except ValueError as error:
            raise OptionError(str(error)) from None
        object.__setattr__(self, "cross_check_decoders", names)

    def _check_quantization(self):
        """Resolve and check the ``quantization*`` options."""
        methods = quantization_methods(self.quantization)
        object.__setattr__(self, "quantization", methods)
        keep = fp32_patterns(self.quantization_keep_fp32)
        object.__setattr__(self, "quantization_keep_fp32", keep)
        if self.quantization_exits not in QUANTIZATION_EXITS:
            raise OptionError(
                f"quantization_exits={self.quantization_exits!r}: choose one of "
                f"{QUANTIZATION_EXITS}"
            )
        if methods and self.devices != "auto" and "cpu" not in self.devices:
            raise OptionError(
                f"quantization={list(methods)} runs on CPU only: add cpu to "
                f"devices={self.devices!r}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> BenchmarkOptions:
        """Options from a mapping (the YAML's ``benchmark_options``).

        Raises
        ------
        benchmark.errors.OptionError
            A ``ValueError`` naming an unknown key or a key with a bad value.
        """
        mapping = dict(mapping or {})
        for old, new in RENAMED_OPTIONS.items():
            if old in mapping and new in mapping:
                raise OptionError(
                    f"benchmark_options: {old} is the old name of {new}; "
                    f"give {new} only"
                )
            if old in mapping:
                mapping[new] = mapping.pop(old)
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(known))
        if unknown:
            raise OptionError(
                f"benchmark_options: unknown option(s) {unknown}; known: "
                f"{', '.join(known)}"
            )
        return cls(**mapping)

    @cached_property
    def policy_grid(self) -> dict:
        """``{policy: thresholds}`` of the policy benchmark (empty: none)."""
        return resolve_policy_grid(
            self.policies,
            self.policy_thresholds,
            self.policy_mode,
            self.policy_decoder,
            DEFAULT_POLICY_GRIDS,
        )

    def settings(self) -> dict:
        """The options as ``results.json`` records them: every field, with
        the resolved ``policy_grid`` after ``policy_lm``."""
        items = list(asdict(self).items())
        cut = [name for name, _ in items].index("policy_lm") + 1
        grid = [("policy_grid", {k: tuple(v) for k, v in self.policy_grid.items()})]
        return dict(items[:cut] + grid + items[cut:])


def _items(value) -> tuple:
    """A comma-separated string or a sequence as a tuple of stripped,
    non-empty strings."""
    items = value.split(",") if isinstance(value, str) else value or ()
    return tuple(str(item).strip() for item in items if str(item).strip())


def quantization_methods(value) -> tuple:
    """The ``quantization`` option as method keys, ``default`` resolved to
    :data:`DEFAULT_QUANTIZATION`, each checked to be installed.

    Example
    -------
    >>> quantization_methods("default")
    ('dynamic-int8',)
    >>> quantization_methods(["int3"])
    Traceback (most recent call last):
    ...
    benchmark.errors.OptionError: quantization: 'int3' is unknown; available: ...
    """
    methods = tuple(
        DEFAULT_QUANTIZATION if m == "default" else m for m in _items(value)
    )
    for method in methods:
        try:
            check_method(method, key="quantization:")
        except ValueError as error:
            raise OptionError(str(error)) from None
    return methods


def fp32_patterns(value) -> tuple:
    """The ``quantization_keep_fp32`` option as checked regular expressions.

    Example
    -------
    >>> fp32_patterns("heads, frontend"), fp32_patterns("")
    (('heads', 'frontend'), ())
    """
    patterns = _items(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise OptionError(
                f"quantization_keep_fp32: {pattern!r} is not a regular "
                f"expression ({error})"
            ) from None
    return patterns


def option_default(name: str):
    """The default value of option ``name``.

    Example
    -------
    >>> option_default("beam_size")
    100
    """
    return next(f.default for f in fields(BenchmarkOptions) if f.name == name)
