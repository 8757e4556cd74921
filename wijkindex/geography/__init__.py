"""Geographies: what wijkindex asks of a gemeente's areas, and the loaders that provide them.

``load_geography(name)`` is the one entry point for configs and the command line:
``"cbs:GM0363"`` / ``"GM0363"`` / ``"Amsterdam"`` load a CBS 2024 gemeente from the shipped
data, a folder path loads a geography in Zwolle-2014 form (a user's own), and ``None``
gives the default: Zwolle's finer 2014 buurten.
"""

from __future__ import annotations

from pathlib import Path

from wijkindex.geography.base import AREA_LEVELS, BANDS, Geography, Polygon, combine, gemeente_of_area
from wijkindex.geography.cbs import gemeenten, load_gemeente, resolve
from wijkindex.geography.regions import Region, load_region, load_regions_toml, region_of, regions
from wijkindex.geography.zwolle2014 import DEFAULT_DATA_DIR, buurt_polygons, load_zwolle, recover_inhabitants

__all__ = ["AREA_LEVELS", "BANDS", "DEFAULT_DATA_DIR", "Geography", "Polygon", "Region", "buurt_polygons", "combine",
           "gemeente_of_area", "gemeenten", "load_gemeente", "load_geography", "load_region", "load_regions_toml",
           "load_zwolle", "recover_inhabitants", "region_of", "regions", "resolve"]


def load_geography(name: str | Path | None = None) -> Geography:
    """A geography by config name: "cbs:GM0363", a gemeente code or name, a folder, or None."""
    if name is None:
        return load_zwolle()
    text = str(name)
    if text.lower().startswith("cbs:"):
        return load_gemeente(text[4:])
    if isinstance(name, Path) or "/" in text or Path(text).is_dir():
        return load_zwolle(name)
    return load_gemeente(text)
