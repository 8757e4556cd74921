"""Reading the layers of a CBS wijk- en buurtkaart file without GDAL: GeoPackage and GeoJSON.

A GeoPackage is an SQLite database (read here with the standard library's ``sqlite3``): its
``gpkg_contents`` table lists the layers, ``gpkg_geometry_columns`` names each layer's geometry
column and spatial reference, and every geometry is a GeoPackage binary blob (a ``GP`` header
with an optional envelope, then standard WKB). CBS publishes it in RD New (EPSG:28992); the
polygons are converted to WGS84 longitude/latitude with the RDNAPTRANS approximation formulas
of Schreutelkamp and Strang van Hees (accurate to well under a metre, enough for a map).
A GeoJSON export (plain or ``.gz``) is one layer; RFC 7946 GeoJSON is WGS84, an older export
that names EPSG:28992 in its ``crs`` member is converted like the GeoPackage.

What comes out is a :class:`Layer` per layer: its column names, its rows (dicts) and per row
the polygons as rings of (lon, lat), simplified to about 5 metres for the report's map.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from wijkindex.config import GEOGRAPHY_FILES
from wijkindex.errors import ConfigError

Ring = list[tuple[float, float]]
Rings = list[Ring]  # every ring (outer and holes) of every polygon of one feature
SIMPLIFY_DEGREES = 0.00005  # about 5 m: the map needs no more
WGS84, RD_NEW = (4326, 28992)


class GeographyFileError(ConfigError):
    """A gemeente's geography file (CBS wijk- en buurtkaart) cannot be used: unreadable, a layer
    or column missing, no such gemeente in it; the message names the file and what is missing."""

    code = "WI230"
    value_free = True
    summary = "the geography file cannot be read or lacks a layer or column"
    fix = ("export the gemeente's wijken (and buurten) from the CBS wijk- en buurtkaart as CBS publishes it "
           "(GeoPackage with layers wijken/buurten, or GeoJSON), with its columns; docs/operator-guide.md, "
           "\"Your own gemeente\"")


@dataclass(frozen=True)
class Layer:
    name: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    geometries: list[Rings]


# ---- coordinates -------------------------------------------------------------------------

_X0, _Y0, _PHI0, _LAM0 = 155000.0, 463000.0, 52.15517440, 5.38720621
_K = ((0, 1, 3235.65389), (2, 0, -32.58297), (0, 2, -0.24750), (2, 1, -0.84978), (0, 3, -0.06550),
      (2, 2, -0.01709), (1, 0, -0.00738), (4, 0, 0.00530), (2, 3, -0.00039), (4, 1, 0.00033), (1, 1, -0.00012))
_L = ((1, 0, 5260.52916), (1, 1, 105.94684), (1, 2, 2.45656), (3, 0, -0.81885), (1, 3, 0.05594),
      (3, 1, -0.05607), (0, 1, 0.01199), (3, 2, -0.00256), (1, 4, 0.00128), (0, 2, 0.00022), (2, 0, -0.00022),
      (5, 0, 0.00026))
_R = ((0, 1, 190094.945), (1, 1, -11832.228), (2, 1, -114.221), (0, 3, -32.391), (1, 0, -0.705),
      (3, 1, -2.340), (1, 3, -0.608), (0, 2, -0.008), (2, 3, 0.148))
_S = ((1, 0, 309056.544), (0, 2, 3638.893), (2, 0, 73.077), (1, 2, -157.984), (3, 0, 59.788), (0, 1, 0.433),
      (2, 2, -6.439), (1, 1, -0.032), (0, 4, 0.092), (1, 4, -0.054))


def rd_to_wgs84(x: float, y: float) -> tuple[float, float]:
    """RD New (EPSG:28992) metres -> WGS84 (lon, lat) degrees."""
    dx, dy = (x - _X0) * 1e-5, (y - _Y0) * 1e-5
    lat = _PHI0 + sum(k * dx ** p * dy ** q for p, q, k in _K) / 3600
    lon = _LAM0 + sum(k * dx ** p * dy ** q for p, q, k in _L) / 3600
    return lon, lat


def wgs84_to_rd(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 (lon, lat) degrees -> RD New metres (the inverse formulas, for tests and exports)."""
    dphi, dlam = 0.36 * (lat - _PHI0), 0.36 * (lon - _LAM0)
    return (_X0 + sum(r * dphi ** p * dlam ** q for p, q, r in _R),
            _Y0 + sum(s * dphi ** p * dlam ** q for p, q, s in _S))


