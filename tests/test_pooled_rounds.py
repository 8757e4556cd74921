"""National, regional and peer figures pooled by the aggregator from several gemeenten' rounds.

One loopback aggregator serves three gemeenten of GGD IJsselland (Zwolle's geography, and a copy
under Deventer's and Kampen's codes): a round of Zwolle, a region round of Deventer and Kampen
(one BRP node each), then a second, smaller round of Zwolle, all of period 2014. A researcher's
GetPooled gives each round's comparisons: the country, the GGD region, the jeugdzorgregio and the
peers, each exactly the sum of the gemeente rows it names (the unclipped noised counts), margins
added in quadrature, every member without a figure named. index.csv carries them as rows with
``reference_source`` "federation", and the report shows them beside the CBS figures; the region's
report renders in headless Chromium with its gemeenten side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import start_node
from wijkindex.aggregator.server import start_aggregator
from wijkindex.clients import AggregatorClient, AggregatorError, export_index, write_report
from wijkindex.config import load_aggregator_config
from wijkindex.estimators.index import read_index
from wijkindex.estimators.pooled import FEDERATION, POOLED_COLUMNS
from wijkindex.estimators.reference import peer_gemeenten
from wijkindex.federation import LocalFederation, lay_out, round_spec
from wijkindex.geography import combine
from wijkindex.geography.regions import region_of
from wijkindex.synth.generator import generate_federation
from wijkindex.synth.region import generate_region

pytestmark = pytest.mark.slow
ZWOLLE, DEVENTER, KAMPEN = "GM0193", "GM0150", "GM0166"
REGION, REGION_NAME = "R0001", "Zwolle-om"  # a user's own region code for the region round
USER_REGION = "R0002"  # a region of the aggregator's regions file, pooled beside the shipped ones
PERIOD_2014 = ("zwolle-1", "region-1", "zwolle-2")
INDICATORS = ["eenoudergezin", "bijstand", "jeugdhulp"]


@dataclass
class Pooled:
    fed: LocalFederation
    address: str
    indices: dict[str, pd.DataFrame]  # round id -> index
    pooled: dict[str, pd.DataFrame]  # round id -> GetPooled rows
    region_geo: object
    agg: object


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory, geography):
    tmp = tmp_path_factory.mktemp("pooled")
    zw = generate_federation(tmp / "fed-zwolle", seed=41, scale=0.03, geography=geography, years=2)
    geos = [geography.renamed(DEVENTER, "Deventer"), geography.renamed(KAMPEN, "Kampen")]
    reg = generate_region(tmp / "fed-region", geos, code=REGION, name=REGION_NAME, seed=42, scale=0.03, years=2)
    data_of = {"brp-zwolle": zw.out_dir / "gemeente", **{f: reg.federation.out_dir / f for f in reg.spines.values()}}
    names = list(data_of)
    fed = lay_out(tmp / "run", tmp, nodes=names, port=0, paillier_bits=1024, poll_seconds=0.5, data_of=data_of)
    # the operator's own region: Zwolle with Deventer (a region of rounds of different areas)
    (fed.aggregator_config.parent / "regions.toml").write_text(
        f'[[region]]\ncode = "{USER_REGION}"\nname = "Zwolle en Deventer"\ngemeenten = ["{ZWOLLE}", "Deventer"]\n',
        encoding="utf-8")
    config = fed.aggregator_config.read_text(encoding="utf-8")
    fed.aggregator_config.write_text('regions = "regions.toml"\n' + config, encoding="utf-8")  # a top-level key
    agg = start_aggregator(load_aggregator_config(fed.aggregator_config), geography=[geography, *geos])
    address = f"127.0.0.1:{agg.port}"
    nodes = [start_node(fed.node_configs[name], address)[0] for name in names]
    region_spec = {f: INDICATORS[:2] for f in reg.spines.values()}
    specs = [round_spec(2013, ZWOLLE, {"brp-zwolle": INDICATORS}, spine="brp-zwolle", round_id="zwolle-2013"),
             round_spec(2013, REGION, region_spec, spines=reg.spines, area_name=REGION_NAME, round_id="region-2013"),
             round_spec(2014, ZWOLLE, {"brp-zwolle": INDICATORS}, spine="brp-zwolle", round_id="zwolle-1"),
             round_spec(2014, REGION, region_spec, spines=reg.spines, area_name=REGION_NAME, round_id="region-1"),
             round_spec(2014, ZWOLLE, {"brp-zwolle": INDICATORS[:1]}, spine="brp-zwolle", round_id="zwolle-2")]
    try:
        with AggregatorClient(address, fed.credentials("coordinator")) as c:
            for text in specs:  # one after the other: "latest" is the order they complete in
                rid = c.submit_round(text)
                assert c.wait_round(rid, timeout=300).state == "completed"
        with AggregatorClient(address, fed.credentials("researcher")) as r:
            ids = ("zwolle-1", "region-1", "zwolle-2", "zwolle-2013", "region-2013")
            indices = {i: r.get_index(i)[0] for i in ids}
            got = {i: r.get_pooled(i) for i in ids}
        yield Pooled(fed, address, indices, got, combine(geos, REGION, REGION_NAME), agg)
    finally:
        for n in nodes:
            n.stop()
        agg.stop(grace=0.5)


def _gemeente_rows(index: pd.DataFrame) -> pd.DataFrame:
    return index[index["area_level"] == "gemeente"].set_index(["area_code", "indicator", "age_band"])


def _source_rows(p: Pooled, requested: str) -> pd.DataFrame:
    """Each gemeente's rows as the pooling rule picks them: the requested round's own rows for its
    gemeenten, else the latest completed round that has the indicator and age band."""
    order = [i for i in PERIOD_2014 if i != requested] + [requested]
    picked: dict[tuple, pd.Series] = {}
    for rid in order:
        for key, row in _gemeente_rows(p.indices[rid]).iterrows():
            picked[key] = row
    return pd.DataFrame(picked).T


def test_every_pooled_row_is_the_exact_sum_of_its_gemeente_rows(pooled: Pooled) -> None:
    for rid in PERIOD_2014:
        rows = pooled.pooled[rid]
        assert list(rows.columns) == POOLED_COLUMNS and len(rows) > 0, rid
        source = _source_rows(pooled, rid)
        for r in rows.itertuples():
            covered = r.gemeenten_covered.split(", ")
            assert r.n_gemeenten == len(covered)
            parts = source.loc[[(c, r.indicator, r.age_band) for c in covered]]
            assert not parts["suppressed"].astype(bool).any()
            assert r.numerator_noisy == parts["numerator_noisy"].astype(int).sum(), (rid, r.area_code, r.indicator)
            assert r.denominator_noisy == parts["denominator_noisy"].astype(int).sum()
            # margins add in quadrature; the rate is the ratio of the sums
            assert r.numerator_moe90 == pytest.approx(math.sqrt((parts["numerator_moe90"].astype(float) ** 2).sum()))
            assert r.denominator_moe90 == pytest.approx(
                math.sqrt((parts["denominator_moe90"].astype(float) ** 2).sum()))
            assert r.rate == pytest.approx(min(max(r.numerator_noisy / r.denominator_noisy, 0), 1))
            assert r.moe90 > 0


def test_the_latest_round_counts_except_for_the_round_asked_about(pooled: Pooled) -> None:
    """zwolle-2 (eenoudergezin only) replaces zwolle-1's eenoudergezin for the region round's
    comparisons; zwolle-1's own comparisons keep its own rows; bijstand falls back to zwolle-1."""
    def nl(rid: str, indicator: str) -> pd.Series:
        rows = pooled.pooled[rid]
        return rows[(rows["area_code"] == "NL01") & (rows["indicator"] == indicator)
                    & (rows["age_band"] == "0-3")].iloc[0]

    own = _gemeente_rows(pooled.indices["zwolle-1"]).loc[(ZWOLLE, "eenoudergezin", "0-3")]
    later = _gemeente_rows(pooled.indices["zwolle-2"]).loc[(ZWOLLE, "eenoudergezin", "0-3")]
    region = _gemeente_rows(pooled.indices["region-1"])
    rest = sum(int(region.loc[(g, "eenoudergezin", "0-3"), "numerator_noisy"]) for g in (DEVENTER, KAMPEN))
    assert nl("zwolle-1", "eenoudergezin")["numerator_noisy"] == int(own["numerator_noisy"]) + rest
    assert nl("region-1", "eenoudergezin")["numerator_noisy"] == int(later["numerator_noisy"]) + rest
    first_bijstand = _gemeente_rows(pooled.indices["zwolle-1"]).loc[(ZWOLLE, "bijstand", "0-3"), "numerator_noisy"]
    rest_b = sum(int(region.loc[(g, "bijstand", "0-3"), "numerator_noisy"]) for g in (DEVENTER, KAMPEN))
    assert nl("region-1", "bijstand")["numerator_noisy"] == int(first_bijstand) + rest_b


