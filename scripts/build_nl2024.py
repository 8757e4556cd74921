"""Build wijkindex/data/nl-2024 (package data) from the CBS/Kadaster files in ../shared/data/nl-2024.

Run once when the source files change: ``python scripts/build_nl2024.py [SRC]``. Writes
``wijken_2024.geojson.gz`` (coordinates rounded to 5 decimals, about 1 m; only the
properties the loader uses) and ``gemeenten_kwb.csv.gz`` (one row per 2024 gemeente with
the KWB figures the synthetic calibration uses), and ``gemeenten_2024.geojson.gz`` (the 342
gemeente polygons for the national map, simplified as a coverage so that neighbours keep a
shared edge; needs shapely, ``pip install wijkindex[data]``). The product never reads SRC at run time.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "nl-2024"
OUT = ROOT / "wijkindex" / "data" / "nl-2024"
WIJK_PROPS = ("wijkcode", "wijknaam", "gemeentecode", "gemeentenaam", "aantal_inwoners", "huishoudens",
              "gem_huishouden_grootte", "bevolkingsdichtheid", "personenautos", "0_15", "15_25", "25_45",
              "45_65", "65plus")
KWB_2022 = ("aantal_inwoners", "huishoudens", "pct_rond_sociaal_min", "pct_jeugdzorg", "pct_eenpersoonshhd",
            "pct_hhd_met_kind", "huurwoningen", "pct_huurcorporatie", "stedelijkheid")
# gemeenten formed after 2022: their figures are the inhabitant-weighted mean of their predecessors
GEMEENTE_TOLERANCE = 0.002  # degrees (about 140 m east-west, 220 m north-south): under a pixel of the national map
MERGED = {"GM1992": ("GM0501", "GM0530", "GM0614")}  # Voorne aan Zee (2023): Brielle, Hellevoetsluis, Westvoorne


def _round(coords, digits=5):  # type: ignore[no-untyped-def]
    if isinstance(coords[0], (int, float)):
        return [round(coords[0], digits), round(coords[1], digits)]
    return [_round(c, digits) for c in coords]


def _polygonal(geom):  # type: ignore[no-untyped-def]
    """The polygons of a repaired geometry (make_valid may return a collection with stray lines)."""
    import shapely

    parts = [p for p in shapely.get_parts(shapely.get_parts(shapely.make_valid(geom))) if p.geom_type == "Polygon"]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]


def build_gemeenten() -> int:
    """gemeenten_2024.geojson.gz: code, name and coverage-simplified polygon of every 2024 gemeente."""
    import numpy as np
    import shapely
    from shapely.geometry import mapping, shape

    src = json.loads((SRC / "gemeenten_2024.geojson").read_text(encoding="utf-8"))["features"]
    src = sorted((f for f in src if f["properties"]["gemeentecode"] != "GM0998"),
                 key=lambda f: f["properties"]["gemeentecode"])
    # the source polygons were simplified one by one: neighbours' edges nearly but not exactly meet. Cleaned
    # as one coverage (shared edges made identical, slivers closed) they simplify together, and a region's
    # outline can be drawn from the edges its gemeenten do not share
    geoms = shapely.coverage_clean(np.array([_polygonal(shape(f["geometry"])) for f in src]),
                                   gap_width=GEMEENTE_TOLERANCE, snapping_distance=GEMEENTE_TOLERANCE / 4)
    geoms = shapely.coverage_simplify(geoms, GEMEENTE_TOLERANCE)
    feats = []
    for f, g in zip(src, geoms):
        m = mapping(g)
        feats.append({"type": "Feature",
                      "properties": {"gemeentecode": f["properties"]["gemeentecode"],
                                     "gemeentenaam": f["properties"]["gemeentenaam"]},
                      "geometry": {"type": m["type"], "coordinates": _round(json.loads(json.dumps(m["coordinates"])),
                                                                             4)}})
    text = json.dumps({"type": "FeatureCollection", "features": feats}, separators=(",", ":"))
    with open(OUT / "gemeenten_2024.geojson.gz", "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as fh:  # mtime 0: reproducible bytes
        fh.write(text.encode("utf-8"))
    return len(feats)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    wijken = json.loads((SRC / "wijken_2024.geojson").read_text(encoding="utf-8"))
    feats = []
    for f in wijken["features"]:
        p = f["properties"]
        if p["gemeentecode"] == "GM0998":  # "Buitenland" is not a gemeente
            continue
        geom = {"type": f["geometry"]["type"], "coordinates": _round(f["geometry"]["coordinates"])}
        feats.append({"type": "Feature", "properties": {k: p[k] for k in WIJK_PROPS if k in p}, "geometry": geom})
    with gzip.open(OUT / "wijken_2024.geojson.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump({"type": "FeatureCollection", "features": feats}, fh, separators=(",", ":"))

    g22 = {f["properties"]["gemeentecode"]: f["properties"]
           for f in json.loads((SRC / "gemeenten_2022.geojson").read_text(encoding="utf-8"))["features"]}
    kwb21 = json.loads((SRC / "kwb2021_gemeenten.json").read_text(encoding="utf-8"))["Gemeente"]
    names = {p["gemeentecode"]: p["gemeentenaam"] for p in (f["properties"] for f in feats)}
    rows = []
    for code in sorted(names):
        olds = MERGED.get(code, (code,))
        weights = [float(g22[o]["aantal_inwoners"]) for o in olds]

        def mean(get):  # type: ignore[no-untyped-def]
            vals = [(get(o), w) for o, w in zip(olds, weights) if get(o) is not None]
            return round(sum(v * w for v, w in vals) / sum(w for _, w in vals), 3) if vals else ""
        row = {"gemeentecode": code, "gemeentenaam": names[code]}
        for k in KWB_2022:
            row[k] = mean(lambda o, k=k: g22[o].get(k))
        row["bijstand_per_1000"] = mean(lambda o: kwb21.get(o, {}).get("_bijstand"))
        row["pct_niet_westers"] = mean(lambda o: kwb21.get(o, {}).get("Demographics", {}).get(
            "Non-Western background (%)"))
        row["kwb_bron"] = "KWB 2022" + (f" (mean of {', '.join(olds)})" if code in MERGED else "")
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with gzip.open(OUT / "gemeenten_kwb.csv.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write(buf.getvalue())
    print(f"{len(feats)} wijken of {len(names)} gemeenten, {build_gemeenten()} gemeente polygons -> {OUT}")


if __name__ == "__main__":
    main()
