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
            "pct_hhd_met_kind", "huurwoningen", "pct_huurcorporatie", "stedelijkheid", "0_15", "15_25")
# gemeenten whose territory changed after 2022: their figures combine their 2022 predecessors
MERGED = {"GM1992": ("GM0501", "GM0530", "GM0614"),  # Voorne aan Zee (2023): Brielle, Hellevoetsluis, Westvoorne
          "GM0363": ("GM0363", "GM0457")}  # Amsterdam with Weesp (24 March 2022, after the KWB 2022 reference date)
# how a predecessor's figure combines: counts add up; a household share is weighted by households, a
# share of young people by young people (0-24), every other figure by inhabitants
COUNTS = ("aantal_inwoners", "huishoudens")
BY_HOUSEHOLDS = ("pct_rond_sociaal_min", "pct_eenpersoonshhd", "pct_hhd_met_kind", "huurwoningen",
                 "pct_huurcorporatie")
BY_YOUNG = ("pct_jeugdzorg",)
# gemeenten formed on 1 January 2022 have no KWB 2021 row: their 2021 predecessors' figures, by inhabitants
KWB21_PREDECESSORS = {"GM1980": ("GM0398", "GM0416"),  # Dijk en Waard: Heerhugowaard, Langedijk
                      "GM1982": ("GM0756", "GM1684", "GM0786", "GM0815", "GM1702"),  # Land van Cuijk
                      "GM1991": ("GM1685", "GM0856")}  # Maashorst: Landerd, Uden
