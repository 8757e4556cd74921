"""The wijk map and bars: a choropleth of the gemeente's wijken (real geometry) with a selector per
indicator and age band, drawn in the browser from an embedded JSON payload."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from wijkindex.errors import WijkindexError
from wijkindex.report.labels import band_names, label, label_en, tr
from wijkindex.report.page import _estimates

if TYPE_CHECKING:
    from wijkindex.geography import Geography

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
