"""The table sections: header, composite scores, privacy, gemeente averages, one table per
indicator, and the footnotes."""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import pandas as pd

from wijkindex.catalogue import population_label
from wijkindex.report.labels import NOT_APPLICABLE, SOURCES, band_names, tr, tr_band, tr_label
from wijkindex.report.page import UNCERTAIN_CELL, _estimates, _shade, csv_link, is_uncertain
from wijkindex.vocabulary import POPULATION

def section_composite(composite: pd.DataFrame | None) -> str:
    if composite is None or composite.empty:
        return ""
    domains = list(dict.fromkeys(composite["domain"]))
    labels = dict(zip(composite["domain"], composite["domain_label"]))
    kinds = dict(zip(composite["domain"], composite["kind"]))
    labels_en = dict(zip(composite["domain"], composite["domain_label_en"])) if "domain_label_en" in composite else labels
    head = "".join(f"<th>{tr(str(labels[d]), str(labels_en[d]))}<br><span class='moe'>"
                   f"{tr('risico', 'risk') if kinds[d] == 'risk' else tr('beschermend', 'protective')}</span></th>"
                   for d in domains)
    body = []
    gm_code = str(composite["gemeente_code"].iloc[0])
    for code, g in composite.groupby("wijk_code", sort=False):
        g = g.set_index("domain")
        tds = []
        reasons = {str(g.loc[d, "no_score_reason"]) for d in domains} if "no_score_reason" in g.columns else set()
        if g["score"].isna().all() and len(reasons) == 1 and "" not in reasons:  # one reason for the whole row
            why = next(iter(reasons))
            why_en = str(g["no_score_reason_en"].iloc[0]) if "no_score_reason_en" in g.columns else why
            cls = " class='gm'" if code == gm_code else ""
            body.append(f"<tr><td{cls}>{html.escape(str(g['wijk_name'].iloc[0]))}</td>"
                        f"<td class='moe' style='text-align:left' colspan='{len(domains)}'>{tr(why, why_en)}</td></tr>")
            continue
        for d in domains:
            score, moe = g.loc[d, "score"], g.loc[d, "moe90"]
            shade = _shade(score if kinds[d] == "risk" else 200 - score) if pd.notna(score) else ""
            if pd.notna(score):
                tds.append(f"<td{shade}>{score:.0f} <span class='moe'>± {moe:.0f}</span></td>")
            else:  # no score: say why
                why = str(g.loc[d, "no_score_reason"]) if "no_score_reason" in g.columns else ""
                why_en = str(g.loc[d, "no_score_reason_en"]) if "no_score_reason_en" in g.columns else why
                tds.append(f"<td class='moe'>{tr(why, why_en) if why else '-'}</td>")
        cls = " class='gm'" if code == gm_code else ""
        body.append(f"<tr><td{cls}>{html.escape(str(g['wijk_name'].iloc[0]))}</td>{''.join(tds)}</tr>")
    return ("<h2>" + tr("Samengestelde scores per domein", "Composite scores per domain") + " "
            + csv_link(composite, "samengestelde_scores.csv") + "</h2><p class='sub'>" + tr(
                "Gewogen gemiddelde van de indexen (gemeente = 100) van de indicatoren in het domein, "
                "0-17 jaar, met 90%-foutmarge. Rood: meer risico (of minder bescherming) dan gemiddeld. Totaal: het "
                "gemiddelde van de domeinen, beschermende omgekeerd. Elk wijkcijfer is een kleine-gebiedsschatting: "
                "naar wat de stand van de wijk op de andere risico-indicatoren voorspelt getrokken naar mate van "
                "zijn ruis (Fay-Herriot), zodat kleine wijken niet door toeval bovenaan staan; '-': te weinig "
                "kinderen voor een score.",
                "Weighted mean of the indicators' indices (municipality = 100) in the domain, ages 0-17, with 90% "
                "margin of error. Red: more risk (or less protection) than average. Overall: the mean of the "
                "domains, protective ones reversed. Each neighbourhood figure is a small-area estimate: pulled "
                "towards what the neighbourhood's standing on the other risk indicators predicts as far as it is "
                "noise (Fay-Herriot), so small neighbourhoods do not top the list by chance; '-': too few children "
                "for a score.") + "</p>"
            f"<table><thead><tr><th>{tr('wijk', 'neighbourhood')}</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")



