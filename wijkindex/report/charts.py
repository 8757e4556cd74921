"""The chart sections: stacked cumulative risk per wijk, relative risks, and trends over the years."""

from __future__ import annotations

import html
from typing import Any, Sequence

import pandas as pd

from wijkindex.estimators.consistency import cumulative_shares
from wijkindex.estimators.trend import period_rates, year_on_year
from wijkindex.report.labels import band_names, label, tr, tr_band, tr_label
from wijkindex.report.page import _shade, csv_link

LEVEL_COLOURS = ("#e8eef7", "#f3d9a4", "#e49a5b", "#b8412c")


def _level_groups(indicators: Sequence[str]) -> dict[str, list[str]]:
    """Cumulative-risk level indicators (name_0, name_1, ..., name_Nplus), grouped by name."""
    out: dict[str, list[str]] = {}
    for ind in indicators:
        if ind.endswith("plus") and "_" in ind:
            stem, top = ind.rsplit("_", 1)
            cap = int(top[:-4]) if top[:-4].isdigit() else 0
            levels = [f"{stem}_{k}" for k in range(cap)] + [ind]
            if cap and all(lv in indicators for lv in levels):
                out[stem] = levels
    return out


MIN_CHILDREN_SHARES = 100  # a wijk's cumulative-risk shares are drawn from this many children (noised) up


def section_cumulative(index: pd.DataFrame) -> str:
    """Stacked bars per wijk: the share of children with 0, 1, 2, 3+ risk factors across all sources."""
    groups = _level_groups(list(dict.fromkeys(index["indicator"])))
    parts = []
    for stem, levels in groups.items():
        # each level is noised on its own: the nearest non-negative shares that sum to 100% are shown
        t = cumulative_shares(index, levels).assign(period=index["period"].iloc[0])
        table = t.pivot_table(index=["wijk_code", "wijk_name"], columns="indicator", values="share", sort=False)[levels]
        low = t.pivot_table(index=["wijk_code", "wijk_name"], columns="indicator", values="share_low90", sort=False)
        high = t.pivot_table(index=["wijk_code", "wijk_name"], columns="indicator", values="share_high90", sort=False)
        dens = t.groupby(["wijk_code", "wijk_name"], sort=False)["den"].max().reindex(table.index)
        gm_code = str(index["gemeente_code"].iloc[0])
        # shares of a few dozen children are mostly noise: such wijken are named, not drawn
        few = [k for k in table.index if k[0] != gm_code and not dens.get(k, 0) >= MIN_CHILDREN_SHARES]
        order = sorted((k for k in table.index if k not in few),
                       key=lambda k: (k[0] == gm_code, -float(table.loc[k, levels[-1]] or 0)))
        w, row, left = 360, 18, 170
        svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{left + w + 20}' height='{len(order) * row + 30}' "
               "role='img' aria-label='cumulatief risico per wijk'>"]
        for i, key in enumerate(order):
            shares = [max(0.0, float(table.loc[key, lv])) if pd.notna(table.loc[key, lv]) else 0.0 for lv in levels]
            total = sum(shares) or 1.0
            x, y = float(left), i * row + 4
            weight = "bold" if key[0] == gm_code else "normal"
            svg.append(f"<text x='{left - 6}' y='{y + 12}' text-anchor='end' font-size='11' "
                       f"font-weight='{weight}'>{html.escape(str(key[1]))}</text>")
            for k, share in enumerate(shares):
                width = w * share / total
                svg.append(f"<rect x='{x:.1f}' y='{y + 2}' width='{width:.1f}' height='13' "
                           f"fill='{LEVEL_COLOURS[min(k, len(LEVEL_COLOURS) - 1)]}'><title>"
                           f"{html.escape(label(levels[k]))} (90%-interval {low.loc[key, levels[k]]:.1%} - "
                           f"{high.loc[key, levels[k]]:.1%}): {share:.1%}</title></rect>")
                x += width
        legend = "".join(f"<span style='background:{LEVEL_COLOURS[min(k, 3)]}'></span>{tr_label(lv)} "
                         for k, lv in enumerate(levels))
        if few:
            names = ", ".join(html.escape(str(k[1])) for k in few)
            legend += "<br>" + tr(f"Niet getekend, te weinig kinderen (minder dan {MIN_CHILDREN_SHARES}): ",
                                  f"Not drawn, too few children (fewer than {MIN_CHILDREN_SHARES}): ") + names
        svg.append("</svg>")
        parts.append(
            f"<h2>{tr('Gestapelde risico' + chr(39) + 's (cumulatief risico)', 'Stacked risks (cumulative risk)')} "
            f"{csv_link(t, stem + '.csv')}</h2><p class='sub'>" + tr(
                "Aandeel kinderen (0-17 jaar) per aantal risicofactoren over alle bronnen samen, berekend met het "
                "ketenprotocol: geen bron zag de kenmerken van een andere. Wijken gesorteerd op het aandeel met de "
                "meeste factoren. Het 90%-interval van elk aandeel staat in de tooltip en de CSV.",
                "Share of children (0-17) by number of risk factors across all sources, computed with the chain "
                "protocol: no source saw another's attributes. Neighbourhoods sorted by the share with the most "
                "factors. Each share's 90% interval is in its tooltip and the CSV.") + f"</p><p class='legend sub'>{legend}</p>{''.join(svg)}")
    return "".join(parts)


