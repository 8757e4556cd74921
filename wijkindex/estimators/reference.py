"""Published reference figures beside the federation's indicators: the gemeente's own CBS
figure, its GGD region, its jeugdzorgregio, the country and comparable gemeenten.

The federation counts children; CBS publishes per gemeente only household and
youth-care shares (KWB, shipped in ``wijkindex/data/nl-2024/gemeenten_kwb.csv.gz``). Each
reference row therefore names its published measure and says plainly where it is a proxy
(``proxy``, ``note``/``note_en``): a share of households is not a share of children.

Weighting: a figure of several gemeenten (a region, the country, the peers) is the mean of
the gemeenten's figures weighted by the measure's own denominator -- households for a
household share, inhabitants for a figure per inhabitant, young people (0-24, from the
KWB age shares 0-14 and 15-24, the nearest denominator the KWB gives per gemeente) for the
youth-care share -- so it equals the share of the region's households (inhabitants, young
people) as CBS would count it. The KWB's own "Netherlands Total" in the 2021 file is an
unweighted mean of gemeenten and is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from wijkindex.geography.cbs import _kwb, resolve
from wijkindex.geography.regions import KINDS, Region, region_of

NATIONAL_CODE = "NL01"
AREA_LEVELS = ("gemeente", "ggd", "jeugdzorgregio", "region", "vergelijkbaar", "land")
REFERENCE_COLUMNS = ["indicator", "area_code", "area_name", "area_level", "value", "reference_measure",
                     "reference_measure_en", "source", "year", "proxy", "weighted_by", "n_gemeenten", "note",
                     "note_en"]
KWB_SOURCE = "CBS Kerncijfers wijken en buurten {year} (Bron: CBS; CC BY 4.0)"
# CBS's inhabitant classes of gemeenten (gemeentegrootteklassen), lower bounds
SIZE_CLASSES = (0, 5_000, 10_000, 20_000, 50_000, 100_000, 150_000, 250_000)
URBANISATION = {1: "zeer sterk stedelijk", 2: "sterk stedelijk", 3: "matig stedelijk", 4: "weinig stedelijk",
                5: "niet stedelijk"}
URBANISATION_EN = {1: "very highly urbanised", 2: "highly urbanised", 3: "moderately urbanised",
                   4: "hardly urbanised", 5: "not urbanised"}
MIN_PEERS = 3  # fewer peers of the same size class: the neighbouring size classes are added
WEIGHTS = {"huishoudens": ("huishoudens", "households"), "inwoners": ("inwoners", "inhabitants"),
           "jongeren": ("jongeren 0-24 jaar", "young people aged 0-24")}


@dataclass(frozen=True)
class Measure:
    """A published figure that stands beside a federation indicator."""

    indicator: str
    column: str  # in gemeenten_kwb.csv.gz
    scale: float  # the column times scale is a share (0-1)
    weight: str  # "huishoudens", "inwoners" or "jongeren"
    label: str
    label_en: str
    year: int
    proxy: bool
    note: str
    note_en: str

    @property
    def source(self) -> str:
        return KWB_SOURCE.format(year=self.year)


MEASURES: tuple[Measure, ...] = (
    Measure("bijstand", "pct_rond_sociaal_min", 0.01, "huishoudens",
            "CBS KWB 2022: huishoudens rond of onder het sociaal minimum",
            "CBS KWB 2022: households at or below the social minimum", 2022, True,
            "Benadering: een aandeel van huishoudens (alle huishoudens, met en zonder kinderen) met een inkomen tot "
            "101% van het sociaal minimum, geen aandeel van kinderen in een gezin met bijstand. CBS rondt af op hele "
            "procenten.",
            "Proxy: a share of households (all households, with or without children) with an income up to 101% of "
            "the social minimum, not a share of children in a household on social assistance. CBS rounds to whole "
            "percent."),
    Measure("bijstand", "bijstand_per_1000", 0.001, "inwoners",
            "CBS KWB 2021: personen met een bijstandsuitkering per inwoner",
            "CBS KWB 2021: people receiving social assistance per inhabitant", 2021, True,
            "Benadering: bijstandsontvangers als aandeel van alle inwoners (volwassenen die de uitkering ontvangen), "
            "geen aandeel van kinderen in een gezin met bijstand; een gezin telt één of twee ontvangers.",
            "Proxy: recipients of social assistance as a share of all inhabitants (the adults who receive it), not a "
            "share of children in a household on social assistance; a household counts one or two recipients."),
    Measure("jeugdhulp", "pct_jeugdzorg", 0.01, "jongeren",
            "CBS KWB 2022: jongeren met jeugdzorg in natura",
            "CBS KWB 2022: young people receiving youth care in kind", 2022, True,
            "Benadering: CBS telt jeugdzorg in natura (jeugdhulp, jeugdbescherming, jeugdreclassering) onder alle "
            "jongeren tot 23 jaar in de gemeente, de federatie jeugdhulp onder kinderen 0-17 in haar eigen registers; "
            "leeftijden en definitie verschillen.",
            "Proxy: CBS counts youth care in kind (youth help, child protection, juvenile probation) among all young "
            "people under 23 in the gemeente, the federation youth help among children 0-17 in its own records; ages "
            "and definition differ."),
)
# federation indicators without a published counterpart in the shipped data, and why
MISSING: dict[str, tuple[str, str]] = {
    "eenoudergezin": ("Geen tegenhanger: eenoudergezinnen per gemeente (CBS 71486NED) zitten niet in de "
                      "meegeleverde data; het KWB-aandeel huishoudens met kinderen telt ook tweeoudergezinnen.",
                      "No counterpart: single-parent households per gemeente (CBS 71486NED) are not in the shipped "
                      "data; the KWB share of households with children also counts two-parent families."),
    "schuldhulp": ("Geen tegenhanger: CBS publiceert schuldhulpverlening niet in de KWB.",
                   "No counterpart: CBS does not publish debt counselling in the KWB."),
    "huurtoeslag": ("Geen tegenhanger: het KWB-aandeel huurwoningen is geen huurtoeslag.",
                    "No counterpart: the KWB share of rented homes is not rent benefit."),
    "ots_uithuisplaatsing": ("Geen tegenhanger in de meegeleverde data (CBS jeugdbeschermingsstatistiek niet "
                             "meegeleverd).", "No counterpart in the shipped data (CBS child-protection figures are "
                             "not shipped)."),
}
MISSING_DEFAULT = ("Geen tegenhanger: de meegeleverde CBS-cijfers (KWB) hebben geen maat voor deze indicator "
                   "(Jeugdmonitor, GGD-gezondheidsmonitor en onderwijscijfers zitten er niet in).",
                   "No counterpart: the shipped CBS figures (KWB) have no measure of this indicator (the Jeugdmonitor, "
                   "GGD health monitor and education figures are not shipped).")


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    """The KWB figures with each measure's denominator (a copy safe to index by GM code)."""
    kwb = _kwb().copy()
    kwb["w_huishoudens"] = kwb["huishoudens"].astype(float)
    kwb["w_inwoners"] = kwb["aantal_inwoners"].astype(float)
    kwb["w_jongeren"] = kwb["aantal_inwoners"] * (kwb["0_15"] + kwb["15_25"]) / 100
    return kwb