def section_header(index: pd.DataFrame, title: str, notes: Sequence[str | tuple[str, str]]) -> str:
    """Title, reference date and round, and notes (a note may be a (Dutch, English) pair)."""
    period = index["period"].iloc[0] if len(index) else ""
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    gemeente = gm["wijk_name"].iloc[0] if len(gm) else ""
    rid = str(index["round_id"].iloc[0] if len(index) else "")
    out = ["<p style='float:right'><button id='wi-lang' type='button'>English</button></p>",
           f"<h1>{html.escape(title)}</h1>",
           f'<p class="sub">{html.escape(str(gemeente))}, '
           + tr(f"peildatum 1 januari {period}; ronde {rid}", f"reference date 1 January {period}; round {rid}")
           + "</p>"]
    out += [f'<p class="note">{tr(*n) if isinstance(n, tuple) else html.escape(n)}</p>' for n in notes]
    return "\n".join(out)


def section_privacy(privacy: Sequence[Mapping[str, object]]) -> str:
    if not privacy:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(p.get('node', '')))}</td><td>{float(p.get('epsilon', 0)):g}</td>"  # type: ignore[arg-type]
        f"<td>{html.escape(str(p.get('mechanism', '')))}</td><td>{float(p.get('scale', 0)):g}</td>"  # type: ignore[arg-type]
        f"<td>{format(float(p['joint_scale']), 'g') if p.get('joint_scale') else '-'}</td></tr>"  # type: ignore[arg-type]
        for p in privacy)
    total = sum(float(str(p.get("epsilon", 0))) for p in privacy)
    return (
        "<h2>Privacy " + csv_link(pd.DataFrame(list(privacy)), "privacy.csv") + "</h2><p>"
        + tr("Elk getal in dit rapport is een geteld aantal met toegevoegde ruis (differential privacy). Geen enkele "
             "partij heeft de gegevens van een andere partij gezien.",
             "Every figure in this report is a count with noise added (differential privacy). No party has seen "
             "another party's data.") + "</p>"
        f"<table><thead><tr><th>{tr('bron', 'source')}</th><th>{tr('epsilon deze ronde', 'epsilon this round')}</th>"
        f"<th>{tr('mechanisme', 'mechanism')}</th><th>{tr('ruisschaal', 'noise scale')}</th>"
        f"<th>{tr('ruisschaal gekoppelde indicatoren', 'noise scale, joint indicators')}</th></tr>"
        f"</thead><tbody>{rows}</tbody></table><p>"
        + tr(f"Privacyverlies van een kind dat bij alle bronnen bekend is: epsilon {total:g} in deze ronde "
             "(de som over de bronnen).",
             f"Privacy loss of a child known to every source: epsilon {total:g} this round (the sum over the "
             "sources).") + "</p>")


