"""SVG paths of the real buurt geometry, grouped per wijk, for an offline choropleth."""

from __future__ import annotations

import math
from pathlib import Path

from wijkindex.geo import buurt_polygons

WIDTH = 560


def wijk_paths(data_dir: Path | str | None = None) -> tuple[dict[str, list[str]], int, int]:
    """{wijk code: [SVG path data per buurt]}, width, height (equirectangular, north up)."""
    polys = buurt_polygons(data_dir)
    lons = [x for _, _, rings in polys for ring in rings for x, _ in ring]
    lats = [y for _, _, rings in polys for ring in rings for _, y in ring]
    lat0 = (min(lats) + max(lats)) / 2
    kx = math.cos(math.radians(lat0))
    span_x = (max(lons) - min(lons)) * kx
    span_y = max(lats) - min(lats)
    scale = (WIDTH - 20) / span_x
    height = int(span_y * scale) + 20
    out: dict[str, list[str]] = {}
    for _, wijk, rings in polys:
        parts = []
        for ring in rings:
            pts = [(10 + (x - min(lons)) * kx * scale, 10 + (max(lats) - y) * scale) for x, y in ring]
            parts.append("M" + "L".join(f"{px:.1f},{py:.1f}" for px, py in pts) + "Z")
        out.setdefault(wijk, []).append("".join(parts))
    return out, WIDTH, height
