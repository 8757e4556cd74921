"""A single self-contained HTML report of the index that a policy maker can open offline.

One function per section, so later sections (maps, charts, trends) slot in.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from wijkindex.catalogue import population_label
from wijkindex.errors import WijkindexError
from wijkindex.estimators.consistency import cumulative_shares
from wijkindex.estimators.trend import period_rates, year_on_year
from wijkindex.protocol.spec import parse_age_bands
from wijkindex.vocabulary import POPULATION

if TYPE_CHECKING:
    from wijkindex.geography import Geography

LABELS = {
    "eenoudergezin": "Kinderen in een eenoudergezin",
    "bijstand": "Kinderen in een gezin met bijstand",
    "schuldhulp": "Kinderen in een gezin met schuldhulpverlening",
    "jeugdhulp": "Kinderen met jeugdhulp",
    "ots_uithuisplaatsing": "Kinderen met een OTS of uithuisplaatsing",
    "huurtoeslag": "Kinderen in een huurwoning met huurtoeslag",
    "overgewicht": "Kinderen met overgewicht",
    "taalachterstand": "Kinderen met een taalachterstand",
    "psychosociale_problemen": "Kinderen met gesignaleerde psychosociale problemen",
    "onderwijsachterstand": "Leerlingen met een onderwijsachterstand",
    "verzuim": "Leerlingen met schoolverzuim",
    "vve_indicatie": "Kinderen met een VVE-indicatie",
    "vve_deelname": "Kinderen met een VVE-indicatie die VVE volgen",
    "sport_cultuur": "Leerlingen die sporten of een kunst- of muziekvak volgen",
    "stabiele_schoolloopbaan": "Leerlingen met een stabiele schoolloopbaan",
    "moeder_werkloos": "Kinderen van een moeder zonder werk",
    "jonge_moeder": "Kinderen van een moeder jonger dan 30 bij het eerste kind",
    "eenouder_en_psychosociaal": "Kinderen in een eenoudergezin met psychosociale problemen",
    "smartstart_profiel": "Kinderen met het Smart Start-risicoprofiel",
    "smartstart_en_jeugdhulp": "Kinderen met het Smart Start-profiel en jeugdhulp",
    "smartstart_en_onderwijsachterstand": "Kinderen met het Smart Start-profiel en een onderwijsachterstand",
    "cumulatief_risico_0": "Kinderen zonder risicofactoren",
    "cumulatief_risico_1": "Kinderen met 1 risicofactor",
    "cumulatief_risico_2": "Kinderen met 2 risicofactoren",
    "cumulatief_risico_3plus": "Kinderen met 3 of meer risicofactoren",
}
LABELS_EN = {
    "eenoudergezin": "Children in a single-parent household",
    "bijstand": "Children in a household on social assistance",
    "schuldhulp": "Children in a household in debt counselling",
    "jeugdhulp": "Children in youth care",
    "ots_uithuisplaatsing": "Children under a supervision order or placed out of home",
    "huurtoeslag": "Children in a rented home with rent benefit",
    "overgewicht": "Children who are overweight",
    "taalachterstand": "Children with a language delay",
    "psychosociale_problemen": "Children with signalled psychosocial problems",
    "onderwijsachterstand": "Pupils with an educational disadvantage",
    "verzuim": "Pupils with school absenteeism",
    "vve_indicatie": "Children with a VVE (early education) indication",
    "vve_deelname": "Children with a VVE indication who attend VVE",
    "sport_cultuur": "Pupils who take part in sports, arts or music",
    "stabiele_schoolloopbaan": "Pupils with a stable school career",
    "moeder_werkloos": "Children of a mother without work",
    "jonge_moeder": "Children of a mother under 30 at her first child",
    "eenouder_en_psychosociaal": "Children in a single-parent household with psychosocial problems",
    "smartstart_profiel": "Children with the Smart Start risk profile",
    "smartstart_en_jeugdhulp": "Children with the Smart Start profile and youth care",
    "smartstart_en_onderwijsachterstand": "Children with the Smart Start profile and an educational disadvantage",
    "cumulatief_risico_0": "Children with no risk factors",
    "cumulatief_risico_1": "Children with 1 risk factor",
    "cumulatief_risico_2": "Children with 2 risk factors",
    "cumulatief_risico_3plus": "Children with 3 or more risk factors",
}
SOURCES = {"gemeente": "gemeente", "ggd": "GGD", "school": "schoolbesturen", "gemeente+ggd": "gemeente en GGD",
           "gemeente+school": "gemeente en schoolbesturen", "gemeente+ggd+school": "gemeente, GGD en schoolbesturen"}
NOT_APPLICABLE = ("<td class='na' title='buiten de leeftijden van deze indicator / outside this indicator&#39;s "
                  "ages'>n.v.t.</td>")
LEVEL_COLOURS = ("#e8eef7", "#f3d9a4", "#e49a5b", "#b8412c")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;
line-height:1.45;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}th,td{padding:.25rem .6rem;border:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f3f3f3}.sub{color:#555}
td.gm{font-weight:600;background:#f7f7f7}.sup{color:#888;font-style:italic}.moe{color:#666;font-size:.8em}
.note{background:#f6f8fa;border-left:4px solid #4a78b5;padding:.6rem 1rem}a.csv{font-size:.8rem;margin-left:.5rem}
#wi-explorer{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}#wi-explorer select{margin:0 .8rem .6rem .3rem}
#wi-map path{stroke:#fff;stroke-width:.6}#wi-map g:hover path{stroke:#000;stroke-width:1.2}
.legend span[style]{display:inline-block;width:1.4rem;height:.8rem;margin-right:.2rem;vertical-align:middle}
"""
EXPLORER_JS = """
(function(){
  const D = JSON.parse(document.getElementById('wi-data').textContent);
  const selInd = document.getElementById('wi-ind'), selBand = document.getElementById('wi-band');
  const bars = document.getElementById('wi-bars'), note = document.getElementById('wi-note');
  function colour(idx){
    if (idx === null) return '#e5e5e5';
    const d = Math.max(-1, Math.min(1, (idx - 100) / 100));
    if (Math.abs(d) < 0.1) return '#f4f1ea';
    const a = (0.2 + Math.abs(d) * 0.7).toFixed(2);
    return d > 0 ? 'rgba(190,40,40,' + a + ')' : 'rgba(40,90,190,' + a + ')';
  }
  function pct(x){ return (100 * x).toFixed(1) + '%'; }
  function draw(){
    const v = D.values[selInd.value][selBand.value] || {};
    const gm = D.gemeente[selInd.value][selBand.value];
    document.querySelectorAll('#wi-map g[data-wijk]').forEach(function(g){
      const r = v[g.dataset.wijk];
      const fill = !r ? '#e5e5e5' : (r.sup ? 'url(#wi-hatch)' : colour(r.idx));
      g.querySelectorAll('path').forEach(function(p){ p.setAttribute('fill', fill); });
      g.querySelector('title').textContent = D.names[g.dataset.wijk] + ': ' +
        (!r ? '-' : r.sup ? T().suppressed : pct(r.rate) + ' \u00b1 ' + pct(r.moe) + ' (index ' + Math.round(r.idx) + ')');
    });
    const codes = Object.keys(D.names).filter(function(c){ return v[c]; });
    const max = Math.max(gm || 0, ...codes.map(function(c){ return v[c].sup ? 0 : v[c].rate + v[c].moe; })) || 1;
    const W = 300, row = 18, left = 150;
    let svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + (left + W + 60) + '" height="' + (codes.length * row + 24) + '">';
    codes.forEach(function(c, i){
      const r = v[c], y = i * row + 4;
      svg += '<text x="' + (left - 6) + '" y="' + (y + 12) + '" text-anchor="end" font-size="11">' + D.names[c] + '</text>';
      if (r.sup) { svg += '<text x="' + left + '" y="' + (y + 12) + '" font-size="11" fill="#888">' + T().suppressed + '</text>'; return; }
      const w = W * r.rate / max, lo = W * Math.max(0, r.rate - r.moe) / max, hi = W * (r.rate + r.moe) / max;
      svg += '<rect x="' + left + '" y="' + (y + 2) + '" width="' + w.toFixed(1) + '" height="12" fill="' + colour(r.idx) + '" stroke="#999" stroke-width=".5"/>';
      svg += '<line x1="' + (left + lo).toFixed(1) + '" x2="' + (left + hi).toFixed(1) + '" y1="' + (y + 8) + '" y2="' + (y + 8) + '" stroke="#333"/>';
      svg += '<text x="' + (left + hi + 4).toFixed(1) + '" y="' + (y + 12) + '" font-size="10" fill="#555">' + pct(r.rate) + '</text>';
    });
    if (gm !== null) {
      const x = (left + W * gm / max).toFixed(1);
      svg += '<line x1="' + x + '" x2="' + x + '" y1="0" y2="' + (codes.length * row + 6) + '" stroke="#000" stroke-dasharray="4 3"/>';
      svg += '<text x="' + x + '" y="' + (codes.length * row + 20) + '" font-size="11" text-anchor="middle">' + T().gemeente + ' ' + pct(gm) + '</text>';
    }
    bars.innerHTML = svg + '</svg>';
    note.textContent = (window.wiLang === 'en' ? D.labels_en : D.labels)[selInd.value] + ', ' + selBand.value + ' ' + T().years;
  }
  function T(){ return window.wiLang === 'en' ? D.t_en : D.t; }
  document.addEventListener('wi-lang', draw);
  selInd.addEventListener('change', draw);
  selBand.addEventListener('change', draw);
  draw();
})();
"""


