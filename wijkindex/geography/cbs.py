"""Any Dutch gemeente from the shipped CBS/Kadaster 2024 wijken (wijkindex/data/nl-2024).

``load_gemeente("GM0363")`` (or "0363", "Amsterdam", any case) gives the gemeente's wijken
with their real 2024 inhabitants, age structure and polygons. CBS publishes no buurt
figures in the shipped data, so each wijk is its own single "buurt" (code "BU" + the wijk's
six digits + "00").

Ages: CBS gives whole-percent shares 0-14 (``0_15``) and 15-24 (``15_25``). Assuming equal
numbers per year of age inside each band: 0-3 = 4/15, 4-11 = 8/15 and 12-14 = 3/15 of the
0-14 share, and 15-17 = 3/10 of the 15-24 share. Wijken that CBS reports without age
figures (176 small or empty wijken) get their gemeente's inhabitant-weighted shares; wijken
without inhabitants hold no children and get no cells (they are still drawn on the map).

Risk shares (``wwb_share``, ``unemployed_share``, ``single_parent_hh_share``,
``non_western_hh_share``) are a MODELLED PROXY, NOT CBS figures per wijk: the gemeente's
real KWB level (households at or below the social minimum, bijstand per 1,000
inhabitants, households with children, non-western background) is spread over its wijken
by a deprivation score of the wijk's own CBS figures (fewer cars per household, higher
density and smaller households score higher), scaled so that the household-weighted mean
over the wijken equals the gemeente's level.
"""

from __future__ import annotations

import difflib
import gzip
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from wijkindex.errors import ConfigError
from wijkindex.geography.base import Geography, Polygon

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "nl-2024"  # shipped as package data
SOURCE = "CBS/Kadaster wijk- en buurtkaart 2024, KWB 2022 (CC BY 4.0; Bron: CBS, Kadaster)"
SINGLE_PARENT_OF_FAMILIES = 0.23  # share of households with children that have one parent (NL, approx.)
# elasticity of each proxy share to the wijk's deprivation score (log share per score unit)
ELASTICITY = {"wwb_share": 0.6, "unemployed_share": 0.6, "single_parent_hh_share": 0.4,
              "non_western_hh_share": 0.5}
BASE_RATES = {"bijstand": 0.07, "schuldhulp": 0.04}  # the generator's defaults, scaled by relative poverty


def _missing(exc: FileNotFoundError) -> ConfigError:
    return ConfigError(f"{exc.filename}: the shipped CBS geography is missing",
                       fix="reinstall wijkindex (the nl-2024 package data is part of it)")


@lru_cache(maxsize=1)
def _kwb() -> pd.DataFrame:
    """The gemeente KWB figures, indexed by GM code (small: names resolve without the polygons)."""
    try:
        return pd.read_csv(DATA_DIR / "gemeenten_kwb.csv.gz", dtype={"gemeentecode": str}).set_index("gemeentecode")
    except FileNotFoundError as exc:
        raise _missing(exc) from None


