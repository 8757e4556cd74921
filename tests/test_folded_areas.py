"""No BRP child is lost to a folded area: a child whose record names a wijk (or buurt) that the
geography folded into a neighbour for privacy, or one CBS counts no inhabitants in, is placed in
the merged area's cells.

The path is the real one: the aggregator's cells for the spec (RoundManager.cells_for, with the
folded codes as each cell's members), through protobuf, checked by the node against the digest
the coordinator signs, then the spine's placement (nodes/loading.place_spine).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from geofiles import gpkg_wijken, write_gpkg, zwolle_buurten
from wijkindex import wire
from wijkindex.aggregator.rounds import RoundManager
from wijkindex.aggregator.store import Store
from wijkindex.config import DatasetConfig, NodeConfig, TlsPaths
from wijkindex.federation import round_spec
from wijkindex.geography import Geography, load_gemeente, load_kaart
from wijkindex.geography.cbs import _tables
from wijkindex.linkage.records import LoadedRecords
from wijkindex.nodes.loading import place_spine
from wijkindex.protocol.parameters import cells_digest, check_cells
from wijkindex.protocol.spec import RoundSpec

AGES = (1, 6, 14)  # one child in each age band of every area code


def _node(name: str = "gemeente", max_excluded_share: float = 0.0) -> NodeConfig:
    ds = DatasetConfig("brp", Path("brp.csv"), "bsn", {"bsn": "bsn", "geboortedatum": "date", "wijk_code": "code",
                                                        "buurt_code": "code"}, spine=True)
    return NodeConfig(name, "127.0.0.1:1", TlsPaths(Path("c"), Path("k"), Path("ca")), Path("s"), Path("l"), 1.0,
                      "exclude", (ds,), (), 1.0, Path("node.toml"), max_excluded_share=max_excluded_share)


def _children(codes: list[str], column: str, period: int) -> pd.DataFrame:
    rows = [(f"{i:09d}", date(period - 1 - age, 7, 1).isoformat(), code)
            for i, (code, age) in enumerate((c, a) for c in codes for a in AGES)]
    frame = pd.DataFrame(rows, columns=["bsn", "geboortedatum", column])
    other = "buurt_code" if column == "wijk_code" else "wijk_code"
    frame[other] = ""
    return frame


def _signed_cells(tmp_path: Path, geos: list[Geography], spec: RoundSpec):  # type: ignore[no-untyped-def]
    """The cells as the node receives and checks them."""
    manager = RoundManager(Store(tmp_path / "aggregator.sqlite"), geos, tuple(spec.parties), ca_pem=b"")
    manager.check_disclosure(spec)  # the folded geography passes the guard at this level
    cells = wire.cells_from_proto(wire.cells_to_proto(manager.cells_for(spec)))
    check_cells(cells, cells_digest(manager.cells_for(spec)), [b.label for b in spec.age_bands])
    return cells


def _place(spec: RoundSpec, cells, frame: pd.DataFrame, node: str = "gemeente",  # type: ignore[no-untyped-def]
           max_excluded_share: float = 0.0):
    placement, counts = place_spine(_node(node, max_excluded_share), spec, cells,
                                    LoadedRecords(frame, n_read=len(frame)))
    areas = list(dict.fromkeys(c.area_code for c in cells))
    placed = dict(zip(placement.bsns, (areas[i // len(spec.age_bands)] for i in placement.cells)))
    return placed, counts


def test_children_of_folded_and_uninhabited_wijken_count_in_the_merged_wijk(tmp_path: Path) -> None:
    geo = load_gemeente("GM0034")  # Almere: small wijken folded, empty ones, as shipped
    every = sorted(_tables()[0].query("gemeentecode == 'GM0034'")["wijkcode"])
    folded = [w for w in every if w not in set(geo.areas("wijk")["wijk_code"])]
    assert len(folded) >= 10  # folded small ones and uninhabited ones
    spec = RoundSpec.from_toml(round_spec(2024, "GM0034", {"gemeente": ["eenoudergezin"]}))
    cells = _signed_cells(tmp_path, [geo], spec)
    frame = _children(every, "wijk_code", spec.period)
    placed, counts = _place(spec, cells, frame)
    assert counts == {"spine_children": len(frame), "spine_outside_ages": 0, "spine_outside_areas": 0}
    for bsn, wijk in zip(frame["bsn"], frame["wijk_code"]):
        assert placed[bsn] == geo.area_of(wijk)
    per_area = pd.Series(placed).value_counts()
    members = geo.members("wijk")
    assert all(per_area[a] == len(AGES) * (1 + len(members.get(a, ()))) for a in per_area.index)


def test_children_of_folded_buurten_count_in_the_merged_buurt(tmp_path: Path) -> None:
    path = write_gpkg(tmp_path / "zwolle.gpkg", {"wijken": gpkg_wijken("GM0193"), "buurten": zwolle_buurten()})
    geo = load_kaart(path, "GM0193", level="buurt")
    every = sorted(f["properties"]["buurtcode"] for f in zwolle_buurten())
    spec = RoundSpec.from_toml(round_spec(2024, "GM0193", {"gemeente": ["eenoudergezin"]}).replace(
        'level = "wijk"', 'level = "buurt"'))
    assert spec.level == "buurt"
    cells = _signed_cells(tmp_path, [geo], spec)
    assert any(c.members for c in cells)
    frame = _children(every, "buurt_code", spec.period)
    placed, counts = _place(spec, cells, frame)
    assert counts["spine_outside_areas"] == 0 and counts["spine_children"] == len(frame) == len(every) * len(AGES)
    assert all(placed[b] == geo.area_of(c) for b, c in zip(frame["bsn"], frame["buurt_code"]))


def test_in_a_region_each_spine_places_only_its_own_gemeentes_folded_wijken(tmp_path: Path) -> None:
    geos = [load_gemeente("GM0034"), load_gemeente("GM0096")]  # Almere; Vlieland (one wijk, one empty)
    spec = RoundSpec.from_toml(round_spec(2024, "XX0001", {"brp-almere": ["eenoudergezin"],
                                                            "brp-vlieland": ["eenoudergezin"]},
                                          spines={"GM0034": "brp-almere", "GM0096": "brp-vlieland"},
                                          area_name="proef"))
    cells = _signed_cells(tmp_path, geos, spec)
    wijken = _tables()[0]
    vlieland = sorted(wijken.query("gemeentecode == 'GM0096'")["wijkcode"])
    assert geos[1].aliases  # its uninhabited wijk counts in the inhabited one
    frame = _children(vlieland * 5 + sorted(geos[0].aliases)[:3], "wijk_code", spec.period)
    placed, counts = _place(spec, cells, frame, "brp-vlieland", max_excluded_share=0.5)
    assert counts["spine_children"] == 5 * len(vlieland) * len(AGES)
    assert counts["spine_outside_areas"] == 3 * len(AGES)  # Almere's folded wijken are not Vlieland's to count
    assert set(placed.values()) == {"WK009600"}


@pytest.mark.parametrize("tamper", ["drop", "move"])
def test_members_cannot_be_changed_after_signing(tmp_path: Path, tamper: str) -> None:
    """The aggregator cannot quietly drop a folded wijk (losing its children) or move it to
    another area: the members are in the digest the coordinator signs."""
    from dataclasses import replace

    from wijkindex.errors import CryptoError

    geo = load_gemeente("GM0034")
    spec = RoundSpec.from_toml(round_spec(2024, "GM0034", {"gemeente": ["eenoudergezin"]}))
    cells = _signed_cells(tmp_path, [geo], spec)
    signed = cells_digest(cells)
    host = next(c.area_code for c in cells if c.members)
    other = next(c.area_code for c in cells if c.area_code != host)
    changed = tuple(replace(c, members=() if tamper == "drop" or c.area_code == host else
                            (c.members + geo.members("wijk")[host] if c.area_code == other else c.members))
                    if c.area_code in (host, other) else c for c in cells)
    with pytest.raises(CryptoError, match="differ from the cells the coordinator signed"):
        check_cells(changed, signed, [b.label for b in spec.age_bands])
