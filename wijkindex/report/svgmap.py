"""SVG paths of a geography's real polygons, grouped per wijk, for an offline choropleth."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from wijkindex.geography import Geography, Polygon

WIDTH = 560


def polygons_for(data_dir: Path | str | None = None, geography: "Geography | None" = None,
                 gemeente_code: str | None = None) -> "Sequence[Polygon]":
    """The polygons to draw: the geography's own; else a folder in Zwolle-2014 form (its geometry
    file only); else the shipped ones of ``gemeente_code`` (geography.polygons_of)."""
    from wijkindex.geography import buurt_polygons, polygons_of

    if geography is not None and geography.polygons:
        return geography.polygons
    if data_dir is not None:
        return buurt_polygons(data_dir)
    return polygons_of(gemeente_code)


def wijk_paths(data_dir: Path | str | None = None, geography: "Geography | None" = None,
               gemeente_code: str | None = None) -> tuple[dict[str, list[str]], int, int]:
    """{wijk code: [SVG path data per drawn area]}, width, height (equirectangular, north up)."""
    polys = polygons_for(data_dir, geography, gemeente_code)
    lons = [x for _, _, rings in polys for ring in rings for x, _ in ring]
    lats = [y for _, _, rings in polys for ring in rings for _, y in ring]
    lat0 = (min(lats) + max(lats)) / 2
    kx = math.cos(math.radians(lat0))
    span_x = (max(lons) - min(lons)) * kx
    span_y = max(lats) - min(lats)
    scale = (WIDTH - 20) / max(span_x, span_y * 1e-3, 1e-9)
    height = int(span_y * scale) + 20
    out: dict[str, list[str]] = {}
    for _, wijk, rings in polys:
        parts = []
        for ring in rings:
            pts = [(10 + (x - min(lons)) * kx * scale, 10 + (max(lats) - y) * scale) for x, y in ring]
            parts.append("M" + "L".join(f"{px:.1f},{py:.1f}" for px, py in pts) + "Z")
        out.setdefault(wijk, []).append("".join(parts))
    return out, WIDTH, height
