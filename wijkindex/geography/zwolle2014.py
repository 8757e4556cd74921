"""Zwolle's real geography and 2014 buurt figures, shipped in the package (wijkindex/data/zwolle-2014).

The buurt monitor holds shares, not counts, but its shares are 4-decimal percentages
of whole persons: each buurt's real number of inhabitants is recovered as the smallest N
for which every age share is k/N for whole k (123,215 for Zwolle; the real 2014 figure
is about 123,000). The files have no wijk names: ``WIJK_NAMES`` names each wijk after
the buurten it is made of (the names Zwolle uses for these areas). A user's own geography
in the same form (``--data DIR``) loads the same way.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from wijkindex.errors import InputFileError
from wijkindex.geography.base import Geography, Polygon

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "zwolle-2014"  # shipped as package data
AGE_SHARES = ("bspman", "bsp0_3", "bsp4_11", "bsp12_17", "bsp18_24", "bsp25_39", "bsp40_54", "bsp55_64",
              "bsp65_74", "bsp75_84", "bsp85_eo")
WIJK_NAMES = {
    "WK019310": "Binnenstad", "WK019311": "Diezerpoort", "WK019312": "Wipstrik", "WK019313": "Assendorp",
    "WK019314": "Kamperpoort-Veerallee", "WK019320": "Voorst", "WK019321": "Westenholte",
    "WK019322": "Stadshagen", "WK019330": "Holtenbroek", "WK019331": "Aalanden",
    "WK019332": "Haerst-Langenholte", "WK019340": "Berkum", "WK019341": "Marslanden-Herfte",
    "WK019350": "Schelle", "WK019351": "Ittersum", "WK019352": "Windesheim",
}


def recover_inhabitants(shares: list[float], max_n: int = 20000) -> int:
    """Smallest N for which every percentage equals round(k / N * 100, 4) for a whole k."""
    vals = np.asarray(shares, dtype=float)[None, :]
    n = np.arange(1, max_n + 1, dtype=float)[:, None]
    ok = np.all(np.abs(np.round(vals * n / 100) * 100 / n - vals) < 6e-5, axis=1)
    return int(np.argmax(ok)) + 1 if ok.any() else 0


@lru_cache(maxsize=4)
def _load(data_dir: Path) -> Geography:
    geo_path, csv_path = data_dir / "buurten_2014.geojson", data_dir / "buurtgegevens.csv"
    try:
        features = json.loads(geo_path.read_text(encoding="utf-8"))["features"]
        monitor = pd.read_csv(csv_path, na_values=["NA"])
    except FileNotFoundError as exc:
        raise InputFileError(f"{exc.filename}: the Zwolle data is missing; pass --data DIR "
                             f"(default {DEFAULT_DATA_DIR})") from None
    props = pd.DataFrame([f["properties"] for f in features])
    buurten = pd.DataFrame({"buurt_code": props["STATCODE"], "buurt_name": props["BU_NAAM"],
                            "wijk_code": props["WK_2014"]})
    monitor = monitor[monitor["GEOITEM"] != 999].copy()
    monitor["buurt_code"] = "BU0193" + monitor["GEOITEM"].astype(int).astype(str) + "0"
    monitor["inhabitants"] = [
        recover_inhabitants([row[c] for c in AGE_SHARES if pd.notna(row[c])]) if pd.notna(row["bsp0_3"]) else 0
        for _, row in monitor.iterrows()]
    cols = {"bsp0_3": "share_0_3", "bsp4_11": "share_4_11", "bsp12_17": "share_12_17",
            "h4ptot": "single_parent_hh_share", "abptot": "wwb_share", "wlptot1": "unemployed_share",
            "hhallp": "non_western_hh_share"}
    figures = monitor[["buurt_code", "inhabitants", *cols]].rename(columns=cols)
    for c in cols.values():
        figures[c] = figures[c] / 100
    buurten = buurten.merge(figures, on="buurt_code", how="left")
    buurten["inhabitants"] = buurten["inhabitants"].fillna(0).astype(int)
    weights = buurten["inhabitants"]
    for c in cols.values():
        mean = float((buurten[c].fillna(0) * weights).sum() / weights[buurten[c].notna()].sum())
        buurten[c] = buurten[c].fillna(mean)
    buurten = buurten.sort_values("buurt_code").reset_index(drop=True)
    wijken = (buurten.groupby("wijk_code").agg(buurten=("buurt_code", "count"), inhabitants=("inhabitants", "sum"))
              .reset_index())
    top = buurten.sort_values("inhabitants", ascending=False).drop_duplicates("wijk_code").set_index("wijk_code")
    wijken["wijk_name"] = [WIJK_NAMES.get(w, str(top.loc[w, "buurt_name"])) for w in wijken["wijk_code"]]
    wijken = wijken[["wijk_code", "wijk_name", "buurten", "inhabitants"]]
    return Geography(str(props["GM_2014"].iloc[0]), str(features[0]["properties"].get("GM_NAAM", "Zwolle")),
                     buurten, wijken, tuple(_polygons(features)),
                     source="buurtmonitor Zwolle 2014 (CBS / gemeente Zwolle)")


def load_zwolle(data_dir: Path | str | None = None) -> Geography:
    """The 78 buurten and 16 wijken of Zwolle with 2014 inhabitants and shares."""
    return _load(Path(data_dir or DEFAULT_DATA_DIR).resolve())


def _polygons(features: list[dict]) -> list[Polygon]:  # type: ignore[type-arg]
    out = []
    for f in features:
        geom = f["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        rings = [[(float(x), float(y)) for x, y in ring] for poly in polys for ring in poly]
        out.append((f["properties"]["STATCODE"], f["properties"]["WK_2014"], rings))
    return out


def buurt_polygons(data_dir: Path | str | None = None) -> list[Polygon]:
    """(buurt code, wijk code, rings of (lon, lat)) for every buurt, from the real geometry."""
    path = Path(data_dir or DEFAULT_DATA_DIR).resolve() / "buurten_2014.geojson"
    try:
        features = json.loads(path.read_text(encoding="utf-8"))["features"]
    except FileNotFoundError:
        raise InputFileError(f"{path}: the Zwolle geometry is missing; pass --data DIR") from None
    return _polygons(features)