GEMEENTE_TOLERANCE = 0.002  # degrees (about 140 m east-west, 220 m north-south): under a pixel of the national map


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

        def weight(o: str, k: str) -> float:
            p = g22[o]
            if k in BY_HOUSEHOLDS:
                return float(p["huishoudens"])
            if k in BY_YOUNG:
                return float(p["aantal_inwoners"]) * (float(p["0_15"]) + float(p["15_25"])) / 100
            return float(p["aantal_inwoners"])

        def mean(get, olds=olds, k="aantal_inwoners"):  # type: ignore[no-untyped-def]
            vals = [(get(o), weight(o, k)) for o in olds if get(o) is not None]
            if not vals:
                return ""
            if k in COUNTS:
                return sum(v for v, _ in vals)
            return round(sum(v * w for v, w in vals) / sum(w for _, w in vals), 3)
        row = {"gemeentecode": code, "gemeentenaam": names[code]}
        for k in KWB_2022:
            row[k] = mean(lambda o, k=k: g22[o].get(k), k=k)
        if isinstance(row["stedelijkheid"], float):  # a class: the merged gemeente's inhabitant-weighted class
            row["stedelijkheid"] = int(round(row["stedelijkheid"]))
        k21 = KWB21_PREDECESSORS.get(code, olds)
        pop21 = {o: float(kwb21.get(o, {}).get("Population") or 0) for o in k21}

        def mean21(get, k21=k21, pop21=pop21):  # type: ignore[no-untyped-def]
            vals = [(get(o), pop21[o]) for o in k21 if get(o) is not None and pop21[o] > 0]
            return round(sum(v * w for v, w in vals) / sum(w for _, w in vals), 3) if vals else ""
        row["bijstand_per_1000"] = mean21(lambda o: kwb21.get(o, {}).get("_bijstand"))
        row["pct_niet_westers"] = mean21(lambda o: kwb21.get(o, {}).get("Demographics", {}).get(
            "Non-Western background (%)"))
        row["kwb_bron"] = "KWB 2022" + (f" (combined from {', '.join(olds)})" if code in MERGED else "") + (
            f"; KWB 2021 of {', '.join(k21)}" if code in KWB21_PREDECESSORS else "")
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with gzip.open(OUT / "gemeenten_kwb.csv.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        fh.write(buf.getvalue())
    print(f"{len(feats)} wijken of {len(names)} gemeenten, {build_gemeenten()} gemeente polygons -> {OUT}")
    print(f"{build_regions(SRC, OUT)} gemeenten with a GGD region and jeugdzorgregio -> {OUT / 'regions_2024.csv'}")


# --- GGD regions and jeugdzorgregio's (CBS "Gebieden in Nederland 2016", 83287NED) mapped onto 2024 ---
GGD_NAMES = {
    "GG0111": "GGD Groningen", "GG0706": "GGD Drenthe", "GG1009": "GGD IJsselland", "GG1106": "GGD Twente",
    "GG1413": "GGD Noord- en Oost-Gelderland", "GG1911": "Veiligheids- en Gezondheidsregio Gelderland-Midden",
    "GG2014": "GGD Gelderland-Zuid", "GG2209": "GGD Flevoland", "GG2514": "GGD regio Utrecht",
    "GG2707": "GGD Hollands Noorden", "GG3109": "GGD Kennemerland", "GG3406": "GGD Amsterdam",
    "GG3606": "GGD Gooi en Vechtstreek", "GG4506": "GGD Hollands Midden", "GG4607": "GGD Rotterdam-Rijnmond",
    "GG4816": "Dienst Gezondheid & Jeugd Zuid-Holland Zuid", "GG5006": "GGD Zeeland", "GG5206": "GGD West-Brabant",
    "GG5406": "GGD Hart voor Brabant", "GG5608": "GGD Brabant-Zuidoost", "GG6011": "GGD Limburg-Noord",
    "GG6106": "GGD Zuid-Limburg", "GG7014": "GGD Haaglanden", "GG7206": "GGD Fryslân",
    "GG7306": "GGD Zaanstreek-Waterland",
}
JZ_NAMES = {  # the 42 jeugdzorgregio's of 2016 (JZ40 does not occur), named after their member gemeenten
    "JZ01": "Groningen", "JZ02": "Friesland", "JZ03": "Kop van Noord-Holland", "JZ04": "Drenthe",
    "JZ05": "West-Friesland", "JZ06": "Alkmaar", "JZ07": "IJsselland", "JZ08": "Flevoland",
    "JZ09": "Zaanstreek-Waterland", "JZ10": "IJmond", "JZ11": "Zuid-Kennemerland", "JZ12": "Noord-Veluwe",
    "JZ13": "Amsterdam-Amstelland", "JZ14": "Twente", "JZ15": "Haarlemmermeer", "JZ16": "Gooi en Vechtstreek",
    "JZ17": "Midden-IJssel/Oost-Veluwe", "JZ18": "Holland Rijnland", "JZ19": "Utrecht West",
    "JZ20": "Eemland", "JZ21": "Food Valley", "JZ22": "Utrecht stad", "JZ23": "Zuidoost-Utrecht",
    "JZ24": "Haaglanden", "JZ25": "Achterhoek", "JZ26": "Lekstroom", "JZ27": "Midden-Holland",
    "JZ28": "Centraal Gelderland", "JZ29": "Rijnmond", "JZ30": "Rivierenland", "JZ31": "Zuid-Holland Zuid",
    "JZ32": "Rijk van Nijmegen", "JZ33": "Noordoost-Brabant", "JZ34": "West-Brabant Oost",
    "JZ35": "Hart van Brabant", "JZ36": "West-Brabant West", "JZ37": "Noord-Limburg", "JZ38": "Zeeland",
    "JZ39": "Zuidoost-Brabant", "JZ41": "Zuid-Limburg", "JZ42": "Midden-Limburg Oost",
    "JZ43": "Midden-Limburg West",
}
# Gemeenten of 2016 that no longer existed on 1 January 2022 (so have no 2022 polygon): the gemeente
# they merged into (CBS "Gemeentelijke indeling", herindelingen 2018-2022). Mergers up to 2017 come from
# gemeente_changes_before_2018.csv; gemeenten of 2022 reach 2024 by the overlap of their polygons.
MERGERS_2018_2022 = {
    # 2018
    "GM0007": "GM1950", "GM0048": "GM1950",  # Bellingwedde, Vlagtwedde -> Westerwolde
    "GM0018": "GM1952", "GM0040": "GM1952", "GM1987": "GM1952",  # Hoogezand-S., Slochteren, Menterwolde -> Midden-Groningen
    "GM0063": "GM1949", "GM0070": "GM1949", "GM1908": "GM1949",  # het Bildt, Franekeradeel, Menameradiel -> Waadhoeke
    "GM0081": "GM0080",  # Leeuwarderadeel -> Leeuwarden
    "GM0196": "GM0299",  # Rijnwaarden -> Zevenaar
    # 2019
    "GM0005": "GM1966", "GM1663": "GM1966", "GM1651": "GM1966", "GM0053": "GM1966",  # -> Het Hogeland
    "GM0015": "GM1969", "GM0022": "GM1969", "GM0025": "GM1969", "GM0056": "GM1969",  # -> Westerkwartier
    "GM0009": "GM0014", "GM0017": "GM0014",  # Ten Boer, Haren -> Groningen
    "GM0058": "GM1970", "GM0079": "GM1970", "GM1722": "GM1970",  # -> Noardeast-Fryslân
    "GM0689": "GM1978", "GM1927": "GM1978",  # Giessenlanden, Molenwaard -> Molenlanden
    "GM0545": "GM1961", "GM0620": "GM1961", "GM0707": "GM1961",  # Leerdam, Vianen, Zederik -> Vijfheerenlanden
    "GM0584": "GM1963", "GM0585": "GM1963", "GM0588": "GM1963", "GM0611": "GM1963", "GM0617": "GM1963",  # Hoeksche Waard
    "GM0236": "GM1960", "GM0304": "GM1960", "GM0733": "GM1960",  # -> West Betuwe
    "GM0738": "GM1959", "GM0870": "GM1959", "GM0874": "GM1959",  # Aalburg, Werkendam, Woudrichem -> Altena
    "GM0393": "GM0394",  # Haarlemmerliede en Spaarnwoude -> Haarlemmermeer
    "GM0576": "GM0575",  # Noordwijkerhout -> Noordwijk
    "GM0881": "GM1954", "GM0951": "GM1954", "GM0962": "GM1954",  # Onderbanken, Nuth, Schinnen -> Beekdaelen
    # 2021
    "GM0003": "GM1979", "GM0010": "GM1979", "GM0024": "GM1979",  # Appingedam, Delfzijl, Loppersum -> Eemsdelta
    # 2022
    "GM0398": "GM1980", "GM0416": "GM1980",  # Heerhugowaard, Langedijk -> Dijk en Waard
    "GM0756": "GM1982", "GM1684": "GM1982", "GM0786": "GM1982", "GM0815": "GM1982", "GM1702": "GM1982",  # Land van Cuijk
    "GM1685": "GM1991", "GM0856": "GM1991",  # Landerd, Uden -> Maashorst
    "GM0370": "GM0439",  # Beemster -> Purmerend
}
# gemeenten divided among several successors: their territory joined gemeenten that have regions of their
# own, so they do not decide a successor's region (all successors are listed; the check below confirms it)
SPLIT = {"GM0140": ("Littenseradiel", 2018, ("GM0080", "GM1900", "GM1949")),  # Leeuwarden, Súdwest-Fryslân, Waadhoeke
         "GM0788": ("Haaren", 2021, ("GM0824", "GM0865", "GM0757", "GM0855"))}  # Oisterwijk, Vught, Boxtel, Tilburg
# inhabitants (1 January 2018, CBS, rounded to the thousand) of predecessors that are in neither KWB
# file, where they are needed to settle a region (see the notes column)
INHABITANTS_2018 = {"GM0545": 21000, "GM0620": 20000, "GM0707": 14000, "GM0393": 6000}
NAMES_2016 = {"GM0545": "Leerdam", "GM0620": "Vianen", "GM0707": "Zederik", "GM0393": "Haarlemmerliede en Spaarnwoude"}


def _largest_overlap(geom, targets):  # type: ignore[no-untyped-def]
    best = max(targets.items(), key=lambda kv: geom.intersection(kv[1]).area if geom.intersects(kv[1]) else 0.0)
    return best[0], geom.intersection(best[1]).area / geom.area


def build_regions(src: Path, out: Path) -> int:
    """regions_2024.csv: every 2024 gemeente's GGD region and jeugdzorgregio (2016 membership mapped)."""
    from shapely.geometry import shape  # build-time only (pip install shapely); the product never needs it

    geb = json.loads((src / "gebieden_2016.json").read_text(encoding="utf-8"))
    g22 = {f["properties"]["gemeentecode"]: f for f in
           json.loads((src / "gemeenten_2022.geojson").read_text(encoding="utf-8"))["features"]}
    g24 = {f["properties"]["gemeentecode"]: f for f in
           json.loads((src / "gemeenten_2024.geojson").read_text(encoding="utf-8"))["features"]}
    g22.pop("GM0998", None)
    g24.pop("GM0998", None)
    kwb21 = json.loads((src / "kwb2021_gemeenten.json").read_text(encoding="utf-8"))["Gemeente"]
    changes: dict[str, str] = {}
    with open(src / "gemeente_changes_before_2018.csv", encoding="latin-1", newline="") as fh:
        for r in csv.DictReader(fh, delimiter=";"):
            if r["Oude"] != r["Huidige code"]:
                changes[r["Oude"]] = r["Huidige code"]
    shapes24 = {c: shape(f["geometry"]).buffer(0) for c, f in g24.items()}
    to24: dict[str, tuple[str, float]] = {}
    for c, f in g22.items():  # each 2022 gemeente: the 2024 gemeente its polygon overlaps most
        to24[c] = _largest_overlap(shape(f["geometry"]).buffer(0), shapes24)

    def name(c: str) -> str:
        for table in (g24, g22):
            if c in table:
                return str(table[c]["properties"]["gemeentenaam"])
        return str(kwb21.get(c, {}).get("Naam") or NAMES_2016.get(c, c))

    def inhabitants(c: str) -> float | None:
        if c in g22:
            return float(g22[c]["properties"]["aantal_inwoners"])
        if c in kwb21 and kwb21[c].get("Population"):
            return float(kwb21[c]["Population"])
        return INHABITANTS_2018.get(c)

    kinds = {"ggd": "GGD-regio's", "jeugdzorgregio": "Jeugdzorgregios"}
    preds: dict[str, list[tuple[str, dict[str, str]]]] = {c: [] for c in g24}
    split_into: dict[str, list[str]] = {}
    for i, c16 in enumerate(geb["reg"]):
        regs = {k: geb[col][i] for k, col in kinds.items()}
        if c16 in SPLIT:
            for s in SPLIT[c16][2]:
                split_into.setdefault(s, []).append(c16)
            continue
        c = c16
        while c not in g22:  # merged before 2022
            nxt = changes.get(c) or MERGERS_2018_2022.get(c)
            if nxt is None:
                raise SystemExit(f"{c16}: a 2016 gemeente without a 2022 successor; extend MERGERS_2018_2022")
            c = nxt
        c24, share = to24[c]
        if share < 0.9:
            raise SystemExit(f"{c} overlaps its 2024 gemeente {c24} by only {share:.0%}: a split, map it by hand")
        preds[c24].append((c16, regs))
    rows = []
    for c24 in sorted(g24):
        if not preds[c24]:
            raise SystemExit(f"{c24} {name(c24)}: no 2016 predecessor found")
        row: dict[str, object] = {"gemeentecode": c24, "gemeentenaam": name(c24),
                                  "voorgangers_2016": " ".join(c for c, _ in preds[c24])}
        notes = []
        for kind in kinds:
            by_region: dict[str, float] = {}
            for c16, regs in preds[c24]:
                pop = inhabitants(c16)
                if pop is None and len({r[kind] for _, r in preds[c24]}) > 1:
                    raise SystemExit(f"{c16}: inhabitants needed to settle {c24}'s {kind}; add to INHABITANTS_2018")
                by_region[regs[kind]] = by_region.get(regs[kind], 0.0) + (pop or 0.0)
            chosen = max(by_region, key=lambda r: by_region[r])
            if len(by_region) > 1:
                parts = ", ".join(f"{r} {by_region[r]:,.0f}" for r in sorted(by_region, key=lambda r: -by_region[r]))
                members = ", ".join(f"{name(c)} ({c}) {r[kind]}" for c, r in preds[c24])
                notes.append(f"{kind}: voorgangers in verschillende regio's ({members}); toegewezen aan {chosen}, "
                             f"de regio met de meeste inwoners van de voorgangers ({parts})")
            row[f"{kind}_code"] = chosen
            row[f"{kind}_naam"] = (GGD_NAMES if kind == "ggd" else JZ_NAMES)[chosen]
        for c16 in split_into.get(c24, []):
            gem, year, succ = SPLIT[c16]
            i = geb["reg"].index(c16)
            notes.append(f"omvat een deel van {gem} ({c16}, opgeheven {year}, verdeeld over {', '.join(succ)}; "
                         f"{geb[kinds['ggd']][i]}, {geb[kinds['jeugdzorgregio']][i]}); regio's van de gemeente zelf")
        row["notes"] = "; ".join(notes)
        rows.append(row)
    for c16, (_, _, succ) in SPLIT.items():  # a split gemeente's regions must not matter for membership
        i = geb["reg"].index(c16)
        for s in succ:
            r = next(x for x in rows if x["gemeentecode"] == s)
            if r["ggd_code"] != geb[kinds["ggd"]][i]:
                raise SystemExit(f"{c16} split into {s} of another GGD region: decide by hand")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    (out / "regions_2024.csv").write_text(buf.getvalue(), encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    main()
