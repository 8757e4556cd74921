"""The report's comparison within the federation: each gemeente's figure per indicator and age
band beside the country, its GGD region, its jeugdzorgregio and its peers, as the aggregator
pooled them from the gemeenten' own completed rounds of the period (estimators/pooled.py).

Unlike the CBS reference figures (report/reference.py) these are the same measure as the
gemeente's own: the same indicator, age band and denominator, counted by the same kind of
holders. Each figure carries its 90% margin and how many of the area's gemeenten it sums; the
gemeenten it lacks are named below the table (all of them in the CSV).
"""

from __future__ import annotations

import html
import math

import pandas as pd

from wijkindex.estimators.pooled import LEVEL_ORDER, gemeente_rows
from wijkindex.privacy.noise import rate_moe
from wijkindex.report.labels import band_names, tr, tr_band, tr_label
from wijkindex.report.page import csv_link
from wijkindex.report.reference import LEVEL_LABELS

LIST_AT_MOST = 12  # name the covered/missing gemeenten up to this many, else count them


def _figure(rate: float, moe: float) -> str:
    if rate is None or pd.isna(rate):
        return "-"
    return f"{float(rate):.1%} <span class='moe'>± {float(moe):.1%}</span>" if pd.notna(moe) else f"{float(rate):.1%}"


def _names(codes: str) -> list[str]:
    from wijkindex.estimators.reference import gemeente_name

    return [gemeente_name(c) for c in str(codes).split(", ") if c]


def _listing(codes: str) -> str:
    names = _names(codes)
    if len(names) <= LIST_AT_MOST:
        return html.escape(", ".join(names))
    return tr(f"{len(names)} gemeenten (zie CSV)", f"{len(names)} municipalities (see CSV)")


def _raw(row: dict[str, object] | pd.Series) -> tuple[float, float]:
    """A row's unclipped rate and its margin, from its noised counts (the shown rate and margin are
    clipped to [0, 1]: a difference is judged on what was computed)."""
    n, d = row["numerator_noisy"], row["denominator_noisy"]
    if pd.isna(n) or pd.isna(d) or float(d) <= 0:  # type: ignore[arg-type]
        return math.nan, math.nan
    n, d = float(n), float(d)  # type: ignore[arg-type]
    return n / d, rate_moe(n, d, float(row["numerator_moe90"]), float(row["denominator_moe90"]))  # type: ignore[arg-type]


def _beyond(own: tuple[float, float], other: tuple[float, float]) -> int:
    """+1 / -1 when the gemeente is above / below the pooled figure by more than both margins
    combined (conservative where the gemeente is part of the pool), else 0."""
    (g_rate, g_moe), (p_rate, p_moe) = own, other
    if any(pd.isna(x) for x in (g_rate, g_moe, p_rate, p_moe)):
        return 0
    diff = g_rate - p_rate
    return (diff > 0) - (diff < 0) if abs(diff) > math.hypot(g_moe, p_moe) else 0


def _coverage(areas: pd.DataFrame) -> str:
    """Per area: the most gemeenten any of its figures sums, which, and which members it lacks."""
    items = []
    for code, g in areas.groupby("area_code", sort=False):
        best = g.sort_values("n_gemeenten", ascending=False, kind="stable").iloc[0]
        k, n = int(best["n_gemeenten"]), int(best["n_members"])
        text = (tr(f"{k} van {n} gemeenten", f"{k} of {n} municipalities") + ": "
                + _listing(str(best["gemeenten_covered"])))
        if str(best["gemeenten_missing"]):
            text += "; " + tr("ontbrekend", "missing") + ": " + _listing(str(best["gemeenten_missing"]))
        if str(best["gemeenten_suppressed"]):
            text += ("; " + tr("onderdrukt (niet meegeteld)", "suppressed (not counted)") + ": "
                     + _listing(str(best["gemeenten_suppressed"])))
        if (g["n_gemeenten"] < k).any():
            text += " " + tr("(sommige cijfers tellen er minder: zie k/n per cel)",
                             "(some figures count fewer: see k/n per cell)")
        items.append(f"<li>{html.escape(str(best['area_name']))} ({html.escape(str(code))}): {text}</li>")
    return f"<ul class='sub'>{''.join(items)}</ul>"