@lru_cache(maxsize=1)
def _tables() -> tuple[pd.DataFrame, dict[str, list[Polygon]], pd.DataFrame]:
    """(wijk attributes, {gemeente code: polygons}, gemeente KWB figures) from the package data."""
    try:
        with gzip.open(DATA_DIR / "wijken_2024.geojson.gz", "rt", encoding="utf-8") as fh:
            features = json.load(fh)["features"]
    except FileNotFoundError as exc:
        raise _missing(exc) from None
    wijken = pd.DataFrame([f["properties"] for f in features])
    polygons: dict[str, list[Polygon]] = {}
    for f in features:
        geom, p = f["geometry"], f["properties"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        rings = [[(float(x), float(y)) for x, y in ring] for poly in polys for ring in poly]
        polygons.setdefault(p["gemeentecode"], []).append((p["wijkcode"], p["wijkcode"], rings))
    return wijken, polygons, _kwb()


def gemeenten() -> pd.DataFrame:
    """Code and name of every gemeente in the shipped data (342 in 2024)."""
    kwb = _kwb()
    return pd.DataFrame({"gemeente_code": kwb.index, "gemeente_name": kwb["gemeentenaam"].to_numpy()})


def resolve(code_or_name: str) -> str:
    """The GM code of a gemeente named by code ("GM0363", "0363") or name (any case)."""
    kwb = _kwb()
    text = str(code_or_name).strip()
    digits = text[2:] if text.upper().startswith("GM") else text
    if digits.isdigit() and f"GM{int(digits):04d}" in kwb.index:
        return f"GM{int(digits):04d}"
    by_name = {n.lower(): c for c, n in kwb["gemeentenaam"].items()}
    if text.lower() in by_name:
        return by_name[text.lower()]
    close = difflib.get_close_matches(text.lower(), list(by_name), n=5, cutoff=0.6)
    hint = ("; did you mean " + ", ".join(f"{kwb.loc[by_name[c], 'gemeentenaam']} ({by_name[c]})" for c in close)
            + "?") if close else ""
    raise ConfigError(f"gemeente {code_or_name!r} is not one of the {len(kwb)} gemeenten of 2024{hint}",
                      fix="name a gemeente by its CBS code (GM0363 or 0363) or its 2024 name (Amsterdam)")


def _z(values: pd.Series, weights: pd.Series) -> pd.Series:
    """Weighted z-score; 0 where the value is missing or the gemeente has no spread."""
    ok = values.notna() & (weights > 0)
    if ok.sum() < 2:
        return pd.Series(0.0, index=values.index)
    mean = np.average(values[ok], weights=weights[ok])
    sd = math.sqrt(np.average((values[ok] - mean) ** 2, weights=weights[ok]))
    return ((values - mean) / sd).fillna(0.0) if sd > 0 else pd.Series(0.0, index=values.index)


def deprivation(w: pd.DataFrame) -> pd.Series:
    """The wijk's proxy deprivation score (weighted mean 0 within the gemeente): fewer cars
    per household, higher density, smaller households. A model, not a CBS figure."""
    hh = w["huishoudens"].where(w["huishoudens"] > 0)
    weights = w["inhabitants"].astype(float)
    cars = np.log((w["personenautos"] / hh).clip(lower=0.05))
    density = np.log(w["bevolkingsdichtheid"].clip(lower=1))
    size = w["gem_huishouden_grootte"]
    score = 0.5 * _z(-cars, weights) + 0.3 * _z(density, weights) + 0.2 * _z(-size, weights)
    return score.clip(-3, 3)  # a tiny wijk (a business park, 25 inhabitants) must not dominate


def _spread(level: float, score: pd.Series, elasticity: float, weights: pd.Series) -> pd.Series:
    """The gemeente ``level`` spread over wijken as level * exp(e * score), weighted mean kept."""
    rel = np.exp(elasticity * score)
    mean = float(np.average(rel, weights=weights)) if weights.sum() > 0 else 1.0
    return (level * rel / mean).clip(0.001, 0.95)


def _levels(kwb: pd.DataFrame, code: str) -> dict[str, float]:
    """The gemeente's KWB levels behind the proxy shares (national weighted means where missing)."""
    row, hh = (kwb.loc[code] if code in kwb.index else None), kwb["huishoudens"]

    def get(col: str) -> float:
        v = row[col] if row is not None else float("nan")
        return float(v) if pd.notna(v) else float(np.average(kwb[col].dropna(), weights=hh[kwb[col].notna()]))
    return {"wwb_share": get("pct_rond_sociaal_min") / 100, "unemployed_share": get("bijstand_per_1000") / 1000,
            "single_parent_hh_share": SINGLE_PARENT_OF_FAMILIES * get("pct_hhd_met_kind") / 100,
            "non_western_hh_share": get("pct_niet_westers") / 100}


def _calibration(kwb: pd.DataFrame, code: str) -> dict[str, float]:
    """Gemeente-wide target rates for the generator: youth care from KWB, bijstand and debt
    help scaled by the gemeente's poverty relative to the country, rented homes likewise."""
    row, hh = kwb.loc[code], kwb["huishoudens"]
    nat_pov = float(np.average(kwb["pct_rond_sociaal_min"], weights=hh))
    nat_rent = float(np.average(kwb["pct_huurcorporatie"], weights=hh))
    out = {k: round(v * float(row["pct_rond_sociaal_min"]) / nat_pov, 4) for k, v in BASE_RATES.items()}
    if pd.notna(row["pct_jeugdzorg"]):
        out["jeugdhulp"] = float(row["pct_jeugdzorg"]) / 100
    out["rent_ratio"] = round(max(float(row["pct_huurcorporatie"]), 1.0) / nat_rent, 4)
    return out


def _centroid(rings: list[list[tuple[float, float]]]) -> tuple[float, float]:
    pts = [p for ring in rings for p in ring] or [(0.0, 0.0)]
    return sum(x for x, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)


def _nearest(codes: "list[str]", hosts: "list[str]", centre: dict[str, tuple[float, float]]) -> dict[str, str]:
    """Each code's nearest host by polygon centroid (equirectangular at 52.2 N)."""
    kx = math.cos(math.radians(52.2))

    def dist(a: str, b: str) -> float:
        (xa, ya), (xb, yb) = centre.get(a, (0.0, 0.0)), centre.get(b, (0.0, 0.0))
        return ((xb - xa) * kx) ** 2 + (yb - ya) ** 2
    return {c: min(hosts, key=lambda h: dist(c, h)) for c in codes}


def _fold_small(buurten: pd.DataFrame, polygons: list[Polygon], min_children: float) -> pd.Series:
    """The wijk each area belongs to: itself, or for a too-small wijk the nearest larger one."""
    expected = pd.concat([buurten["inhabitants"] * buurten[s] for s in ("share_0_3", "share_4_11", "share_12_17")],
                         axis=1).min(axis=1)
    small = expected < min_children
    if not small.any():
        return buurten["wijk_code"]
    if small.all():  # every wijk is small: one area, named after the largest
        return pd.Series(buurten.loc[buurten["inhabitants"].idxmax(), "wijk_code"], index=buurten.index)
    centre = {w: _centroid(rings) for w, _, rings in polygons}
    hosts = buurten.loc[~small, "wijk_code"].tolist()
    host = _nearest(buurten.loc[small, "wijk_code"].tolist(), hosts, centre)
    return buurten["wijk_code"].map(lambda w: host.get(w, w))


def wijk_aliases(all_wijken: "list[str]", host: dict[str, str], polygons: list[Polygon]) -> dict[str, str]:
    """Every wijk code of the gemeente that is not an area of its own -> the area its children
    count in: a folded small wijk its host, an uninhabited one (by the CBS figures; a BRP may
    still list children there, in a new-build wijk say) the nearest inhabited area."""
    areas = sorted(set(host.values()))
    aliases = {w: h for w, h in host.items() if w != h}
    empty = [w for w in all_wijken if w not in host]
    if empty and areas:
        centre = {w: _centroid(rings) for w, _, rings in polygons}
        aliases.update(_nearest(empty, areas, centre))
    return aliases


def from_wijken(code: str, name: str, w: pd.DataFrame, polys: list[Polygon], min_children: float,
                source: str) -> Geography:
    """A gemeente's Geography from its CBS wijk rows (the columns of the shipped wijken:
    ``wijkcode``, ``wijknaam``, ``aantal_inwoners``, ``0_15``, ``15_25`` (whole percent) and,
    for the modelled risk shares, ``huishoudens``, ``gem_huishouden_grootte``,
    ``bevolkingsdichtheid``, ``personenautos``) and their polygons; shared by the shipped 2024
    data and a gemeente's own wijk- en buurtkaart file (``kaart``)."""
    kwb = _kwb()
    all_wijken = sorted(w["wijkcode"])
    w = w.copy()
    w["inhabitants"] = pd.to_numeric(w["aantal_inwoners"], errors="coerce").fillna(0).clip(lower=0).astype(int)
    w = w[w["inhabitants"] > 0].sort_values("wijkcode").reset_index(drop=True)
    weights = w["inhabitants"].astype(float)
    s015, s1525 = w["0_15"] / 100, w["15_25"] / 100
    has_age = s015.notna() & s1525.notna()
    if has_age.any():  # wijken without age figures: the gemeente's inhabitant-weighted shares
        s015 = s015.fillna(float(np.average(s015[has_age], weights=weights[has_age])))
        s1525 = s1525.fillna(float(np.average(s1525[has_age], weights=weights[has_age])))
    else:  # no age figures at all: the national shares
        s015, s1525 = s015.fillna(0.14), s1525.fillna(0.12)
    buurten = pd.DataFrame({"buurt_code": "BU" + w["wijkcode"].str[2:] + "00", "buurt_name": w["wijknaam"],
                            "wijk_code": w["wijkcode"], "inhabitants": w["inhabitants"],
                            "share_0_3": s015 * 4 / 15, "share_4_11": s015 * 8 / 15,
                            "share_12_17": s015 * 3 / 15 + s1525 * 3 / 10})
    score = deprivation(w)
    hh_weights = w["huishoudens"].fillna(w["inhabitants"] / 2.1).astype(float)
    for col, level in _levels(kwb, code).items():
        buurten[col] = _spread(level, score, ELASTICITY[col], hh_weights).to_numpy()
    buurten["wijk_code"] = _fold_small(buurten, polys, min_children).to_numpy() if min_children > 0 else buurten[
        "wijk_code"]
    host = dict(zip(w["wijkcode"], buurten["wijk_code"]))
    names = dict(zip(w["wijkcode"], w["wijknaam"]))
    wijken = (buurten.groupby("wijk_code").agg(buurten=("buurt_code", "count"), inhabitants=("inhabitants", "sum"))
              .reset_index())
    wijken.insert(1, "wijk_name", wijken["wijk_code"].map(names))
    drawn = tuple((a, host.get(a, a), rings) for a, _, rings in polys)
    calibration = _calibration(kwb, code) if code in kwb.index else {}
    return Geography(code, name, buurten, wijken, drawn, calibration, source,
                     wijk_aliases(all_wijken, host, polys))


@lru_cache(maxsize=16)
def _load(code: str, min_children: float = 5) -> Geography:
    wijken_all, polygons, kwb = _tables()
    w = wijken_all[wijken_all["gemeentecode"] == code]
    return from_wijken(code, str(kwb.loc[code, "gemeentenaam"]), w, polygons.get(code, []), min_children, SOURCE)


def load_gemeente(code_or_name: str, min_children: float = 5) -> Geography:
    """A gemeente's 2024 CBS wijken as a Geography (see the module docstring for what is
    modelled); ``min_children=0`` keeps every inhabited wijk as its own area."""
    return _load(resolve(code_or_name), float(min_children))


def wijk_counts() -> dict[str, int]:
    """Wijken per gemeente in the shipped data, inhabited or not (for checks)."""
    return _tables()[0].groupby("gemeentecode")["wijkcode"].count().to_dict()
