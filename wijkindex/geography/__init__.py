"""Geographies: what wijkindex asks of a gemeente's areas, and the loaders that provide them.

``load_geography(name)`` is the one entry point for configs and the command line:
``"cbs:GM0363"`` / ``"GM0363"`` / ``"Amsterdam"`` load a CBS 2024 gemeente from the shipped
data, a CBS wijk- en buurtkaart file (``.gpkg``, ``.geojson``, ``.geojson.gz``) a gemeente's
own geography (``gemeente`` names which one of a national file), a folder path a geography in
Zwolle-2014 form, and ``None`` gives the default: Zwolle's finer 2014 buurten.
"""

from __future__ import annotations

from pathlib import Path

from wijkindex.geography.base import AREA_LEVELS, BANDS, Geography, Polygon, combine, gemeente_of_area
from wijkindex.geography.cbs import gemeenten, load_gemeente, resolve
from wijkindex.geography.gpkg import GeographyFileError, is_geography_file
from wijkindex.geography.kaart import load_kaart
from wijkindex.geography.regions import Region, load_region, load_regions_toml, region_of, regions
from wijkindex.geography.zwolle2014 import DEFAULT_DATA_DIR, buurt_polygons, load_zwolle, recover_inhabitants

__all__ = ["AREA_LEVELS", "BANDS", "DEFAULT_DATA_DIR", "Geography", "GeographyFileError", "Polygon", "Region",
           "buurt_polygons", "combine", "gemeente_of_area", "gemeenten", "is_geography_file", "load_gemeente",
           "load_geography", "load_kaart", "load_region", "load_regions_toml", "load_zwolle", "recover_inhabitants",
           "region_of", "regions", "resolve", "geography_for", "default_geography", "polygons_of"]


def default_geography() -> Geography:
    """The geography a command uses when none is named: Zwolle's finer 2014 buurten (shipped)."""
    return load_zwolle()


def polygons_of(gemeente_code: str | None = None) -> "list[Polygon]":
    """The shipped polygons of a gemeente: the default geography's own where it is that gemeente
    (or none is named), else its CBS 2024 wijken."""
    default = default_geography()
    if gemeente_code and gemeente_code != default.gemeente_code:
        return list(load_gemeente(gemeente_code).polygons)
    return list(default.polygons)


def load_geography(name: str | Path | None = None, gemeente: str | None = None, *, level: str = "wijk",
                   min_children: float = 5) -> Geography:
    """A geography by config name: "cbs:GM0363", a gemeente code or name, a wijk- en buurtkaart
    file (with ``gemeente``: which one of the file's; ``level``: "buurt" reads its buurten), a
    folder in Zwolle-2014 form, or None."""
    if name is None:
        return default_geography()
    text = str(name)
    if text.lower().startswith("cbs:"):
        return load_gemeente(text[4:], min_children)
    if is_geography_file(text):
        return load_kaart(text, gemeente, level=level, min_children=min_children)
    if isinstance(name, Path) or "/" in text or Path(text).is_dir():
        if not Path(text).is_dir():
            raise GeographyFileError(f"{text}: neither a folder in Zwolle-2014 form nor a geography file "
                                     "(.gpkg, .geojson, .geojson.gz)", public=f"{Path(text).name}: not a geography")
        return load_zwolle(name)
    return load_gemeente(text, min_children)


def geography_for(data: Path | str | None, gemeente: str | None = None) -> Geography:
    """What the commands' ``--data`` and ``--gemeente`` name: a wijk- en buurtkaart file (and
    which gemeente of it), a folder in Zwolle-2014 form, a shipped CBS gemeente, or Zwolle 2014."""
    if data is not None and is_geography_file(data):
        return load_kaart(data, gemeente)
    if data is not None and gemeente is not None:
        raise GeographyFileError(f"{data}: --gemeente picks a gemeente of a wijk- en buurtkaart file (.gpkg, "
                                 ".geojson); a folder in Zwolle-2014 form holds one gemeente",
                                 public=f"{Path(data).name}: --gemeente with a folder", fix="give --data or --gemeente")
    if gemeente:
        return load_gemeente(gemeente)
    return load_zwolle(data) if data is not None else default_geography()
