"""The report's section "Nederland": every gemeente of the country on one map, the report's own
gemeente outlined. It always shows the shipped CBS KWB reference figures per gemeente; when the
index holds several gemeenten' rows, also each indicator and age band (a selector, like the wijk
explorer). A CSV has one row per gemeente."""

from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import pandas as pd

from wijkindex.estimators.index import noisy_columns
from wijkindex.estimators.reference import MEASURES, weighted_share
from wijkindex.geography.regions import Region, membership, regions
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
LEVELS = (("gemeente", "Gemeenten", "Municipalities"), ("ggd", "GGD-regio's", "GGD regions"),
          ("jeugdzorgregio", "Jeugdzorgregio's", "Youth care regions"))
NATIONAL_JS = """
(function(){
  const D = JSON.parse(document.getElementById('wi-nl-data').textContent);
  const selInd = document.getElementById('wi-nl-ind'), selBand = document.getElementById('wi-nl-band');
  const selLevel = document.getElementById('wi-nl-level');
  const svg = document.getElementById('wi-nl-map');
  const asked = /nl-level=(\\w+)/.exec(location.hash);  // a link may open a level: #nl-level=ggd
  if (asked && D.names[asked[1]]) selLevel.value = asked[1];
  function fmt(x){ return x.toFixed(1) + '%'; }
  function colour(c, n){
    if (c < 0 || n <= 0) return D.no_data;
    return n > 1 ? D.palette[Math.round(c * (D.palette.length - 1) / (n - 1))] : D.palette[D.palette.length - 1];
  }
  function draw(){
    const o = D.opts[selInd.value], level = selLevel.value, L = o.levels[level];
    if (selBand) selBand.disabled = !L.bands;
    const d = L.bands ? (L.bands[selBand.value] || {v: {}, c: {}, r: []}) : L;
    const n = d.r.length, names = D.names[level];
    svg.querySelectorAll('path[data-gm]').forEach(function(p){
      const gm = p.dataset.gm, c = gm in d.c ? d.c[gm] : -1;
      p.setAttribute('fill', colour(c, n));
      p.classList.forEach(function(k){ if (/^q-?\\d+$/.test(k)) p.classList.remove(k); });
      p.classList.add('q' + c);
      p.querySelector('title').textContent = names[gm] + ': ' + (gm in d.v ? fmt(d.v[gm]) : '-')
        + (d.t && gm in d.t ? ' ' + d.t[gm] : '');
    });
    const shown = level === 'gemeente' ? 'ggd' : level;
    svg.querySelectorAll('path.region').forEach(function(p){
      p.setAttribute('visibility', p.classList.contains('outline-' + shown) ? 'visible' : 'hidden');
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
  selLevel.addEventListener('change', draw);
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


def _spread(per_region: dict[str, object], members: pd.Series, notes: pd.Series | None = None) -> dict[str, object]:
    """A region-level option drawn on the gemeenten: each member takes its region's value and
    class (the classes are quantiles over the regions, not over their members)."""
    v, c = per_region["v"], per_region["c"]
    assert isinstance(v, dict) and isinstance(c, dict)
    out = {**per_region, "v": {gm: v[r] for gm, r in members.items() if r in v},
           "c": {gm: c[r] for gm, r in members.items() if r in c}}
    if notes is not None:
        out["t"] = {gm: str(notes[r]) for gm, r in members.items() if r in notes.index and r in v}
    return out


def gemeente_rates(index: pd.DataFrame) -> pd.DataFrame:
    """The index's gemeente rows as percent: one row per gemeente, a column per (indicator, band);
    suppressed or unmeasured cells are NaN."""
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    rate = (100 * pd.to_numeric(gm["rate"], errors="coerce")).where(~gm["suppressed"].astype(bool))
    return (gm.assign(pct=rate).pivot_table(index="gemeente_code", columns=["indicator", "age_band"], values="pct",
                                             aggfunc="first", dropna=False, sort=False))


def region_rates(index: pd.DataFrame, members: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """Per region (``members``: GM code -> region code) and (indicator, band): the rate in percent
    of the index's gemeenten in it, the ratio of the sums of their unclipped noised counts (a
    suppressed gemeente row is left out), and per region how many gemeenten the index holds."""
    num_col, den_col = noisy_columns(index)
    gm = index[(index["wijk_code"] == index["gemeente_code"]) & ~index["suppressed"].astype(bool)]
    gm = gm.assign(region=gm["gemeente_code"].map(members)).dropna(subset=["region"])
    sums = gm.groupby(["region", "indicator", "age_band"], sort=False)[[num_col, den_col]].sum()
    rate = (100 * sums[num_col].astype(float) / sums[den_col].astype(float).where(sums[den_col] > 0)).clip(0, 100)
    covered = gm.groupby("region")["gemeente_code"].nunique()
    return rate.unstack(["indicator", "age_band"]), covered


def _kwb_by_region(column: str, regions: "Sequence[Region]") -> pd.Series:
    """A KWB reference column per region: its members' figures weighted as the reference rows weigh them."""
    measure = next(m for m in MEASURES if m.column == column)
    return pd.Series({r.code: 100 * weighted_share(measure, r.gemeenten)[0] for r in regions}, dtype=float)