def measures_for(indicators: Iterable[str] | None = None) -> tuple[Measure, ...]:
    """The reference measures of these indicators (all when None), in catalogue order."""
    if indicators is None:
        return MEASURES
    wanted = set(indicators)
    return tuple(m for m in MEASURES if m.indicator in wanted)


def missing_counterparts(indicators: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Per indicator without a reference figure: why not (Dutch, English)."""
    have = {m.indicator for m in MEASURES}
    return {i: MISSING.get(i, MISSING_DEFAULT) for i in dict.fromkeys(indicators) if i not in have}


def weighted_share(measure: Measure, gemeenten: Sequence[str]) -> tuple[float, int]:
    """The measure over these gemeenten: the mean weighted by its denominator, and how many counted."""
    t = _table().loc[list(gemeenten)]
    ok = t[measure.column].notna() & (t[f"w_{measure.weight}"] > 0)
    if not ok.any():
        return float("nan"), 0
    value = np.average(t.loc[ok, measure.column].astype(float), weights=t.loc[ok, f"w_{measure.weight}"])
    return float(value) * measure.scale, int(ok.sum())


def size_class(inhabitants: float) -> int:
    """The index of CBS's inhabitant class (0: under 5,000 ... 7: 250,000 or more)."""
    return int(np.searchsorted(SIZE_CLASSES, inhabitants, side="right") - 1)


def _class_text(i: int, en: bool = False) -> str:
    lo = SIZE_CLASSES[i]
    sep = "," if en else "."
    if i + 1 < len(SIZE_CLASSES):
        hi = SIZE_CLASSES[i + 1]
        return f"{lo:,}-{hi:,}".replace(",", sep) + (" inhabitants" if en else " inwoners")
    return f"{lo:,}".replace(",", sep) + (" inhabitants or more" if en else " inwoners of meer")


def peer_gemeenten(gemeente_code: str) -> tuple[str, ...]:
    """Gemeenten of the same urbanisation class (CBS stedelijkheid, KWB 2022) and inhabitant
    class (CBS gemeentegrootteklasse, inhabitants 1 January 2022), the gemeente itself left out.
    With fewer than MIN_PEERS, the neighbouring inhabitant classes are added."""
    code = resolve(gemeente_code)
    t = _table()
    classes = t["aantal_inwoners"].map(size_class)
    same_urb = (t["stedelijkheid"] == t.loc[code, "stedelijkheid"]) & (t.index != code)
    own = classes[code]
    peers = t.index[same_urb & (classes == own)]
    if len(peers) < MIN_PEERS:
        peers = t.index[same_urb & classes.between(own - 1, own + 1)]
    return tuple(sorted(peers))


def peer_description(gemeente_code: str) -> tuple[str, str]:
    """How the peers were chosen (Dutch, English)."""
    code = resolve(gemeente_code)
    t = _table()
    urb, own = int(t.loc[code, "stedelijkheid"]), size_class(float(t.loc[code, "aantal_inwoners"]))
    peers = peer_gemeenten(code)
    widened = any(size_class(float(t.loc[p, "aantal_inwoners"])) != own for p in peers)
    nl = (f"Vergelijkbare gemeenten: {URBANISATION[urb]} ({urb}), "
          + (f"{_class_text(own)} of de aangrenzende grootteklassen" if widened else _class_text(own))
          + f"; {len(peers)} gemeenten")
    en = (f"Comparable gemeenten: {URBANISATION_EN[urb]} ({urb}), "
          + (f"{_class_text(own, True)} or the neighbouring size classes" if widened else _class_text(own, True))
          + f"; {len(peers)} gemeenten")
    return nl, en


def comparison_areas(gemeente_code: str, user_regions: Sequence[Region] = ()
                     ) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """What a gemeente is compared with, as (area code, name, area level, member gemeenten): the
    gemeente itself, its GGD region, jeugdzorgregio, any of ``user_regions`` it is in, its peers
    (``VG`` + its four digits, itself left out) and the country (NL01, all 342). The CBS reference
    rows and the federation's pooled rows (estimators/pooled.py) use the same areas."""
    code = resolve(gemeente_code)
    t = _table()
    areas: list[tuple[str, str, str, tuple[str, ...]]] = [(code, str(t.loc[code, "gemeentenaam"]), "gemeente",
                                                            (code,))]
    for kind in KINDS:
        r = region_of(code, kind)
        areas.append((r.code, r.name, kind, tuple(r.gemeenten)))
    areas += [(r.code, r.name, "region", tuple(r.gemeenten)) for r in user_regions if code in r.gemeenten]
    peers = peer_gemeenten(code)
    if peers:
        areas.append((f"VG{code[2:]}", peer_description(code)[0].split(":")[0] + f" ({len(peers)})", "vergelijkbaar",
                      peers))
    areas.append((NATIONAL_CODE, "Nederland", "land", tuple(t.index)))
    return areas


def is_cbs_gemeente(code: str) -> bool:
    """True for a GM code of the 342 gemeenten of 2024 (the shipped KWB figures)."""
    return str(code) in _table().index


def gemeente_name(code: str) -> str:
    """A 2024 gemeente's name; any other code as it is."""
    return str(_table().loc[code, "gemeentenaam"]) if is_cbs_gemeente(code) else str(code)


def reference_rows(gemeente_code: str, indicators: Iterable[str] | None = None,
                   user_regions: Sequence[Region] = ()) -> pd.DataFrame:
    """For each indicator with a published counterpart: the gemeente's CBS figure, its GGD
    region, jeugdzorgregio, any of ``user_regions`` it is in, its peers and the country.
    ``value`` is a share (0-1); see REFERENCE_COLUMNS and the module docstring."""
    code = resolve(gemeente_code)
    areas = comparison_areas(code, user_regions)
    peer_nl, peer_en = peer_description(code)
    rows = []
    for m in measures_for(indicators):
        for area_code, name, level, members in areas:
            value, n = weighted_share(m, members)
            if n == 0:
                continue
            w_nl, w_en = WEIGHTS[m.weight]
            note, note_en = m.note, m.note_en
            if level != "gemeente":
                note += f" Gewogen naar {w_nl} over {n} gemeenten."
                note_en += f" Weighted by {w_en} over {n} gemeenten."
            if level == "vergelijkbaar":
                note += " " + peer_nl + "."
                note_en += " " + peer_en + "."
            rows.append({"indicator": m.indicator, "area_code": area_code, "area_name": name, "area_level": level,
                         "value": round(value, 5), "reference_measure": m.label, "reference_measure_en": m.label_en,
                         "source": m.source, "year": m.year, "proxy": m.proxy,
                         "weighted_by": m.weight, "n_gemeenten": n,
                         "note": note, "note_en": note_en})
    return pd.DataFrame(rows, columns=REFERENCE_COLUMNS)


def reference_for_index(index: pd.DataFrame, user_regions: Sequence[Region] = ()) -> pd.DataFrame:
    """The reference rows of an index's gemeente and indicators; empty (with the columns) when
    the index's gemeente is not a CBS 2024 gemeente or no indicator has a counterpart."""
    from wijkindex.errors import WijkindexError

    empty = pd.DataFrame(columns=REFERENCE_COLUMNS)
    if index.empty or "gemeente_code" not in index.columns:
        return empty
    indicators = [str(i) for i in dict.fromkeys(index["indicator"])]
    frames = []
    for gm in dict.fromkeys(index["gemeente_code"].astype(str)):  # a region round: each of its gemeenten
        try:
            code = resolve(gm)
        except WijkindexError:
            continue
        frames.append(reference_rows(code, indicators, user_regions))
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates(subset=["indicator", "area_code", "reference_measure"]).reset_index(drop=True)


def is_reference(index: pd.DataFrame) -> pd.Series:
    """True for the reference rows that ``with_reference`` appended to an index table (their
    ``reference_source`` is set; the federation's own rows leave it empty)."""
    if "reference_source" not in index.columns:
        return pd.Series(False, index=index.index)
    return index["reference_source"].fillna("").astype(str).ne("")


def without_reference(index: pd.DataFrame) -> pd.DataFrame:
    """The federation's own rows of an index table read back from index.csv/.parquet."""
    return index[~is_reference(index)].reset_index(drop=True)


def with_reference(index: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """The index as index.csv holds it: its own rows marked ``area_level`` "wijk"/"gemeente"
    (``reference_source`` empty) and the reference rows appended, ``wijk_code`` the area's code
    (NL01, GG…, JZ…, GM…), ``rate`` the published share, ``source`` "referentie" and
    ``reference_source`` the measure and its source, ``population`` the measure's denominator
    (huishoudens, inwoners, jongeren). Counts, margins and age band stay empty, so a
    reader that groups by age band skips them; ``without_reference`` drops them."""
    out = index.copy()
    if "area_level" not in out.columns:  # an index assembled before rows named their level
        out["area_level"] = np.where(out["wijk_code"] == out["gemeente_code"], "gemeente", "wijk")
    if "area_code" not in out.columns:
        out["area_code"] = out["wijk_code"]
    out["reference_source"] = ""
    if reference.empty:
        return out
    first = index.iloc[0]
    ref = pd.DataFrame({
        "period": first.get("period"), "gemeente_code": first.get("gemeente_code"),
        "wijk_code": reference["area_code"].to_numpy(), "wijk_name": reference["area_name"].to_numpy(),
        "area_code": reference["area_code"].to_numpy(),
        "indicator": reference["indicator"].to_numpy(), "source": "referentie",
        "rate": reference["value"].astype(float).to_numpy(), "suppressed": False,
        "round_id": first.get("round_id"),
        "population": reference["weighted_by"].to_numpy(),
        "area_level": reference["area_level"].to_numpy(),
        "reference_source": (reference["reference_measure"] + " (" + reference["source"] + ")").to_numpy(),
    })
    return append_rows(out, ref, index.attrs)


def append_rows(table: pd.DataFrame, rows: pd.DataFrame, attrs: dict) -> pd.DataFrame:
    """``table`` with ``rows`` appended (only the columns ``table`` has), keeping the table's own
    dtypes (nullable ints stay Int64) and its attrs: how reference and pooled rows join index.csv."""
    combined = pd.concat([table, rows[[c for c in table.columns if c in rows.columns]]], ignore_index=True)
    for col in table.columns:
        if str(table[col].dtype) in ("Int64", "boolean"):
            combined[col] = combined[col].astype(table[col].dtype)
    combined.attrs = dict(attrs)
    return combined
