"""GGD regions, jeugdzorgregio's and a user's own regions (geography/regions.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wijkindex.errors import ConfigError
from wijkindex.geography import gemeenten
from wijkindex.geography.regions import (Region, load_region, load_regions_toml, membership, region_of,
                                         regions)

SHARED = Path(os.environ.get("WIJKINDEX_SHARED_NL2024", Path(__file__).resolve().parents[2] / "shared" / "data"
                             / "nl-2024"))


@pytest.mark.parametrize("kind,count", [("ggd", 25), ("jeugdzorgregio", 42)])
def test_every_2024_gemeente_is_in_exactly_one_region_of_each_kind(kind: str, count: int) -> None:
    all_gm = set(gemeenten()["gemeente_code"])
    assert len(all_gm) == 342 and "GM0998" not in all_gm
    rs = regions(kind)
    assert len(rs) == count
    seen: list[str] = [g for r in rs for g in r.gemeenten]
    assert len(seen) == len(set(seen)), "a gemeente in two regions"
    assert set(seen) == all_gm
    assert all(isinstance(r, Region) and r.kind == kind and r.gemeenten for r in rs)


def test_known_memberships() -> None:
    assert region_of("GM0193", "ggd").name == "GGD IJsselland"
    assert region_of("GM0193", "ggd").code == "GG1009"
    assert region_of("Zwolle", "jeugdzorgregio").code == "JZ07"
    assert region_of("Amsterdam", "ggd").name == "GGD Amsterdam"
    assert region_of("GM0363", "jeugdzorgregio").code == "JZ13"  # Weesp (JZ19) joined Amsterdam in 2022
    assert region_of("Groningen", "ggd").code == "GG0111"
    assert region_of("Westerwolde", "ggd").code == "GG0111"  # formed 2018 of two Groningen gemeenten
    assert region_of("Voorne aan Zee", "ggd").code == "GG4607"  # formed 2023 (Rotterdam-Rijnmond)
    assert region_of("Land van Cuijk", "jeugdzorgregio").code == "JZ33"
    assert region_of("Maastricht", "ggd").name == "GGD Zuid-Limburg"
    assert "GM0193" in load_region("GGD IJsselland")


def test_mixed_predecessors_are_settled_by_inhabitants_and_noted() -> None:
    notes = membership()["notes"]
    assert "GG3606" in notes["GM0363"] and "toegewezen aan GG3406" in notes["GM0363"]
    vhl = membership().loc["GM1961"]
    assert vhl["ggd_code"] == "GG4816" and "Vianen" in vhl["notes"]  # Leerdam + Zederik outnumber Vianen


def test_load_region_suggests_close_names() -> None:
    assert load_region("gg1009").code == "GG1009"
    assert load_region("ggd amsterdam").code == "GG3406"
    with pytest.raises(ConfigError, match="did you mean GGD IJsselland"):
        load_region("GGD IJselland")
    with pytest.raises(ConfigError, match="kind"):
        regions("provincie")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "regions.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_user_regions_from_toml(tmp_path: Path) -> None:
    p = write(tmp_path, '[[region]]\ncode = "R001"\nname = "Noordoost"\ngemeenten = ["GM0193", "Kampen", "0166"]\n'
                        '[[region]]\ncode = "R002"\nname = "Hoofdstad"\ngemeenten = ["amsterdam"]\n')
    r1, r2 = load_regions_toml(p)
    assert r1 == Region("R001", "Noordoost", "user", ("GM0166", "GM0193"), "regions.toml (eigen indeling)")
    assert r2.gemeenten == ("GM0363",)


@pytest.mark.parametrize("text,match", [
    ('[[region]]\ncode = "R1"\nname = "x"\ngemeenten = ["GM0193", "Zwole"]\n', r"regions.toml.*'Zwole'.*Zwolle"),
    ('[[region]]\ncode = "R1"\nname = "x"\ngemeenten = ["GM0193"]\n'
     '[[region]]\ncode = "R2"\nname = "y"\ngemeenten = ["Zwolle"]\n', "GM0193 .Zwolle. is in both region R1 and"),
    ('[[region]]\ncode = "R1"\nname = "x"\ngemeenten = []\n', "R1 has no gemeenten"),
    ('title = "none"\n', "no regions"),
    ('', "no regions"),
    ('[[region]]\nname = "x"\ngemeenten = ["GM0193"]\n', "needs both a code and a name"),
    ('[[region]\n', "not valid TOML"),
])
def test_user_region_errors_are_clear(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_regions_toml(write(tmp_path, text))


@pytest.mark.skipif(not (SHARED / "gebieden_2016.json").exists(), reason="the shared CBS source data is absent")
def test_unchanged_gemeenten_keep_their_2016_regions() -> None:
    geb = json.loads((SHARED / "gebieden_2016.json").read_text(encoding="utf-8"))
    m = membership()
    checked = 0
    for i, code in enumerate(geb["reg"]):
        if code in m.index and m.loc[code, "voorgangers_2016"] == code:
            assert m.loc[code, "ggd_code"] == geb["GGD-regio's"][i], code
            assert m.loc[code, "jeugdzorgregio_code"] == geb["Jeugdzorgregios"][i], code
            checked += 1
    assert checked > 280


def test_an_aggregator_config_names_a_regions_file_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    """``regions = "regions.toml"`` in aggregator.toml: read and checked when the config is loaded,
    so a mistake in it stops the aggregator at start with the config key and the file's problem."""
    from wijkindex.config import load_aggregator_config
    from wijkindex.federation import lay_out

    fed = lay_out(tmp_path / "run", tmp_path, nodes=["gemeente"], port=0, paillier_bits=1024)
    base = fed.aggregator_config.read_text(encoding="utf-8")
    regions = fed.aggregator_config.parent / "regions.toml"
    regions.write_text('[[region]]\ncode = "R1"\nname = "Twee"\ngemeenten = ["Zwolle", "Kampen"]\n', encoding="utf-8")
    fed.aggregator_config.write_text('regions = "regions.toml"\n' + base, encoding="utf-8")
    assert load_aggregator_config(fed.aggregator_config).regions == regions.resolve()
    regions.write_text('[[region]]\ncode = "R1"\nname = "Twee"\ngemeenten = ["Zwolle", "Atlantis"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"regions: a TOML file of \[\[region\]\] tables.*Atlantis"):
        load_aggregator_config(fed.aggregator_config)
    fed.aggregator_config.write_text('regions = "missing.toml"\n' + base, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"regions: .*missing.toml does not exist"):
        load_aggregator_config(fed.aggregator_config)