def section_national(index: pd.DataFrame) -> str:
    """All gemeenten of the Netherlands, or its GGD regions or jeugdzorgregio's (a selector): the
    KWB references, and the index's indicators when it holds several gemeenten; the report's
    gemeente outlined; a CSV per level with a row per gemeente or region."""
    shapes = nationalmap.gemeente_shapes()
    codes = list(shapes)
    ref = references().reindex(codes)
    selected = str(index["gemeente_code"].iloc[0]) if len(index) else None
    selected = selected if selected in shapes else None
    member = membership()
    kinds = {lvl: regions(lvl) for lvl, _, _ in LEVELS[1:]}
    members = {lvl: member[f"{lvl}_code"].reindex(codes).dropna() for lvl in kinds}
    names = {"gemeente": {c: n for c, (n, _) in shapes.items()},
             **{lvl: {gm: {r.code: r.name for r in kinds[lvl]}[r] for gm, r in members[lvl].items()} for lvl in kinds}}
    tables = {"gemeente": pd.DataFrame({"gemeente_code": codes, "gemeente_name": [n for n, _ in shapes.values()]}),
              **{lvl: pd.DataFrame({f"{lvl}_code": [r.code for r in kinds[lvl]], f"{lvl}_name": [r.name for r in kinds[lvl]],
                                    "n_gemeenten": [len(r.gemeenten) for r in kinds[lvl]]}) for lvl in kinds}}
    opts: dict[str, dict[str, object]] = {}
    first: pd.Series | None = None  # the values of the map drawn in Python (the first option, gemeenten)
    several = index["gemeente_code"].nunique() > 1
    bands = list(dict.fromkeys(index["age_band"]))
    if several:
        rates = gemeente_rates(index)
        by_region = {lvl: region_rates(index, members[lvl]) for lvl in kinds}
        for lvl in kinds:
            region_codes = tables[lvl][f"{lvl}_code"]
            tables[lvl]["gemeenten_in_index"] = by_region[lvl][1].reindex(region_codes).fillna(0).astype(int).to_numpy()
        for ind in dict.fromkeys(index["indicator"]):
            levels: dict[str, dict[str, object]] = {lvl: {"bands": {}} for lvl, _, _ in LEVELS}
            for b in bands:
                if (ind, b) not in rates.columns:
                    continue
                col = rates[(ind, b)].reindex(codes).astype(float)
                levels["gemeente"]["bands"][b] = _option(col, label(ind), label_en(ind))  # type: ignore[index]
                first = col if first is None else first
                tables["gemeente"][f"{ind} {b} (%)"] = col.to_numpy()
                for lvl in kinds:
                    table, covered = by_region[lvl]
                    per = (table[(ind, b)] if (ind, b) in table.columns else pd.Series(dtype=float)).astype(float)
                    region_codes = tables[lvl][f"{lvl}_code"]
                    per = per.reindex(region_codes.to_numpy())
                    notes = pd.Series({r.code: f"({int(covered.get(r.code, 0))}/{len(r.gemeenten)} gemeenten)"
                                       for r in kinds[lvl]})
                    levels[lvl]["bands"][b] = _spread(_option(per, label(ind), label_en(ind)),  # type: ignore[index]
                                                      members[lvl], notes)
                    tables[lvl][f"{ind} {b} (%)"] = per.to_numpy()
            opts[f"ind:{ind}"] = {"levels": levels, "label": label(ind), "label_en": label_en(ind)}
    for col, nl, en in REFERENCES:
        values = ref[col].astype(float)
        first = values if first is None else first
        levels = {"gemeente": _option(values, nl, en)}
        tables["gemeente"][col] = ref[col].to_numpy()
        for lvl in kinds:
            per = _kwb_by_region(col, kinds[lvl])
            levels[lvl] = _spread(_option(per, nl, en), members[lvl])
            tables[lvl][col] = per.reindex(tables[lvl][f"{lvl}_code"].to_numpy()).round(2).to_numpy()
        opts[f"kwb:{col}"] = {"levels": levels, "label": nl, "label_en": en}
    head = next(iter(opts.values()))
    assert first is not None
    svg = nationalmap.national_map_svg(first, selected, title=(str(head["label"]), str(head["label_en"])),
                                       outlines={lvl: members[lvl].to_dict() for lvl in kinds})
    options = "".join(f'<option value="{html.escape(k)}" data-en="{html.escape(str(o["label_en"]))}">'
                      f'{html.escape(str(o["label"]))}</option>' for k, o in opts.items())
    level_select = ("<label>" + tr("Niveau", "Level") + "<select id='wi-nl-level'>" + "".join(
        f'<option value="{lvl}" data-en="{html.escape(en)}">{html.escape(nl)}</option>' for lvl, nl, en in LEVELS)
        + "</select></label>")
    names_of = band_names(bands)
    band_select = ("<label>" + tr("Leeftijd", "Age") + "<select id='wi-nl-band'>" + "".join(
        f'<option value="{html.escape(b)}" data-en="{html.escape(names_of[b][1])}">{html.escape(names_of[b][0])}'
        "</option>" for b in bands if b in names_of) + "</select></label>") if several else ""
    data = {"opts": opts, "names": names, "selected": selected,
            "palette": list(nationalmap.PALETTE), "no_data": nationalmap.NO_DATA, "row": nationalmap.ROW, "k": nationalmap.CLASSES}
    payload = json.dumps(data).replace("</", "<\\/")
    name = shapes[selected][0] if selected else ""
    outline = (tr(f" {name} is dik omlijnd.", f" {name} is outlined thickly.") if selected else "")
    csvs = " ".join(csv_link(tables[lvl], f"{lvl}.csv" if lvl != "gemeente" else "gemeenten.csv").replace(
        ">CSV<", f">CSV {html.escape(nl.lower())}<") for lvl, nl, _ in LEVELS)
    return ("<h2>" + tr("Nederland", "The Netherlands") + " " + csvs + "</h2>"
            "<p class='sub'>" + tr(
                "Alle gemeenten van Nederland (grenzen 2024), of de GGD-regio's of jeugdzorgregio's. Donkerder is hoger "
                "(tot vijf klassen met elk ongeveer even veel gemeenten of regio's); grijs: geen gegevens. De CBS-cijfers "
                "zijn gepubliceerde referentiecijfers, geen uitkomsten van deze index (per regio: het gemiddelde van de "
                "gemeenten, gewogen naar huishoudens of jongeren). Een regiocijfer van de index telt alleen de gemeenten "
                "die de index heeft (hoeveel: in de tooltip en de CSV).",
                "All municipalities of the Netherlands (2024 boundaries), or the GGD regions or youth care regions. "
                "Darker is higher (up to five classes of about as many municipalities or regions each); grey: no data. "
                "The CBS figures are published reference figures, not results of this index (per region: the mean of "
                "its municipalities weighted by households or young people). A region's figure of the index counts only "
                "the municipalities the index holds (how many: in the tooltip and the CSV).") + outline + "</p>"
            f"<label>{tr('Kaart', 'Map')}<select id='wi-nl-ind'>{options}</select></label>{level_select}{band_select}"
            f"<div id='wi-national'>{svg}</div>"
            f"<script type='application/json' id='wi-nl-data'>{payload}</script><script>{NATIONAL_JS}</script>")
