"""A gemeente's own CBS wijk- en buurtkaart file as its geography (geography/kaart.py, gpkg.py).

The files are built in each test from the project's copy of the real CBS data
(../shared/data/nl-2024, zwolle-2014) in the forms CBS and PDOK publish: a GeoPackage in RD New
with the 2023/2024 column names and CBS's negative codes for secret figures, GeoJSON exports in
WGS84 with PDOK's camelCase names. Loaded, they must give the shipped geography of the same
gemeente; broken, a WI230 error naming the file, the layer and the column.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shapely import wkb
from shapely.geometry import MultiPolygon, Polygon, shape

from geofiles import (NL2024, SECRET, gpkg_wijken, pdok_wijken, wijken_of, write_geojson, write_gpkg,
                      zwolle_buurten)
from wijkindex.geography import GeographyFileError, load_gemeente, load_geography, load_kaart
from wijkindex.geography.gpkg import gpkg_geometry, parse_wkb, rd_to_wgs84, wgs84_to_rd

# Almere (folded small wijken, uninhabited ones, wijken without age figures) and Zwolle
PAIR = ("GM0034", "GM0193")


@pytest.fixture(scope="module")
def national_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GeoPackage as CBS publishes it: layers wijken (two gemeenten) and buurten (Zwolle's)."""
    path = tmp_path_factory.mktemp("kaart") / "wijkenbuurten_2024_v1.gpkg"
    gemeenten = [{"geometry": f["geometry"], "properties": {"gemeentecode": f["properties"]["gemeentecode"],
                                                            "gemeentenaam": f["properties"]["gemeentenaam"]}}
                 for f in wijken_of("GM0193")[:1]]  # CBS's third layer: read past
    return write_gpkg(path, {"gemeenten": gemeenten, "wijken": gpkg_wijken(*PAIR), "buurten": zwolle_buurten()})


def _same_as_shipped(geo, code: str) -> None:  # type: ignore[no-untyped-def]
    shipped = load_gemeente(code)
    assert (geo.gemeente_code, geo.gemeente_name) == (shipped.gemeente_code, shipped.gemeente_name)
    pd.testing.assert_frame_equal(geo.wijken, shipped.wijken)  # the same wijk codes, names and inhabitants
    pd.testing.assert_frame_equal(geo.buurten, shipped.buurten)  # ages and (modelled) risk shares
    assert geo.aliases == shipped.aliases and geo.calibration == shipped.calibration
    for lo, hi in ((0, 3), (4, 11), (12, 17)):
        pd.testing.assert_series_equal(geo.expected_children(lo, hi), shipped.expected_children(lo, hi))
    # the polygons: every wijk drawn, in the same colour, within a few metres of the shipped ones
    mine = {a: (w, rings) for a, w, rings in geo.polygons}
    assert {a: w for a, (w, _) in mine.items()} == {a: w for a, w, _ in shipped.polygons}
    for a, _, rings in shipped.polygons:
        ours = shape({"type": "MultiPolygon", "coordinates": [[r] for r in mine[a][1]]})
        theirs = shape({"type": "MultiPolygon", "coordinates": [[r] for r in rings]})
        assert ours.centroid.distance(theirs.centroid) < 1e-4  # ~10 m
        assert ours.area == pytest.approx(theirs.area, rel=0.02)


# ---- coordinates and geometry encodings -------------------------------------------------------

def test_rd_new_to_wgs84_at_known_points() -> None:
    assert rd_to_wgs84(155000, 463000) == pytest.approx((5.38720621, 52.15517440), abs=1e-9)  # Amersfoort
    assert rd_to_wgs84(120700.723, 487525.501) == pytest.approx((4.88352559, 52.37453253), abs=2e-8)  # Westertoren
    for lon, lat in [(3.4, 51.4), (7.1, 53.4), (5.9, 50.8), (6.08, 52.51)]:  # the inverse, across the country
        assert rd_to_wgs84(*wgs84_to_rd(lon, lat)) == pytest.approx((lon, lat), abs=1e-7)  # ~1 cm


