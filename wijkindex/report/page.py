"""What every section shares: the page's CSS and language-switch script, the colour shading of an
index, the figures a wijk shows (its small-area estimate), and the offline CSV download link."""

from __future__ import annotations

import html
import urllib.parse

import numpy as np
import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;
line-height:1.45;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}th,td{padding:.25rem .6rem;border:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f3f3f3}.sub{color:#555}
td.gm{font-weight:600;background:#f7f7f7}.sup{color:#888;font-style:italic}.moe{color:#666;font-size:.8em}
.note{background:#f6f8fa;border-left:4px solid #4a78b5;padding:.6rem 1rem}a.csv{font-size:.8rem;margin-left:.5rem}
#wi-explorer{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}#wi-explorer select{margin:0 .8rem .6rem .3rem}
#wi-map path{stroke:#fff;stroke-width:.6}#wi-map g:hover path{stroke:#000;stroke-width:1.2}
#wi-national path.gm:not(.sel):hover{stroke:#000;stroke-width:1}#wi-nl-ind,#wi-nl-band{margin:0 .8rem .6rem .3rem}
.legend span[style]{display:inline-block;width:1.4rem;height:.8rem;margin-right:.2rem;vertical-align:middle}
"""

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


def for_display(index: pd.DataFrame) -> pd.DataFrame:
    """The index as a reader sees it: gemeente and region rates (unbiased estimates that may fall
    below 0 or above 1 where the noise is large) clipped to 0-100%, their margins to the part of
    the interval inside it (smoothing.clip_interval). Only for showing: every figure is computed
    from the index as it is."""
    from wijkindex.estimators.smoothing import clip_interval

    out = index.copy()
    parent = out["wijk_code"] == out["gemeente_code"]
    if "area_level" in out.columns:
        parent |= out["area_level"].isin(["gemeente", "region"])
    parent &= out["rate"].notna() & out["moe90"].notna()
    if parent.any():
        rate, moe = clip_interval(out.loc[parent, "rate"].to_numpy(float), out.loc[parent, "moe90"].to_numpy(float))
        out.loc[parent, "rate"], out.loc[parent, "moe90"] = rate, moe
    return out


def is_uncertain(row: object) -> bool:
    """Whether an index row's rate is left out as too uncertain (estimators.index.MAX_AREA_MOE);
    an index written before the column existed has none."""
    value = row.get("uncertain", False) if hasattr(row, "get") else getattr(row, "uncertain", False)
    return bool(value) if pd.notna(value) else False


UNCERTAIN_CELL = ("te onzeker†", "too uncertain†")


def csv_link(df: pd.DataFrame, filename: str) -> str:
    """A link that downloads the table as CSV from the page itself (works offline)."""
    data = urllib.parse.quote(df.to_csv(index=False, na_rep=""))
    return f'<a class="csv" download="{html.escape(filename)}" href="data:text/csv;charset=utf-8,{data}">CSV</a>'
