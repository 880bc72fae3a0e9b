"""The settings of windowed inference, from ``settings.yaml`` and overrides.

``settings.yaml`` (next to this file) holds every default once; the command
lines of ``transcribe.py`` and :mod:`modules.inference.long_form_eval` only
override its keys. :func:`load_settings` checks the values that need no
model (the window against the model's frame grid is checked by
:func:`modules.inference.frame_geometry.plan_windows`).
"""

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from hyperpyyaml import load_hyperpyyaml

from modules.exits.policies import POLICIES, build_policy

SETTINGS_YAML = Path(__file__).with_name("settings.yaml")
MODES = ("average", "centre", "none")
STREAMING_LM_DECODERS = ("flashlight", "speechbrain")
"""LM back ends with a streaming search
(:mod:`modules.inference.streaming_decoding`)."""


@dataclass(frozen=True)
class LongFormSettings:
    """Windowed inference settings (the keys of ``settings.yaml``).

    Attributes
    ----------
    window, hop, hop_fraction : float
        Window and hop in seconds (``hop`` None: ``window * hop_fraction``).
    mode : str
        ``average``, ``centre`` or ``none`` (no overlap).
    exit : int, optional
        1-based exit (None: the experiment's reference exit).
    policy : str, optional
        ``NAME@THRESHOLD`` of a dynamic exit policy.
    lm : str
        ``none``, ``auto`` or an LM path.
    lm_order, lm_weight, word_bonus, beam_size
        The LM beam search.
    lm_decoder : str
        Its back end, one of :data:`STREAMING_LM_DECODERS`.
    device : str
        Where the model runs.
    """

    window: float
    hop: Optional[float]
    hop_fraction: float
    mode: str
    exit: Optional[int]
    policy: Optional[str]
    lm: str
    lm_order: int
    lm_weight: float
    word_bonus: float
    beam_size: int
    lm_decoder: str
    device: str

    @property
    def merge_mode(self):
        """The :class:`~modules.inference.posterior_merge.PosteriorMerger`
        mode (no overlap merges nothing: ``average`` of one window)."""
        return "average" if self.mode == "none" else self.mode

    @property
    def hop_seconds(self):
        """The hop asked for (the window with ``mode: none``)."""
        return self.window if self.mode == "none" else self.hop

    @property
    def uses_lm(self):
        """Whether decoding is the LM beam search."""
        return str(self.lm).lower() != "none"


def load_settings(overrides=None):
    """``settings.yaml`` with ``overrides`` (``{key: value}``; None values
    keep the default), checked.

    Example
    -------
    >>> settings = load_settings({"window": 10, "mode": "centre"})
    >>> settings.window, settings.mode, settings.hop, settings.lm
    (10, 'centre', None, 'none')
    >>> load_settings({"mode": "middle"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: mode='middle' is not a windowing mode; choose average, centre or none
    >>> load_settings({"lm_decoder": "pyctcdecode"})
    Traceback (most recent call last):
    ...
    ValueError: lm_decoder='pyctcdecode': choose flashlight or speechbrain
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    known = {f.name for f in fields(LongFormSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown setting(s) {unknown}; the keys of {SETTINGS_YAML} are "
            f"{sorted(known)}"
        )
    with open(SETTINGS_YAML, encoding="utf-8") as fin:
        values = load_hyperpyyaml(fin, overrides)
    settings = LongFormSettings(**{k: values[k] for k in known})
    check_settings(settings)
    return settings


def check_settings(settings):
    """Clear errors for values that are wrong whatever the model."""
    if settings.mode not in MODES:
        raise ValueError(
            f"mode={settings.mode!r} is not a windowing mode; choose "
            f"{', '.join(MODES[:-1])} or {MODES[-1]}"
        )
    if settings.mode == "none" and settings.hop not in (None, settings.window):
        raise ValueError(
            f"mode=none means hop = window; hop={settings.hop} contradicts it: "
            "drop hop or choose mode=average or centre"
        )
    if not 0 < settings.hop_fraction <= 1:
        raise ValueError(
            f"hop_fraction={settings.hop_fraction} must be in (0, 1] (a "
            "fraction of the window)"
        )
    if settings.lm_decoder not in STREAMING_LM_DECODERS:
        raise ValueError(
            f"lm_decoder={settings.lm_decoder!r}: choose "
            f"{' or '.join(STREAMING_LM_DECODERS)}"
        )
    if settings.exit is not None and settings.policy is not None:
        raise ValueError("give either exit or policy, not both")
    if settings.policy is not None:
        parse_policy(settings.policy)


def add_setting_arguments(parser):
    """The command-line options of the settings (``--window``, ``--hop``,
    ``--mode``, ``--exit``, ``--policy``, ``--lm``...): absent ones keep the
    value of ``settings.yaml``.

    Example
    -------
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_setting_arguments(parser)
    >>> setting_overrides(parser.parse_args(["--window", "30", "--exit", "2"]))
    {'window': 30.0, 'exit': 2}
    """
    options = parser.add_argument_group("windowed inference (settings.yaml)")
    options.add_argument("--window", type=float, help="window in seconds")
    options.add_argument("--hop", type=float, help="hop in seconds (default W/8)")
    options.add_argument("--mode", choices=MODES, help="overlap merging")
    options.add_argument("--exit", type=int, help="1-based exit")
    options.add_argument("--policy", help="dynamic exit policy, e.g. entropy@0.3")
    options.add_argument("--lm", help="none | auto | PATH of an ARPA/KenLM file")
    options.add_argument("--lm_weight", type=float, help="LM weight (alpha)")
    options.add_argument("--word_bonus", type=float, help="word bonus (beta)")
    options.add_argument("--beam_size", type=int, help="LM beam width")
    options.add_argument(
        "--lm_decoder", choices=STREAMING_LM_DECODERS, help="LM beam-search back end"
    )
    options.add_argument("--device", help="cpu or cuda[:N]")


def setting_overrides(args):
    """The settings given on the command line, ``{key: value}``."""
    keys = [f.name for f in fields(LongFormSettings)]
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def parse_policy(spec):
    """``NAME@THRESHOLD`` as a checked dynamic exit policy.

    Example
    -------
    >>> parse_policy("entropy@0.3"), parse_policy("patience@2").threshold
    (EntropyPolicy(threshold=0.3, mode='utterance'), 2)
    >>> parse_policy("entropy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: policy='entropy' must be NAME@THRESHOLD ...
    """
    name, _, threshold = str(spec).partition("@")
    try:
        value = float(threshold)
    except ValueError:
        raise ValueError(
            f"policy={spec!r} must be NAME@THRESHOLD with NAME one of "
            f"{', '.join(POLICIES)} (e.g. entropy@0.3)"
        ) from None
    return build_policy(name, int(value) if value.is_integer() else value)
