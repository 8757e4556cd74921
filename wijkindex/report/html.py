"""A single self-contained HTML report of the index that a policy maker can open offline.

One function per section, so later sections (maps, charts, trends) slot in. The sections live
in modules by concept: ``labels`` (words, ``tr``), ``page`` (CSS, shared helpers),
``maps`` (the wijk map), ``nationalmap``/``national`` (the map of the Netherlands),
``charts`` and ``tables``; this module assembles them and re-exports their names.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import pandas as pd

from wijkindex.report.charts import (LEVEL_COLOURS, MIN_CHILDREN_SHARES, _level_groups, _rr_cells, _rr_text,
                                     _trend_changes, section_cumulative, section_relative_risk, section_trend)
from wijkindex.report.labels import (LABELS, LABELS_EN, NOT_APPLICABLE, SOURCES, band_names, label, label_en, tr,
                                     tr_band, tr_label)
from wijkindex.report.federation import section_federation, section_pooled_trend
from wijkindex.report.maps import EXPLORER_JS, section_explorer
from wijkindex.report.national import available as national_available
from wijkindex.report.national import section_national
from wijkindex.report.page import CSS, LANG_JS, _estimates, _shade, csv_link, for_display
from wijkindex.report.reference import section_reference
from wijkindex.report.region import is_region_index, region_view, section_region
from wijkindex.report.tables import (section_composite, section_footnotes, section_header, section_indicator,
                                     section_privacy, section_summary)

if TYPE_CHECKING:
    from wijkindex.geography import Geography

__all__ = ["CSS", "EXPLORER_JS", "LABELS", "LABELS_EN", "LANG_JS", "LEVEL_COLOURS", "MIN_CHILDREN_SHARES",
           "NOT_APPLICABLE", "SOURCES", "band_names", "csv_link", "label", "label_en", "render_report",
           "section_composite", "section_cumulative", "section_explorer", "section_footnotes", "section_header",
           "section_indicator", "section_national", "section_privacy", "section_relative_risk", "section_summary", "section_trend", "tr",
           "tr_band", "tr_label", "_estimates", "_level_groups", "_rr_cells", "_rr_text", "_shade", "_trend_changes"]


def render_report(index: pd.DataFrame, out_path: Path, *, title: str,
                  privacy: Sequence[Mapping[str, object]] = (), notes: Sequence[str | tuple[str, str]] = (),
                  composite: pd.DataFrame | None = None, data_dir: Path | str | None = None,
                  relative_risk: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                  geography: Geography | None = None, national: bool | None = None,
                  reference: pd.DataFrame | None = None, pooled: pd.DataFrame | None = None,
                  pooled_history: pd.DataFrame | None = None) -> Path:
    """Write the report atomically and return its path. ``history``: index rows of several periods;
    ``geography``: whose polygons the wijk map draws (default: see ``svgmap.polygons_for``);
    ``national``: the map of all gemeenten of the Netherlands (default: on when the shipped CBS
    data is installed; GGD regions and jeugdzorgregio's as a level of it);
    ``reference``: the published CBS figures beside the index (default: ``reference_for_index``);
    ``pooled``: the federation's figures for the same comparisons (``AggregatorClient.get_pooled``;
    None: no such section, the report was made without the aggregator); ``pooled_history``: those
    figures of several periods (``clients.pooled_history_of``), for their year-on-year change.
    A region round's index reports the region, with its gemeenten side by side."""
    if national is None:
        national = national_available()
    index = for_display(index)
    whole = index
    if reference is None:  # the published CBS figures of the index's gemeente(n)
        from wijkindex.estimators.reference import reference_for_index

        reference = reference_for_index(index)
    region = ""
    if is_region_index(index):  # the region is the report's area; its gemeenten side by side
        region = section_region(index)
        index = region_view(index)
        history = region_view(history) if history is not None and is_region_index(history) else history
    parts = [section_header(index, title, notes), region, section_explorer(index, data_dir, geography),
             section_national(whole) if national else "",
             section_reference(reference, indicators=dict.fromkeys(index["indicator"])), section_federation(whole, pooled),
             section_composite(composite), section_cumulative(index), section_relative_risk(relative_risk),
             section_trend(history, pooled_history), section_pooled_trend(pooled_history), section_privacy(privacy), section_summary(index)]
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
