"""Start-up set-up of an early-exit AED training run, checked from the YAML.

Everything of :func:`modules.training.run_setup.build_run_setup` (the CTC side's
``loss_class`` / ``loss_options``, ``train_exits``, ``kd_teacher_checkpoint``,
downsampling), plus the AED keys, each checked with an error naming it:

- ``model``: a :class:`modules.models.aed_early_exit.EarlyExitAED` (its
  decoder width is checked when the YAML builds it: ``decoder_d_model`` must
  equal ``d_model``);
- ``ctc_weight``, ``label_smoothing``, ``attention_weights``: the joint loss
  (:class:`modules.losses.aed.JointCTCAttentionLoss`);
- ``bos_index``, ``eos_index``, ``blank_index``: distinct ids below
  ``output_neurons``;
- ``test_beam_size`` (>= 1), ``decoding_ctc_weight`` (in [0, 1]),
  ``length_normalization``, ``max_decode_ratio`` (> 0),
  ``ctc_scorer_beam_scale`` (>= 1 or null): the searches of
  :mod:`modules.decoding.aed_search`;
- ``valid_search_interval`` (>= 1 or null): how often every exit is decoded
  by attention on dev;
- ``ranking_decoding`` (``attention`` or ``ctc``): the greedy decoding whose
  dev WER of the ranking exit ranks the checkpoints;
- ``decoding_lm`` (null, ``auto`` or an existing LM file), ``decoding_lm_weight``
  (>= 0), ``decoding_lm_order`` (2 to 6): the token-level n-gram of the test
  stage's joint search with LM (:mod:`modules.decoding.token_lm`).
"""

from dataclasses import dataclass, fields
from pathlib import Path

from modules.decoding.aed_search import AEDSearchOptions
from modules.decoding.arpa import load_lm_path
from modules.decoding.lm_files import LM_TEXT_NAME, LMError, find_lm_text
from modules.decoding.token_lm import KENLM_MAX_ORDER, TokenLMRequest
from modules.losses.aed import JointCTCAttentionLoss
from modules.models.aed_early_exit import EarlyExitAED
from modules.training.loss_setup import class_name
from modules.training.run_setup import RunSetup, build_run_setup


@dataclass(frozen=True)
class AEDRunSetup(RunSetup):
    """:class:`modules.training.run_setup.RunSetup` of an AED run.

    Attributes
    ----------
    joint_loss : modules.losses.aed.JointCTCAttentionLoss
        The training loss (its CTC side is ``exit_loss``).
    search : modules.decoding.aed_search.AEDSearchOptions
        Settings of the greedy and beam searches.
    valid_search_interval : int or None
        Every exit is decoded by attention on dev every that many epochs and
        at the last one; in the other epochs only the ranking exit (None: at
        the last epoch only).
    ranking_decoding : str
        ``attention``: the ranking exit is decoded by greedy attention on dev
        every epoch and its WER ranks the checkpoints; ``ctc``: its greedy CTC
        WER ranks them, and attention decoding runs only in the epochs of
        ``valid_search_interval`` and the last (a cheaper validation).
    decoding_lm : modules.decoding.token_lm.TokenLMRequest or None
        The token-level n-gram of the test stage's joint search with LM
        (None: no LM, ``decoding_lm: null``).
    """

    joint_loss: JointCTCAttentionLoss
    search: AEDSearchOptions
    valid_search_interval: int | None
    decoding_lm: TokenLMRequest | None = None
    ranking_decoding: str = "attention"


def check_special_ids(hparams):
    """``bos_index``, ``eos_index`` and ``blank_index``: distinct token ids.

    Example
    -------
    >>> check_special_ids({"bos_index": 2, "eos_index": 2, "blank_index": 0,
    ...                    "output_neurons": 8})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: bos_index=2, eos_index=2, blank_index=0 must be distinct ...
    """
    keys = ("bos_index", "eos_index", "blank_index")
    ids = [hparams.get(key) for key in keys]
    vocab = hparams.get("output_neurons")
    text = ", ".join(f"{key}={value!r}" for key, value in zip(keys, ids))
    if len(set(ids)) < 3 or not all(isinstance(i, int) and 0 <= i < vocab for i in ids):
        raise ValueError(
            f"{text} must be distinct token ids below output_neurons={vocab} "
            "(this project's tokenizers: blank 0, BOS 2, EOS 3)"
        )


