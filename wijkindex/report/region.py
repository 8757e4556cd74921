"""A region round's report: its gemeenten side by side, and the region as the report's area.

A region index has wijk rows (each against its own gemeente), a row per gemeente and a row for
the region. ``region_view`` gives the other sections the index they expect of one area: the
wijken and the region row, the region's code as everyone's ``gemeente_code`` (a wijk's
``index_vs_gemeente`` stays against its own gemeente). ``section_region`` shows every
gemeente's rate beside the region's, per age band, with its 90% margin.
"""

from __future__ import annotations

import html

import pandas as pd

from wijkindex.estimators.index import round_area
from wijkindex.report.labels import NOT_APPLICABLE, band_names, tr, tr_band, tr_label
from wijkindex.report.page import UNCERTAIN_CELL, csv_link, is_uncertain


def is_region_index(index: pd.DataFrame) -> bool:
    return "area_level" in index.columns and bool((index["area_level"] == "region").any())


def region_view(index: pd.DataFrame) -> pd.DataFrame:
    """The wijk rows and the region row, as the index of one area (the region)."""
    region = round_area(index)
    keep = index["area_level"].isin(["wijk", "buurt", "region"])
    view = index[keep].copy()
    view["gemeente_code"] = region
    view.attrs = dict(index.attrs)
    return view


def section_region(index: pd.DataFrame) -> str:
    """Per age band: every indicator's rate in each gemeente and in the region (± 90% margin)."""
    parents = index[index["area_level"].isin(["gemeente", "region"])]
    areas = list(dict.fromkeys(zip(parents["wijk_code"], parents["wijk_name"], parents["area_level"])))
    bands = list(dict.fromkeys(index["age_band"]))
    names_of = band_names(bands)
    head = "".join(f"<th{' class=gm' if level == 'region' else ''}>{html.escape(str(name))}</th>"
                   for _, name, level in areas)
    out = ["<h2>" + tr("Gemeenten in de regio", "Municipalities of the region") + " "
           + csv_link(parents, "regio.csv") + "</h2><p class='sub'>"
           + tr("Elk gemeentecijfer is de som van de ruisende aantallen van zijn wijken, het regiocijfer de som "
                "over de gemeenten; ± is de 90%-marge.",
                "Each municipality's figure sums its neighbourhoods' noised counts, the region's sums the "
                "municipalities; ± is the 90% margin.") + "</p>"]
    for band in bands:
        rows = parents[parents["age_band"] == band].set_index(["indicator", "wijk_code"])
        body = []
        for ind in dict.fromkeys(parents["indicator"]):
            cells = []
            for code, _, _ in areas:
                if (ind, code) not in rows.index:
                    cells.append(NOT_APPLICABLE)
                    continue
                r = rows.loc[(ind, code)]
                cells.append(f"<td>{r['rate']:.1%} <span class='moe'>± {r['moe90']:.1%}</span></td>"
                             if pd.notna(r["rate"]) else f"<td class='sup'>{tr(*UNCERTAIN_CELL)}</td>"
                             if is_uncertain(r) else "<td>-</td>")
            body.append(f"<tr><td>{tr_label(str(ind))}</td>{''.join(cells)}</tr>")
        out.append(f"<h3>{tr_band(band, names_of)}</h3><table><thead><tr><th>indicator</th>{head}</tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table>")
    return "".join(out)
