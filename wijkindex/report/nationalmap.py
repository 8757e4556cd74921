"""A choropleth of all gemeenten of the Netherlands as inline SVG, for offline reports.

Geometry: the shipped CBS/Kadaster 2024 gemeente polygons (``wijkindex/data/nl-2024/
gemeenten_2024.geojson.gz``, simplified; "Bron: CBS, Kadaster"). Colours are quantile
classes of the values, darkest = highest; a gemeente without a value (NaN) is grey.
"""

from __future__ import annotations

import gzip
import html
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Union

import numpy as np
import pandas as pd

from wijkindex.errors import ConfigError

DATA = Path(__file__).resolve().parent.parent / "data" / "nl-2024" / "gemeenten_2024.geojson.gz"
WIDTH = 440
TOP = 36  # room for the title (and its source line) above the country
ROW = 15  # legend row height
CLASSES = 5  # quantile classes at most
PALETTE = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")  # light -> dark (ColorBrewer Reds)
NO_DATA = "#d4d4d4"
Text = Union[str, tuple[str, str]]  # plain, or (Dutch, English) for the report's language switch


def available() -> bool:
    """Whether the shipped gemeente polygons are installed."""
    return DATA.is_file()


@lru_cache(maxsize=1)
def gemeente_shapes() -> dict[str, tuple[str, list[list[tuple[float, float]]]]]:
    """{GM code: (name, rings of (lon, lat))} of the 342 gemeenten of 2024."""
    try:
        with gzip.open(DATA, "rt", encoding="utf-8") as fh:
            features = json.load(fh)["features"]
    except FileNotFoundError:
        raise ConfigError(f"{DATA}: the shipped gemeente polygons are missing",
                          fix="reinstall wijkindex (the nl-2024 package data is part of it)") from None
    out = {}
    for f in features:
        geom, p = f["geometry"], f["properties"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        out[p["gemeentecode"]] = (p["gemeentenaam"], [[(float(x), float(y)) for x, y in ring]
                                                      for poly in polys for ring in poly])
    return out


@lru_cache(maxsize=4)
def _projected(width: int) -> tuple[dict[str, list[list[tuple[float, float]]]], int]:
    """Rings in SVG pixels (equirectangular, north up, rounded to 0.1 px) and the map's height."""
    shapes = gemeente_shapes()
    lons = [x for _, rings in shapes.values() for ring in rings for x, _ in ring]
    lats = [y for _, rings in shapes.values() for ring in rings for _, y in ring]
    kx = math.cos(math.radians((min(lats) + max(lats)) / 2))
    scale = (width - 20) / ((max(lons) - min(lons)) * kx)
    x0, y0 = min(lons), max(lats)
    rings = {code: [[(round(10 + (x - x0) * kx * scale, 1), round(TOP + (y0 - y) * scale, 1)) for x, y in ring]
                    for ring in rs] for code, (_, rs) in shapes.items()}
    return rings, int((max(lats) - min(lats)) * scale) + TOP + 10


def _d(rings: list[list[tuple[float, float]]]) -> str:
    """Path data in relative steps (a third shorter than absolute points), repeated points left out."""
    out = []
    for ring in rings:
        (x0, y0), steps = ring[0], []
        px, py = x0, y0
        for x, y in ring[1:]:
            dx, dy = round(x - px, 1), round(y - py, 1)
            if dx or dy:
                steps.append(f"{dx:g},{dy:g}".replace(",-", "-"))
                px, py = px + dx, py + dy
        if len(steps) >= 2:
            out.append(f"M{x0:g},{y0:g}l" + " ".join(steps) + "z")
    return "".join(out)


def quantile_classes(values: pd.Series, k: int = CLASSES) -> tuple[pd.Series, list[tuple[float, float]]]:
    """Each value's quantile class (0 = lowest; -1 where NaN) and each class's (min, max) value.
    Ties never straddle a class; empty classes are dropped, so there may be fewer than ``k``."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    ok = v.dropna()
    cls = pd.Series(-1, index=v.index, dtype=int)
    if ok.empty:
        return cls, []
    cuts = np.unique(np.quantile(ok.to_numpy(), np.linspace(0, 1, k + 1)[1:-1]))
    raw = pd.Series(np.searchsorted(cuts, ok.to_numpy(), side="right"), index=ok.index)
    used = sorted(raw.unique())
    cls[ok.index] = raw.map({c: i for i, c in enumerate(used)}).astype(int)
    ranges = [(float(ok[cls[ok.index] == i].min()), float(ok[cls[ok.index] == i].max())) for i in range(len(used))]
    return cls, ranges


def class_colour(c: int, n: int) -> str:
    """The fill of class ``c`` of ``n`` (spread over the palette, darkest = highest); grey for -1."""
    if c < 0 or n <= 0:
        return NO_DATA
    return PALETTE[round(c * (len(PALETTE) - 1) / (n - 1))] if n > 1 else PALETTE[-1]


def _boundaries(rings: dict[str, list[list[tuple[float, float]]]], groups: Mapping[str, str]) -> str:
    """Path data of the outer edges of each group of gemeenten: the segments not shared by two
    members of the same group, chained into lines."""
    out = []
    for _, codes in pd.Series(dict(groups)).groupby(lambda c: groups[c]):
        seen: dict[frozenset[tuple[float, float]], int] = {}
        for code in codes.index:
            for ring in rings.get(code, []):
                for a, b in zip(ring, ring[1:] + ring[:1]):
                    if a != b:
                        key = frozenset((a, b))
                        seen[key] = seen.get(key, 0) + 1
        nxt: dict[tuple[float, float], list[tuple[float, float]]] = {}
        for key, n in seen.items():
            if n == 1:
                a, b = tuple(key)
                nxt.setdefault(a, []).append(b)
                nxt.setdefault(b, []).append(a)
        while nxt:
            p = next(iter(nxt))
            line = [p]
            while nxt.get(p):
                q = nxt[p].pop()
                nxt[q].remove(p)
                if not nxt[p]:
                    del nxt[p]
                line.append(q)
                p = q
            nxt.pop(p, None)
            out.append("M" + "L".join(f"{x:g},{y:g}" for x, y in line))
    return "".join(out)


def _text(t: Text, **attrs: object) -> str:
    nl, en = (t, None) if isinstance(t, str) else t
    extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v))}"' for k, v in attrs.items())
    lang = f' data-en="{html.escape(en)}"' if en is not None else ""
    return f"<text{extra}{lang}>{html.escape(nl)}</text>"


def split_title(title: Text) -> tuple[Text, Text]:
    """A title's main part and its parenthesised source, on two lines: "X (CBS KWB 2022)"."""
    def cut(t: str) -> tuple[str, str]:
        i = t.rfind(" (")
        return (t[:i], t[i + 1:]) if i > 0 and t.endswith(")") else (t, "")
    if isinstance(title, str):
        return cut(title)
    (nl, nl_sub), (en, en_sub) = cut(title[0]), cut(title[1])
    return (nl, en), (nl_sub, en_sub)


def percent(x: float) -> str:
    return f"{x:.1f}%"


def national_map_svg(values: pd.Series, selected: str | None = None, *, groups: Mapping[str, str] | None = None,
                     title: Text = "", legend_title: Text = "", no_data: Text = ("geen gegevens", "no data"),
                     fmt: Callable[[float], str] = percent, k: int = CLASSES, svg_id: str = "wi-nl-map",
                     width: int = WIDTH, outlines: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """All gemeenten of the Netherlands coloured by ``values`` (GM code -> number; NaN or absent:
    grey), in quantile classes (darkest = highest) with a legend of each class's range and a
    tooltip per gemeente (name and value). ``selected`` is outlined thickly; ``groups``
    (GM code -> region code) draws each region's outer edge. ``outlines`` (name -> such a mapping)
    draws more kinds of region edges, each as a path of class ``outline-<name>``, only the first
    visible (a script shows the one of the level on the map). Texts may be (Dutch, English)."""
    shapes = gemeente_shapes()
    rings, height = _projected(width)
    vals = pd.to_numeric(pd.Series(values, dtype=float), errors="coerce").reindex(list(shapes))
    cls, ranges = quantile_classes(vals, k)
    n = len(ranges)
    parts = [f"<svg id='{html.escape(svg_id)}' class='wi-nl' xmlns='http://www.w3.org/2000/svg' width='{width}' "
             f"height='{height}' viewBox='0 0 {width} {height}' role='img' "
             f"aria-label='{html.escape(title if isinstance(title, str) else title[0])}'>"]
    head, sub = split_title(title)
    parts.append(_text(head, x=4, y=14, font_size=12, font_weight=600, class_="nl-title"))
    parts.append(_text(sub, x=4, y=28, font_size=10, fill="#555", class_="nl-subtitle"))
    parts.append("<g stroke='#fff' stroke-width='.35' stroke-linejoin='round'>")
    order = [c for c in shapes if c != selected] + ([selected] if selected in shapes else [])
    for code in order:
        c = int(cls[code])
        v = vals[code]
        tip = f"{shapes[code][0]}: {fmt(float(v)) if pd.notna(v) else '-'}"
        sel = " sel' stroke='#000' stroke-width='2.2" if code == selected else ""
        parts.append(f"<path data-gm='{code}' class='gm q{c}{sel}' fill='{class_colour(c, n)}' d='{_d(rings[code])}'>"
                     f"<title>{html.escape(tip)}</title></path>")
    parts.append("</g>")
    if groups:
        parts.append(f"<path class='region' fill='none' stroke='#222' stroke-width='1.3' "
                     f"d='{_boundaries(rings, groups)}'/>")
    for i, (name, members) in enumerate((outlines or {}).items()):
        hidden = "" if i == 0 else " visibility='hidden'"
        parts.append(f"<path class='region outline-{html.escape(name)}' fill='none' stroke='#222' "
                     f"stroke-width='1.3'{hidden} d='{_boundaries(rings, members)}'/>")
    # the legend sits in the North Sea, top left
    y = TOP + 14
    parts.append(f"<g class='nl-legend' font-size='10'>{_text(legend_title, x=4, y=y, font_weight=600)}")
    for i in range(k):
        y += ROW
        lo, hi = ranges[i] if i < n else (math.nan, math.nan)
        text = "" if i >= n else fmt(lo) if lo == hi else f"{fmt(lo)} - {fmt(hi)}"
        hidden = " visibility='hidden'" if i >= n else ""
        parts.append(f"<g class='nl-class'{hidden}><rect x='4' y='{y - 9}' width='14' height='10' "
                     f"fill='{class_colour(i, n) if i < n else NO_DATA}' stroke='#999' stroke-width='.5'/>"
                     f"<text x='22' y='{y}'>{html.escape(text)}</text></g>")
    y += ROW  # "no data" right below the classes in use
    parts.append(f"<g class='nl-none' transform='translate(0,{-ROW * (k - n)})'><rect x='4' y='{y - 9}' width='14' "
                 f"height='10' fill='{NO_DATA}' stroke='#999' stroke-width='.5'/>{_text(no_data, x=22, y=y)}</g></g>")
    parts.append(_text(("Bron kaart: CBS, Kadaster", "Map source: CBS, Kadaster"), x=width - 4, y=height - 3,
                       font_size=9, fill="#666", text_anchor="end"))
    parts.append("</svg>")
    return "".join(parts)