def build_search_options(hparams):
    """The searches' settings, checked.

    Example
    -------
    >>> hparams = {"bos_index": 2, "eos_index": 3, "blank_index": 0,
    ...            "output_neurons": 8, "test_beam_size": 0,
    ...            "decoding_ctc_weight": 0.4, "length_normalization": True,
    ...            "max_decode_ratio": 1.0, "ctc_scorer_beam_scale": None}
    >>> build_search_options(hparams)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: test_beam_size=0 must be an integer >= 1 ...
    """
    check_special_ids(hparams)
    beam = hparams.get("test_beam_size")
    if not isinstance(beam, int) or isinstance(beam, bool) or beam < 1:
        raise ValueError(
            f"test_beam_size={beam!r} must be an integer >= 1 (the beam of the "
            "test stage's joint CTC/attention search)"
        )
    weight = hparams.get("decoding_ctc_weight")
    if not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise ValueError(
            f"decoding_ctc_weight={weight!r} must be in [0, 1] (CTC share of "
            "the joint search's scores; 0 for attention only)"
        )
    ratio = hparams.get("max_decode_ratio")
    if not isinstance(ratio, (int, float)) or ratio <= 0:
        raise ValueError(
            f"max_decode_ratio={ratio!r} must be > 0 (decoding steps per "
            "encoder frame, 1.0 in SpeechBrain's recipes)"
        )
    scale = hparams.get("ctc_scorer_beam_scale")
    if scale is not None and (not isinstance(scale, (int, float)) or scale < 1):
        raise ValueError(
            f"ctc_scorer_beam_scale={scale!r} must be >= 1 (CTC scores for the "
            "decoder's scale x beam best tokens), or null for every token"
        )
    return AEDSearchOptions(
        bos_index=hparams["bos_index"],
        eos_index=hparams["eos_index"],
        blank_index=hparams["blank_index"],
        beam_size=beam,
        ctc_weight=float(weight),
        length_normalization=bool(hparams.get("length_normalization")),
        max_decode_ratio=float(ratio),
        ctc_scorer_beam_scale=None if scale is None else float(scale),
    )


def check_valid_search_interval(hparams):
    """``valid_search_interval``: a positive integer, or None.

    Example
    -------
    >>> check_valid_search_interval({"valid_search_interval": 0})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: valid_search_interval=0 must be an integer >= 1 ...
    """
    interval = hparams.get("valid_search_interval")
    if interval is not None and (
        not isinstance(interval, int) or isinstance(interval, bool) or interval < 1
    ):
        raise ValueError(
            f"valid_search_interval={interval!r} must be an integer >= 1 (every "
            "exit decoded by attention on dev every that many epochs), or null "
            "for the last epoch only"
        )
    return interval


def check_ranking_decoding(hparams):
    """``ranking_decoding``: ``attention`` (default) or ``ctc``.

    Example
    -------
    >>> check_ranking_decoding({})
    'attention'
    >>> check_ranking_decoding({"ranking_decoding": "beam"})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: ranking_decoding='beam' must be attention or ctc ...
    """
    decoding = hparams.get("ranking_decoding", "attention")
    if decoding not in ("attention", "ctc"):
        raise ValueError(
            f"ranking_decoding={decoding!r} must be attention or ctc (the greedy "
            "decoding whose dev WER of the ranking exit ranks the checkpoints)"
        )
    return decoding


