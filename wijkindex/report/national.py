"""The report's section "Nederland": every gemeente of the country on one map, the report's own
gemeente outlined. It always shows the shipped CBS KWB reference figures per gemeente; when the
index holds several gemeenten' rows, also each indicator and age band (a selector, like the wijk
explorer). A CSV has one row per gemeente."""

from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import pandas as pd

from wijkindex.report import nationalmap
from wijkindex.report.labels import band_names, label, label_en, tr
from wijkindex.report.page import csv_link

KWB = Path(__file__).resolve().parent.parent / "data" / "nl-2024" / "gemeenten_kwb.csv.gz"
# (column, Dutch label, English label): published CBS figures, in percent
REFERENCES = (
    ("pct_rond_sociaal_min", "Huishoudens rond of onder het sociaal minimum (CBS KWB 2022)",
     "Households at or below the social minimum (CBS KWB 2022)"),
    ("pct_jeugdzorg", "Jongeren met jeugdzorg (CBS KWB 2022)", "Young people in youth care (CBS KWB 2022)"),
)
NATIONAL_JS = """
(function(){
  const D = JSON.parse(document.getElementById('wi-nl-data').textContent);
  const selInd = document.getElementById('wi-nl-ind'), selBand = document.getElementById('wi-nl-band');
  const svg = document.getElementById('wi-nl-map');
  function fmt(x){ return x.toFixed(1) + '%'; }
  function colour(c, n){
    if (c < 0 || n <= 0) return D.no_data;
    return n > 1 ? D.palette[Math.round(c * (D.palette.length - 1) / (n - 1))] : D.palette[D.palette.length - 1];
  }
  function draw(){
    const o = D.opts[selInd.value];
    if (selBand) selBand.disabled = !o.bands;
    const d = o.bands ? (o.bands[selBand.value] || {v: {}, c: {}, r: []}) : o;
    const n = d.r.length;
    svg.querySelectorAll('path[data-gm]').forEach(function(p){
      const gm = p.dataset.gm, c = gm in d.c ? d.c[gm] : -1;
      p.setAttribute('fill', colour(c, n));
      p.classList.forEach(function(k){ if (/^q-?\\d+$/.test(k)) p.classList.remove(k); });
      p.classList.add('q' + c);
      p.querySelector('title').textContent = D.names[gm] + ': ' + (gm in d.v ? fmt(d.v[gm]) : '-');
    });
    svg.querySelectorAll('.nl-class').forEach(function(g, i){
      g.setAttribute('visibility', i < n ? 'visible' : 'hidden');
      if (i >= n) return;
      g.querySelector('rect').setAttribute('fill', colour(i, n));
      const lo = d.r[i][0], hi = d.r[i][1];
      g.querySelector('text').textContent = lo === hi ? fmt(lo) : fmt(lo) + ' - ' + fmt(hi);
    });
    svg.querySelector('.nl-none').setAttribute('transform', 'translate(0,' + (-D.row * (D.k - n)) + ')');
    function cut(t){ const i = t.lastIndexOf(' ('); return i > 0 && t.endsWith(')') ? [t.slice(0, i), t.slice(i + 1)] : [t, '']; }
    const nl = cut(o.label), en = cut(o.label_en);
    ['.nl-title', '.nl-subtitle'].forEach(function(sel, j){
      const t = svg.querySelector(sel);
      t.dataset.nl = nl[j]; t.dataset.en = en[j];
      t.textContent = window.wiLang === 'en' ? en[j] : nl[j];
    });
  }
  document.addEventListener('wi-lang', draw);
  selInd.addEventListener('change', draw);
  if (selBand) selBand.addEventListener('change', draw);
  draw();
})();
"""


@lru_cache(maxsize=1)
def references() -> pd.DataFrame:
    """The shipped KWB reference figures per gemeente (index: GM code; percent)."""
    kwb = pd.read_csv(KWB, dtype={"gemeentecode": str}).set_index("gemeentecode")
    return kwb[["gemeentenaam"] + [c for c, _, _ in REFERENCES]]


def available() -> bool:
    """Whether the shipped polygons and reference figures are installed (the section's default)."""
    return nationalmap.available() and KWB.is_file()


def _option(values: pd.Series, nl: str, en: str) -> dict[str, object]:
    cls, ranges = nationalmap.quantile_classes(values)
    ok = values.dropna()
    return {"v": {c: round(float(x), 3) for c, x in ok.items()}, "c": {c: int(cls[c]) for c in ok.index},
            "r": ranges, "label": nl, "label_en": en}