def test_wkb_and_geopackage_blobs_read_as_shapely_writes_them() -> None:
    square = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 1)]])
    multi = MultiPolygon([square, Polygon([(10, 10), (11, 10), (11, 12), (10, 10)])])
    want = [list(square.exterior.coords), list(square.interiors[0].coords),
            list(multi.geoms[1].exterior.coords)]
    for big_endian in (False, True):
        data = wkb.dumps(multi, big_endian=big_endian)
        assert parse_wkb(data) == want
    z = wkb.dumps(Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 0, 5)]), output_dimension=3)
    assert parse_wkb(z) == [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]]  # Z dropped
    from geofiles import gpkg_blob

    assert gpkg_geometry(gpkg_blob(multi)) == want  # the GP header and its envelope skipped
    with pytest.raises(ValueError, match="only Polygon and MultiPolygon"):
        parse_wkb(wkb.dumps(shape({"type": "Point", "coordinates": [1, 2]})))


# ---- the file gives the shipped geography ------------------------------------------------------

@pytest.mark.parametrize("code", PAIR)
def test_a_geopackage_gives_the_shipped_geography(national_gpkg: Path, code: str) -> None:
    _same_as_shipped(load_kaart(national_gpkg, code), code)


def test_geojson_exports_give_the_shipped_geography(tmp_path: Path) -> None:
    # PDOK's camelCase export, gzipped, of Amsterdam (whose wijk codes end in letters: WK0363AF)
    pdok = write_geojson(tmp_path / "amsterdam_wijken.geojson.gz", pdok_wijken("GM0363"))
    geo = load_kaart(pdok)  # one gemeente in the file: no need to name it
    _same_as_shipped(geo, "GM0363")
    assert any(not c[2:].isdigit() for c in geo.wijken["wijk_code"])
    # an older export in RD New that says so in its crs member, one gemeente named by its name
    rd = [{**f, "geometry": json.loads(json.dumps(f["geometry"]))} for f in gpkg_wijken("GM0096")]
    for f in rd:
        geom = f["geometry"]
        polys = geom["coordinates"] if geom["type"] == "MultiPolygon" else [geom["coordinates"]]
        f["geometry"] = {"type": "MultiPolygon", "coordinates": [[[list(wgs84_to_rd(x, y)) for x, y in ring]
                                                                  for ring in poly] for poly in polys]}
    _same_as_shipped(load_kaart(write_geojson(tmp_path / "vlieland.geojson", rd,
                                              crs="urn:ogc:def:crs:EPSG::28992"), "Vlieland"), "GM0096")
    # the CBS file in the shared data itself (the national wijken, short names), via the config entry point
    _same_as_shipped(load_geography(NL2024 / "wijken_2024.geojson", "zwolle"), "GM0193")


def test_secret_age_figures_take_the_gemeentes_shares(national_gpkg: Path) -> None:
    src = [f["properties"] for f in wijken_of("GM0034")]
    ageless = [p["wijkcode"] for p in src if p.get("aantal_inwoners") and p.get("0_15") is None]
    con = sqlite3.connect(national_gpkg)
    stored = dict(con.execute("SELECT wijkcode, percentage_personen_0_tot_15_jaar FROM wijken"))
    con.close()
    assert ageless and all(stored[w] == SECRET for w in ageless)  # written as CBS writes a secret figure
    b = load_kaart(national_gpkg, "GM0034", min_children=0).buurten.set_index("wijk_code")
    assert (b.loc[ageless, "share_0_3"] > 0).all() and b.loc[ageless, "share_0_3"].nunique() == 1


# ---- buurt level -------------------------------------------------------------------------------