def _rr_text(x: float) -> str:
    """A relative risk or bound: two decimals below 1 (0.04 is not "0.0"), one above."""
    return f"{x:.2f}" if x < 1 else f"{x:.1f}"


def _rr_cells(r: Any) -> str:
    """The ratio and its interval, or why they are not shown (rr_note: too few children or too uncertain)."""
    note, note_en = str(getattr(r, "rr_note", "") or ""), str(getattr(r, "rr_note_en", "") or "")
    if r.suppressed or not getattr(r, "published", True) or pd.isna(r.relative_risk):
        if not note:
            note, note_en = ("te weinig kinderen", "too few children") if r.suppressed else ("te onzeker", "too uncertain")
        return f"<td class='sup'>-</td><td class='sup'>{tr(note, note_en)}</td>"
    shade = _shade(100 * r.rr_low90) if r.rr_low90 > 1 else ""
    return f"<td{shade}>{_rr_text(r.relative_risk)}</td><td>{_rr_text(r.rr_low90)} - {_rr_text(r.rr_high90)}</td>"


def section_relative_risk(rr: pd.DataFrame | None) -> str:
    """Per wijk: the outcome's risk among exposed children against the others, with its 90% interval;
    where the interval is not informative, the reason instead of a number."""
    if rr is None or rr.empty:
        return ""
    parts = ["<h2>" + tr("Relatieve risico's", "Relative risks") + " " + csv_link(rr, "relatieve_risicos.csv")
             + "</h2><p class='sub'>" + tr(
                 "Uit de 2x2-tabellen van de gekoppelde indicatoren: hoeveel vaker de uitkomst voorkomt bij kinderen "
                 "met het kenmerk dan bij de andere kinderen in dezelfde wijk (0-17 jaar), met 90%-interval. Een "
                 "interval dat 1 omvat is geen duidelijk verschil. Waar de ruis van de privacybescherming het "
                 "interval te breed maakt, staat er geen getal maar de reden.",
                 "From the 2x2 tables of the linked indicators: how much more often the outcome occurs among children "
                 "with the attribute than among the other children of the same neighbourhood (0-17), with 90% "
                 "interval. An interval that contains 1 is no clear difference. Where the privacy noise makes the "
                 "interval too wide, the reason is shown instead of a number.") + "</p>"]
    for name, g in rr[rr["age_band"] == "0-17"].groupby("name", sort=False):
        body = []
        for r in g.itertuples():
            risk = (f"{r.risk_exposed:.1%} vs {r.risk_unexposed:.1%}" if pd.notna(r.risk_exposed)
                    and pd.notna(r.risk_unexposed) and not r.suppressed else "-")
            body.append(f"<tr><td>{html.escape(str(r.wijk_name))}</td>{_rr_cells(r)}<td>{risk}</td></tr>")
        en = str(g["label_en"].iloc[0]) if "label_en" in g else str(g["label"].iloc[0])
        parts.append(f"<h3>{tr(str(g['label'].iloc[0]), en)}</h3><table><thead><tr>"
                     f"<th>{tr('wijk', 'neighbourhood')}</th><th>{tr('relatief risico', 'relative risk')}</th>"
                     f"<th>{tr('90%-interval', '90% interval')}</th>"
                     f"<th>{tr('met vs zonder kenmerk', 'with vs without attribute')}</th></tr></thead>"
                     f"<tbody>{''.join(body)}</tbody></table>")
    return "".join(parts)