def gemeente_rates(index: pd.DataFrame) -> pd.DataFrame:
    """The index's gemeente rows as percent: one row per gemeente, a column per (indicator, band);
    suppressed or unmeasured cells are NaN."""
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    rate = (100 * pd.to_numeric(gm["rate"], errors="coerce")).where(~gm["suppressed"].astype(bool))
    return (gm.assign(pct=rate).pivot_table(index="gemeente_code", columns=["indicator", "age_band"], values="pct",
                                             aggfunc="first", dropna=False, sort=False))


def section_national(index: pd.DataFrame, groups: Mapping[str, str] | None = None) -> str:
    """All gemeenten of the Netherlands: the KWB references, and the index's indicators when it
    holds several gemeenten; the report's gemeente outlined; a CSV with a row per gemeente."""
    shapes = nationalmap.gemeente_shapes()
    ref = references().reindex(list(shapes))
    selected = str(index["gemeente_code"].iloc[0]) if len(index) else None
    selected = selected if selected in shapes else None
    opts: dict[str, dict[str, object]] = {}
    shown: list[pd.Series] = []  # the values of each option's first map, in order: the first is drawn in Python
    table = pd.DataFrame({"gemeente_code": list(shapes), "gemeente_name": [n for n, _ in shapes.values()]})
    several = index["gemeente_code"].nunique() > 1
    bands = list(dict.fromkeys(index["age_band"]))
    if several:
        rates = gemeente_rates(index)
        for ind in dict.fromkeys(index["indicator"]):
            per_band = {}
            for b in bands:
                if (ind, b) in rates.columns:
                    col = rates[(ind, b)].reindex(list(shapes)).astype(float)
                    per_band[b] = _option(col, label(ind), label_en(ind))
                    if len(per_band) == 1:  # the band the selector opens with
                        shown.append(col)
                    table[f"{ind} {b} (%)"] = col.to_numpy()
            opts[f"ind:{ind}"] = {"bands": per_band, "label": label(ind), "label_en": label_en(ind)}
    for col, nl, en in REFERENCES:
        opts[f"kwb:{col}"] = _option(ref[col].astype(float), nl, en)
        shown.append(ref[col].astype(float))
        table[col] = ref[col].to_numpy()
    first = next(iter(opts.values()))
    svg = nationalmap.national_map_svg(shown[0], selected, groups=groups,
                                       title=(str(first["label"]), str(first["label_en"])))
    options = "".join(f'<option value="{html.escape(k)}" data-en="{html.escape(str(o["label_en"]))}">'
                      f'{html.escape(str(o["label"]))}</option>' for k, o in opts.items())
    names_of = band_names(bands)
    band_select = ("<label>" + tr("Leeftijd", "Age") + "<select id='wi-nl-band'>" + "".join(
        f'<option value="{html.escape(b)}" data-en="{html.escape(names_of[b][1])}">{html.escape(names_of[b][0])}'
        "</option>" for b in bands if b in names_of) + "</select></label>") if several else ""
    data = {"opts": opts, "names": {c: n for c, (n, _) in shapes.items()}, "selected": selected,
            "palette": list(nationalmap.PALETTE), "no_data": nationalmap.NO_DATA, "row": nationalmap.ROW, "k": nationalmap.CLASSES}
    payload = json.dumps(data).replace("</", "<\\/")
    name = shapes[selected][0] if selected else ""
    outline = (tr(f" {name} is dik omlijnd.", f" {name} is outlined thickly.") if selected else "")
    return ("<h2>" + tr("Nederland", "The Netherlands") + " " + csv_link(table, "gemeenten.csv") + "</h2>"
            "<p class='sub'>" + tr(
                "Alle gemeenten van Nederland (grenzen 2024). Donkerder is hoger (tot vijf klassen met elk ongeveer even "
                "veel gemeenten); grijs: geen gegevens. De CBS-cijfers zijn gepubliceerde referentiecijfers per "
                "gemeente, geen uitkomsten van deze index.",
                "All municipalities of the Netherlands (2024 boundaries). Darker is higher (up to five classes of about "
                "as many municipalities each); grey: no data. The CBS figures are published reference figures per "
                "municipality, not results of this index.") + outline + "</p>"
            f"<label>{tr('Kaart', 'Map')}<select id='wi-nl-ind'>{options}</select></label>{band_select}"
            f"<div id='wi-national'>{svg}</div>"
            f"<script type='application/json' id='wi-nl-data'>{payload}</script><script>{NATIONAL_JS}</script>")