def test_buurt_level_folds_small_buurten_within_their_wijk(national_gpkg: Path) -> None:
    geo = load_kaart(national_gpkg, "GM0193", level="buurt")
    src = pd.DataFrame([f["properties"] for f in zwolle_buurten()]).set_index("buurtcode")
    assert len(src) == 78
    areas = set(geo.areas("buurt")["buurt_code"])
    for lo, hi in ((0, 3), (4, 11), (12, 17)):
        assert (geo.expected_children(lo, hi, "buurt") >= 5).all()  # every published buurt passes the guard
    assert int(geo.buurten["inhabitants"].sum()) == int(src["aantal_inwoners"].sum())  # nobody dropped
    assert len(areas) < len(src)  # some buurten are folded ...
    for code, row in src.iterrows():  # ... and every buurt of the file counts somewhere, inside its wijk's area
        host = geo.area_of(code)
        assert host in areas
        assert geo.buurten.set_index("buurt_code").loc[host, "wijk_code"] == geo.area_of(row["wijkcode"])
    # the wijken of the same geography are the sums of their buurten, named from the wijken layer
    assert geo.wijken.set_index("wijk_code")["inhabitants"].to_dict() == \
        geo.buurten.groupby("wijk_code")["inhabitants"].sum().to_dict()
    assert geo.wijk_name("WK019310") == "Wijk 10 Binnenstad"
    # the members the cells carry are exactly the folded codes
    members = geo.members("buurt")
    assert sorted(c for ms in members.values() for c in ms) == sorted(c for c in src.index if c not in areas)


def test_a_buurten_layer_alone_serves_both_levels(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "buurten.geojson", zwolle_buurten())
    wijk_level, buurt_level = load_kaart(path), load_kaart(path, level="buurt")
    pd.testing.assert_frame_equal(wijk_level.buurten, buurt_level.buurten)
    assert set(wijk_level.wijken["wijk_code"]) <= {f"WK0193{i}" for i in range(10, 60)}


# ---- no child is lost ----------------------------------------------------------------------------

# large, small, rural and island gemeenten, with folded and uninhabited wijken
SAMPLE = ("GM0363", "GM0034", "GM0096", "GM0193", "GM0599", "GM0518", "GM1900", "GM0093", "GM0088", "GM1969")


