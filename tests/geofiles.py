"""Test helpers: a gemeente's CBS wijk- en buurtkaart written as CBS and PDOK publish it.

From the project's copy of the CBS/Kadaster 2024 wijken (../shared/data/nl-2024) and Zwolle's
2014 buurten (../shared/data/zwolle-2014): a GeoPackage in RD New (EPSG:28992) with the CBS
2023/2024 column names and CBS's negative codes for secret figures, and GeoJSON exports (WGS84,
PDOK's camelCase names). Geometry is encoded with shapely (a test dependency), independently of
the reader under test.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pytest

from wijkindex.geography.gpkg import wgs84_to_rd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NL2024, ZWOLLE2014 = SHARED / "nl-2024", SHARED / "zwolle-2014"
SECRET = -99997  # CBS: "geheim" (too few inhabitants to publish)
# the shipped short names -> the CBS wijk- en buurtkaart 2023/2024 GeoPackage names
GPKG_NAMES = {"wijkcode": "wijkcode", "wijknaam": "wijknaam", "gemeentecode": "gemeentecode",
              "gemeentenaam": "gemeentenaam", "aantal_inwoners": "aantal_inwoners", "mannen": "mannen",
              "vrouwen": "vrouwen", "0_15": "percentage_personen_0_tot_15_jaar",
              "15_25": "percentage_personen_15_tot_25_jaar", "25_45": "percentage_personen_25_tot_45_jaar",
              "45_65": "percentage_personen_45_tot_65_jaar", "65plus": "percentage_personen_65_jaar_en_ouder",
              "huishoudens": "aantal_huishoudens", "gem_huishouden_grootte": "gemiddelde_huishoudsgrootte",
              "bevolkingsdichtheid": "bevolkingsdichtheid_inwoners_per_km2",
              "personenautos": "personenautos_totaal"}
# PDOK's OGC API / WFS spelling of the same columns
PDOK_NAMES = {k: "".join(w if i == 0 else w.capitalize() for i, w in enumerate(v.split("_")))
              for k, v in GPKG_NAMES.items()}


@lru_cache(maxsize=1)
def nl_wijken() -> list[dict[str, Any]]:
    path = NL2024 / "wijken_2024.geojson"
    if not path.exists():
        pytest.skip(f"the CBS source data is not at {NL2024}")
    return json.loads(path.read_text(encoding="utf-8"))["features"]


def wijken_of(*codes: str) -> list[dict[str, Any]]:
    return [f for f in nl_wijken() if f["properties"]["gemeentecode"] in codes]


def cbs_properties(props: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A feature's properties as CBS writes them: its names, a missing figure as -99997."""
    out = {new: props.get(old, SECRET) for old, new in names.items()}
    out = {k: (SECRET if v is None else v) for k, v in out.items()}
    out["water"] = "NEE"
    return out


def _rd(geometry: dict[str, Any]) -> Any:
    import numpy as np
    import shapely
    from shapely.geometry import shape

    return shapely.transform(shape(geometry), lambda xy: np.array([wgs84_to_rd(x, y) for x, y in xy]))


def gpkg_blob(geom: Any, srs_id: int = 28992) -> bytes:
    """A GeoPackage geometry: 'GP', version 0, flags (little endian, xy envelope), srs id, envelope, WKB."""
    from shapely import wkb

    minx, miny, maxx, maxy = geom.bounds
    return b"GP" + bytes([0, 0b00000011]) + struct.pack("<i", srs_id) + struct.pack("<4d", minx, maxx, miny, maxy) \
        + wkb.dumps(geom)