def section_summary(index: pd.DataFrame) -> str:
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    bands = list(dict.fromkeys(index["age_band"]))
    names_of = band_names(bands)
    head = "".join(f"<th>{tr_band(b, names_of)}</th>" for b in bands)
    body = []
    for (ind, src), g in gm.groupby(["indicator", "source"], sort=False):
        g = g.set_index("age_band")
        cells = "".join(
            f"<td>{g.loc[b, 'rate']:.1%} <span class='moe'>± {g.loc[b, 'moe90']:.1%}</span></td>"
            if b in g.index and pd.notna(g.loc[b, "rate"]) else
            f"<td class='sup'>{tr(*UNCERTAIN_CELL)}</td>" if b in g.index and is_uncertain(g.loc[b]) else
            "<td>-</td>" if b in g.index else NOT_APPLICABLE
            for b in bands)
        body.append(f"<tr><td>{tr_label(str(ind))} <span class='moe'>({html.escape(SOURCES.get(str(src), str(src)))})"
                    f"</span></td>{cells}</tr>")
    return ("<h2>" + tr("Gemeente-gemiddelden", "Municipality averages") + " " + csv_link(gm, "gemeente.csv") + "</h2>"
            "<table><thead><tr><th>indicator</th>" + head +
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def section_indicator(index: pd.DataFrame, indicator: str) -> str:
    g = index[index["indicator"] == indicator]
    shown = _estimates(g)
    bands = list(dict.fromkeys(g["age_band"]))
    gm_code = g["gemeente_code"].iloc[0]
    names_of = band_names(bands)
    head = "".join(f"<th>{tr_band(b, names_of)}</th>" for b in bands)
    body = []
    for code, w in shown.groupby("wijk_code", sort=False):
        w = w.set_index("age_band")
        name = str(w["wijk_name"].iloc[0])
        tds = []
        for b in bands:
            if b not in w.index:
                tds.append("<td>-</td>")
                continue
            r = w.loc[b]
            if bool(r["suppressed"]):
                tds.append(f"<td class='sup'>{tr('onderdrukt*', 'suppressed*')}</td>")
            elif is_uncertain(r):
                tds.append(f"<td class='sup'>{tr(*UNCERTAIN_CELL)}</td>")
            elif pd.isna(r["shown_rate"]):
                tds.append("<td>-</td>")
            else:
                idx = r["shown_index"]
                idx_text = f" <span class='moe'>(index {idx:.0f})</span>" if pd.notna(idx) else ""
                tds.append(f"<td{_shade(idx)}>{r['shown_rate']:.1%} <span class='moe'>± {r['shown_moe']:.1%}</span>"
                           f"{idx_text}</td>")
        cls = " class='gm'" if code == gm_code else ""
        body.append(f"<tr><td{cls}>{html.escape(name)}</td>{''.join(tds)}</tr>")
    src = SOURCES.get(str(g["source"].iloc[0]), str(g["source"].iloc[0]))
    pop = str(g["population"].iloc[0]) if "population" in g.columns else POPULATION
    return (f"<h2>{tr_label(indicator)} {csv_link(g, indicator + '.csv')}</h2><p class='sub'>"
            + tr(f"bron: {src}; percentage van {html.escape(population_label(pop))} in de wijk en leeftijdsgroep, "
                 "± 90%-foutmarge, index t.o.v. "
                 "gemeente = 100. Wijkcijfers zijn kleine-gebiedsschattingen: het verruiste cijfer, naar wat de "
                 "stand van de wijk op de andere risico-indicatoren voorspelt getrokken naarmate het meer ruis is; "
                 "de directe meting staat in de CSV (rate).",
                 f"source: {src}; percentage of {html.escape(population_label(pop, english=True))} in the "
                 "neighbourhood and age group, ± 90% margin of "
                 "error, index against the municipality = 100. Neighbourhood figures are small-area estimates: the "
                 "noised figure, pulled towards what the neighbourhood's standing on the other risk indicators "
                 "predicts as far as it is noise; the direct measurement is in the CSV (rate).") + "</p>"
            f"<table><thead><tr><th>{tr('wijk', 'neighbourhood')}</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def section_footnotes(min_cell_size: int | None = None) -> str:
    size = f" (kleiner dan {min_cell_size})" if min_cell_size else ""
    size_en = f" (below {min_cell_size})" if min_cell_size else ""
    return ("<p class='sub'>" + tr(f"* onderdrukt: de (verruiste) groep is te klein om te publiceren{size}. "
                                   "Rood: hoger dan het gemeentegemiddelde; blauw: lager.",
                                   f"* suppressed: the (noised) group is too small to publish{size_en}. "
                                   "Red: above the municipality average; blue: below.") + "</p>"
            "<p class='sub'>" + tr("† te onzeker: de ruis is zo groot dat de 90%-foutmarge van het gemeente- of "
                                   "regiocijfer meer dan 10 procentpunt zou zijn; het cijfer wordt niet getoond, "
                                   "maar telt wel mee in sommen (regio, land) en afgeleide cijfers.",
                                   "† too uncertain: the noise is so large that the 90% margin of error of the "
                                   "municipality's or region's figure would exceed 10 percentage points; the figure "
                                   "is not shown, but it counts in sums (region, country) and derived figures.")
            + "</p>")