def _pooled_lines(pooled_history: pd.DataFrame | None) -> pd.DataFrame:
    """The 0-17 rates per period of the federation's pooled areas whose gemeenten are the same in
    every period (another set of gemeenten would not be a trend)."""
    from wijkindex.estimators.trend import pooled_as_history

    if pooled_history is None or pooled_history.empty:
        return pd.DataFrame(columns=["period", "wijk_code", "wijk_name", "indicator", "rate"])
    h = pooled_as_history(pooled_history)
    sets = h.groupby(["wijk_code", "indicator"])["covered"].agg(lambda s: len(set(s)))
    same = sets[sets == 1].index
    h = h[pd.MultiIndex.from_frame(h[["wijk_code", "indicator"]]).isin(same)]
    return period_rates(h) if not h.empty else pd.DataFrame(columns=["period", "wijk_code", "wijk_name", "indicator",
                                                                       "rate"])


def _ggd_of(gemeente_code: str) -> str:
    """The GGD region's code of a CBS gemeente ("" for any other area)."""
    from wijkindex.estimators.reference import is_cbs_gemeente
    from wijkindex.geography.regions import region_of

    return region_of(gemeente_code, "ggd").code if is_cbs_gemeente(gemeente_code) else ""


def section_trend(history: pd.DataFrame | None, pooled_history: pd.DataFrame | None = None) -> str:
    """Lines per indicator over the periods: the gemeente bold with its margin, the wijken thin,
    and the federation's country figure dashed where it pools the same gemeenten every year."""
    if history is None or history.empty or history["period"].nunique() < 2:
        return ""
    t = period_rates(history)
    pooled_lines = _pooled_lines(pooled_history)
    country = pooled_lines[pooled_lines["wijk_code"] == "NL01"]
    periods = sorted(t["period"].unique())
    gm_code = str(history["gemeente_code"].iloc[0])
    ggd = _ggd_of(gm_code)
    region = pooled_lines[pooled_lines["wijk_code"] == ggd]
    parts = ["<h2>" + tr("Ontwikkeling over de jaren", "Trend over the years") + " " + csv_link(t, "trend.csv")
             + "</h2><p class='sub'>" + tr("0-17 jaar, per peiljaar. Dik: de gemeente met 90%-foutmarge; dun: de wijken.",
                                           "Ages 0-17, per reference year. Thick: the municipality with 90% margin "
                                           "of error; thin: the neighbourhoods.") + (tr(
                " Gestreept: Nederland uit de rondes van de federatie (dezelfde gemeenten elk jaar).",
                " Dashed: the Netherlands from the federation's rounds (the same municipalities every year).")
                if not country.empty else "") + (tr(
                " Gestippeld groen: de GGD-regio, evenzo.", " Dotted green: the GGD region, likewise.")
                if not region.empty else "") + "</p>"
             "<div style='display:flex;flex-wrap:wrap;gap:1rem'>"]
    w, h, pad = 260, 150, 34
    for ind, g in t.groupby("indicator", sort=False):
        if g["period"].nunique() < 2:
            continue
        gm_rows = g[g["wijk_code"] == gm_code]
        # scaled to the gemeente (wijk lines beyond twice its level are clipped at the top)
        top = float((gm_rows["rate"] + gm_rows["moe90"].fillna(0)).max() or 0.01) * 2.0

        def xy(period: int, rate: float) -> tuple[float, float]:
            x = pad + (w - pad - 24) * periods.index(period) / max(1, len(periods) - 1)
            return x, h - 20 - (h - 30) * min(rate, top) / top

        svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' "
               f"aria-label='trend {html.escape(str(ind))}'>"]
        for code, wg in g.groupby("wijk_code", sort=False):
            wg = wg.dropna(subset=["rate"]).sort_values("period")
            if len(wg) < 2:
                continue
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(int(p), float(r)) for p, r in zip(wg["period"], wg["rate"])))
            gm = code == gm_code
            if gm:
                band = [xy(int(p), float(r + m)) for p, r, m in zip(wg["period"], wg["rate"], wg["moe90"])]
                band += [xy(int(p), max(0.0, float(r - m))) for p, r, m in
                         zip(wg["period"][::-1], wg["rate"][::-1], wg["moe90"][::-1])]
                svg.append("<polygon fill='rgba(74,120,181,.2)' points='" +
                           " ".join(f"{x:.1f},{y:.1f}" for x, y in band) + "'/>")
            svg.append(f"<polyline fill='none' stroke='{'#1d4f91' if gm else '#bbb'}' "
                       f"stroke-width='{2.5 if gm else 0.8}' points='{pts}'><title>"
                       f"{html.escape(str(wg['wijk_name'].iloc[0]))}</title></polyline>")
        for lines, colour, dash, title in ((country, "#222", "4 3", ("Nederland (federatie)", "Netherlands (federation)")),
                                           (region, "#3a7d2c", "1.5 2.5", ("GGD-regio (federatie)", "GGD region (federation)"))):
            nl = lines[(lines["indicator"] == ind) & lines["period"].isin(periods)].dropna(subset=["rate"])
            if nl["period"].nunique() >= 2:
                nl = nl.sort_values("period")
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(int(p), float(r)) for p, r in zip(nl["period"], nl["rate"])))
                svg.append(f"<polyline fill='none' stroke='{colour}' stroke-dasharray='{dash}' stroke-width='1.5' "
                           f"points='{pts}' data-area='{html.escape(str(nl['wijk_code'].iloc[0]))}'><title>{tr(*title)}"
                           "</title></polyline>")
        for p in periods:
            x, _ = xy(p, 0)
            svg.append(f"<text x='{x:.1f}' y='{h - 4}' font-size='10' text-anchor='middle'>{p}</text>")
        svg.append(f"<text x='2' y='12' font-size='10'>{top:.0%}</text></svg>")
        parts.append(f"<figure style='margin:0'><figcaption style='font-size:.85rem;max-width:{w}px'>"
                     f"{tr_label(str(ind))}</figcaption>{''.join(svg)}</figure>")
    parts.append("</div>")
    return "".join(parts) + _trend_changes(history, gm_code)


