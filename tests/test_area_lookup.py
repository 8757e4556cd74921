"""The spine's wijk and buurt derived from postcode and house number by the gemeente's table."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from wijkindex.config import ConfigError, NodeConfig, TlsPaths, _Checker, _load_datasets
from wijkindex.errors import InputFileError
from wijkindex.federation import round_spec
from wijkindex.geography import Geography
from wijkindex.geography.lookup import load_area_lookup
from wijkindex.nodes.loading import load_dataset, place_spine
from wijkindex.protocol import messages as m
from wijkindex.protocol.spec import RoundSpec


def _spine(small_federation) -> tuple[pd.DataFrame, dict]:  # type: ignore[no-untyped-def,type-arg]
    folder = small_federation.out_dir / "gemeente"
    toml = tomllib.loads((folder / "datasets.toml").read_text(encoding="utf-8"))
    brp_file = next(d["file"] for d in toml["datasets"] if d.get("spine"))
    brp = pd.read_csv(folder / brp_file, dtype=str, keep_default_na=False)
    # the table covers an address once: leave out the (rare) synthetic addresses in two buurten
    keys = brp.groupby(["postcode", "huisnummer"])["buurt_code"].transform("nunique")
    return brp[keys == 1].reset_index(drop=True), toml


def _table(brp: pd.DataFrame) -> pd.DataFrame:
    """One row per address; postcodes entirely in one buurt get one row with an empty huisnummer."""
    t = brp[["postcode", "huisnummer", "buurt_code", "wijk_code"]].drop_duplicates()
    one = t.groupby("postcode")["buurt_code"].transform("nunique") == 1
    whole = t[one].drop_duplicates("postcode").assign(huisnummer="")
    return pd.concat([t[~one], whole], ignore_index=True).sample(frac=1.0, random_state=3)


def _write(folder: Path, brp: pd.DataFrame, toml: dict, table: pd.DataFrame | None) -> list:  # type: ignore[type-arg]
    """A gemeente data folder: with the table, the spine has no area columns and names the table."""
    folder.mkdir(parents=True)
    spine = next(d for d in toml["datasets"] if d.get("spine"))
    spine = {**spine, "file": "brp.csv", "columns": dict(spine["columns"])}
    if table is not None:
        brp = brp.drop(columns=["wijk_code", "buurt_code"])
        brp["postcode"] = brp["postcode"].str.lower().str[:4] + " " + brp["postcode"].str.lower().str[4:]
        brp.loc[::7, "huisnummer"] = brp.loc[::7, "huisnummer"] + "a"  # additions are the same number
        table.to_csv(folder / "postcode_huisnummer.csv", sep=";", index=False)
        for col in ("wijk_code", "buurt_code"):
            del spine["columns"][col]
        spine["columns"]["huisnummer"] = "str"
        spine["area_lookup"] = "postcode_huisnummer.csv"
    brp.to_csv(folder / "brp.csv", index=False)
    (folder / "datasets.toml").write_text(tomli_w.dumps({"version": 1, "datasets": [spine]}), encoding="utf-8")
    checker = _Checker(folder / "node.toml", {})
    datasets, _ = _load_datasets(folder / "datasets.toml", checker)
    checker.finish()
    return datasets


def _node(datasets: list, on_invalid: str = "fail") -> NodeConfig:  # type: ignore[type-arg]
    tls = TlsPaths(Path("c"), Path("k"), Path("ca"))
    return NodeConfig("gemeente", "127.0.0.1:1", tls, Path("s"), Path("l"), 1.0, on_invalid,  # type: ignore[arg-type]
                      tuple(datasets), (), 1.0, Path("node.toml"), max_excluded_share=0.2)


def _placement(config: NodeConfig, small_federation, geography: Geography):  # type: ignore[no-untyped-def]
    spec = RoundSpec.from_toml(round_spec(small_federation.period, small_federation.gemeente_code,
                                          {"gemeente": ["eenoudergezin"]}))
    cells = tuple(m.Cell(code, name, band) for code, name in geography.areas("wijk").itertuples(index=False)
                  for band in ("0-3", "4-11", "12-17"))
    loaded, _ = load_dataset(config, config.spine_dataset, spec)  # type: ignore[arg-type]
    placement, counts = place_spine(config, spec, cells, loaded)
    return dict(zip(placement.bsns, placement.cells)), counts, loaded


def test_postcode_and_house_number_place_children_in_the_same_cells(tmp_path: Path, small_federation,
                                                                    geography: Geography) -> None:
    brp, toml = _spine(small_federation)
    table = _table(brp)
    assert (table["huisnummer"] == "").any() and (table["huisnummer"] != "").any()  # both kinds of row
    with_codes = _node(_write(tmp_path / "codes", brp, toml, None))
    by_address = _node(_write(tmp_path / "lookup", brp, toml, table))
    assert by_address.spine_dataset.area_lookup == (tmp_path / "lookup" / "postcode_huisnummer.csv").resolve()
    a, counts_a, _ = _placement(with_codes, small_federation, geography)
    b, counts_b, loaded = _placement(by_address, small_federation, geography)
    assert len(a) > 500 and a == b and counts_a == counts_b
    assert loaded.n_excluded == 0
    assert set(loaded.frame["wijk_code"]) <= set(geography.wijken["wijk_code"])


def test_an_address_missing_from_the_table_is_a_clear_error(tmp_path: Path, small_federation,
                                                          geography: Geography) -> None:
    brp, toml = _spine(small_federation)
    table = _table(brp)
    gone = brp.loc[4, "postcode"]
    table = table[table["postcode"] != gone]
    rows = [i + 1 for i in np.nonzero((brp["postcode"] == gone).to_numpy())[0]]
    datasets = _write(tmp_path / "lookup", brp, toml, table)
    with pytest.raises(InputFileError) as err:
        _placement(_node(datasets), small_federation, geography)
    text = str(err.value)
    assert f"lookup/brp.csv, row {rows[0]}, column 'postcode'" in text
    assert "address not in the area lookup table postcode_huisnummer.csv" in text
    assert f"postcode {gone}, huisnummer " in text  # normalised by the column kind
    assert "add the address to postcode_huisnummer.csv" in text
    public = err.value.public_message()
    assert "brp.csv" in public and "address not in the area lookup table" in public and gone not in public
    assert gone[4:].lower() not in public.split("brp.csv", 1)[1]
    # on_invalid = "exclude": the child is left out and counted
    placed, counts, loaded = _placement(_node(datasets, "exclude"), small_federation, geography)
    assert loaded.n_excluded == len(rows)
    assert [i.location.row for i in loaded.issues] == rows


def test_a_bad_lookup_table_names_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("postcode,huisnummer,buurt_code,wijk_code\n8011 AB,1,BU01931000,WK019310\n"
                    "8011AB,1,BU01931100,WK019311\n1234,2,BU01931000,WK019310\n8011AC,,BU01931000,WK019311\n",
                    encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_area_lookup(path)
    text = str(err.value)
    assert "t.csv rows 1, 2: the same address (8011AB 1) in different buurten" in text
    assert "t.csv, row 3, column 'postcode': not a Dutch postcode" in text
    assert "t.csv, row 4, column 'buurt_code': buurt BU01931000 does not lie in wijk WK019311" in text


def test_area_lookup_config_is_checked(tmp_path: Path, small_federation) -> None:
    brp, toml = _spine(small_federation)
    spine = next(d for d in toml["datasets"] if d.get("spine"))
    (tmp_path / "t.csv").write_text("postcode,huisnummer,buurt_code,wijk_code\n", encoding="utf-8")
    (tmp_path / "brp.csv").write_text("x\n", encoding="utf-8")
    bad = {**spine, "file": "brp.csv", "area_lookup": "t.csv"}  # keeps its wijk_code and buurt_code
    other = {"name": "x", "file": "brp.csv", "id_column": "bsn", "columns": {"bsn": "bsn"}, "area_lookup": "t.csv"}
    (tmp_path / "datasets.toml").write_text(tomli_w.dumps({"version": 1, "datasets": [bad, other]}), encoding="utf-8")
    checker = _Checker(tmp_path / "node.toml", {})
    _load_datasets(tmp_path / "datasets.toml", checker)
    with pytest.raises(ConfigError) as err:
        checker.finish()
    text = str(err.value)
    assert "datasets[0].area_lookup: the dataset declares wijk_code, buurt_code and an area_lookup" in text
    assert "datasets[1].area_lookup: only the spine dataset" in text
    assert "datasets[1].columns: area_lookup derives the wijk and buurt from the columns postcode and huisnummer" in text


def test_amsterdams_lettered_codes_are_cbs_codes(tmp_path: Path) -> None:
    """Amsterdam's wijk and buurt codes end in letters (WK0363AF, BU0363AF09): a table with them loads."""
    path = tmp_path / "t.csv"
    path.write_text("postcode;huisnummer;buurt_code;wijk_code\n1015 AB;1;BU0363AF09;WK0363AF\n1015 AC;;BU0363AF10;"
                    "WK0363AF\n1015 AD;;BU0363AG01;WK0363AF\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="buurt BU0363AG01 does not lie in wijk WK0363AF"):
        load_area_lookup(path)
    path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    assert len(load_area_lookup(path)) == 2
