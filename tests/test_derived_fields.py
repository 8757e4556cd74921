"""Fields a BRP extract implies: household type and the mother's age at her first child, derived
from the parent and address relations of a hand-made extract whose answers are known."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from wijkindex.nodes.derived import Relations, derive_fields

ON = date(2024, 1, 1)
# bsn, geboortedatum, geslacht, bsn_ouder1, bsn_ouder2, adres_id
PEOPLE = [
    ("M1", "1980-05-10", "V", "", "", "A1"), ("F1", "1978-01-02", "M", "", "", "A1"),
    ("C1", "2010-03-01", "M", "M1", "F1", "A1"), ("C2", "2012-07-07", "V", "F1", "M1", "A1"),  # both parents home
    ("C0", "2001-06-01", "V", "M1", "X1", "A9"),  # M1's first child, moved out: M1 was 21
    ("M2", "1985-08-20", "V", "", "", "A2"), ("S2", "2004-02-01", "M", "M2", "", "A2"),  # adult son at home
    ("C3", "2015-01-01", "V", "M2", "F2", "A2"), ("F2", "1983-03-03", "M", "", "", "A3"),  # father elsewhere
    ("M4", "1988-04-04", "V", "", "", "A4"), ("P4", "1987-09-09", "M", "", "", "A4"),  # mother and a partner
    ("C4", "2016-02-29", "M", "M4", "F4", "A4"),
    ("G5", "1955-12-12", "V", "", "", "A5"), ("C5", "2014-05-05", "V", "M5", "F5", "A5"),  # with grandmother
]
EXPECTED_HOUSEHOLD = {"C1": "tweeouder", "C2": "tweeouder", "C3": "eenouder", "C4": "tweeouder", "C5": "zonder_ouders"}
EXPECTED_MOTHER_AGE = {"C1": 21, "C2": 21, "C3": 18, "C4": 27, "C5": None}  # M2's first is S2 (2004): 18


def _frame() -> pd.DataFrame:
    f = pd.DataFrame(PEOPLE, columns=["bsn", "geboortedatum", "geslacht", "bsn_ouder1", "bsn_ouder2", "adres_id"])
    f["geboortedatum"] = pd.to_datetime(f["geboortedatum"])
    return f


def test_household_type_and_mother_age_from_the_relations() -> None:
    rel = Relations(derive={"huishouden_type": "household_type", "moeder_leeftijd_eerste_kind":
                            "mother_age_at_first_child", "leeftijd": "age"})
    out = derive_fields(_frame(), "bsn", rel, ON).set_index("bsn")
    for child, kind in EXPECTED_HOUSEHOLD.items():
        assert out.loc[child, "huishouden_type"] == kind, child
    for child, age in EXPECTED_MOTHER_AGE.items():
        got = out.loc[child, "moeder_leeftijd_eerste_kind"]
        assert (pd.isna(got) if age is None else got == age), (child, got)
    assert out.loc["C4", "leeftijd"] == 7 and out.loc["C1", "leeftijd"] == 13 and out.loc["S2", "leeftijd"] == 19


def test_a_partner_makes_two_adults_and_an_adult_child_does_not() -> None:
    f = _frame()
    f.loc[f["bsn"] == "P4", "adres_id"] = "A7"  # the partner moves out: M4 is alone with C4
    f.loc[f["bsn"] == "S2", "bsn_ouder1"] = ""  # S2 no longer M2's son: an adult lodger, like a partner
    out = derive_fields(f, "bsn", Relations(derive={"h": "household_type"}), ON).set_index("bsn")
    assert out.loc["C4", "h"] == "eenouder" and out.loc["C3", "h"] == "tweeouder"


DATASETS = """version = 1

[[datasets]]
name = "brp"
file = "brp.csv"
id_column = "bsn"
spine = true
columns = { bsn = "str", geboortedatum = "date", geslacht = "code", ouder1 = "str", ouder2 = "str", adres = "code", wijk_code = "code" }

[datasets.derive]
huishouden_type = "household_type"
moeder_leeftijd_eerste_kind = "mother_age_at_first_child"

[datasets.relations]
parents = ["ouder1", "ouder2"]
address = "adres"

[[indicators]]
name = "eenoudergezin"
dataset = "brp"
column = "huishouden_type"
equals = "eenouder"

[[indicators]]
name = "jonge_moeder"
dataset = "brp"
column = "moeder_leeftijd_eerste_kind"
below = 20
"""


def _node(tmp_path: Path, datasets: str = DATASETS) -> Path:
    from test_export_layouts import _node as write_node

    path = write_node(tmp_path, datasets)
    f = pd.DataFrame(PEOPLE, columns=["bsn", "geboortedatum", "geslacht", "ouder1", "ouder2", "adres"])
    f["wijk_code"] = "WK019310"
    f.to_csv(tmp_path / "data" / "brp.csv", index=False)
    return path


def test_a_brp_extract_declares_its_derived_fields(tmp_path: Path) -> None:
    from wijkindex.config import load_node_config
    from wijkindex.nodes.loading import holds, read_dataset

    config = load_node_config(_node(tmp_path))
    ds = config.dataset("brp")
    loaded, _ = read_dataset(config, ds, 2024, ON, "fail")
    f = loaded.frame.set_index("bsn")
    single = holds(config.indicator("eenoudergezin"), f["huishouden_type"])
    assert sorted(f.index[single]) == ["C3", "S2"]  # S2, 19, lives with his mother alone (the round counts 0-17)
    young = holds(config.indicator("jonge_moeder"), f["moeder_leeftijd_eerste_kind"])
    assert sorted(f.index[young]) == ["C3", "S2"]  # M2 was 18 at her first child (S2 is her child too)


@pytest.mark.parametrize("change, named", [
    (('huishouden_type = "household_type"', 'huishouden_type = "gezin"'), "datasets[0].derive.huishouden_type"),
    (('huishouden_type = "household_type"', 'adres = "household_type"'), "datasets[0].derive.adres"),
    (('address = "adres"', 'address = "adres_id"'), "datasets[0].relations.address"),
    (('parents = ["ouder1", "ouder2"]', 'parents = ["ouder1", "ouder2", "ouder3"]'), "datasets[0].relations.parents"),
    (('address = "adres"', 'address = "adres"\nfemale = []'), "datasets[0].relations.female"),
    (('address = "adres"', 'address = "adres"\npartner = "x"'), "datasets[0].relations.partner"),
    (('column = "huishouden_type"', 'column = "huishoudtype"'), "indicators[0].column"),
])
def test_a_bad_derivation_names_its_key(tmp_path: Path, change: tuple[str, str], named: str) -> None:
    from wijkindex.config import load_node_config
    from wijkindex.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_node_config(_node(tmp_path, DATASETS.replace(*change, 1)))
    assert named in str(err.value), str(err.value)