def label(indicator: str) -> str:
    return LABELS.get(indicator, indicator)


def label_en(indicator: str) -> str:
    return LABELS_EN.get(indicator, indicator)


def tr(nl: str, en: str) -> str:
    """Text shown in Dutch, with its English for the language switch (both escaped here)."""
    return f'<span data-en="{html.escape(en)}">{html.escape(nl)}</span>'


def band_names(labels: Sequence[str]) -> dict[str, tuple[str, str]]:
    """What each age band label means, in Dutch and English, as CBS writes it: "0-3" of
    inclusive bands is "0 t/m 3 jaar"; "4-12" of touching, half-open bands is "4 tot 12 jaar"
    (4 up to but not including 12)."""
    try:
        bands = parse_age_bands(labels)
    except ValueError:
        return {b: (f"{b} jaar", f"{b} years") for b in labels}
    out = {}
    for b in bands:
        upper = int(b.label.split("-")[1])
        if upper == b.high + 1:
            out[b.label] = (f"{b.low} tot {upper} jaar", f"{b.low} to under {upper} years")
        else:
            out[b.label] = (f"{b.low} t/m {b.high} jaar", f"{b.low} to {b.high} years")
    return out


def tr_band(band: str, names: Mapping[str, tuple[str, str]]) -> str:
    nl, en = names.get(band, (f"{band} jaar", f"{band} years"))
    return tr(nl, en)