def section_federation(index: pd.DataFrame, pooled: pd.DataFrame | None) -> str:
    """A table per gemeente of the index: its rate per indicator and age band, and beside it the
    pooled rates of the areas it is compared with, ± 90% margin and k/n gemeenten summed;
    ▲/▼ where the gemeente is above/below by more than both margins. ``pooled`` None: no section
    (rendered without an aggregator); empty: the section says there is nothing to compare with."""
    if pooled is None:
        return ""
    period = index["period"].iloc[0] if len(index) else ""
    head = ("<h2>" + tr("Vergelijking binnen de federatie", "Compared within the federation") + " "
            + csv_link(pooled, "federatie.csv") + "</h2><p class='sub'>" + tr(
                f"Dezelfde indicatoren, geteld door de federatie in de afgeronde rondes van {period} van andere "
                "gemeenten: elk cijfer is de som van de ruisende, niet afgekapte aantallen van de gemeenten die het "
                "telt (zuiver), met de 90%-marge (de marges van de gemeenten kwadratisch opgeteld); k/n: gemeenten "
                "geteld van het aantal in het gebied. ▲/▼: de gemeente ligt hoger/lager dan het gebied, meer dan "
                "beide marges samen. Geen extra privacykosten: alleen gepubliceerde aantallen opgeteld.",
                f"The same indicators, counted by the federation in other municipalities' completed rounds of "
                f"{period}: each figure is the sum of the noised, unclipped counts of the municipalities it counts "
                "(unbiased), with its 90% margin (the municipalities' margins added in quadrature); k/n: "
                "municipalities counted of those in the area. ▲/▼: the municipality is above/below the area by "
                "more than both margins together. No extra privacy cost: only published counts are added.")
            + "</p>")
    if pooled.empty:
        return head + "<p class='sub'>" + tr(
            f"Er zijn geen afgeronde rondes van {period} van andere gemeenten: nog geen vergelijking binnen de "
            "federatie.", f"There are no completed rounds of {period} of other municipalities: no comparison "
            "within the federation yet.") + "</p>"
    parts = [head]
    gms = gemeente_rows(index)
    order = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
    against = pooled["compared_with"].astype(str).str.split(", ")
    for code, g in gms.groupby("wijk_code", sort=False):
        name = str(g["wijk_name"].iloc[0])
        shown = set(zip(g["indicator"], g["age_band"]))  # the comparisons of this gemeente's own figures
        areas = pooled[[str(code) in w and (i, b) in shown
                        for w, i, b in zip(against, pooled["indicator"], pooled["age_band"])]]
        if areas.empty:
            parts.append(f"<h3>{html.escape(name)}</h3><p class='sub'>" + tr(
                "Geen andere gemeenten van haar gebieden met een afgeronde ronde.",
                "No other municipalities of its areas with a completed round.") + "</p>")
            continue
        areas = areas.sort_values("area_level", key=lambda s: s.map(order), kind="stable")
        cols = list(dict.fromkeys(zip(areas["area_code"], areas["area_name"], areas["area_level"])))
        by = areas.set_index(["area_code", "indicator", "age_band", "population"])
        names_of = band_names(list(dict.fromkeys(g["age_band"].astype(str))))
        th = "".join(f"<th>{html.escape(str(n))}" + ("" if lvl == "land" else "<br><span class='moe'>"
                     f"{tr(*LEVEL_LABELS.get(str(lvl), (str(lvl), str(lvl))))}</span>") + "</th>" for _, n, lvl in cols)
        body = []
        for r in g.itertuples():
            cells = []
            for a_code, _, _ in cols:
                key = (a_code, r.indicator, r.age_band, r.population)
                if key not in by.index:
                    cells.append("<td>-</td>")
                    continue
                p = by.loc[key]
                mark = {1: " ▲", -1: " ▼", 0: ""}[_beyond(_raw(r._asdict()), _raw(p))]
                cells.append(f"<td>{_figure(p['rate'], p['moe90'])}{mark} <span class='moe'>"
                             f"{int(p['n_gemeenten'])}/{int(p['n_members'])}</span></td>")
            own = "-" if bool(r.suppressed) else _figure(r.rate, r.moe90)
            body.append(f"<tr><td>{tr_label(str(r.indicator))}</td>"
                        f"<td>{tr_band(str(r.age_band), names_of)}</td><td class='gm'>{own}</td>{''.join(cells)}</tr>")
        parts.append(f"<h3>{html.escape(name)}</h3><table class='wi-federation'><thead><tr><th>indicator</th>"
                     f"<th>{tr('leeftijd', 'age')}</th><th>{html.escape(name)}</th>{th}</tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>" + _coverage(areas))
    return "".join(parts)