def test_coverage_is_said_and_never_more_than_there_is(pooled: Pooled) -> None:
    rows = pooled.pooled["zwolle-1"]
    ggd = region_of(ZWOLLE, "ggd")
    g = rows[(rows["area_code"] == ggd.code) & (rows["indicator"] == "eenoudergezin")].iloc[0]
    assert g["area_name"] == "GGD IJsselland" and g["n_members"] == len(ggd.gemeenten) == 11
    assert g["gemeenten_covered"] == ", ".join(sorted((DEVENTER, KAMPEN, ZWOLLE))) and g["n_gemeenten"] == 3
    assert g["gemeenten_missing"] == ", ".join(sorted(set(ggd.gemeenten) - {ZWOLLE, DEVENTER, KAMPEN}))
    nl = rows[rows["area_code"] == "NL01"].iloc[0]
    assert nl["n_members"] == 342 and nl["n_gemeenten"] == 3 and len(nl["gemeenten_missing"].split(", ")) == 339
    peers = rows[rows["area_code"] == "VG0193"]  # Zwolle's peers: Deventer is one, Zwolle itself is not
    assert set(peers["gemeenten_covered"]) == {DEVENTER} and DEVENTER in peer_gemeenten(ZWOLLE)
    assert set(peers["n_members"]) == {len(peer_gemeenten(ZWOLLE))}
    # jeugdhulp: only Zwolle counts it, so Zwolle has nothing to compare it with; the region round has it
    assert "jeugdhulp" not in set(rows["indicator"])
    other = pooled.pooled["region-1"]
    j = other[(other["indicator"] == "jeugdhulp") & (other["area_code"] == "NL01")]
    assert set(j["gemeenten_covered"]) == {ZWOLLE} and set(j["n_gemeenten"]) == {1}
    # every row: covered, missing and suppressed are the members, and nobody is counted twice
    members = {"NL01": 342, ggd.code: 11}
    for r in pd.concat(pooled.pooled.values()).itertuples():
        parts = [set(filter(None, str(x).split(", "))) for x in
                 (r.gemeenten_covered, r.gemeenten_missing, r.gemeenten_suppressed)]
        assert sum(map(len, parts)) == len(set().union(*parts)) == r.n_members
        assert parts[0] <= {ZWOLLE, DEVENTER, KAMPEN}
        if r.area_code in members:
            assert r.n_members == members[r.area_code]