def _simplify(ring: Ring, tol: float = SIMPLIFY_DEGREES) -> Ring:
    """Douglas-Peucker on one closed ring (first point kept as anchor); at least a triangle."""
    if len(ring) <= 4:
        return ring
    keep = [False] * len(ring)
    keep[0] = keep[-1] = True
    stack = [(0, len(ring) - 1)]
    while stack:
        a, b = stack.pop()
        (xa, ya), (xb, yb) = ring[a], ring[b]
        dx, dy = xb - xa, yb - ya
        norm = (dx * dx + dy * dy) ** 0.5
        best, at = -1.0, -1
        for i in range(a + 1, b):
            x, y = ring[i]
            d = abs(dy * (x - xa) - dx * (y - ya)) / norm if norm else ((x - xa) ** 2 + (y - ya) ** 2) ** 0.5
            if d > best:
                best, at = d, i
        if at > 0 and best > tol:
            keep[at] = True
            stack += [(a, at), (at, b)]
    out = [p for p, k in zip(ring, keep) if k]
    return out if len(out) >= 4 else ring


def _to_lonlat(rings: Rings, srs: int) -> Rings:
    if srs == RD_NEW:
        rings = [[rd_to_wgs84(x, y) for x, y in ring] for ring in rings]
    return [_simplify([(round(x, 6), round(y, 6)) for x, y in ring]) for ring in rings]


# ---- WKB and the GeoPackage binary header --------------------------------------------------

def parse_wkb(data: bytes) -> Rings:
    """The rings of a WKB Polygon or MultiPolygon (ISO or EWKB Z/M flags; Z and M dropped)."""
    rings: Rings = []
    _wkb(memoryview(data), 0, rings)
    return rings


def _wkb(buf: memoryview, pos: int, rings: Rings) -> int:
    order = "<" if buf[pos] == 1 else ">"
    (kind,) = struct.unpack_from(order + "I", buf, pos + 1)
    pos += 5
    dims = 2 + bool(kind & 0x80000000) + bool(kind & 0x40000000)  # EWKB flags
    if kind & 0x20000000:  # EWKB with an SRID
        pos += 4
    kind &= 0x0FFFFFFF
    dims += {1: 1, 2: 1, 3: 2}.get(kind // 1000, 0)  # ISO 1000 (Z), 2000 (M), 3000 (ZM)
    base = kind % 1000
    if base == 3:  # Polygon
        (n_rings,) = struct.unpack_from(order + "I", buf, pos)
        pos += 4
        for _ in range(n_rings):
            (n,) = struct.unpack_from(order + "I", buf, pos)
            pos += 4
            flat = struct.unpack_from(f"{order}{n * dims}d", buf, pos)
            pos += 8 * n * dims
            rings.append([(flat[i], flat[i + 1]) for i in range(0, n * dims, dims)])
        return pos
    if base == 6:  # MultiPolygon: a count, then that many WKB Polygons
        (n_polys,) = struct.unpack_from(order + "I", buf, pos)
        pos += 4
        for _ in range(n_polys):
            pos = _wkb(buf, pos, rings)
        return pos
    raise ValueError(f"WKB geometry type {kind} (only Polygon and MultiPolygon are area outlines)")


def gpkg_geometry(blob: bytes) -> Rings:
    """The rings of a GeoPackage geometry blob: 'GP', version, flags, srs id, envelope, WKB."""
    if blob is None:
        return []
    blob = bytes(blob)
    if blob[:2] != b"GP":
        return parse_wkb(blob)  # some writers store bare WKB
    flags = blob[3]
    if flags & 0x10:  # the empty-geometry flag
        return []
    envelope = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0x07)
    if envelope is None:
        raise ValueError("a GeoPackage geometry with an invalid envelope indicator")
    return parse_wkb(blob[8 + envelope:])