def section_pooled_trend(pooled_history: pd.DataFrame | None) -> str:
    """The latest year-on-year change of the federation's pooled figures (the country, the region,
    the peers), 0-17 and per age group, with its 90% interval; where the two years pool different
    gemeenten, no change."""
    from wijkindex.estimators.trend import pooled_changes
    from wijkindex.report.charts import change_cell

    if pooled_history is None or pooled_history.empty or pooled_history["period"].nunique() < 2:
        return ""
    latest = int(pooled_history["period"].max())
    ch = pooled_changes(pooled_history)
    ch = ch[ch["period"] == latest]
    if ch.empty:
        return ""
    per_band = pooled_changes(pooled_history, by_band=True)
    per_band = per_band[per_band["period"] == latest]
    bands = [b for b in dict.fromkeys(pooled_history["age_band"].astype(str)) if b in set(per_band["age_band"])]
    body = []
    for (ind, code), g in ch.groupby(["indicator", "wijk_code"], sort=False):
        r = g.iloc[0]
        if not bool(r["comparable"]):
            cells = (f"<td colspan='{1 + len(bands)}'>" + tr("niet te vergelijken: de jaren tellen andere gemeenten",
                                                             "not comparable: the years pool different municipalities")
                     + "</td>")
        else:
            by = per_band[(per_band["indicator"] == ind) & (per_band["wijk_code"] == code)].set_index("age_band")
            cells = f"<td>{change_cell(r)}</td>" + "".join(
                f"<td>{change_cell(by.loc[b] if b in by.index else None)}</td>" for b in bands)
        body.append(f"<tr><td>{tr_label(str(ind))}</td><td>{html.escape(str(r['wijk_name']))} ({html.escape(str(code))})"
                    f"</td>{cells}</tr>")
    before = int(ch["previous_period"].iloc[0])
    names = band_names(bands)
    band_heads = "".join(f"<th>{tr_band(b, names)}</th>" for b in bands)
    return (f"<h3>{tr(f'Verandering {before}-{latest} in de federatie', f'Change {before}-{latest} in the federation')} "
            f"{csv_link(pd.concat([ch, per_band], ignore_index=True), 'verandering_federatie.csv')}</h3><p class='sub'>"
            + tr("Land, regio en vergelijkbare gemeenten uit de rondes van de federatie: verschil in procentpunten "
                 "(0-17 jaar en per leeftijdsgroep) met 90%-interval; alleen waar beide jaren dezelfde gemeenten tellen.",
                 "Country, region and similar municipalities from the federation's rounds: difference in percentage "
                 "points (ages 0-17 and per age group) with 90% interval; only where both years pool the same "
                 "municipalities.") + "</p>"
            f"<table><thead><tr><th>indicator</th><th>{tr('gebied', 'area')}</th><th>0-17</th>{band_heads}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")