def test_index_csv_and_the_report_show_them(pooled: Pooled, tmp_path: Path) -> None:
    with AggregatorClient(pooled.address, pooled.fed.credentials("researcher")) as r:
        export_index(r, "zwolle-1", tmp_path / "export")
        paths = write_report(r, "zwolle-1", tmp_path / "report")
    raw = pd.read_csv(tmp_path / "export" / "index.csv", dtype={"wijk_code": str, "age_band": str,
                                                                "reference_source": str}, keep_default_na=False)
    fed_rows = raw[raw["reference_source"] == FEDERATION]
    assert len(fed_rows) == len(pooled.pooled["zwolle-1"]) and set(fed_rows["source"]) == {"referentie"}
    assert set(fed_rows["gemeente_code"]) == {ZWOLLE}  # the round's area
    assert {"NL01", "GG1009", "VG0193"} <= set(fed_rows["wijk_code"])
    nl = fed_rows[(fed_rows["wijk_code"] == "NL01") & (fed_rows["indicator"] == "bijstand")
                  & (fed_rows["age_band"] == "4-11")].iloc[0]
    want = pooled.pooled["zwolle-1"].set_index(["area_code", "indicator", "age_band"]).loc[("NL01", "bijstand", "4-11")]
    assert int(nl["numerator_noisy"]) == want["numerator_noisy"] and int(nl["n_gemeenten"]) == 3
    cbs = raw[(raw["reference_source"] != "") & (raw["reference_source"] != FEDERATION)]
    assert "NL01" in set(cbs["wijk_code"])  # the CBS rows stay, told apart by reference_source
    assert set(read_index(tmp_path / "export" / "index.csv")["reference_source"].fillna("")) == {""}
    assert (tmp_path / "export" / "pooled.csv").exists()
    text = next(p for p in paths if p.name == "report.html").read_text(encoding="utf-8")
    section = text.split("Vergelijking binnen de federatie", 1)[1].split("<h2>", 1)[0]
    assert "GGD IJsselland" in section and "3/11" in section and "3/342" in section
    assert "Deventer" in section and "Kampen" in section  # the gemeenten counted, named
    assert f"{want['rate']:.1%} <span class='moe'>± {want['moe90']:.1%}</span>" in section
    assert text.index("Referentiecijfers") < text.index("Vergelijking binnen de federatie")  # beside the CBS figures