# ---- files -----------------------------------------------------------------------------------

def is_geography_file(path: Path | str) -> bool:
    """A GeoPackage or GeoJSON file (by its name), as ``--data`` and configs accept."""
    return Path(path).is_file() and Path(path).name.lower().endswith(GEOGRAPHY_FILES)


def norm(column: str) -> str:
    """A column name compared loosely: "aantal_inwoners" = "aantalInwoners" = "AANTAL_INWONERS"."""
    return re.sub(r"[^a-z0-9]", "", str(column).lower())


def read_layers(path: Path, *, where: tuple[tuple[str, ...], str] | None = None) -> dict[str, Layer]:
    """Every polygon layer of the file ({name: Layer}; a GeoJSON file is one layer named after
    the file). ``where`` = (column names, value): of a GeoPackage layer with one of those columns
    (compared by :func:`norm`), only the rows with that value (one gemeente of a national file)."""
    if not path.is_file():
        raise GeographyFileError(f"{path}: the geography file does not exist", public=f"{path.name}: missing")
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"SQLite format 3"):
        return _read_gpkg(path, where)
    return {_stem(path): _read_geojson(path, head, where)}


def distinct_values(path: Path, columns: tuple[str, ...]) -> list[str]:
    """The values of the first of ``columns`` (by :func:`norm`) in any layer: which gemeenten a
    national GeoPackage holds, without reading its geometry (for an error message)."""
    names, out = {norm(c) for c in columns}, set[str]()
    with open(path, "rb") as fh:
        if not fh.read(16).startswith(b"SQLite format 3"):
            return []
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM gpkg_geometry_columns"):
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{_ident(table)}")')]
            key = next((c for c in cols if norm(c) in names), None)
            if key:
                out.update(str(v) for (v,) in con.execute(f"SELECT DISTINCT {_q(key)} FROM {_q(table)}"))
    except sqlite3.DatabaseError:
        return []
    finally:
        con.close()
    return sorted(out)


def _stem(path: Path) -> str:
    return re.sub(r"(\.geo)?json(\.gz)?$", "", path.name, flags=re.I).rstrip(".")


def _read_geojson(path: Path, head: bytes, where: tuple[tuple[str, ...], str] | None) -> Layer:
    try:
        opener = gzip.open if head[:2] == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8-sig") as fh:  # type: ignore[operator]
            data = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeographyFileError(f"{path}: not a readable GeoJSON file ({exc.__class__.__name__}: {exc})",
                                 public=f"{path.name}: not a readable GeoJSON file") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(
            data.get("features"), list):
        raise GeographyFileError(f"{path}: a GeoJSON file of wijken or buurten is a FeatureCollection with "
                                 "features; this one is not", public=f"{path.name}: not a GeoJSON FeatureCollection")
    crs = str(((data.get("crs") or {}).get("properties") or {}).get("name", ""))
    srs = RD_NEW if "28992" in crs else WGS84
    if crs and srs == WGS84 and not re.search(r"4326|CRS84", crs):
        raise GeographyFileError(f"{path}: coordinates in {crs}; export the GeoJSON in WGS84 (EPSG:4326) or "
                                 "RD New (EPSG:28992)", public=f"{path.name}: unsupported coordinate system")
    rows, geoms, columns = [], [], {}
    names = {norm(c) for c in where[0]} if where else set()
    for i, f in enumerate(data["features"], start=1):
        geom = (f or {}).get("geometry") or {}
        props = dict((f or {}).get("properties") or {})
        columns.update(dict.fromkeys(props))
        key = next((k for k in props if norm(k) in names), None)
        if where and key is not None and str(props[key]) != where[1]:
            continue  # another gemeente's area of a national file: its geometry is not read
        rows.append(props)
        kind, coords = geom.get("type"), geom.get("coordinates") or []
        if kind not in ("Polygon", "MultiPolygon", None):
            raise GeographyFileError(f"{path}: feature {i} is a {kind}; wijken and buurten are (Multi)Polygons",
                                     public=f"{path.name}: feature {i} is not a polygon")
        polys = coords if kind == "MultiPolygon" else [coords] if kind else []
        rings = [[(float(p[0]), float(p[1])) for p in ring] for poly in polys for ring in poly]
        if srs == WGS84 and any(abs(x) > 180 or abs(y) > 90 for ring in rings for x, y in ring[:1]):
            srs = RD_NEW  # metres without a crs member: CBS's RD New
        geoms.append(rings)
    return Layer(_stem(path), tuple(columns), rows, [_to_lonlat(g, srs) for g in geoms])


