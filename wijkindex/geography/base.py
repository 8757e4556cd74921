"""What the rest of wijkindex asks of a geography: its areas, expected children, polygons.

A :class:`Geography` is one gemeente: ``buurten`` (the finest areas, with inhabitants and
the age and risk shares the synthetic generator and the disclosure guard use) and
``wijken`` (their parents). Loaders live beside this module: ``zwolle2014`` (Zwolle's
2014 buurt monitor), ``cbs`` (any gemeente from the shipped CBS 2024 wijken) and ``kaart``
(a gemeente's own CBS wijk- en buurtkaart file).

``aliases`` maps every CBS code a child's record may carry that is not an area of its own
(a wijk or buurt too small to publish, or without inhabitants in the CBS figures, folded into
a neighbour) to the area it counts in; the round's cells carry them as ``members``, so the
spine places such a child in the merged area instead of losing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

from wijkindex.vocabulary import AREA_COLUMNS

BANDS = ((0, 3, "share_0_3"), (4, 11, "share_4_11"), (12, 17, "share_12_17"))
BUURT_COLUMNS = ("buurt_code", "buurt_name", "wijk_code", "inhabitants", "share_0_3", "share_4_11", "share_12_17",
                 "single_parent_hh_share", "wwb_share", "unemployed_share", "non_western_hh_share")
WIJK_COLUMNS = ("wijk_code", "wijk_name", "buurten", "inhabitants")
AREA_LEVELS = AREA_COLUMNS  # level -> (code column, name column)
# (area code, wijk code, rings of (lon, lat)): one entry per drawn area (a buurt, or a CBS wijk)
Polygon = tuple[str, str, list[list[tuple[float, float]]]]


def _overlap(lo: int, hi: int, a: int, b: int) -> float:
    """The fraction of band a..b (whole years) inside lo..hi."""
    return max(0, min(hi, b) - max(lo, a) + 1) / (b - a + 1)


@dataclass(frozen=True)
class Geography:
    """One gemeente's areas. ``calibration`` holds gemeente-wide target rates for the
    synthetic generator (indicator -> rate, from KWB figures); ``source`` says where the
    figures come from, for the report."""

    gemeente_code: str
    gemeente_name: str
    buurten: pd.DataFrame
    wijken: pd.DataFrame
    polygons: tuple[Polygon, ...] = ()
    calibration: dict[str, float] = field(default_factory=dict)
    source: str = ""
    aliases: dict[str, str] = field(default_factory=dict)  # folded WK/BU code -> the area it counts in

    def members(self, level: str = "wijk") -> dict[str, tuple[str, ...]]:
        """{area code of ``level``: the folded codes whose children count in it} (sorted)."""
        prefix = "WK" if level == "wijk" else "BU"
        out: dict[str, list[str]] = {}
        for code, host in sorted(self.aliases.items()):
            if code[:2] == prefix:
                out.setdefault(host, []).append(code)
        return {host: tuple(codes) for host, codes in out.items()}

    def area_of(self, code: str) -> str:
        """The area a child with this CBS code counts in: the code itself or its host."""
        return self.aliases.get(code, code)

    def wijk_name(self, code: str) -> str:
        return str(self.wijken.set_index("wijk_code").loc[code, "wijk_name"])

    def areas(self, level: str = "wijk") -> pd.DataFrame:
        """(code, name) of every area of ``level`` ("wijk" or "buurt"), sorted by code."""
        code, name = AREA_LEVELS[level]
        frame = self.wijken if level == "wijk" else self.buurten
        return frame[[code, name]].sort_values(code).reset_index(drop=True)

    def expected_children(self, low: int, high: int, level: str = "wijk") -> pd.Series:
        """Children aged low..high per area of ``level`` by the public figures (inhabitants x
        age shares): what the disclosure guard compares with its minimum."""
        b = self.buurten
        share = sum(b[s] * _overlap(low, high, lo, hi) for lo, hi, s in BANDS)
        return (b["inhabitants"] * share).groupby(b[AREA_LEVELS[level][0]]).sum()

    def children(self) -> float:
        """Expected children 0-17 in the gemeente."""
        return float(self.expected_children(0, 17).sum())

    def renamed(self, gemeente_code: str, gemeente_name: str) -> "Geography":
        """The same buurten and wijken under another gemeente code (WK0193xx -> WK<code>xx), for a
        synthetic federation of several gemeenten; never for real data."""
        old, new = self.gemeente_code[2:], gemeente_code[2:]
        if len(new) != len(old) or not gemeente_code.startswith("GM"):
            raise ValueError(f"a gemeente code like GM0193, got {gemeente_code!r}")

        def code(c: str) -> str:
            return c[:2] + new + c[2 + len(old):]

        buurten = self.buurten.assign(buurt_code=self.buurten["buurt_code"].map(code),
                                      wijk_code=self.buurten["wijk_code"].map(code))
        wijken = self.wijken.assign(wijk_code=self.wijken["wijk_code"].map(code))
        polygons = tuple((code(a), code(w), rings) for a, w, rings in self.polygons)
        return Geography(gemeente_code, gemeente_name, buurten, wijken, polygons, dict(self.calibration), self.source,
                         {code(a): code(h) for a, h in self.aliases.items()})


def gemeente_of_area(code: str) -> str:
    """The CBS gemeente code of a wijk or buurt code (WK019310, BU01931000 -> GM0193)."""
    if len(code) < 6 or code[:2] not in ("WK", "BU") or not code[2:6].isdigit():
        raise ValueError(f"{code!r} is not a CBS wijk or buurt code (WK + 6 digits, BU + 8)")
    return "GM" + code[2:6]


def combine(geographies: "Sequence[Geography]", code: str, name: str) -> Geography:
    """Several gemeenten's areas as one geography under a region's ``code`` (for the synthetic
    generator of a region: its children are drawn over every gemeente at once). The
    calibration is the inhabitant-weighted mean of the gemeenten'."""
    geos = list(geographies)
    codes = [g.gemeente_code for g in geos]
    if len(set(codes)) != len(codes):
        raise ValueError(f"a gemeente twice in a region: {', '.join(codes)}")
    weights = [float(g.buurten["inhabitants"].sum()) for g in geos]
    keys = set().union(*(g.calibration for g in geos))
    calibration = {k: sum(w * g.calibration.get(k, 0.0) for g, w in zip(geos, weights)) /
                   max(sum(w for g, w in zip(geos, weights) if k in g.calibration), 1.0) for k in keys}
    return Geography(code, name, pd.concat([g.buurten for g in geos], ignore_index=True),
                     pd.concat([g.wijken for g in geos], ignore_index=True),
                     tuple(p for g in geos for p in g.polygons), calibration,
                     "; ".join(dict.fromkeys(g.source for g in geos if g.source)),
                     {a: h for g in geos for a, h in g.aliases.items()})