def _is_number(value, low):
    """Whether ``value`` is an int or float (not a bool) >= ``low``."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and value >= low


def check_decoding_lm_file(source):
    """An LM file given as ``decoding_lm``: it exists and is an ARPA, gzipped
    ARPA or KenLM binary file (over the tokenizer's pieces).

    Example
    -------
    >>> check_decoding_lm_file("/no/such/lm.arpa")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: decoding_lm=/no/such/lm.arpa: ... does not exist. Give ...
    """
    try:
        load_lm_path(source)
    except (FileNotFoundError, ValueError) as error:
        raise ValueError(
            f"decoding_lm={source}: {error} Give an ARPA or KenLM binary over "
            "the tokenizer's pieces, decoding_lm: auto to build one from the "
            "corpus LM text, or decoding_lm: null for no LM"
        ) from error


def check_decoding_lm_text(data_folder):
    """``decoding_lm: auto`` on an existing data folder: its LM text exists
    (a folder still to be made, the synthetic corpus, gets one).

    Example
    -------
    >>> import tempfile
    >>> check_decoding_lm_text(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: decoding_lm=auto builds the token n-gram from ...
    """
    if not Path(data_folder).is_dir():
        return
    try:
        find_lm_text(data_folder)
    except LMError as error:
        raise ValueError(
            f"decoding_lm=auto builds the token n-gram from {LM_TEXT_NAME}, "
            f"which {data_folder} lacks: put it there, or give decoding_lm: "
            "PATH (a token-level ARPA or KenLM binary) or decoding_lm: null"
        ) from error


def check_decoding_lm_keys(hparams):
    """``decoding_lm_weight`` (>= 0) and ``decoding_lm_order`` (2 to
    :data:`modules.decoding.token_lm.KENLM_MAX_ORDER`).

    Example
    -------
    >>> check_decoding_lm_keys({"decoding_lm_weight": 0.5, "decoding_lm_order": 6})
    (0.5, 6)
    >>> check_decoding_lm_keys({"decoding_lm_weight": -1, "decoding_lm_order": 6})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: decoding_lm_weight=-1 must be a number >= 0 ...
    """
    weight = hparams.get("decoding_lm_weight")
    if not _is_number(weight, 0):
        raise ValueError(
            f"decoding_lm_weight={weight!r} must be a number >= 0 (weight of "
            "the token n-gram in the joint search's scores, e.g. 0.3 to 0.6)"
        )
    order = hparams.get("decoding_lm_order")
    integer = isinstance(order, int) and not isinstance(order, bool)
    if not integer or not 2 <= order <= KENLM_MAX_ORDER:
        raise ValueError(
            f"decoding_lm_order={order!r} must be an integer from 2 to "
            f"{KENLM_MAX_ORDER} (order of the token n-gram that decoding_lm: "
            f"auto builds; the kenlm module loads orders up to {KENLM_MAX_ORDER})"
        )
    return float(weight), order


def build_decoding_lm(hparams):
    """The ``decoding_lm`` keys, checked: None without an LM.

    Example
    -------
    >>> build_decoding_lm({"decoding_lm": None}) is None
    True
    """
    source = hparams.get("decoding_lm")
    if source is None:
        return None
    weight, order = check_decoding_lm_keys(hparams)
    if str(source) == "auto":
        check_decoding_lm_text(hparams.get("data_folder", ""))
    else:
        check_decoding_lm_file(source)
    return TokenLMRequest(str(source), weight, order)


def build_aed_run_setup(hparams):
    """Build and check the run-time objects of an AED training run.

    Arguments
    ---------
    hparams : dict
        The loaded recipe YAML (keys in this module's docstring).

    Returns
    -------
    AEDRunSetup

    Example
    -------
    >>> build_aed_run_setup({"model": None})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: model=builtins.NoneType is not an early-exit AED model; ...
    """
    model = hparams.get("model")
    if not isinstance(model, EarlyExitAED):
        raise ValueError(
            f"model={class_name(type(model))} is not an early-exit AED model; "
            "use model: !new:modules.models.aed_early_exit.EarlyExitAED"
        )
    search = build_search_options(hparams)
    interval = check_valid_search_interval(hparams)
    decoding_lm = build_decoding_lm(hparams)
    base = build_run_setup(hparams)
    joint_loss = JointCTCAttentionLoss(
        base.exit_loss,
        ctc_weight=hparams.get("ctc_weight"),
        label_smoothing=hparams.get("label_smoothing", 0.0),
        attention_weights=hparams.get("attention_weights"),
        num_exits=model.num_exits,
    )
    return AEDRunSetup(
        **{field.name: getattr(base, field.name) for field in fields(base)},
        joint_loss=joint_loss,
        search=search,
        valid_search_interval=interval,
        decoding_lm=decoding_lm,
        ranking_decoding=check_ranking_decoding(hparams),
    )
