"""The federation's standard indicators: which children each is a rate of, and at which ages.

A round spec carries these as ``[indicator.NAME]`` tables (``protocol.spec.Scope``);
``federation.round_spec`` copies them from here for the indicators a round asks, so the
demo and a coordinator's template agree. A school indicator is a rate of pupils, a JGZ one
of the children the JGZ saw, VVE participation of the children with a VVE indication
(docs/indicators.md, "Populations").
"""

from __future__ import annotations

from typing import Iterable

# indicator -> (population, youngest age, oldest age); population "all" (every registered
# child), "source" (the children linked to a record of the indicator's holder) or an indicator
SCOPES: dict[str, tuple[str, int, int]] = {
    "overgewicht": ("source", 0, 17),
    "taalachterstand": ("source", 2, 5),
    "psychosociale_problemen": ("source", 0, 17),
    "vve_indicatie": ("source", 2, 5),
    "vve_deelname": ("vve_indicatie", 2, 5),
    "onderwijsachterstand": ("source", 4, 17),
    "verzuim": ("source", 4, 17),
    "sport_cultuur": ("source", 4, 17),
    "stabiele_schoolloopbaan": ("source", 4, 17),
}

POPULATION_LABELS = {  # (Dutch, English), for a population name as index.csv's `population` gives it
    "population": ("alle ingeschreven kinderen", "all registered children"),
    "population:ggd": ("kinderen in beeld bij de JGZ", "children seen by the JGZ"),
    "population:school": ("leerlingen", "pupils"),
    "vve_indicatie": ("kinderen met een VVE-indicatie", "children with a VVE indication"),
}


def scope_tables(indicators: Iterable[str]) -> dict[str, dict[str, object]]:
    """The ``[indicator.NAME]`` tables of a spec for these indicators (those in the catalogue)."""
    return {i: {"population": SCOPES[i][0], "ages": [SCOPES[i][1], SCOPES[i][2]]}
            for i in indicators if i in SCOPES}


def population_label(name: str, english: bool = False) -> str:
    """``population:ggd@2-5`` -> "kinderen in beeld bij de JGZ, 2 t/m 5 jaar"."""
    base, _, ages = name.partition("@")
    nl, en = POPULATION_LABELS.get(base, (base, base))
    if not ages:
        return en if english else nl
    low, high = ages.split("-")
    return f"{en}, aged {low} to {high}" if english else f"{nl}, {low} t/m {high} jaar"