def tr_label(indicator: str) -> str:
    return tr(label(indicator), label_en(indicator))


LANG_JS = """
(function(){
  const btn = document.getElementById('wi-lang');
  function set(lang){
    document.documentElement.lang = lang;
    document.querySelectorAll('[data-en]').forEach(function(el){
      if (el.dataset.nl === undefined) el.dataset.nl = el.textContent;
      el.textContent = lang === 'en' ? el.dataset.en : el.dataset.nl;
    });
    btn.textContent = lang === 'en' ? 'Nederlands' : 'English';
    window.wiLang = lang;
    document.dispatchEvent(new Event('wi-lang'));
  }
  btn.addEventListener('click', function(){ set(window.wiLang === 'en' ? 'nl' : 'en'); });
  window.wiLang = 'nl';
  if (location.hash === '#en') set('en');
})();
"""


def _shade(idx: float | None) -> str:
    """Blue below the gemeente average, red above, white near 100."""
    if idx is None or pd.isna(idx):
        return ""
    d = max(-1.0, min(1.0, (float(idx) - 100) / 100))
    if abs(d) < 0.1:
        return ""
    alpha = round(min(0.55, abs(d) * 0.55), 2)
    colour = f"rgba(200,40,40,{alpha})" if d > 0 else f"rgba(40,90,200,{alpha})"
    return f' style="background:{colour}"'


def _estimates(index: pd.DataFrame) -> pd.DataFrame:
    """The index as the report shows it: each wijk's small-area estimate (``rate_eb``, its margin
    and its index against the gemeente) in ``shown_rate``/``shown_moe``/``shown_index``; the
    gemeente rows (and an index without estimates) keep the direct rate."""
    out = index.copy()
    has_eb = "rate_eb" in out.columns
    out["shown_rate"] = out["rate_eb"].where(out["rate_eb"].notna(), out["rate"]) if has_eb else out["rate"]
    out["shown_moe"] = out["moe90_eb"].where(out["moe90_eb"].notna(), out["moe90"]) if has_eb else out["moe90"]
    gm = out[out["wijk_code"] == out["gemeente_code"]].set_index(["indicator", "age_band"])["rate"]
    ref = pd.Series([gm.get((i, b), np.nan) for i, b in zip(out["indicator"], out["age_band"])], index=out.index)
    out["shown_index"] = (100 * out["shown_rate"] / ref.where(ref > 0)).round(1)
    return out


def csv_link(df: pd.DataFrame, filename: str) -> str:
    """A link that downloads the table as CSV from the page itself (works offline)."""
    data = urllib.parse.quote(df.to_csv(index=False, na_rep=""))
    return f'<a class="csv" download="{html.escape(filename)}" href="data:text/csv;charset=utf-8,{data}">CSV</a>'