def change_cell(r: Any) -> str:
    """A change in percentage points with its 90% interval, and "clear" where it excludes 0."""
    if r is None or pd.isna(r["change"]):
        return "-"
    clear = r["change_low90"] > 0 or r["change_high90"] < 0
    return (f"{100 * r['change']:+.1f} <span class='moe'>({100 * r['change_low90']:+.1f} {tr('tot', 'to')} "
            f"{100 * r['change_high90']:+.1f})</span>" + (" <b>" + tr("duidelijk", "clear") + "</b>" if clear else ""))


def _trend_changes(history: pd.DataFrame, gm_code: str) -> str:
    """The latest year-on-year change per indicator: the gemeente's (0-17 and per age group) with its
    90% interval, and how many wijken changed clearly (their interval excludes 0)."""
    ch = year_on_year(history)
    ch = ch[ch["period"] == ch["period"].max()]
    if ch.empty:
        return ""
    per_band = year_on_year(history, by_band=True)
    per_band = per_band[(per_band["period"] == ch["period"].max()) & (per_band["wijk_code"] == gm_code)]
    bands = [b for b in dict.fromkeys(history["age_band"].astype(str)) if b in set(per_band["age_band"])]
    body = []
    for ind, g in ch.groupby("indicator", sort=False):
        gm = g[g["wijk_code"] == gm_code]
        wijk = g[g["wijk_code"] != gm_code]
        up, down = int((wijk["change_low90"] > 0).sum()), int((wijk["change_high90"] < 0).sum())
        by = per_band[per_band["indicator"] == ind].set_index("age_band")
        cells = "".join(f"<td>{change_cell(by.loc[b] if b in by.index else None)}</td>" for b in bands)
        body.append(f"<tr><td>{tr_label(str(ind))}</td><td>{change_cell(gm.iloc[0] if len(gm) else None)}</td>"
                    f"{cells}<td>{up}</td><td>{down}</td></tr>")
    before, after = int(ch["previous_period"].iloc[0]), int(ch["period"].iloc[0])
    names = band_names(bands)
    band_heads = "".join(f"<th>{tr_band(b, names)}</th>" for b in bands)
    return (f"<h3>{tr(f'Verandering {before}-{after}', f'Change {before}-{after}')} "
            f"{csv_link(ch, 'verandering.csv')} {csv_link(per_band, 'verandering_leeftijd.csv')}</h3><p class='sub'>" + tr(
                "Verschil in procentpunten (0-17 jaar en per leeftijdsgroep), met 90%-interval uit de ruis van beide "
                "jaren. Een interval dat 0 omvat is geen duidelijke verandering.",
                "Difference in percentage points (ages 0-17 and per age group), with 90% interval from both years' "
                "noise. An interval that contains 0 is no clear change.") + "</p>"
            f"<table><thead><tr><th>indicator</th><th>{tr('gemeente', 'municipality')} 0-17</th>{band_heads}"
            f"<th>{tr('wijken duidelijk hoger', 'neighbourhoods clearly up')}</th>"
            f"<th>{tr('wijken duidelijk lager', 'neighbourhoods clearly down')}</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")
