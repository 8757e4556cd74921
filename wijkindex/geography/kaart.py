"""A gemeente's own geography from a CBS wijk- en buurtkaart file, for a live deployment.

``load_kaart("wijkenbuurten_2024.gpkg", "GM0193")`` reads the file as CBS publishes it (the
GeoPackage with layers ``wijken`` and ``buurten``, in RD New) or a GeoJSON export of one layer
(plain or ``.gz``; PDOK's camelCase names work too) and gives the same :class:`Geography` as the
shipped 2024 data (``cbs.load_gemeente``): inhabitants and age shares from the file's own CBS
figures, children per age band by the same rule, small wijken folded into their nearest larger
neighbour for privacy, and every folded or uninhabited wijk kept as an alias of the area its
children count in (so a BRP child there is placed, not lost).

``level="wijk"`` (the default) reads the wijken layer; ``level="buurt"`` reads the buurten
layer, needed for rounds at buurt level: a buurt too small to publish (fewer than
``min_children`` expected children in some age band) is folded into the nearest larger buurt of
its wijk, its code kept as an alias. A file with only a buurten layer serves both levels.

Columns are found by their CBS names in any spelling (``aantal_inwoners``, ``aantalInwoners``,
``AANT_INW``); CBS marks a secret or missing figure with a negative number (-99997, -99999999),
read as missing: a wijk without age figures gets its gemeente's inhabitant-weighted shares, a
buurt without them its wijk's.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
import numpy as np
import pandas as pd

from wijkindex.geography import cbs
from wijkindex.geography.base import Geography, Polygon
from wijkindex.geography.gpkg import GeographyFileError, Layer, distinct_values, norm, read_layers

# canonical column -> the names CBS has used for it (the 2023/2024 GeoPackage first, then the
# shapefiles up to 2022, then the shipped short form); compared by gpkg.norm
COLUMNS: dict[str, tuple[str, ...]] = {
    "wijkcode": ("wijkcode", "wk_code", "wijk_code"),
    "wijknaam": ("wijknaam", "wk_naam", "wijk_naam"),
    "buurtcode": ("buurtcode", "bu_code", "buurt_code"),
    "buurtnaam": ("buurtnaam", "bu_naam", "buurt_naam"),
    "gemeentecode": ("gemeentecode", "gm_code", "gemeente_code"),
    "gemeentenaam": ("gemeentenaam", "gm_naam", "gemeente_naam"),
    "aantal_inwoners": ("aantal_inwoners", "aant_inw"),
    "0_15": ("percentage_personen_0_tot_15_jaar", "p_00_14_jr", "0_15"),
    "15_25": ("percentage_personen_15_tot_25_jaar", "p_15_24_jr", "15_25"),
    "huishoudens": ("aantal_huishoudens", "aant_hh", "huishoudens"),
    "gem_huishouden_grootte": ("gemiddelde_huishoudsgrootte", "gem_hh_gr", "gem_huishouden_grootte"),
    "bevolkingsdichtheid": ("bevolkingsdichtheid_inwoners_per_km2", "bev_dichth", "bevolkingsdichtheid"),
    "personenautos": ("personenautos_totaal", "auto_tot", "personenautos"),
    "personenautos_per_huishouden": ("personenautos_per_huishouden", "auto_hh"),
}
REQUIRED = ("aantal_inwoners", "0_15", "15_25")  # beside the layer's code column
NUMBERS = ("aantal_inwoners", "0_15", "15_25", "huishoudens", "gem_huishouden_grootte", "bevolkingsdichtheid",
           "personenautos", "personenautos_per_huishouden")
LEVELS = ("wijk", "buurt")
BANDS = ("share_0_3", "share_4_11", "share_12_17")


def load_kaart(path: Path | str, gemeente: str | None = None, *, level: str = "wijk",
               min_children: float = 5) -> Geography:
    """The gemeente's Geography from its wijk- en buurtkaart file (see the module docstring).
    ``gemeente``: a CBS code or name; may be left out when the file holds one gemeente."""
    p = Path(path).resolve()
    if level not in LEVELS:
        raise GeographyFileError(f"{p}: level {level!r}; a geography file is read at level 'wijk' or 'buurt'")
    try:
        stamp = p.stat().st_mtime_ns
    except FileNotFoundError:
        raise GeographyFileError(f"{p}: the geography file does not exist",
                                 public=f"{p.name}: the geography file does not exist") from None
    return _load(p, stamp, gemeente, level, float(min_children))


@lru_cache(maxsize=8)
def _load(path: Path, _stamp: int, gemeente: str | None, level: str, min_children: float) -> Geography:
    wanted = _code_of(gemeente) if gemeente else ""
    # a national file: read only the gemeente's rows (a name is matched after reading)
    layers = read_layers(path, where=(COLUMNS["gemeentecode"], wanted) if re.fullmatch(r"GM\d{4}", wanted) else None)
    wijken, buurten = _pick(path, layers)
    if level == "buurt" and buurten is None:
        raise GeographyFileError(
            f"{path}: no buurten layer (a layer with a buurtcode column; found {_listing(layers)}): rounds at "
            "level buurt need the buurten of the wijk- en buurtkaart",
            public=f"{path.name}: no buurten layer", fix="export the buurten layer too, or run rounds at level wijk")
    use_buurten = buurten is not None and (level == "buurt" or wijken is None)
    main = buurten if use_buurten else wijken
    assert main is not None
    frame = _frame(path, main, "buurtcode" if use_buurten else "wijkcode")
    code, name = _gemeente(path, main, frame, gemeente, wanted)
    frame = frame[frame["gemeentecode"] == code].reset_index(drop=True)
    polys = [(c, c, rings) for c, rings in zip(frame["code"], frame["rings"])]
    source = f"{path.name} (CBS/Kadaster wijk- en buurtkaart; Bron: CBS, Kadaster)"
    if not use_buurten:
        w = frame.rename(columns={"code": "wijkcode", "naam": "wijknaam"})
        if not (w["aantal_inwoners"] > 0).any():
            raise _empty(path, main, code)
        return cbs.from_wijken(code, name, w, polys, min_children, source)
    wijk_frame = None
    if wijken is not None:
        wijk_frame = _frame(path, wijken, "wijkcode")
        wijk_frame = wijk_frame[wijk_frame["gemeentecode"] == code].reset_index(drop=True)
    if not (frame["aantal_inwoners"] > 0).any():
        raise _empty(path, main, code)
    return _from_buurten(code, name, frame, wijk_frame, min_children, source)


def _code_of(gemeente: str) -> str:
    text = str(gemeente).strip()
    text = text[4:] if text.lower().startswith("cbs:") else text
    digits = text[2:] if text.upper().startswith("GM") else text
    return f"GM{int(digits):04d}" if digits.isdigit() else text


def _empty(path: Path, layer: Layer, code: str) -> GeographyFileError:
    return GeographyFileError(f"{path}: layer {layer.name!r} has no inhabited area of {code} (every "
                              "aantal_inwoners is 0 or missing)", public=f"{path.name}: no inhabited area of {code}")


def _listing(layers: dict[str, Layer]) -> str:
    return ", ".join(f"{n!r}" for n in layers) or "no layers"


def _find(layer: Layer, canonical: str) -> str | None:
    names = {norm(c) for c in COLUMNS[canonical]}
    return next((c for c in layer.columns if norm(c) in names), None)


def _pick(path: Path, layers: dict[str, Layer]) -> tuple[Layer | None, Layer | None]:
    """(wijken layer, buurten layer) by their columns: a buurtcode makes a buurten layer, a
    wijkcode without one a wijken layer; of several, the one named wijken/buurten."""
    found: dict[str, list[Layer]] = {"wijken": [], "buurten": []}
    for layer in layers.values():
        if _find(layer, "buurtcode"):
            found["buurten"].append(layer)
        elif _find(layer, "wijkcode"):
            found["wijken"].append(layer)
    if not found["wijken"] and not found["buurten"]:
        raise GeographyFileError(
            f"{path}: no wijken or buurten layer: no layer has a wijkcode or buurtcode column (layers "
            f"{_listing(layers)}; columns {', '.join(c for layer in layers.values() for c in layer.columns[:12])})",
            public=f"{path.name}: no wijken or buurten layer (no wijkcode or buurtcode column)")

    def best(kind: str) -> Layer | None:
        cands = found[kind]
        return next((c for c in cands if norm(c.name) == kind), next((c for c in cands if kind[:4] in norm(c.name)),
                                                                      cands[0] if cands else None))
    return best("wijken"), best("buurten")


def _frame(path: Path, layer: Layer, code_column: str) -> pd.DataFrame:
    """The layer's rows under the canonical column names, numbers read (negative = missing),
    codes checked; ``code``, ``naam``, ``gemeentecode``, ``rings`` and, for buurten, ``wijkcode``."""
    key = _find(layer, code_column)
    assert key is not None
    missing = [c for c in REQUIRED if _find(layer, c) is None]
    if missing:
        wanted = "; ".join(f"{c} (as {' or '.join(COLUMNS[c])})" for c in missing)
        raise GeographyFileError(
            f"{path}: layer {layer.name!r} has no column for {wanted}; its columns are {', '.join(layer.columns)}",
            public=f"{path.name}: layer {layer.name!r} lacks the column(s) {', '.join(missing)}")
    raw = pd.DataFrame(layer.rows, columns=list(layer.columns))
    out = pd.DataFrame({"code": raw[key].astype(str).str.strip().str.upper()})
    kind, tail = ("BU", 4) if code_column == "buurtcode" else ("WK", 2)
    # gemeente digits, then wijk (and buurt) digits; Amsterdam's are letters (WK0363AF, BU0363AF09)
    bad = ~out["code"].str.fullmatch(rf"{kind}\d{{4}}[0-9A-Z]{{{tail}}}")
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise GeographyFileError(
            f"{path}: layer {layer.name!r}, column {key!r}: {int(bad.sum())} code(s) not in CBS form ({kind} + "
            f"{4 + tail} digits), rows {rows} (e.g. {out['code'][bad].iloc[0][:20]!r})",
            public=f"{path.name}: layer {layer.name!r}, column {key!r}: codes not in CBS form")
    dup = out["code"].duplicated()
    if dup.any():
        raise GeographyFileError(f"{path}: layer {layer.name!r}: code {out['code'][dup].iloc[0]} on more than one "
                                 "row; export each area once",
                                 public=f"{path.name}: layer {layer.name!r}: a code twice")
    name = _find(layer, "buurtnaam" if kind == "BU" else "wijknaam")
    out["naam"] = raw[name].fillna("").astype(str).str.strip() if name else ""
    out["naam"] = out["naam"].where(out["naam"] != "", out["code"])
    gm = _find(layer, "gemeentecode")
    out["gemeentecode"] = raw[gm].astype(str).str.strip().str.upper() if gm else "GM" + out["code"].str[2:6]
    if (out["gemeentecode"] != "GM" + out["code"].str[2:6]).any():
        i = int(np.flatnonzero((out["gemeentecode"] != "GM" + out["code"].str[2:6]).to_numpy())[0])
        raise GeographyFileError(f"{path}: layer {layer.name!r}, row {i + 1}: area {out['code'][i]} is not in "
                                 f"gemeente {out['gemeentecode'][i]} (a CBS code starts with its gemeente's digits)",
                                 public=f"{path.name}: layer {layer.name!r}: an area outside its gemeente")
    gm_name = _find(layer, "gemeentenaam")
    out["gemeentenaam"] = raw[gm_name].astype(str) if gm_name else ""
    for c in NUMBERS:
        col = _find(layer, c)
        values = pd.to_numeric(raw[col], errors="coerce") if col else pd.Series(np.nan, index=raw.index)
        out[c] = values.where(values >= 0)  # CBS: -99997 / -99999999 = secret or not available
    if out["personenautos"].isna().all():
        out["personenautos"] = out["personenautos_per_huishouden"] * out["huishoudens"]
    if kind == "BU":
        wk = _find(layer, "wijkcode")
        out["wijkcode"] = raw[wk].astype(str).str.strip().str.upper() if wk else "WK" + out["code"].str[2:8]
        wrong = out["wijkcode"] != "WK" + out["code"].str[2:8]
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy())[0])
            raise GeographyFileError(f"{path}: layer {layer.name!r}, row {i + 1}: buurt {out['code'][i]} does not "
                                     f"lie in wijk {out['wijkcode'][i]}",
                                     public=f"{path.name}: layer {layer.name!r}: a buurt outside its wijk")
        wname = _find(layer, "wijknaam")
        out["wijknaam"] = raw[wname].astype(str) if wname else ""
    out["rings"] = layer.geometries
    return out


def _gemeente(path: Path, layer: Layer, frame: pd.DataFrame, gemeente: str | None, wanted: str) -> tuple[str, str]:
    """(code, name) of the gemeente asked for, or of the file's only gemeente."""
    codes = sorted(set(frame["gemeentecode"]) - {"GM0998"})  # CBS's "Buitenland" is no gemeente
    if gemeente is not None and wanted not in codes and not codes:  # read filtered: what does the file hold?
        codes = sorted(set(distinct_values(path, COLUMNS["gemeentecode"])) - {"GM0998"})
    names = dict(zip(frame["gemeentecode"], frame["gemeentenaam"]))
    if gemeente is None:
        if len(codes) != 1:
            raise GeographyFileError(
                f"{path}: layer {layer.name!r} holds {len(codes)} gemeenten ({', '.join(codes[:5])}"
                f"{', ...' if len(codes) > 5 else ''}); say which one",
                public=f"{path.name}: {len(codes)} gemeenten in the file; name one",
                fix='name the gemeente beside the file: gemeente = "GM0193" in aggregator.toml, or --gemeente')
        code = codes[0]
    else:
        code = _code_of(gemeente)
        if code not in codes:
            by_name = {str(n).strip().lower(): c for c, n in names.items() if str(n).strip()}
            code = by_name.get(str(gemeente).strip().lower(), code)
        if code not in codes:
            try:
                code = cbs.resolve(str(gemeente))
            except Exception:  # not a 2024 name either: the error below says what the file holds
                pass
        if code not in codes:
            raise GeographyFileError(
                f"{path}: layer {layer.name!r} has no gemeente {gemeente!r} (it holds {len(codes)}: "
                f"{', '.join(codes[:8])}{', ...' if len(codes) > 8 else ''})",
                public=f"{path.name}: no such gemeente in the file",
                fix="name a gemeente the file holds (its CBS code, GM0193), or export that gemeente's wijken")
    name = str(names.get(code) or "").strip()
    if not name:
        kwb = cbs._kwb()
        name = str(kwb.loc[code, "gemeentenaam"]) if code in kwb.index else code
    return code, name


