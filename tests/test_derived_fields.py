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


# --- overweight, from a JGZ export's contact moments (nodes/growth.py: IOTF, Cole et al. 2000) ---

@pytest.mark.parametrize("age, female, cutoff", [
    (2.0, False, 18.41), (10.0, False, 19.84), (18.0, False, 25.00), (5.0, False, 17.42),
    (2.0, True, 18.02), (10.0, True, 19.86), (18.0, True, 25.00), (14.0, True, 23.34),
])
def test_the_iotf_overweight_cut_offs(age: float, female: bool, cutoff: float) -> None:
    from wijkindex.nodes.growth import overweight_cutoff

    assert overweight_cutoff(age, female) == pytest.approx(cutoff, abs=1e-9)


def test_the_cut_off_is_interpolated_between_half_years_and_absent_below_2_and_above_18() -> None:
    from wijkindex.nodes.growth import overweight_cutoff

    assert overweight_cutoff(10.25, False) == pytest.approx((19.84 + 20.20) / 2)  # boys 10 and 10.5
    assert overweight_cutoff(2.1, True) == pytest.approx(18.02 + 0.2 * (17.76 - 18.02))  # girls 2 and 2.5
    assert overweight_cutoff(17.75, True) == pytest.approx((24.85 + 25.00) / 2)
    assert overweight_cutoff(1.99, False) is None and overweight_cutoff(0.5, True) is None
    assert overweight_cutoff(18.01, False) is None


def test_the_exact_age_counts_from_the_last_birthday() -> None:
    from wijkindex.nodes.growth import exact_age

    assert exact_age(date(2021, 4, 12), date(2023, 4, 12)) == 2.0  # a second birthday is exactly 2
    assert exact_age(date(2021, 4, 12), date(2023, 4, 11)) < 2.0
    assert exact_age(date(2016, 2, 29), date(2023, 3, 1)) == 7.0  # 29 February: 1 March in other years
    assert exact_age(date(2016, 2, 29), date(2024, 2, 29)) == 8.0
    assert exact_age(date(2010, 1, 1), date(2020, 7, 2)) == 10.5  # 183 of the 366 days of 2020
    assert exact_age(date(2010, 1, 1), date(2021, 4, 1)) == pytest.approx(11 + 90 / 365)


# bsn, geboortedatum, geslacht, contactdatum, lengte (cm), gewicht (kg); reference date 1-1-2024
CONTACTS = [
    ("B1", "2014-01-01", "M", "2023-07-02", 140.0, 40.0),  # 9.5 y, BMI 20.41 >= 19.46: overweight
    ("B2", "2014-01-01", "M", "2023-07-02", 140.0, 38.0),  # BMI 19.39 < 19.46
    ("G1", "2021-06-01", "V", "2023-06-01", 88.0, 14.0),   # 2.0 y, BMI 18.08 >= 18.02
    ("G2", "2022-03-01", "V", "2023-12-01", 75.0, 11.5),   # 1.75 y, BMI 20.4: no cut-off below 2
    ("X1", "2015-01-01", "O", "2023-05-01", 125.0, 35.0),  # BMI 22.4, but sex unknown: no cut-off
    ("E1", "2005-06-15", "M", "2023-06-15", 200.0, 100.0),  # 18.0 y, BMI 25.0: at the cut-off counts
    # the latest measurement of the year up to the reference date counts, not an earlier or later one
    ("L1", "2012-01-01", "V", "2022-06-01", 140.0, 45.0),  # BMI 22.96, overweight, but before the year
    ("L1", "2012-01-01", "V", "2023-03-01", 145.0, 50.0),  # BMI 23.78, overweight, earlier in the year
    ("L1", "2012-01-01", "V", "2023-09-01", 146.0, 40.0),  # the latest in the year: 18.77 < 21.36 at 11.67 y
    ("L1", "2012-01-01", "V", "2024-01-15", 147.0, 60.0),  # after the reference date: not read
    ("L4", "2012-01-01", "V", "2023-05-01", 140.0, 50.0),  # two the same day: the later row counts,
    ("L4", "2012-01-01", "V", "2023-05-01", 140.0, 36.0),  # BMI 18.37 < 21.04 at 11.33 y
    ("L2", "2012-01-01", "V", "2023-01-01", 140.0, 60.0),  # exactly a year before: the previous year's
    ("L3", "2012-01-01", "V", "2024-01-01", 140.0, 60.0),  # on the reference date: in the year
]
EXPECTED_OVERWEIGHT = {"B1": "ja", "B2": "nee", "G1": "ja", "G2": "", "X1": "", "E1": "ja", "L1": "nee", "L4": "nee",
                       "L2": "", "L3": "ja"}