def test_only_a_researcher_may_ask_and_only_of_a_completed_round(pooled: Pooled) -> None:
    with AggregatorClient(pooled.address, pooled.fed.credentials("coordinator")) as c:
        with pytest.raises(AggregatorError, match="PERMISSION_DENIED"):
            c.get_pooled("zwolle-1")
    with AggregatorClient(pooled.address, pooled.fed.credentials("researcher")) as r:
        with pytest.raises(AggregatorError, match="FAILED_PRECONDITION.*no round"):
            r.get_pooled("no-such-round")
    log = [a for a in pooled.agg.rounds.store.audit_log("zwolle-1") if a.action == "GetPooled"]
    assert log and "zwolle-1" in log[-1].detail
    denied = [a for a in pooled.agg.rounds.store.audit_log() if "GetPooled" in a.action and a.outcome != "served"]
    assert denied, "the coordinator's refused call is audited"


def test_a_round_not_completed_has_no_pooled_figures(tmp_path: Path) -> None:
    from wijkindex.aggregator.pooling import Pooling
    from wijkindex.aggregator.rounds import RoundError
    from wijkindex.aggregator.store import RoundRow, Store, now

    store = Store(tmp_path / "agg.sqlite")
    store.create_round(RoundRow("open-1", "n1", "", "joining", "", "coordinator", 2014, ZWOLLE, b"", "[]", "{}",
                                0.0, now(), now()), b"key", [])
    with pytest.raises(RoundError, match="open-1 is joining"):
        Pooling(store).for_round("open-1")
    store.close()


def test_the_region_report_in_chromium(pooled: Pooled, tmp_path: Path) -> None:
    """The region round's report opened in headless Chromium: no console errors, the region's
    gemeenten side by side with the region, and each beside the federation's figures."""
    from test_report_browser import chromium

    from wijkindex.clients import write_tables
    from wijkindex.report.html import render_report

    index, got = pooled.indices["region-1"], pooled.pooled["region-1"]
    _, composite, rr = write_tables(index, tmp_path, pooled=got)
    written = read_index(tmp_path / "index.csv", reference=True)
    assert set(written.loc[written["reference_source"] == FEDERATION, "gemeente_code"]) == {REGION}
    path = render_report(index, tmp_path / "report.html", title=REGION_NAME, composite=composite,
                         relative_risk=rr, geography=pooled.region_geo, pooled=got)
    r = chromium("--dump-dom", path.as_uri(), profile=tmp_path / "p1")
    assert not [line for line in r.stderr.splitlines() if ":CONSOLE" in line], r.stderr[-2000:]
    dom = r.stdout
    side = dom.split("Gemeenten in de regio", 1)[1].split("<h2>", 1)[0]
    head = side.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert head.index("Deventer") < head.index("Kampen") < head.index(REGION_NAME)  # one column each
    first = side.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    # a figure with its margin for each gemeente and the region, or (gemeenten of 800 children) why not
    assert first.count("±") + first.count("te onzeker†") == 3
    parents = index[index["area_level"].isin(["gemeente", "region"])]
    uncertain = parents["uncertain"].astype(bool)
    assert side.count("te onzeker†") == int(uncertain.sum())  # exactly the rows the index calls uncertain
    cells = "".join(t.split("</tbody>", 1)[0] for t in side.split("<tbody>")[1:])
    assert cells.count("±") == int((~uncertain & parents["rate"].notna()).sum()) > 0
    fed = dom.split("Vergelijking binnen de federatie", 1)[1]
    assert fed.count("<table class=\"wi-federation\">") == 2  # one per gemeente of the region
    assert "GGD IJsselland" in fed and "Zwolle" in fed
    assert dom.count('data-wijk="WK0150') and dom.count('data-wijk="WK0166')  # both gemeenten's wijken mapped
    english = chromium("--dump-dom", path.as_uri() + "#en", profile=tmp_path / "p2").stdout
    assert "Compared within the federation" in english and "Municipalities of the region" in english
    assert np.isfinite(got["rate"].astype(float)).all()


