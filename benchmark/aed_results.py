"""Typed rows of the ``aed`` entry of an AED benchmark's ``results.json``.

An AED benchmark writes every measured decoding as a
:class:`benchmark.results.VariantResult` row (``variants``: greedy CTC and
CTC + LM as ``exit<k>``, then ``exit<k>-attention`` and ``exit<k>-joint``),
so that :mod:`benchmark.aggregate` reads it like any benchmark; the
encoder time is those rows' network time, the decoding time their decoding
time. What such a row cannot hold goes to the ``aed`` entry: the search
settings and, per attention decoding, the MACs and steps of the decoder
alone (:class:`DecodingCost`).

Example
-------
>>> cost = DecodingCost("exit1-joint", 1, "joint", 2.5e6, 40)
>>> section = AEDResults({"beam_size": 5}, [cost])
>>> section.to_json()["decoding"][0]["decoding_steps"]
40
>>> section.cost("exit1-joint").decoder, section.cost("exit9-joint") is None
('joint', True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DecodingCost:
    """The decoder's share of one exit's attention decoding, counted on the
    real decoding pass over the test set.

    Attributes
    ----------
    name : str
        The decoding's row name (``exit<k>-<decoder>``).
    exit : int
        Its exit.
    decoder : str
        ``"attention"`` (greedy) or ``"joint"`` (joint CTC/attention beam).
    decoding_macs_per_audio_second : float
        MACs of the decoding steps that ran (decoder, target embedding,
        output layer) per second of test audio.
    decoding_steps : int
        Calls of the exit's decoder: one per step and batch (a step decodes
        every running hypothesis of the batch at once).
    """

    name: str
    exit: int
    decoder: str
    decoding_macs_per_audio_second: float
    decoding_steps: int


@dataclass(frozen=True)
class AEDResults:
    """The ``aed`` entry of ``results.json``.

    Attributes
    ----------
    search : dict
        The searches' settings
        (:class:`modules.decoding.aed_search.AEDSearchOptions`).
    decoding : list of DecodingCost
        One per attention decoding, in row order.
    """

    search: dict
    decoding: list

    def cost(self, name: str) -> DecodingCost | None:
        """The decoding cost of row ``name`` (None: not an attention
        decoding)."""
        return next((c for c in self.decoding if c.name == name), None)

    def to_json(self) -> dict:
        """The ``results.json`` entry."""
        return {
            "search": dict(self.search),
            "decoding": [asdict(cost) for cost in self.decoding],
        }