def section_explorer(index: pd.DataFrame, data_dir: Path | str | None = None, geography: Geography | None = None) -> str:
    """A choropleth of the wijken (real geometry) and bars per wijk, for a chosen indicator and band."""
    from wijkindex.report.svgmap import wijk_paths

    gm_code = str(index["gemeente_code"].iloc[0])
    try:
        paths, width, height = wijk_paths(data_dir, geography, gm_code)
    except WijkindexError as exc:
        return f"<h2>Kaart</h2><p class='sub'>Geen kaart: {html.escape(str(exc))}</p>"
    wijk = _estimates(index[index["gemeente_code"] == gm_code])
    wijk = wijk[wijk["wijk_code"] != gm_code]
    indicators = list(dict.fromkeys(index["indicator"]))
    bands = list(dict.fromkeys(index["age_band"]))
    values: dict[str, dict[str, dict[str, object]]] = {i: {b: {} for b in bands} for i in indicators}
    for r in wijk.itertuples():
        values[r.indicator][r.age_band][r.wijk_code] = {
            "sup": bool(r.suppressed), "rate": None if pd.isna(r.shown_rate) else float(r.shown_rate),
            "moe": None if pd.isna(r.shown_moe) else float(r.shown_moe),
            "idx": None if pd.isna(r.shown_index) else float(r.shown_index)}
    gemeente: dict[str, dict[str, float | None]] = {i: {b: None for b in bands} for i in indicators}
    for r in index[index["wijk_code"] == gm_code].itertuples():
        gemeente[r.indicator][r.age_band] = None if pd.isna(r.rate) else float(r.rate)
    names = dict(zip(wijk["wijk_code"], wijk["wijk_name"]))
    data = {"values": values, "gemeente": gemeente, "names": names, "labels": {i: label(i) for i in indicators},
            "labels_en": {i: label_en(i) for i in indicators},
            "t": {"suppressed": "onderdrukt", "gemeente": "gemeente", "years": "jaar"},
            "t_en": {"suppressed": "suppressed", "gemeente": "municipality", "years": "years"}}
    groups = "".join(
        f'<g data-wijk="{html.escape(code)}"><title>{html.escape(names.get(code, code))}</title>'
        + "".join(f'<path d="{d}"/>' for d in ds) + "</g>" for code, ds in paths.items())
    options = "".join(f'<option value="{html.escape(i)}" data-en="{html.escape(label_en(i))}">'
                      f'{html.escape(label(i))}</option>' for i in indicators)
    names_of = band_names(bands)
    band_opts = "".join(f'<option value="{html.escape(b)}" data-en="{html.escape(names_of[b][1])}">'
                        f'{html.escape(names_of[b][0])}</option>' for b in bands if b in names_of)
    legend = ("<p class='legend sub'><span style='background:rgba(40,90,190,.8)'></span>"
              + tr("lager dan de gemeente", "below the municipality") + " <span style='background:#f4f1ea'></span>"
              + tr("rond het gemiddelde", "around the average") + " <span style='background:rgba(190,40,40,.8)'></span>"
              + tr("hoger", "above") + " <span style='background:#bbb'></span>"
              + tr("onderdrukt of geen gegevens", "suppressed or no data") + "</p>")
    payload = json.dumps(data).replace("</", "<\\/")
    return (
        "<h2>" + tr("Kaart en staafdiagram per wijk", "Map and bars per neighbourhood") + "</h2>"
        f"<label>Indicator<select id='wi-ind'>{options}</select></label>"
        f"<label>{tr('Leeftijd', 'Age')}<select id='wi-band'>{band_opts}</select></label> <span id='wi-note' class='sub'></span>"
        "<div id='wi-explorer'>"
        f"<svg id='wi-map' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='kaart van de wijken'>"
        "<defs><pattern id='wi-hatch' width='6' height='6' patternUnits='userSpaceOnUse' "
        "patternTransform='rotate(45)'><rect width='6' height='6' fill='#ddd'/>"
        "<line x1='0' y1='0' x2='0' y2='6' stroke='#999' stroke-width='2'/></pattern></defs>"
        f"{groups}</svg><div id='wi-bars'></div></div>{legend}"
        f"<script type='application/json' id='wi-data'>{payload}</script><script>{EXPLORER_JS}</script>")


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