@pytest.mark.parametrize("every", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_every_cbs_wijk_counts_in_an_area(every: bool) -> None:
    """Every wijk code of a gemeente (inhabited or not) is an area or folded into one, so a BRP
    child with any real wijk code has a cell: for ten gemeenten, and (slow) all 342."""
    from wijkindex.geography.cbs import _tables, gemeenten

    wijken = _tables()[0]
    for code in gemeenten()["gemeente_code"] if every else SAMPLE:
        geo = load_gemeente(code)
        areas = set(geo.areas("wijk")["wijk_code"])
        for w in wijken.loc[wijken["gemeentecode"] == code, "wijkcode"]:
            assert geo.area_of(w) in areas, (code, w)
        assert set(geo.members("wijk")) <= areas


# ---- errors ------------------------------------------------------------------------------------

def _error(path: Path, *args: object, **kw: object) -> GeographyFileError:
    with pytest.raises(GeographyFileError) as err:
        load_kaart(path, *args, **kw)  # type: ignore[arg-type]
    e = err.value
    assert e.code == "WI230" and str(path.name) in str(e)
    assert "[WI230]" in e.public_message() and str(path.parent) not in e.public_message()  # no folders leave
    return e


def test_errors_name_the_file_the_layer_and_the_column(tmp_path: Path, national_gpkg: Path) -> None:
    assert "does not exist" in str(_error(tmp_path / "nergens.gpkg"))
    e = _error(national_gpkg)  # a national file, no gemeente named
    assert "holds 2 gemeenten (GM0034, GM0193); say which one" in str(e) and 'gemeente = "GM0193"' in str(e)
    e = _error(national_gpkg, "GM0363")
    assert "has no gemeente 'GM0363' (it holds 2: GM0034, GM0193)" in str(e)
    e = _error(national_gpkg, "GM0034", level="buurt")  # Almere has no buurten in this file
    assert "no inhabited area of GM0034" in str(e)
    # a layer without the inhabitants column: says which names it looked for and which it found
    rows = [{**f, "properties": {k: v for k, v in f["properties"].items() if k != "aantal_inwoners"}}
            for f in gpkg_wijken("GM0096")]
    e = _error(write_gpkg(tmp_path / "zonder.gpkg", {"wijken": rows}), "GM0096")
    assert "layer 'wijken' has no column for aantal_inwoners (as aantal_inwoners or aant_inw)" in str(e)
    assert "its columns are fid, wijkcode, wijknaam" in str(e)
    assert "lacks the column(s) aantal_inwoners" in e.public_message()
    # only a gemeenten layer
    e = _error(write_gpkg(tmp_path / "gemeenten.gpkg", {"gemeenten": [
        {"geometry": f["geometry"], "properties": {"gemeentecode": "GM0096"}} for f in wijken_of("GM0096")]}))
    assert "no wijken or buurten layer" in str(e) and "'gemeenten'" in str(e)
    e = _error(write_gpkg(tmp_path / "buurtloos.gpkg", {"wijken": gpkg_wijken("GM0096")}), level="buurt")
    assert "no buurten layer" in str(e) and "level buurt" in str(e)
    # a code not in CBS form, a coordinate system other than RD New or WGS84, not a GeoPackage, not JSON
    bad = gpkg_wijken("GM0096")
    bad[0]["properties"]["wijkcode"] = "Wijk 00"
    e = _error(write_gpkg(tmp_path / "c.gpkg", {"wijken": bad}))
    assert "column 'wijkcode': 1 code(s) not in CBS form" in str(e)
    other = write_gpkg(tmp_path / "srs.gpkg", {"wijken": gpkg_wijken("GM0096")}, srs_id=4326)
    con = sqlite3.connect(other)
    con.execute("UPDATE gpkg_spatial_ref_sys SET organization_coordsys_id = 3857 WHERE srs_id = 4326")
    con.commit()
    con.close()
    assert "EPSG:3857; export the GeoPackage in RD New" in str(_error(other))
    sqlite = tmp_path / "plain.gpkg"
    sqlite3.connect(sqlite).execute("CREATE TABLE t (x)").connection.close()
    assert "not a GeoPackage" in str(_error(sqlite))
    broken = tmp_path / "kapot.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    assert "not a readable GeoJSON file" in str(_error(broken))


def test_a_wgs84_geopackage_reads_too(tmp_path: Path) -> None:
    path = write_gpkg(tmp_path / "wgs84.gpkg", {"wijken": gpkg_wijken("GM0096")}, srs_id=4326)
    _same_as_shipped(load_kaart(path), "GM0096")
    assert np.isfinite([x for _, _, rings in load_kaart(path).polygons for r in rings for x, _ in r]).all()


# ---- named in the aggregator's config, and --data on the commands ---------------------------

def _aggregator_toml(folder: Path, extra: str) -> Path:
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (folder / name).write_text("x", encoding="utf-8")
    path = folder / "aggregator.toml"
    path.write_text('version = 1\nnodes = ["gemeente"]\n' + extra +
                    '\n[tls]\ncert = "cert.pem"\nkey = "key.pem"\nca = "ca.pem"\n', encoding="utf-8")
    return path


def test_the_aggregator_serves_the_gemeenten_of_its_own_file(tmp_path: Path, national_gpkg: Path) -> None:
    from wijkindex.aggregator.server import _geographies
    from wijkindex.config import load_aggregator_config

    (tmp_path / "geo").mkdir()
    kaart = tmp_path / "geo" / national_gpkg.name
    kaart.write_bytes(national_gpkg.read_bytes())
    config = load_aggregator_config(_aggregator_toml(tmp_path, f'geography = "geo/{kaart.name}"\n'
                                                                'gemeenten = ["GM0034", "zwolle"]\n'))
    assert config.geography == kaart and config.gemeenten == ("GM0034", "zwolle")  # names: the file's
    geos = _geographies(config)
    assert [g.gemeente_code for g in geos] == ["GM0034", "GM0193"]
    for g in geos:
        _same_as_shipped(g, g.gemeente_code)
    one = load_aggregator_config(_aggregator_toml(tmp_path, f'geography = "geo/{kaart.name}"\ngemeente = "GM0193"\n'
                                                            'geography_level = "buurt"\n'))
    (geo,) = _geographies(one)
    assert len(geo.areas("buurt")) > len(geo.areas("wijk")) and geo.members("buurt")
    # a gemeente the file does not hold: the server's start names the file and what it holds
    missing = load_aggregator_config(_aggregator_toml(tmp_path, f'geography = "geo/{kaart.name}"\n'
                                                                'gemeente = "Amsterdam"\n'))
    with pytest.raises(GeographyFileError, match=r"has no gemeente 'Amsterdam' \(it holds 2: GM0034, GM0193\)"):
        _geographies(missing)


def test_geography_config_errors_name_the_field(tmp_path: Path) -> None:
    from wijkindex.config import ConfigError, load_aggregator_config

    (tmp_path / "folder").mkdir()
    cases = [('geography = "nergens.gpkg"\n', "geography: ", "nergens.gpkg does not exist"),
             ('geography = "folder"\n', "geography: ", "is not a wijk- en buurtkaart file"),
             ('geography = "folder"\ngeography_dir = "folder"\n', "geography: ", "give one"),
             ('geography_level = "buurt"\n', "geography_level: ", "only with geography")]
    for extra, field, why in cases:
        with pytest.raises(ConfigError) as err:
            load_aggregator_config(_aggregator_toml(tmp_path, extra))
        assert field in str(err.value) and why in str(err.value), str(err.value)


def test_synth_takes_a_file_and_its_gemeente(tmp_path: Path, national_gpkg: Path) -> None:
    from click.testing import CliRunner

    from wijkindex.cli import main

    out = tmp_path / "federation"
    result = CliRunner().invoke(main, ["synth", "--out", str(out), "--data", str(national_gpkg), "--gemeente",
                                       "GM0193", "--scale", "0.02", "--seed", "3"])
    assert result.exit_code == 0, result.output
    brp = pd.read_csv(next((out / "gemeente").glob("**/brp*.csv")), dtype=str)
    assert set(brp["wijk_code"]) <= set(load_gemeente("GM0193").wijken["wijk_code"]) and len(brp) > 100
    # a national file without --gemeente: the command says so, with the WI230 code and the fix
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "x"), "--data", str(national_gpkg)])
    assert result.exit_code == 2 and "[WI230]" in result.output and "say which one" in result.output


@pytest.mark.slow
def test_the_demo_runs_on_a_gemeentes_own_file(tmp_path: Path, national_gpkg: Path) -> None:
    import subprocess
    import sys
    import tomllib

    from wijkindex.estimators.index import read_index

    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "wijkindex", "demo", "--out", str(out), "--data", str(national_gpkg),
                        "--gemeente", "Almere", "--scale", "0.03", "--years", "1", "--seed", "4"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    agg = tomllib.loads((out / "aggregator" / "aggregator.toml").read_text(encoding="utf-8"))
    assert agg["geography"].endswith(national_gpkg.name) and agg["gemeente"] == "GM0034"
    index = read_index(out / "index.csv")
    wijken = set(index.loc[index["wijk_code"] != "GM0034", "wijk_code"])
    assert wijken == set(load_kaart(national_gpkg, "GM0034").areas("wijk")["wijk_code"])
    assert national_gpkg.name in (out / "report.html").read_text(encoding="utf-8")