def _read_gpkg(path: Path, where: tuple[tuple[str, ...], str] | None) -> dict[str, Layer]:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise GeographyFileError(f"{path}: cannot open the GeoPackage ({exc})",
                                 public=f"{path.name}: cannot open the GeoPackage") from None
    try:
        return dict(_gpkg_layers(con, path, where))
    except sqlite3.DatabaseError as exc:
        raise GeographyFileError(f"{path}: not a readable GeoPackage ({exc}); export it again from the CBS file",
                                 public=f"{path.name}: not a readable GeoPackage") from None
    finally:
        con.close()


def _gpkg_layers(con: sqlite3.Connection, path: Path, where: tuple[tuple[str, ...], str] | None,
                 ) -> Iterator[tuple[str, Layer]]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    if not {"gpkg_contents", "gpkg_geometry_columns"} <= tables:
        raise GeographyFileError(f"{path}: an SQLite file but not a GeoPackage (no gpkg_contents and "
                                 "gpkg_geometry_columns tables)", public=f"{path.name}: not a GeoPackage")
    srs_of = {int(r[0]): (str(r[1] or "").upper(), int(r[2] or -1))
              for r in con.execute("SELECT srs_id, organization, organization_coordsys_id FROM gpkg_spatial_ref_sys")}
    for table, column, srs_id in con.execute("SELECT table_name, column_name, srs_id FROM gpkg_geometry_columns"):
        org, code = srs_of.get(int(srs_id), ("", int(srs_id)))
        srs = code if org in ("EPSG", "") else -1
        if srs not in (WGS84, RD_NEW):
            raise GeographyFileError(f"{path}: layer {table!r} is in {org or 'srs'}:{code}; export the "
                                     "GeoPackage in RD New (EPSG:28992, as CBS publishes it) or WGS84 (EPSG:4326)",
                                     public=f"{path.name}: layer {table!r} has an unsupported coordinate system")
        names = [r[1] for r in con.execute(f'PRAGMA table_info("{_ident(table)}")')]
        attrs = [n for n in names if n != column]
        sql = f'SELECT {", ".join(_q(n) for n in [*attrs, column])} FROM {_q(table)}'
        args: tuple[str, ...] = ()
        key = next((n for n in attrs if where is not None and norm(n) in {norm(c) for c in where[0]}), None)
        if key is not None and where is not None:
            sql, args = sql + f" WHERE {_q(key)} = ?", (where[1],)
        rows, geoms = [], []
        for i, rec in enumerate(con.execute(sql, args), start=1):
            rows.append(dict(zip(attrs, rec[:-1])))
            try:
                geoms.append(_to_lonlat(gpkg_geometry(rec[-1]), srs))
            except (ValueError, struct.error, IndexError) as exc:
                raise GeographyFileError(f"{path}: layer {table!r}, row {i}: geometry not readable ({exc})",
                                         public=f"{path.name}: layer {table!r}, row {i}: geometry not readable") \
                    from None
        yield str(table), Layer(str(table), tuple(attrs), rows, geoms)


def _ident(name: str) -> str:
    return str(name).replace('"', '""')


def _q(name: str) -> str:
    return f'"{_ident(name)}"'