def test_the_operators_own_region_is_pooled_beside_the_shipped_ones(pooled: Pooled) -> None:
    """The aggregator config's ``regions`` file: Zwolle with Deventer, pooled from Zwolle's own round
    and the region round's Deventer rows, for the comparisons of either."""
    for rid in ("zwolle-1", "region-1"):
        rows = pooled.pooled[rid]
        mine = rows[rows["area_code"] == USER_REGION]
        assert len(mine) > 0 and set(mine["area_level"]) == {"region"}, rid
        assert set(mine["area_name"]) == {"Zwolle en Deventer"} and set(mine["n_members"]) == {2}
        source = _source_rows(pooled, rid)
        assert set(mine["indicator"]) <= set(INDICATORS)
        for r in mine[mine["indicator"].isin(INDICATORS[:2])].itertuples():  # the two both gemeenten count
            assert r.gemeenten_covered == ", ".join(sorted((DEVENTER, ZWOLLE)))
            parts = source.loc[[(g, r.indicator, r.age_band) for g in (DEVENTER, ZWOLLE)]]
            assert r.numerator_noisy == parts["numerator_noisy"].astype(int).sum()
    # Kampen is in no region of the file: its comparisons have none
    kampen_only = pooled.pooled["region-1"]
    assert set(kampen_only.loc[kampen_only["area_code"] == USER_REGION, "compared_with"]) <= {DEVENTER}


def test_pooled_figures_over_two_periods_give_the_countrys_change(pooled: Pooled, tmp_path: Path) -> None:
    """Rounds of 2013 and 2014 for the same gemeenten: the researcher's report of Zwolle's 2014
    round reads its history (Zwolle's 2013 round) and each period's pooled figures; the change of
    the country's figure is the difference of the two periods' pooled rates, with the margins of
    both in its interval, and the report shows it."""
    from wijkindex.clients import pooled_history_of
    from wijkindex.estimators.trend import pooled_changes

    before = pooled.pooled["zwolle-2013"]
    assert set(before["period"]) == {2013} and not before.empty
    nl13 = before[before["area_code"] == "NL01"].set_index(["indicator", "age_band"])
    assert set(nl13["gemeenten_covered"]) == {", ".join(sorted((DEVENTER, KAMPEN, ZWOLLE)))}
    with AggregatorClient(pooled.address, pooled.fed.credentials("researcher")) as r:
        history = pd.concat([pooled.indices["zwolle-2013"], pooled.indices["zwolle-1"]], ignore_index=True)
        got = pooled_history_of(r, history, pooled.pooled["zwolle-1"])
        paths = write_report(r, "zwolle-1", tmp_path / "report")
    assert got is not None and set(got["period"]) == {2013, 2014}
    ch = pooled_changes(got)
    nl = ch[(ch["wijk_code"] == "NL01") & (ch["period"] == 2014)].set_index("indicator")
    assert set(nl.index) == {"eenoudergezin", "bijstand"}  # zwolle-1's two indicators every gemeente counts
    now = pooled.pooled["zwolle-1"]
    now = now[(now["area_code"] == "NL01")]
    for ind in ("eenoudergezin", "bijstand"):
        def total(rows: pd.DataFrame) -> float:
            rows = rows[rows["indicator"] == ind]
            return rows["numerator_noisy"].astype(float).sum() / rows["denominator_noisy"].astype(float).sum()
        want = total(now) - total(before[before["area_code"] == "NL01"])
        assert bool(nl.loc[ind, "comparable"]) and nl.loc[ind, "change"] == pytest.approx(want, abs=1e-9)
        assert nl.loc[ind, "change_low90"] < nl.loc[ind, "change"] < nl.loc[ind, "change_high90"]
    text = next(p for p in paths if p.name == "report.html").read_text(encoding="utf-8")
    section = text.split("Verandering 2013-2014 in de federatie", 1)[1].split("</table>", 1)[0]
    assert "Nederland (NL01)" in section and "Zwolle en Deventer (R0002)" in section
    trend = text.split("Ontwikkeling over de jaren", 1)[1].split("<h3>", 1)[0]  # the lines of both periods
    assert trend.count("data-area='NL01'") >= 2 and trend.count(f"data-area='{region_of(ZWOLLE, 'ggd').code}'") >= 2
