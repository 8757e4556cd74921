"""The map of the Netherlands: every gemeente drawn, quantile classes monotone in value, the
report's gemeente outlined; in the report, rendered by Chromium without console errors."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest

from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.protocol.messages import Cell
from wijkindex.report import nationalmap
from wijkindex.report.html import render_report
from wijkindex.report.national import references, section_national

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
PATH = re.compile(r"<path data-gm='(GM\d{4})' class='([^']*)' (?:stroke='[^']*' stroke-width='[^']*' )?fill='([^']*)'")


def gemeente_index(geography, code: str = "GM0193", name: str = "Zwolle", shift: int = 0) -> pd.DataFrame:
    geo = geography if code == "GM0193" else geography.renamed(code, name)
    wijken = geo.wijken.sort_values("wijk_code")
    cells = [Cell(w.wijk_code, w.wijk_name, b) for w in wijken.itertuples() for b in ("0-3", "4-11", "12-17")]
    n = len(cells)
    den = NoisedRelease("population", "gemeente", tuple(200 + 7 * i for i in range(n)), 7, 98, 16)
    nums = [NoisedRelease("eenoudergezin", "gemeente", tuple((i * 3 + shift) % 60 + 5 for i in range(n)), 3, 18, 7),
            NoisedRelease("jeugdhulp", "gemeente", tuple((i * 5 + shift) % 40 + 5 for i in range(n)), 3, 18, 7)]
    return assemble_index(IndexMeta("r-nl", 2024, code, name), cells, den, nums)


def paths(svg: str) -> dict[str, tuple[str, str]]:
    return {code: (cls, fill) for code, cls, fill in PATH.findall(svg)}


def test_every_gemeente_is_drawn_and_the_selected_one_outlined() -> None:
    codes = list(nationalmap.gemeente_shapes())
    assert len(codes) == 342
    values = pd.Series(np.arange(len(codes), dtype=float), index=codes)
    values.iloc[:10] = np.nan  # no data: drawn all the same, grey
    svg = nationalmap.national_map_svg(values, "GM0363", title=("Titel", "Title"))
    drawn = paths(svg)
    assert len(drawn) == 342 and svg.count("<path data-gm=") == 342
    assert [c for c, (cls, _) in drawn.items() if "sel" in cls.split()] == ["GM0363"]
    assert "stroke='#000' stroke-width='2.2'" in svg.split("data-gm='GM0363'", 1)[1].split(">", 1)[0]
    assert {drawn[c][1] for c in codes[:10]} == {nationalmap.NO_DATA}
    assert all(drawn[c][1] in nationalmap.PALETTE for c in codes[10:])
    # the tooltip names the gemeente and its value
    assert "<title>Amsterdam: " in svg and "<title>Zwolle: -</title>" not in svg


def test_classes_are_monotone_in_value_and_darkest_is_highest() -> None:
    kwb = references()["pct_jeugdzorg"]
    svg = nationalmap.national_map_svg(kwb, "GM0193")
    drawn = paths(svg)
    cls = pd.Series({c: int(re.search(r"q(-?\d+)", k).group(1)) for c, (k, _) in drawn.items()})  # type: ignore
    v = kwb.reindex(cls.index)
    order = v.sort_values(kind="stable").index
    assert cls[order].is_monotonic_increasing  # a higher value never falls in a lower class
    assert cls.nunique() == 5 and set(cls) == set(range(5))
    assert drawn[v.idxmax()][1] == nationalmap.PALETTE[-1] and drawn[v.idxmin()][1] == nationalmap.PALETTE[0]
    # the legend shows each class's range, low to high
    cls2, ranges = nationalmap.quantile_classes(kwb)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    assert f"{ranges[0][0]:.1f}% - {ranges[0][1]:.1f}%" in svg


def test_ties_never_straddle_a_class_and_regions_are_outlined() -> None:
    s = pd.Series([1.0] * 50 + [2.0] * 5 + [3.0] * 3, index=[f"GM{i:04d}" for i in range(58)])
    cls, ranges = nationalmap.quantile_classes(s)
    assert cls.groupby(s).nunique().max() == 1 and len(ranges) == cls.max() + 1
    codes = list(nationalmap.gemeente_shapes())
    groups = {c: "A" if i % 2 else "B" for i, c in enumerate(codes)}
    svg = nationalmap.national_map_svg(pd.Series(1.0, index=codes), None, groups=groups)
    assert "class='region'" in svg and " sel" not in svg


def test_section_offers_the_references_and_several_gemeenten_indicators(geography) -> None:
    one = gemeente_index(geography)
    html_one = section_national(one)
    assert "kwb:pct_rond_sociaal_min" in html_one and "kwb:pct_jeugdzorg" in html_one
    assert "ind:eenoudergezin" not in html_one and "id='wi-nl-band'" not in html_one  # one gemeente: references only
    assert "Jongeren met jeugdzorg (CBS KWB 2022)" in html_one
    both = pd.concat([one, gemeente_index(geography, "GM0363", "Amsterdam", shift=17)], ignore_index=True)
    html_two = section_national(both)
    assert "ind:eenoudergezin" in html_two and "ind:jeugdhulp" in html_two and "id='wi-nl-band'" in html_two
    # the CSV: one row per gemeente, the index's gemeenten filled, the others empty
    csv = html_two.split('download="gemeenten.csv" href="data:text/csv;charset=utf-8,', 1)[1].split('"', 1)[0]
    table = pd.read_csv(io.StringIO(unquote(csv)))
    assert len(table) == 342 and list(table.columns[:3]) == ["gemeente_code", "gemeente_name", "eenoudergezin 0-3 (%)"]
    assert set(table.dropna(subset=["eenoudergezin 0-3 (%)"])["gemeente_code"]) == {"GM0193", "GM0363"}
    assert table["pct_jeugdzorg"].notna().all()


def _csv(page: str, name: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(unquote(page.split(f'download="{name}" href="data:text/csv;charset=utf-8,', 1)[1]
                                           .split('"', 1)[0])))


def test_regions_are_a_level_of_the_map_with_a_csv_row_each(geography) -> None:
    """GGD regions and jeugdzorgregio's: the KWB figure of every region (its members' weighted
    mean), and the index's figure of a region from the unclipped noised counts of the index's
    gemeenten in it, with how many of its gemeenten those are."""
    from wijkindex.estimators.reference import MEASURES, weighted_share
    from wijkindex.geography.regions import region_of, regions

    both = pd.concat([gemeente_index(geography), gemeente_index(geography, "GM0363", "Amsterdam", shift=17)],
                     ignore_index=True)
    page = section_national(both)
    assert "id='wi-nl-level'" in page and "outline-ggd" in page and "outline-jeugdzorgregio" in page
    ggd, jz = _csv(page, "ggd.csv"), _csv(page, "jeugdzorgregio.csv")
    assert len(ggd) == len(regions("ggd")) == 25 and len(jz) == len(regions("jeugdzorgregio")) == 42
    poverty = next(m for m in MEASURES if m.column == "pct_rond_sociaal_min")
    ijssel = region_of("GM0193", "ggd")
    row = ggd.set_index("ggd_code").loc[ijssel.code]
    assert row["pct_rond_sociaal_min"] == pytest.approx(100 * weighted_share(poverty, ijssel.gemeenten)[0], abs=0.01)
    assert row["n_gemeenten"] == len(ijssel.gemeenten) and row["gemeenten_in_index"] == 1
    zw = both[(both["wijk_code"] == "GM0193") & (both["indicator"] == "eenoudergezin") & (both["age_band"] == "4-11")]
    assert row["eenoudergezin 4-11 (%)"] == pytest.approx(
        100 * zw["numerator_noisy"].iloc[0] / zw["denominator_noisy"].iloc[0], abs=1e-6)
    assert ggd["gemeenten_in_index"].sum() == 2 and ggd["eenoudergezin 4-11 (%)"].notna().sum() == 2
    assert ggd["pct_jeugdzorg"].notna().all() and jz["pct_jeugdzorg"].notna().all()


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is required (the README's test command installs Debian's chromium)"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


def national_page(index: pd.DataFrame, out: Path) -> Path:
    """The section alone on a page with the report's CSS and language switch (the rest of the
    report is of one gemeente: its tables do not take an index of several)."""
    from wijkindex.report.page import CSS, LANG_JS

    out.write_text(f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><style>{CSS}</style></head><body>"
                   "<button id='wi-lang' type='button'>English</button>"
                   f"{section_national(index)}<script>{LANG_JS}</script></body></html>", encoding="utf-8")
    return out


@pytest.mark.parametrize("several", [False, True], ids=["report-one-gemeente", "section-two-gemeenten"])
def test_national_map_in_chromium(geography, tmp_path: Path, several: bool) -> None:
    index = gemeente_index(geography)
    if several:
        index = pd.concat([index, gemeente_index(geography, "GM0363", "Amsterdam", shift=17)], ignore_index=True)
        report = national_page(index, tmp_path / "national.html")
    else:
        report = render_report(index, tmp_path / "report.html", title="Kinderindex Zwolle")
    r = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "p1")
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    dom = r.stdout
    nl = dom.split('id="wi-national"', 1)[1].split("</svg>", 1)[0]
    fills = re.findall(r'<path data-gm="(GM\d{4})" class="([^"]*)"[^>]*?fill="([^"]*)"', nl)
    assert len(fills) == 342
    coloured = {c for c, _, fill in fills if fill in nationalmap.PALETTE}
    if several:  # the map opens on the index's first indicator: only its two gemeenten have data
        assert coloured == {"GM0193", "GM0363"}
        assert "Kinderen in een eenoudergezin" in nl
    else:  # the CBS reference: every gemeente coloured by the script
        assert len(coloured) == 342
        assert "Huishoudens rond of onder het sociaal minimum" in nl  # the map's title, set by the script
    assert [c for c, cls, _ in fills if "sel" in cls.split()] == ["GM0193"]
    en = chromium("--dump-dom", report.as_uri() + "#en", profile=tmp_path / "p2")
    assert not [line for line in en.stderr.splitlines() if ":CONSOLE" in line]
    assert ">The Netherlands<" in en.stdout
    assert ("Children in a single-parent household" if several else "Households at or below the social minimum") in \
        en.stdout.split('id="wi-national"', 1)[1]
    # the GGD regions as the map's level: every member of a region takes the region's colour and name
    from wijkindex.geography.regions import membership

    lvl = chromium("--dump-dom", report.as_uri() + "#nl-level=ggd", profile=tmp_path / "p3")
    assert not [line for line in lvl.stderr.splitlines() if ":CONSOLE" in line]
    svg = lvl.stdout.split('id="wi-national"', 1)[1].split("</svg>", 1)[0]
    fill = {c: f for c, _, f in re.findall(r'<path data-gm="(GM\d{4})" class="([^"]*)"[^>]*?fill="([^"]*)"', svg)}
    ggd = membership()["ggd_code"]
    if several:  # the index's two gemeenten colour their whole regions; the other regions are grey
        assert {c for c, f in fill.items() if f in nationalmap.PALETTE} == set(ggd[ggd.isin(ggd[["GM0193", "GM0363"]])].index)
    else:
        assert all(f in nationalmap.PALETTE for f in fill.values())
    assert all(len({fill[c] for c in members}) == 1 for _, members in ggd.groupby(ggd).groups.items())
    titles = dict(re.findall(r'<path data-gm="(GM\d{4})"[^>]*><title>([^<]*)</title>', svg))
    assert titles["GM0193"].startswith("GGD IJsselland: ")
    outline = {m: v for m, v in re.findall(r'<path class="region outline-(\w+)"[^>]*?visibility="(\w+)"', svg)}
    assert outline == {"ggd": "visible", "jeugdzorgregio": "hidden"}


def test_selected_gemeente_is_visibly_outlined(tmp_path: Path) -> None:
    """Pixels: the outline of the selected gemeente is drawn dark, where the fills are never that dark."""
    from PIL import Image

    svg = nationalmap.national_map_svg(references()["pct_rond_sociaal_min"], "GM1900")  # Súdwest-Fryslân
    page = tmp_path / "nl.html"
    page.write_text(f"<!doctype html><html><body style='margin:0'>{svg}</body></html>", encoding="utf-8")
    shot = tmp_path / "nl.png"
    r = chromium(f"--window-size={nationalmap.WIDTH},700", f"--screenshot={shot}", page.as_uri(),
                 profile=tmp_path / "p3")
    assert shot.exists(), r.stderr[-2000:]
    rings, _ = nationalmap._projected(nationalmap.WIDTH)
    xs = [x for ring in rings["GM1900"] for x, _ in ring]
    ys = [y for ring in rings["GM1900"] for _, y in ring]
    px = np.asarray(Image.open(shot).convert("RGB").crop((int(min(xs)), int(min(ys)), int(max(xs)) + 1,
                                                          int(max(ys)) + 1)), dtype=int)
    dark = int((px.max(axis=2) < 60).sum())
    assert dark > 300, dark


def test_region_outline_leaves_out_the_edges_its_gemeenten_share() -> None:
    """The shipped polygons are one clean coverage: neighbours share their edges exactly, so a
    region (here: the whole country) is outlined by its outer edges only."""
    from collections import Counter

    rings, _ = nationalmap._projected(nationalmap.WIDTH)
    edges = Counter(frozenset((a, b)) for rs in rings.values() for ring in rs for a, b in zip(ring, ring[1:]) if a != b)
    shared, outer = sum(1 for n in edges.values() if n == 2), sum(1 for n in edges.values() if n == 1)
    # polygons simplified one by one (not as a coverage) share about half as many edges as they have outer ones
    assert shared > 1.3 * outer and sum(1 for n in edges.values() if n > 2) < 20  # a few collapse at 0.1 px
    svg = nationalmap.national_map_svg(pd.Series(dtype=float), None, groups={c: "NL" for c in rings})
    outline = svg.split("class='region'", 1)[1].split("d='", 1)[1].split("'", 1)[0]
    steps = sum(len(line.split("L")) - 1 for line in outline.split("M")[1:])
    assert steps == outer
