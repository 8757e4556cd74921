"""Build wijkindex/data/nl-2024 (package data) from the CBS/Kadaster files in ../shared/data/nl-2024.

Run once when the source files change: ``python scripts/build_nl2024.py [SRC]``. Writes
``wijken_2024.geojson.gz`` (coordinates rounded to 5 decimals, about 1 m; only the
properties the loader uses) and ``gemeenten_kwb.csv.gz`` (one row per 2024 gemeente with
the KWB figures the synthetic calibration uses). The product never reads SRC at run time.
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
MERGED = {"GM1992": ("GM0501", "GM0530", "GM0614")}  # Voorne aan Zee (2023): Brielle, Hellevoetsluis, Westvoorne


def _round(coords):  # type: ignore[no-untyped-def]
    if isinstance(coords[0], (int, float)):
        return [round(coords[0], 5), round(coords[1], 5)]
    return [_round(c) for c in coords]


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
    print(f"{len(feats)} wijken of {len(names)} gemeenten -> {OUT}")


if __name__ == "__main__":
    main()
