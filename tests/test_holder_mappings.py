"""The shipped example mappings (wijkindex/data/holders/): each example export, in its real
system's layout, loads through its mapping to the expected records and flags."""

from __future__ import annotations

import shutil
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from wijkindex.config import load_node_config

HOLDERS = Path(str(resources.files("wijkindex") / "data" / "holders"))
ON = date(2024, 1, 1)
# the example files' made-up persons (brp_extract.csv)
C1, C2, C3, C4, C5, S2 = "192285142", "691682483", "321146487", "467279627", "173833652", "864623112"
# and the JGZ example's children who are not in it (contactmomenten.csv)
J1, J2, J3, J4, J5, J6, J7, J8 = ("273245685", "342354462", "795291905", "941045353", "946202722", "829062257",
                                  "053472639", "192337920")


def _node(tmp_path: Path, holder: str) -> Path:
    shutil.copytree(HOLDERS / holder, tmp_path / "data")
    for name in ("secret.key", "ca.pem", "node.pem", "node.key"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "node.toml").write_text(
        'version = 1\nname = "n"\naggregator = "127.0.0.1:1"\nlinkage_secret = "secret.key"\nprivacy_total = 4.0\n'
        'data_dir = "data"\n[tls]\nca = "ca.pem"\ncert = "node.pem"\nkey = "node.key"\n', encoding="utf-8")
    return tmp_path / "node.toml"


def _flagged(tmp_path: Path, holder: str) -> dict[str, list[str]]:
    from wijkindex.nodes.loading import holds, read_dataset

    config = load_node_config(_node(tmp_path, holder))
    out = {}
    for ds in config.datasets:
        loaded, _ = read_dataset(config, ds, 2024, ON, "fail")
        assert loaded.n_excluded == 0
        for ind in config.indicators:
            if ind.dataset == ds.name:
                f = loaded.frame
                out[ind.name] = sorted(f.loc[holds(ind, f[ind.column]).to_numpy(), ds.id_column])
    return out


def test_every_holder_folder_is_a_documented_mapping() -> None:
    docs = Path(__file__).parents[1] / "docs" / "holders"
    for folder in HOLDERS.iterdir():
        assert (folder / "datasets.toml").exists(), folder
        assert (docs / f"{folder.name}.md").exists(), f"docs/holders/{folder.name}.md"


def test_the_brp_extract(tmp_path: Path) -> None:
    from wijkindex.nodes.loading import read_dataset

    flags = _flagged(tmp_path, "brp")
    assert flags["eenoudergezin"] == sorted([C3, S2])  # S2 is 19: the round counts 0-17 only
    config = load_node_config(tmp_path / "node.toml")
    loaded, _ = read_dataset(config, config.dataset("brp"), 2024, ON, "fail")
    f = loaded.frame.set_index("bsn")
    assert f.loc[C1, "wijk_code"] == "WK019310" and f.loc[C3, "buurt_code"] == "BU01931200"  # from the address
    assert f.loc[C1, "huishouden_type"] == "tweeouder" and f.loc[C5, "huishouden_type"] == "zonder_ouders"
    assert f.loc[C1, "moeder_leeftijd_eerste_kind"] == 21 and f.loc[C4, "moeder_leeftijd_eerste_kind"] == 27
    assert f.loc[C1, "geslachtsnaam"] == "Ünal"  # Windows-1252 read as such
    assert set(f.columns) >= {"geboortedatum", "wijk_code"}


def test_the_social_domain_registrations(tmp_path: Path) -> None:
    flags = _flagged(tmp_path, "sociaal_domein")
    assert flags["jeugdhulp"] == sorted([C1, C3])  # C4's ended in 2022; C2's JZ99 does not count
    assert flags["ots_uithuisplaatsing"] == [C5]


@pytest.mark.parametrize("holder", ["brp", "sociaal_domein", "school", "veilig_thuis", "wijkteam", "jgz"])
def test_node_check_reads_the_example(tmp_path: Path, holder: str) -> None:
    from wijkindex.nodes.check import check_node, render_text

    result = check_node(load_node_config(_node(tmp_path, holder)), 2024)
    assert result.ok and all(d.n_excluded == 0 for d in result.datasets), render_text(result)


def test_the_school_pupil_export(tmp_path: Path) -> None:
    flags = _flagged(tmp_path, "school")
    assert flags["onderwijsachterstand"] == sorted([C2, C3])
    assert flags["verzuim"] == sorted([C2, C5])
    assert flags["sport_cultuur"] == sorted([C1, C3, C5])


def test_the_veilig_thuis_cases(tmp_path: Path) -> None:
    flags = _flagged(tmp_path, "veilig_thuis")  # open on 1-1-2024: C3's and C1's reports; C5's was advice
    assert flags["veilig_thuis_melding"] == sorted([C3, C1])


def test_the_wijkteam_trajectories(tmp_path: Path) -> None:
    flags = _flagged(tmp_path, "wijkteam")  # C4's ended in 2023
    assert flags["wijkteam_opvoeding"] == [C2]


def test_the_jgz_contact_moments(tmp_path: Path) -> None:
    """Overweight from each child's latest measurement of 2023 (IOTF cut-offs at its age then)."""
    from wijkindex.nodes.loading import read_dataset

    flags = _flagged(tmp_path, "jgz")
    # C1: 13.05 y, 160 cm 60.5 kg, BMI 23.63 >= 21.95 (his January 2024 contact is after the peildatum);
    # C4: born 29-2-2016, 7.74 y, BMI 18.43 >= 18.30; J1: 2.02 y, BMI 19.11 >= 18.40; J3: 3.79 y,
    # BMI 17.55 >= 17.33; J7: 14.02 y, BMI 24.98 >= 23.35. Not: C2 (overweight in 2022, her latest,
    # of 2023, BMI 18.54 < 20.89), C3 (no measurement in 2023), J2 (under 2), J6 (sex O: no cut-off)
    assert flags["overgewicht"] == sorted([C1, C4, J1, J3, J7])
    # every contact of the export counts for the screening outcomes: C5's was in 2022 (docs/holders/jgz.md)
    assert flags["psychosociale_problemen"] == sorted([C2, C5, J7])  # C1's grensgebied does not count
    assert flags["taalachterstand"] == sorted([J1, J3])  # J3's twijfel of May was afwijkend in December
    assert flags["vve_indicatie"] == sorted([J1, J3, J5])
    config = load_node_config(tmp_path / "node.toml")
    loaded, _ = read_dataset(config, config.dataset("jgz"), 2024, ON, "fail")
    f = loaded.frame
    assert loaded.n_read == 27 and f["bsn"].nunique() == 13
    mine = f[f["bsn"] == C1].set_index("contactdatum")
    assert mine.loc["2023-03-20", "lengte"] == 160.0 and mine.loc["2023-03-20", "gewicht"] == 60.5  # "60,5"
    assert mine["overgewicht"].tolist() == ["", "ja", ""]  # on the latest measurement of the period only
    assert J7 in set(f["bsn"])  # a BSN with a leading zero stays nine digits
    assert set(f.columns) == {"bsn", "geboortedatum", "geslacht", "contactdatum", "lengte", "gewicht", "sdq",
                              "vto_taal", "vve", "overgewicht"}  # no name, file number, contact type or remark
