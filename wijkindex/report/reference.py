"""The report's section of published reference figures (estimators/reference.py): the
gemeente's CBS figure beside its GGD region, jeugdzorgregio, comparable gemeenten and the
country, each with the published measure and where it is only a proxy.

``section_reference(reference, en=False)`` gives the HTML: Dutch text with its English for the
report's language switch (``tr``), or English only with ``en=True``. ``render_report`` (html.py)
wires it in.
"""

from __future__ import annotations

import html
from typing import Iterable

import pandas as pd

from wijkindex.estimators.reference import missing_counterparts
from wijkindex.report.labels import label, label_en, tr
from wijkindex.report.page import csv_link

LEVEL_LABELS = {"gemeente": ("gemeente (CBS)", "municipality (CBS)"), "ggd": ("GGD-regio", "GGD region"),
                "jeugdzorgregio": ("jeugdzorgregio", "youth-care region"), "region": ("eigen regio", "own region"),
                "vergelijkbaar": ("vergelijkbare gemeenten", "comparable municipalities"),
                "land": ("Nederland", "the Netherlands")}
LEVEL_ORDER = ("gemeente", "ggd", "jeugdzorgregio", "region", "vergelijkbaar", "land")


def _t(nl: str, en_text: str, en: bool) -> str:
    return html.escape(en_text) if en else tr(nl, en_text)


def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * float(x):.1f}%"


def section_reference(reference: pd.DataFrame | None, en: bool = False,
                      indicators: Iterable[str] = ()) -> str:
    """A table per reference measure: the areas' published shares with source, year and whether it
    is a proxy; below it the note saying how it differs from the federation's indicator.
    ``indicators``: the index's indicators, to list those without a counterpart ("" when none)."""
    if reference is None or reference.empty:
        return ""
    parts = ["<h2>" + _t("Referentiecijfers", "Reference figures", en) + " "
             + csv_link(reference, "referentiecijfers.csv") + "</h2><p class='sub'>" + _t(
                 "Gepubliceerde CBS-cijfers naast de indicatoren van de federatie: de gemeente zelf, haar GGD-regio, "
                 "jeugdzorgregio, vergelijkbare gemeenten en Nederland. Cijfers van meer gemeenten zijn gewogen naar de "
                 "noemer van de maat (huishoudens, inwoners of jongeren). Het zijn andere maten dan de federatie telt: "
                 "een benadering staat erbij als benadering. Bron: CBS, Kadaster.",
                 "Published CBS figures beside the federation's indicators: the municipality itself, its GGD region, "
                 "youth-care region, comparable municipalities and the Netherlands. Figures of several municipalities "
                 "are weighted by the measure's denominator (households, inhabitants or young people). They are other "
                 "measures than the federation counts: a proxy is marked as one. Source: CBS, Kadaster.", en)
             + "</p>"]
    order = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
    for (indicator, measure), g in reference.groupby(["indicator", "reference_measure"], sort=False):
        g = g.sort_values("area_level", key=lambda s: s.map(order))
        first = g.iloc[0]
        body = []
        for r in g.itertuples():
            nl_lvl, en_lvl = LEVEL_LABELS.get(str(r.area_level), (str(r.area_level), str(r.area_level)))
            body.append(f"<tr><td>{html.escape(str(r.area_name))}</td><td>{_t(nl_lvl, en_lvl, en)}</td>"
                        f"<td>{html.escape(str(r.area_code))}</td><td>{_pct(r.value)}</td>"
                        f"<td>{int(r.n_gemeenten)}</td></tr>")
        proxy = bool(first["proxy"])
        kind = _t("benadering", "proxy", en) if proxy else _t("zelfde maat", "same measure", en)
        parts.append(
            f"<h3>{_t(label(str(indicator)), label_en(str(indicator)), en)}: "
            f"{_t(str(measure), str(first['reference_measure_en']), en)} ({kind})</h3>"
            f"<table><thead><tr><th>{_t('gebied', 'area', en)}</th><th>{_t('niveau', 'level', en)}</th>"
            f"<th>{_t('code', 'code', en)}</th><th>{_t('waarde', 'value', en)}</th>"
            f"<th>{_t('gemeenten', 'municipalities', en)}</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<p class='note'>{_t(str(first['note']), str(first['note_en']), en)} "
            f"{_t('Bron', 'Source', en)}: {html.escape(str(first['source']))}, {int(first['year'])}.</p>")
    missing = missing_counterparts(indicators)
    if missing:
        items = "".join(f"<li>{_t(label(i), label_en(i), en)}: {_t(nl, en_text, en)}</li>"
                        for i, (nl, en_text) in missing.items())
        parts.append("<p class='sub'>" + _t("Zonder referentiecijfer:", "Without a reference figure:", en)
                     + f"</p><ul class='sub'>{items}</ul>")
    return "".join(parts)