def _contacts() -> pd.DataFrame:
    f = pd.DataFrame(CONTACTS, columns=["bsn", "geboortedatum", "geslacht", "contactdatum", "lengte", "gewicht"])
    for c in ("geboortedatum", "contactdatum"):
        f[c] = pd.to_datetime(f[c])
    return f


def _by_child(out: pd.DataFrame, column: str = "overgewicht") -> dict[str, str]:
    """Per child, the derived value of its rows ("" when none has one; at most one row has)."""
    got: dict[str, str] = {}
    for bsn, v in zip(out["bsn"], out[column]):
        assert not (v and got.get(bsn)), f"{bsn}: more than one row derived"
        got[bsn] = v or got.get(bsn, "")
    return got


def test_overweight_from_the_latest_measurement_of_the_year() -> None:
    rel = Relations(derive={"overgewicht": "overweight"}, female=("V",))
    out = derive_fields(_contacts(), "bsn", rel, ON)
    assert _by_child(out) == EXPECTED_OVERWEIGHT
    assert out.loc[8, "overgewicht"] == "nee" and out.loc[11, "overgewicht"] == "nee"  # on those rows only
    assert out.loc[[6, 7, 9, 10, 12], "overgewicht"].eq("").all()


def test_overweight_says_which_columns_it_reads_and_refuses_a_unit_error() -> None:
    from wijkindex.errors import InputFileError

    rel = Relations(derive={"overgewicht": "overweight"})
    with pytest.raises(InputFileError, match="lengte"):
        derive_fields(_contacts().drop(columns=["lengte"]), "bsn", rel, ON)
    in_mm = _contacts().assign(lengte=lambda f: f["lengte"] * 10)  # 1400 "cm": mm exported as cm
    with pytest.raises(InputFileError, match="14 of 14 measurements") as err:
        derive_fields(in_mm, "bsn", rel, ON)
    assert "cm" in (err.value.fix or "")


JGZ_DATASETS = """version = 1

[[datasets]]
name = "jgz"
file = "jgz.csv"
id_column = "bsn"
[datasets.columns]
bsn = "str"
geboortedatum = "date"
geslacht = "code"
contactdatum = "date"
lengte = "number"
gewicht = "number"

[datasets.read]
decimal = ","

[datasets.derive]
overgewicht = "overweight"

[datasets.relations]
female = ["V"]

[[indicators]]
name = "overgewicht"
dataset = "jgz"
column = "overgewicht"
values = ["ja"]
"""


def test_a_jgz_export_declares_its_derived_overweight(tmp_path: Path) -> None:
    from test_export_layouts import _node as write_node

    from wijkindex.config import load_node_config
    from wijkindex.nodes.loading import holds, read_dataset

    path = write_node(tmp_path, JGZ_DATASETS)
    lines = ["bsn;geboortedatum;geslacht;contactdatum;lengte;gewicht"]
    lines += [f"{b};{born};{sex};{on};{str(cm).replace('.', ',')};{str(kg).replace('.', ',')}"
              for b, born, sex, on, cm, kg in CONTACTS]
    (tmp_path / "data" / "jgz.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_node_config(path)
    assert config.dataset("jgz").all_columns["overgewicht"] == "code"
    loaded, _ = read_dataset(config, config.dataset("jgz"), 2024, ON, "fail")
    f = loaded.frame
    assert _by_child(f) == EXPECTED_OVERWEIGHT
    counted = holds(config.indicator("overgewicht"), f["overgewicht"])
    assert sorted(f.loc[counted.to_numpy(), "bsn"]) == ["B1", "E1", "G1", "L3"]