def section_trend(history: pd.DataFrame | None) -> str:
    """Lines per indicator over the periods: the gemeente bold with its margin, the wijken thin."""
    if history is None or history.empty or history["period"].nunique() < 2:
        return ""
    t = period_rates(history)
    periods = sorted(t["period"].unique())
    gm_code = str(history["gemeente_code"].iloc[0])
    parts = ["<h2>" + tr("Ontwikkeling over de jaren", "Trend over the years") + " " + csv_link(t, "trend.csv")
             + "</h2><p class='sub'>" + tr("0-17 jaar, per peiljaar. Dik: de gemeente met 90%-foutmarge; dun: de wijken.",
                                           "Ages 0-17, per reference year. Thick: the municipality with 90% margin "
                                           "of error; thin: the neighbourhoods.") + "</p>"
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
        for p in periods:
            x, _ = xy(p, 0)
            svg.append(f"<text x='{x:.1f}' y='{h - 4}' font-size='10' text-anchor='middle'>{p}</text>")
        svg.append(f"<text x='2' y='12' font-size='10'>{top:.0%}</text></svg>")
        parts.append(f"<figure style='margin:0'><figcaption style='font-size:.85rem;max-width:{w}px'>"
                     f"{tr_label(str(ind))}</figcaption>{''.join(svg)}</figure>")
    parts.append("</div>")
    return "".join(parts) + _trend_changes(history, gm_code)


def _trend_changes(history: pd.DataFrame, gm_code: str) -> str:
    """The latest year-on-year change per indicator: the gemeente's with its 90% interval, and how
    many wijken changed clearly (their interval excludes 0)."""
    ch = year_on_year(history)
    ch = ch[ch["period"] == ch["period"].max()]
    if ch.empty:
        return ""
    body = []
    for ind, g in ch.groupby("indicator", sort=False):
        gm = g[g["wijk_code"] == gm_code]
        wijk = g[g["wijk_code"] != gm_code]
        up, down = int((wijk["change_low90"] > 0).sum()), int((wijk["change_high90"] < 0).sum())
        cell = (f"{100 * gm['change'].iloc[0]:+.1f} <span class='moe'>({100 * gm['change_low90'].iloc[0]:+.1f} "
                f"{tr('tot', 'to')} {100 * gm['change_high90'].iloc[0]:+.1f})</span>" if len(gm) else "-")
        body.append(f"<tr><td>{tr_label(str(ind))}</td><td>{cell}</td><td>{up}</td><td>{down}</td></tr>")
    before, after = int(ch["previous_period"].iloc[0]), int(ch["period"].iloc[0])
    return (f"<h3>{tr(f'Verandering {before}-{after}', f'Change {before}-{after}')} "
            f"{csv_link(ch, 'verandering.csv')}</h3><p class='sub'>" + tr(
                "Verschil in procentpunten (0-17 jaar), met 90%-interval uit de ruis van beide jaren. Een interval "
                "dat 0 omvat is geen duidelijke verandering.",
                "Difference in percentage points (ages 0-17), with 90% interval from both years' noise. An "
                "interval that contains 0 is no clear change.") + "</p>"
            f"<table><thead><tr><th>indicator</th><th>{tr('gemeente', 'municipality')}</th>"
            f"<th>{tr('wijken duidelijk hoger', 'neighbourhoods clearly up')}</th>"
            f"<th>{tr('wijken duidelijk lager', 'neighbourhoods clearly down')}</th></tr></thead>"
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
            if b in g.index and pd.notna(g.loc[b, "rate"]) else "<td>-</td>" if b in g.index else NOT_APPLICABLE
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
                                   "Red: above the municipality average; blue: below.") + "</p>")


def render_report(index: pd.DataFrame, out_path: Path, *, title: str,
                  privacy: Sequence[Mapping[str, object]] = (), notes: Sequence[str | tuple[str, str]] = (),
                  composite: pd.DataFrame | None = None, data_dir: Path | str | None = None,
                  relative_risk: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                  geography: Geography | None = None) -> Path:
    """Write the report atomically and return its path. ``history``: index rows of several periods;
    ``geography``: whose polygons the wijk map draws (default: see ``svgmap.polygons_for``)."""
    parts = [section_header(index, title, notes), section_explorer(index, data_dir, geography),
             section_composite(composite),
             section_cumulative(index), section_relative_risk(relative_risk), section_trend(history),
             section_privacy(privacy), section_summary(index)]
    parts += [section_indicator(index, str(i)) for i in dict.fromkeys(index["indicator"])]
    parts.append(section_footnotes())
    doc = (f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body>{''.join(parts)}<script>{LANG_JS}</script></body></html>")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report.", dir=out_path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(doc)
    os.chmod(tmp, 0o644)  # a report is for reading: not the 0600 of a temp file
    os.replace(tmp, out_path)
    return out_path