def write_gpkg(path: Path, layers: dict[str, Iterable[dict[str, Any]]], *, srs_id: int = 28992) -> Path:
    """A GeoPackage with one feature table per layer ({name: GeoJSON features in WGS84}),
    geometry column ``geom`` in RD New (or WGS84 with ``srs_id=4326``)."""
    from shapely.geometry import shape

    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
            organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL,
            description TEXT);
        CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT,
            description TEXT DEFAULT '', last_change DATETIME, min_x DOUBLE, min_y DOUBLE, max_x DOUBLE,
            max_y DOUBLE, srs_id INTEGER);
        CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
            geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL);
        INSERT INTO gpkg_spatial_ref_sys VALUES ('Amersfoort / RD New', 28992, 'EPSG', 28992, 'PROJCS[...]', '');
        INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[...]', '');
        PRAGMA application_id = 1196444487;
    """)
    for name, features in layers.items():
        features = list(features)
        columns = list(dict.fromkeys(k for f in features for k in f["properties"]))
        kinds = {c: "INTEGER" if all(isinstance(f["properties"].get(c), int) for f in features) else
                 "REAL" if all(isinstance(f["properties"].get(c), (int, float)) for f in features) else "TEXT"
                 for c in columns}
        con.execute(f'CREATE TABLE "{name}" (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom MULTIPOLYGON'
                    + "".join(f', "{c}" {kinds[c]}' for c in columns) + ")")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) "
                    "VALUES (?, 'features', ?, ?)", (name, name, srs_id))
        con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'MULTIPOLYGON', ?, 0, 0)", (name, srs_id))
        for f in features:
            geom = _rd(f["geometry"]) if srs_id == 28992 else shape(f["geometry"])
            con.execute(f'INSERT INTO "{name}" (geom{"".join(", " + chr(34) + c + chr(34) for c in columns)}) '
                        f'VALUES (?{", ?" * len(columns)})', (gpkg_blob(geom, srs_id), *(f["properties"].get(c)
                                                                                         for c in columns)))
    con.commit()
    con.close()
    return path


def write_geojson(path: Path, features: Iterable[dict[str, Any]], *, crs: str | None = None) -> Path:
    data: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if crs:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    text = json.dumps(data)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def gpkg_wijken(*codes: str) -> list[dict[str, Any]]:
    return [{"type": "Feature", "geometry": f["geometry"], "properties": cbs_properties(f["properties"], GPKG_NAMES)}
            for f in wijken_of(*codes)]


def pdok_wijken(*codes: str) -> list[dict[str, Any]]:
    return [{"type": "Feature", "geometry": f["geometry"], "properties": cbs_properties(f["properties"], PDOK_NAMES)}
            for f in wijken_of(*codes)]


def zwolle_buurten() -> list[dict[str, Any]]:
    """Zwolle's 78 real buurten (2014 polygons and codes) as a CBS buurten layer: inhabitants
    and age shares from the 2014 buurt monitor (0-14 as 0-3 + 4-11 + half of 12-17, in whole
    percent; secret where the monitor has none), uninhabited buurten with 0 inhabitants."""
    from wijkindex.geography import load_zwolle

    path = ZWOLLE2014 / "buurten_2014.geojson"
    if not path.exists():
        pytest.skip(f"the Zwolle source data is not at {ZWOLLE2014}")
    geo = load_zwolle(ZWOLLE2014).buurten.set_index("buurt_code")
    out = []
    for f in json.loads(path.read_text(encoding="utf-8"))["features"]:
        p = f["properties"]
        code = p["STATCODE"]
        n = int(geo.loc[code, "inhabitants"]) if code in geo.index else 0
        row = geo.loc[code] if code in geo.index else None
        share = round(100 * (row["share_0_3"] + row["share_4_11"] + row["share_12_17"] / 2)) if n >= 50 else SECRET
        out.append({"type": "Feature", "geometry": f["geometry"], "properties": {
            "buurtcode": code, "buurtnaam": p["BU_NAAM"], "wijkcode": p["WK_2014"], "gemeentecode": "GM0193",
            "gemeentenaam": "Zwolle", "water": "NEE", "aantal_inwoners": n,
            "percentage_personen_0_tot_15_jaar": share,
            "percentage_personen_15_tot_25_jaar": 12 if n >= 50 else SECRET}})
    return out
