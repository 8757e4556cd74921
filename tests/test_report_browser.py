"""The report as a policy maker sees it: opened in headless Chromium, map and charts drawn, no errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wijkindex.estimators.composite import composite_scores
from wijkindex.estimators.index import IndexMeta, NoisedRelease, assemble_index
from wijkindex.estimators.relative_risk import load_relative_risks, relative_risks
from wijkindex.protocol.messages import Cell
from wijkindex.report.html import render_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, geography) -> Path:
    wijken = geography.wijken.sort_values("wijk_code")
    cells = [Cell(w.wijk_code, w.wijk_name, b) for w in wijken.itertuples() for b in ("0-3", "4-11", "12-17")]
    n = len(cells)
    den = NoisedRelease("population", "gemeente", tuple(5 if i == 15 else 200 + 7 * i for i in range(n)), 7, 98, 16)
    nums = [NoisedRelease(ind, src, tuple((i * k) % 60 + 5 for i in range(n)), 3, 18, 7)
            for k, (ind, src) in enumerate([("eenoudergezin", "gemeente"), ("psychosociale_problemen", "ggd"),
                                            ("onderwijsachterstand", "school")], start=3)]
    nums.append(NoisedRelease("eenouder_en_psychosociaal", "gemeente+ggd",
                              tuple(((i * 3) % 60 + 5) // 3 for i in range(n)), 3, 36, 10))
    levels = ["cumulatief_risico_0", "cumulatief_risico_1", "cumulatief_risico_2", "cumulatief_risico_3plus"]
    for k, name in enumerate(levels):
        nums.append(NoisedRelease(name, "gemeente+ggd+school", tuple((200 + 7 * i) // (2 + 2 * k) for i in range(n)),
                                  3, 54, 12))
    index = assemble_index(IndexMeta("r-browser", 2014, "GM0193", "Zwolle"), cells, den, nums)
    earlier = assemble_index(IndexMeta("r-2013", 2013, "GM0193", "Zwolle"), cells, den,
                             [NoisedRelease(x.indicator, x.source, tuple(int(v * 0.8) for v in x.values), 3, 18, 7)
                              for x in nums])
    out = tmp_path_factory.mktemp("report") / "report.html"
    rr = relative_risks(index, load_relative_risks())
    return render_report(index, out, title="Kinderindex Zwolle", composite=composite_scores(index),
                         privacy=[{"node": "gemeente", "epsilon": 1.0, "mechanism": "discrete_laplace", "scale": 7}],
                         relative_risk=rr, history=pd.concat([earlier, index], ignore_index=True))


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is required (the README's test command installs Debian's chromium)"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120)


def test_report_renders_map_and_charts_without_console_errors(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    r = chromium("--window-size=1300,1000", f"--screenshot={shot}", report.as_uri(), profile=tmp_path / "p1")
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    img = Image.open(shot).convert("RGB")
    # the map sits top left: count strongly coloured (non-grey) pixels there
    region = img.crop((60, 200, 640, 900))
    px = np.asarray(region, dtype=int)
    coloured = int(((px.max(axis=2) - px.min(axis=2)) > 40).sum())
    assert coloured > 20_000, coloured
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "p2").stdout
    assert dom.count('data-wijk="WK0193') == 16  # every wijk of the real geometry is on the map
    bars = dom.split('id="wi-bars"', 1)[1].split("</svg>", 1)[0]
    assert bars.count("<rect") >= 14 and "onderdrukt" in bars  # the bar chart was drawn by the script
    assert 'download="samengestelde_scores.csv"' in dom and 'download="eenoudergezin.csv"' in dom
    cumulative = dom.split("aria-label=\"cumulatief risico per wijk\"", 1)[1].split("</svg>", 1)[0]
    assert cumulative.count("<rect") == 17 * 4  # 16 wijken and the gemeente, 4 levels each
    assert dom.count("aria-label=\"trend ") >= 5 and "<polyline" in dom  # a line chart per indicator
    assert "Psychosociale problemen: eenoudergezin" in dom and 'download="relatieve_risicos.csv"' in dom


def test_report_switches_to_english(report: Path, tmp_path: Path) -> None:
    """The language switch (button; '#en' in the address opens the report in English)."""
    r = chromium("--dump-dom", report.as_uri() + "#en", profile=tmp_path / "p3")
    assert not [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    dom = r.stdout
    assert '<html lang="en"' in dom
    for text in ("Map and bars per neighbourhood", "Composite scores per domain", "Stacked risks (cumulative risk)",
                 "Relative risks", "Children in a single-parent household", "Municipality averages"):
        assert text in dom, text
    bars = dom.split('id="wi-bars"', 1)[1].split("</svg>", 1)[0]
    assert "municipality" in bars and "onderdrukt" not in bars  # the chart redrawn in English
    assert ">Nederlands<" in dom  # the button switches back
    dutch = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "p4").stdout
    assert ">Kaart en staafdiagram per wijk<" in dutch and ">Map and bars per neighbourhood<" not in dutch
