"""A single self-contained HTML report of the index that a policy maker can open offline.

One function per section, so later sections (maps, charts, trends) slot in.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

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
    "vve_deelname": "Kinderen met VVE-deelname",
}
SOURCES = {"gemeente": "gemeente", "ggd": "GGD", "school": "schoolbesturen"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;color:#1b1b1b;
line-height:1.45;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}th,td{padding:.25rem .6rem;border:1px solid #ddd;
text-align:right}th:first-child,td:first-child{text-align:left}thead th{background:#f3f3f3}.sub{color:#555}
td.gm{font-weight:600;background:#f7f7f7}.sup{color:#888;font-style:italic}.moe{color:#666;font-size:.8em}
.note{background:#f6f8fa;border-left:4px solid #4a78b5;padding:.6rem 1rem}
"""


def label(indicator: str) -> str:
    return LABELS.get(indicator, indicator)


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


def section_header(index: pd.DataFrame, title: str, notes: Sequence[str]) -> str:
    period = index["period"].iloc[0] if len(index) else ""
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    gemeente = gm["wijk_name"].iloc[0] if len(gm) else ""
    out = [f"<h1>{html.escape(title)}</h1>",
           f'<p class="sub">{html.escape(str(gemeente))}, peildatum 1 januari {html.escape(str(period))}; '
           f'ronde {html.escape(str(index["round_id"].iloc[0] if len(index) else ""))}</p>']
    out += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    return "\n".join(out)


def section_privacy(privacy: Sequence[Mapping[str, object]]) -> str:
    if not privacy:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(p.get('node', '')))}</td><td>{float(p.get('epsilon', 0)):g}</td>"  # type: ignore[arg-type]
        f"<td>{html.escape(str(p.get('mechanism', '')))}</td><td>{float(p.get('scale', 0)):g}</td></tr>"  # type: ignore[arg-type]
        for p in privacy)
    total = sum(float(str(p.get("epsilon", 0))) for p in privacy)
    return (
        "<h2>Privacy</h2><p>Elk getal in dit rapport is een geteld aantal met toegevoegde ruis "
        "(differential privacy). Geen enkele partij heeft de gegevens van een andere partij gezien.</p>"
        "<table><thead><tr><th>bron</th><th>epsilon deze ronde</th><th>mechanisme</th><th>ruisschaal</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
        f"<p>Privacyverlies van een kind dat bij alle bronnen bekend is: epsilon {total:g} in deze ronde "
        "(de som over de bronnen).</p>")


def section_summary(index: pd.DataFrame) -> str:
    gm = index[index["wijk_code"] == index["gemeente_code"]]
    bands = list(dict.fromkeys(index["age_band"]))
    head = "".join(f"<th>{html.escape(b)} jaar</th>" for b in bands)
    body = []
    for (ind, src), g in gm.groupby(["indicator", "source"], sort=False):
        g = g.set_index("age_band")
        cells = "".join(
            f"<td>{g.loc[b, 'rate']:.1%} <span class='moe'>± {g.loc[b, 'moe90']:.1%}</span></td>"
            if b in g.index and pd.notna(g.loc[b, "rate"]) else "<td>-</td>" for b in bands)
        body.append(f"<tr><td>{html.escape(label(str(ind)))} <span class='moe'>({html.escape(SOURCES.get(str(src), str(src)))})"
                    f"</span></td>{cells}</tr>")
    return ("<h2>Gemeente-gemiddelden</h2><table><thead><tr><th>indicator</th>" + head +
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def section_indicator(index: pd.DataFrame, indicator: str) -> str:
    g = index[index["indicator"] == indicator]
    bands = list(dict.fromkeys(g["age_band"]))
    gm_code = g["gemeente_code"].iloc[0]
    head = "".join(f"<th>{html.escape(b)} jaar</th>" for b in bands)
    body = []
    for code, w in g.groupby("wijk_code", sort=False):
        w = w.set_index("age_band")
        name = str(w["wijk_name"].iloc[0])
        tds = []
        for b in bands:
            if b not in w.index:
                tds.append("<td>-</td>")
                continue
            r = w.loc[b]
            if bool(r["suppressed"]):
                tds.append("<td class='sup'>onderdrukt*</td>")
            elif pd.isna(r["rate"]):
                tds.append("<td>-</td>")
            else:
                idx = r["index_vs_gemeente"]
                idx_text = f" <span class='moe'>(index {idx:.0f})</span>" if pd.notna(idx) else ""
                tds.append(f"<td{_shade(idx)}>{r['rate']:.1%} <span class='moe'>± {r['moe90']:.1%}</span>"
                           f"{idx_text}</td>")
        cls = " class='gm'" if code == gm_code else ""
        body.append(f"<tr><td{cls}>{html.escape(name)}</td>{''.join(tds)}</tr>")
    src = SOURCES.get(str(g["source"].iloc[0]), str(g["source"].iloc[0]))
    return (f"<h2>{html.escape(label(indicator))}</h2><p class='sub'>bron: {html.escape(src)}; percentage van de "
            "kinderen in de wijk en leeftijdsgroep, ± 90%-foutmarge, index t.o.v. gemeente = 100</p>"
            f"<table><thead><tr><th>wijk</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def section_footnotes(min_cell_size: int | None = None) -> str:
    size = f" (kleiner dan {min_cell_size})" if min_cell_size else ""
    return (f"<p class='sub'>* onderdrukt: de (verruiste) groep is te klein om te publiceren{size}. "
            "Rood: hoger dan het gemeentegemiddelde; blauw: lager.</p>")


def render_report(index: pd.DataFrame, out_path: Path, *, title: str,
                  privacy: Sequence[Mapping[str, object]] = (), notes: Sequence[str] = ()) -> Path:
    """Write the report atomically and return its path."""
    parts = [section_header(index, title, notes), section_privacy(privacy), section_summary(index)]
    parts += [section_indicator(index, str(i)) for i in dict.fromkeys(index["indicator"])]
    parts.append(section_footnotes())
    doc = (f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report.", dir=out_path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, out_path)
    return out_path