# ---- buurten --------------------------------------------------------------------------------

def _shares(frame: pd.DataFrame, weights: pd.Series, fallback: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """0-14 and 15-24 shares: the area's own, else its wijk's (``fallback`` by wijkcode), else the
    gemeente's inhabitant-weighted shares, else the national ones."""
    s015, s1525 = frame["0_15"] / 100, frame["15_25"] / 100
    if fallback is not None:
        by_wijk = fallback.set_index("code")
        s015 = s015.fillna(frame["wijkcode"].map(by_wijk["0_15"] / 100))
        s1525 = s1525.fillna(frame["wijkcode"].map(by_wijk["15_25"] / 100))
    has = s015.notna() & s1525.notna() & (weights > 0)
    if has.any():
        return (s015.fillna(float(np.average(s015[has], weights=weights[has]))),
                s1525.fillna(float(np.average(s1525[has], weights=weights[has]))))
    return s015.fillna(0.14), s1525.fillna(0.12)


def _fold(expected: pd.Series, groups: pd.Series, centre: dict[str, tuple[float, float]],
          size: pd.Series, min_children: float) -> dict[str, str]:
    """{code: host} for the codes of ``expected`` (min children over the bands) below
    ``min_children``: the nearest larger code of the same group, or the group's largest."""
    host: dict[str, str] = {}
    if min_children <= 0:
        return host
    for _, codes in expected.groupby(groups):
        small = codes[codes < min_children].index.tolist()
        big = codes[codes >= min_children].index.tolist()
        if not small:
            continue
        if not big:
            big = [str(size[codes.index].idxmax())]
            small = [c for c in small if c != big[0]]
        host.update(cbs._nearest(small, big, centre))
    return host


def _merge(buurten: pd.DataFrame) -> pd.DataFrame:
    """One row per published buurt (``area``): inhabitants summed, shares inhabitant-weighted,
    the host's name and wijk."""
    n = buurten["inhabitants"].astype(float)
    shares = [c for c in buurten.columns if c.endswith("_share") or c in BANDS]
    weighted = buurten[shares].mul(n, axis=0).groupby(buurten["area"]).sum()
    total = n.groupby(buurten["area"]).sum()
    hosts = buurten.set_index("buurt_code").loc[total.index]
    out = pd.DataFrame({"buurt_code": total.index, "buurt_name": hosts["buurt_name"].to_numpy(),
                        "wijk_code": hosts["wijk_code"].to_numpy(),
                        "inhabitants": buurten.groupby("area")["inhabitants"].sum().loc[total.index].to_numpy()})
    for c in shares:
        out[c] = (weighted[c] / total.where(total > 0, 1.0)).to_numpy()
    return out[list(buurten.columns.drop("area"))].sort_values("buurt_code").reset_index(drop=True)


def _from_buurten(code: str, name: str, allb: pd.DataFrame, wijk_frame: pd.DataFrame | None, min_children: float,
                  source: str) -> Geography:
    """The Geography of a gemeente's CBS buurten (the finest areas; wijken their sums)."""
    kwb = cbs._kwb()
    centre = {c: cbs._centroid(r) for c, r in zip(allb["code"], allb["rings"])}
    all_wijken = sorted(set(allb["wijkcode"]) | set(wijk_frame["code"] if wijk_frame is not None else ()))
    b = allb.assign(inhabitants=allb["aantal_inwoners"].fillna(0).astype(int))
    b = b[b["inhabitants"] > 0].sort_values("code").reset_index(drop=True)
    weights = b["inhabitants"].astype(float)
    s015, s1525 = _shares(b, weights, wijk_frame)
    buurten = pd.DataFrame({"buurt_code": b["code"], "buurt_name": b["naam"], "wijk_code": b["wijkcode"],
                            "inhabitants": b["inhabitants"], "share_0_3": s015 * 4 / 15, "share_4_11": s015 * 8 / 15,
                            "share_12_17": s015 * 3 / 15 + s1525 * 3 / 10})
    score = cbs.deprivation(b)
    hh_weights = b["huishoudens"].fillna(b["inhabitants"] / 2.1).astype(float)
    for col, lvl in cbs._levels(kwb, code).items():
        buurten[col] = cbs._spread(lvl, score, cbs.ELASTICITY[col], hh_weights).to_numpy()
    # 1. small wijken into the nearest larger wijk (by their own polygon, else their buurten's centres)
    pts = pd.DataFrame([(w, *centre[c]) for w, c in zip(allb["wijkcode"], allb["code"])], columns=["w", "x", "y"])
    wcentre = {w: (float(g["x"].mean()), float(g["y"].mean())) for w, g in pts.groupby("w")}
    if wijk_frame is not None:
        wcentre.update({c: cbs._centroid(r) for c, r in zip(wijk_frame["code"], wijk_frame["rings"]) if r})
    per_band = pd.concat([buurten["inhabitants"] * buurten[s] for s in BANDS], axis=1)
    wijk_expected = per_band.groupby(buurten["wijk_code"]).sum().min(axis=1)
    wijk_size = buurten.groupby("wijk_code")["inhabitants"].sum()
    wijk_host = _fold(wijk_expected, pd.Series("all", index=wijk_expected.index), wcentre, wijk_size, min_children)
    buurten["wijk_code"] = buurten["wijk_code"].map(lambda w: wijk_host.get(w, w))
    # 2. small buurten into the nearest larger buurt of the same (merged) wijk
    by_code = buurten.set_index("buurt_code")
    expected = per_band.min(axis=1).set_axis(buurten["buurt_code"])
    buurt_host = _fold(expected, by_code["wijk_code"], centre, by_code["inhabitants"], min_children)
    buurten["area"] = buurten["buurt_code"].map(lambda c: buurt_host.get(c, c))
    buurten = _merge(buurten)
    # 3. aliases: every folded or uninhabited code -> the area its children count in
    areas_w, areas_b = sorted(set(buurten["wijk_code"])), set(buurten["buurt_code"])
    aliases = dict(wijk_host)
    aliases.update(cbs._nearest([w for w in all_wijken if w not in areas_w and w not in aliases], areas_w, wcentre))
    aliases.update(buurt_host)
    wijk_of = dict(zip(buurten["buurt_code"], buurten["wijk_code"]))
    for c, w in zip(allb["code"], allb["wijkcode"]):
        if c not in areas_b and c not in aliases:  # uninhabited: the nearest published buurt of its wijk's area
            in_wijk = sorted(a for a in areas_b if wijk_of[a] == aliases.get(w, w))
            aliases.update(cbs._nearest([c], in_wijk or sorted(areas_b), centre))
    names = dict(zip(wijk_frame["code"], wijk_frame["naam"])) if wijk_frame is not None else {}
    names.update({w: n for w, n in zip(allb["wijkcode"], allb["wijknaam"]) if w not in names and str(n).strip()})
    wijken = (buurten.groupby("wijk_code").agg(buurten=("buurt_code", "count"), inhabitants=("inhabitants", "sum"))
              .reset_index())
    wijken.insert(1, "wijk_name", wijken["wijk_code"].map(lambda w: names.get(w) or w))
    drawn: tuple[Polygon, ...] = tuple((c, wijk_host.get(w, w), r)
                                       for c, w, r in zip(allb["code"], allb["wijkcode"], allb["rings"]))
    calibration = cbs._calibration(kwb, code) if code in kwb.index else {}
    return Geography(code, name, buurten, wijken, drawn, calibration, source, aliases)
