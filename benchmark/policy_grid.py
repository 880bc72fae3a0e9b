"""Thresholds grids of the dynamic exit policies, validated at start-up.

:func:`resolve_policy_grid` turns the ``policies`` and
``policy_thresholds`` options into ``{policy: thresholds}``, building every
policy once with every threshold so that a bad setting fails before anything
expensive runs, with the option named.

Example
-------
>>> grids = {"entropy": (0.1, 0.5), "patience": (1, 2)}
>>> resolve_policy_grid("patience", {}, "utterance", "greedy", grids)
{'patience': (1, 2)}
"""

from __future__ import annotations

from benchmark.errors import OptionError
from modules.exits.exit_policy import DECODER_KINDS, POLICY_MODES
from modules.exits.policies import POLICIES, build_policy


def policy_names(policies, decoder) -> list[str]:
    """Policy names from ``"auto"``, ``"none"`` (or None), ``"a,b"`` or a
    sequence.

    Example
    -------
    >>> policy_names("patience, entropy", "greedy")
    ['patience', 'entropy']
    """
    if policies is None:
        return []
    if isinstance(policies, str):
        if policies == "auto":
            skip = "posterior" if decoder == "greedy" else None
            return [name for name in POLICIES if name != skip]
        if policies == "none":
            return []
        policies = [p.strip() for p in policies.split(",") if p.strip()]
    names = list(dict.fromkeys(policies))
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise OptionError(
            f"policies={unknown}: unknown policy; choose among "
            f"{', '.join(POLICIES)}, or 'auto' / 'none'"
        )
    return names


def policy_thresholds(name, thresholds, default_grids) -> tuple:
    """The grid of ``name``: its entry in ``thresholds``, else its default.

    Example
    -------
    >>> policy_thresholds("entropy", {"entropy": 0.3}, {"entropy": (0.1,)})
    (0.3,)
    """
    grid = thresholds.get(name, default_grids[name])
    if isinstance(grid, (int, float, str)):
        grid = (grid,)
    if not grid:
        raise OptionError(f"policy_thresholds[{name!r}] is empty")
    return tuple(grid)


def _check_choices(thresholds, mode, decoder) -> None:
    """Reject an unknown mode, decoder or policy in ``thresholds``."""
    if mode not in POLICY_MODES:
        raise OptionError(f"policy_mode={mode!r}: choose one of {POLICY_MODES}")
    if decoder not in DECODER_KINDS:
        raise OptionError(f"policy_decoder={decoder!r}: choose one of {DECODER_KINDS}")
    unknown = sorted(set(thresholds) - set(POLICIES))
    if unknown:
        raise OptionError(
            f"policy_thresholds: unknown policies {unknown}; known: "
            f"{', '.join(POLICIES)}"
        )


def resolve_policy_grid(policies, thresholds, mode, decoder, default_grids) -> dict:
    """Validated ``{policy: thresholds}`` of the benchmark (empty: none).

    Parameters
    ----------
    policies : str or sequence of str
        ``"auto"`` (every policy the decoder allows), ``"none"`` or None
        (no policy), or names (a sequence or a comma-separated string).
    thresholds : dict, optional
        ``{policy: [threshold, ...]}`` replacing ``default_grids`` entries.
    mode : str
        ``"utterance"`` or ``"batch"``.
    decoder : str
        ``"greedy"`` or ``"beam"`` (the posterior policy needs ``"beam"``).
    default_grids : dict
        ``{policy: thresholds}`` of every policy
        (:data:`benchmark.options.DEFAULT_POLICY_GRIDS`).

    Returns
    -------
    dict

    Raises
    ------
    benchmark.errors.OptionError
        Naming the option (``policies``, ``policy_thresholds``,
        ``policy_mode``, ``policy_decoder``) and what is wrong with it.

    Example
    -------
    >>> resolve_policy_grid("none", None, "utterance", "greedy", {})
    {}
    """
    thresholds = dict(thresholds or {})
    _check_choices(thresholds, mode, decoder)
    grids = {
        name: policy_thresholds(name, thresholds, default_grids)
        for name in policy_names(policies, decoder)
    }
    for name, grid in grids.items():
        if POLICIES[name].needs_nbest and decoder == "greedy":
            raise OptionError(
                f"policy_decoder='greedy': policy {name!r} needs the n-best "
                "hypotheses of a CTC beam search; set policy_decoder='beam' or "
                "leave it out of policies"
            )
        for threshold in grid:
            try:
                build_policy(name, threshold, mode, decoder)
            except ValueError as error:
                raise OptionError(f"policy_thresholds[{name!r}]: {error}") from None
    return grids
