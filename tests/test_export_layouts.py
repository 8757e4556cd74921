"""A holder's export as it comes out of its own system: CSV in Windows-1252 with a title line,
Excel sheets, Parquet; the holder's column names and codes mapped by the dataset's config.

Each layout reads to the same records as the federation's own CSV; each mapping error names the
file (and sheet), the row and column, and the config's line or key to change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from wijkindex.config import DatasetConfig, IndicatorConfig, load_node_config
from wijkindex.errors import ConfigError, InputFileError
from wijkindex.linkage.records import CodeList, ColumnSpec, load_records
from wijkindex.linkage.tables import ExportLayout

COLUMNS = [ColumnSpec("bsn", "bsn"), ColumnSpec("geboortedatum", "date"), ColumnSpec("soort", "code"),
           ColumnSpec("gewicht", "number")]
RENAME = {"BSN": "bsn", "Geboortedatum": "geboortedatum", "Soort": "soort", "Gewicht": "gewicht"}
ROWS = [("111222333", "01-03-2008", "JZ21", "0,3"), ("123456782", "30-11-2010", "JZ99", "1,2"),
        ("000000012", "15-01-2012", "JZ22", "1.234,5")]
EXPECTED = pd.DataFrame({"bsn": ["111222333", "123456782", "000000012"],
                         "geboortedatum": pd.to_datetime(["2008-03-01", "2010-11-30", "2012-01-15"]),
                         "soort": ["JZ21", "JZ99", "JZ22"], "gewicht": [0.3, 1.2, 1234.5]})
DUTCH = ExportLayout(delimiter=";", decimal=",", rename=RENAME, date_formats={"geboortedatum": "%d-%m-%Y"})


def _csv_text(rows=ROWS, title: str | None = None) -> str:  # type: ignore[no-untyped-def]
    lines = ([title] if title else []) + [";".join(RENAME)] + [";".join(r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def _xlsx(path: Path, rows=ROWS, sheet: str = "Leerlingen", numbers: bool = True) -> Path:  # type: ignore[no-untyped-def]
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    wb.create_sheet("Toelichting").append(["Export uit het leerlingvolgsysteem"])
    ws.append(["Leerlingen per peildatum"])  # a title row above the header
    ws.append(list(RENAME))
    for bsn, born, soort, gewicht in rows:  # a spreadsheet holds numbers and dates, not text
        ws.append([int(bsn) if numbers else bsn, dt.datetime.strptime(born, "%d-%m-%Y"), soort,
                   float(gewicht.replace(".", "").replace(",", "."))])
    wb.save(path)
    return path


def _frame(loaded) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return loaded.frame[list(EXPECTED.columns)].reset_index(drop=True)


def test_a_windows_1252_csv_with_a_title_line_and_dutch_numbers(tmp_path: Path) -> None:
    path = tmp_path / "jeugdhulp.csv"
    path.write_bytes(_csv_text(title="Jeugdhulp Zwolle – peildatum 1-1-2014").encode("cp1252"))
    layout = ExportLayout(**{**DUTCH.__dict__, "encoding": "windows-1252", "header_row": 2})
    pd.testing.assert_frame_equal(_frame(load_records(path, COLUMNS, layout=layout)), EXPECTED, check_dtype=False)
    with pytest.raises(InputFileError) as err:  # read as UTF-8, the dash of the title line does not decode
        load_records(path, COLUMNS, layout=ExportLayout(**{**layout.__dict__, "encoding": "utf-8"}))
    assert "not UTF-8" in str(err.value) and 'encoding = "windows-1252"' in str(err.value)


def test_a_utf8_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "jeugdhulp.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv_text().encode("utf-8"))
    pd.testing.assert_frame_equal(_frame(load_records(path, COLUMNS, layout=DUTCH)), EXPECTED, check_dtype=False)


def test_an_excel_sheet_reads_as_its_csv_would(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "leerlingen.xlsx")
    layout = ExportLayout(sheet="Leerlingen", header_row=2, rename=RENAME)
    got = _frame(load_records(path, COLUMNS, layout=layout))
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)  # 111222333.0 read back as 111222333
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, layout=ExportLayout(sheet="Blad1", header_row=2, rename=RENAME))
    assert "no sheet 'Blad1'" in str(err.value) and "'Leerlingen'" in str(err.value)
    assert "set sheet in [datasets.read]" in err.value.public_message() and "Leerlingen" not in err.value.public


def test_a_parquet_export(tmp_path: Path) -> None:
    path = tmp_path / "jgz.parquet"
    frame = pd.DataFrame({"BSN": [r[0] for r in ROWS], "Geboortedatum": pd.to_datetime(EXPECTED["geboortedatum"]),
                          "Soort": [r[2] for r in ROWS], "Gewicht": EXPECTED["gewicht"]})
    frame.to_parquet(path)
    got = _frame(load_records(path, COLUMNS, layout=ExportLayout(rename=RENAME)))
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False)


def test_a_code_outside_the_declared_lists_names_the_list_to_add_it_to(tmp_path: Path) -> None:
    path = tmp_path / "jeugdhulp.csv"
    path.write_text(_csv_text(rows=[*ROWS, ("111222333", "01-03-2008", "JZ31", "0")]), encoding="utf-8")
    codes = {"soort": CodeList(frozenset({"jz21", "jz22", "jz99"}), "the values or others of indicator 'jeugdhulp' "
                                                                      "(datasets.toml line 14)")}
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, layout=DUTCH, codes=codes)
    text = str(err.value)
    assert "row 4" in text and "'soort'" in text and "datasets.toml line 14" in text
    assert "JZ31" not in err.value.public and "not a declared code" in err.value.public
    loaded = load_records(path, COLUMNS, layout=DUTCH, codes=codes, on_invalid="exclude")
    assert loaded.n_excluded == 1 and len(loaded.frame) == 3


def test_a_date_not_in_the_declared_format(tmp_path: Path) -> None:
    path = tmp_path / "jeugdhulp.csv"
    path.write_text(_csv_text(rows=[ROWS[0], ("123456782", "2010-11-30", "JZ99", "1")]), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, layout=DUTCH)
    assert "row 2" in str(err.value) and "%d-%m-%Y" in str(err.value) and "[datasets.dates] geboortedatum" in str(err.value)


# ---- the dataset's config: what the node reads -------------------------------------------------

NODE = """version = 1
name = "jeugd"
aggregator = "127.0.0.1:1"
linkage_secret = "secret.key"
privacy_total = 4.0
on_invalid = "exclude"
max_excluded_share = 0.5
data_dir = "data"
[tls]
ca = "ca.pem"
cert = "node.pem"
key = "node.key"
"""

DATASETS = """version = 1

[[datasets]]
name = "jeugdhulp"
file = "jeugdhulp.csv"
id_column = "bsn"
columns = { bsn = "bsn", geboortedatum = "date", soort = "code", begin = "date", eind = "date" }
valid_from = "begin"
valid_to = "eind"

[datasets.read]
encoding = "windows-1252"
delimiter = ";"

[datasets.rename]
BSN = "bsn"
Geboortedatum = "geboortedatum"
Soort = "soort"
Begindatum = "begin"
Einddatum = "eind"

[datasets.dates]
geboortedatum = "%d-%m-%Y"
begin = "%d-%m-%Y"
eind = "%d-%m-%Y"

[[indicators]]
name = "jeugdhulp"
dataset = "jeugdhulp"
column = "soort"
values = ["JZ21", "JZ22"]
others = ["JZ99"]
"""


def _node(tmp_path: Path, datasets: str = DATASETS) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    for name in ("secret.key", "ca.pem", "node.pem", "node.key"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "data" / "datasets.toml").write_text(datasets, encoding="utf-8")
    (tmp_path / "data" / "jeugdhulp.csv").write_bytes(
        ("BSN;Geboortedatum;Soort;Begindatum;Einddatum\r\n"
         "111222333;01-03-2008;JZ21;01-02-2013;\r\n"  # open: valid on 1-1-2014
         "123456782;30-11-2010;JZ22;01-01-2012;31-12-2012\r\n"  # ended before
         "000000012;15-01-2012;JZ99;01-06-2013;30-06-2014\r\n"  # valid, but JZ99 does not count
         "123456782;30-11-2010;JZ21;01-03-2014;\r\n").encode("cp1252"))  # not yet started
    (tmp_path / "node.toml").write_text(NODE, encoding="utf-8")
    return tmp_path / "node.toml"


def test_the_config_maps_names_codes_dates_and_the_peildatum(tmp_path: Path) -> None:
    config = load_node_config(_node(tmp_path))
    ds, ind = config.dataset("jeugdhulp"), config.indicator("jeugdhulp")
    assert isinstance(ds, DatasetConfig) and isinstance(ind, IndicatorConfig)
    assert ds.layout.encoding == "windows-1252" and ds.layout.rename["Soort"] == "soort"
    assert ind.counted() == ("JZ21", "JZ22") and ind.others == ("JZ99",) and ind.where == "datasets.toml line 27"
    assert ds.where == "datasets.toml line 3"

    from wijkindex.nodes.loading import code_lists, select_valid

    loaded = load_records(ds.file, [ColumnSpec(c, k, empty_ok=c == ds.valid_to) for c, k in ds.columns.items()],
                          layout=ds.layout, codes=code_lists(config, ds))
    select_valid(loaded, ds, dt.date(2014, 1, 1))
    assert loaded.frame["bsn"].tolist() == ["111222333", "000000012"]
    counted = loaded.frame["soort"].str.lower().isin([v.lower() for v in ind.counted()])
    assert loaded.frame.loc[counted, "bsn"].tolist() == ["111222333"]


@pytest.mark.parametrize("change, named", [
    (('encoding = "windows-1252"', 'encoding = "latin-9"'), ("datasets[0].read.encoding", "windows-1252")),
    (('delimiter = ";"', 'delimiter = ";;"'), ("datasets[0].read.delimiter",)),
    (('delimiter = ";"', 'delimiter = ";"\nheader_row = 0'), ("datasets[0].read.header_row",)),
    (('delimiter = ";"', 'delimiter = ";"\nskip = 2'), ("datasets[0].read.skip", "unknown setting")),
    (('delimiter = ";"', 'delimiter = ";"\nformat = "ods"'), ("datasets[0].read.format",)),
    (('delimiter = ";"', 'delimiter = ";"\nsheet = ""'), ("datasets[0].read.sheet",)),
    (('Soort = "soort"', 'Soort = "type"'), ("datasets[0].rename.Soort", "declared columns")),
    (('Soort = "soort"', 'Soort = "bsn"'), ("datasets[0].rename", "mapped to one column")),
    (('begin = "%d-%m-%Y"', 'soort = "%d-%m-%Y"'), ("datasets[0].dates.soort", "not a declared date column")),
    (('begin = "%d-%m-%Y"', 'begin = "dd-mm-yyyy"'), ("datasets[0].dates.begin", "date format")),
    (('valid_to = "eind"', 'valid_to = "soort"'), ("datasets[0].valid_to", "not a declared date column")),
    (('valid_to = "eind"\n', ''), ("datasets[0].valid_from", "both valid_from and valid_to")),
    (('values = ["JZ21", "JZ22"]', 'values = []'), ("indicators[0].values", "a list of codes")),
    (('values = ["JZ21", "JZ22"]', 'values = "JZ21"'), ("indicators[0].values", "a list of codes")),
    (('others = ["JZ99"]', 'others = ["JZ99", "jz21"]'), ("indicators[0].others", "both values and others")),
    (('values = ["JZ21", "JZ22"]', 'values = ["JZ21"]\nequals = "JZ22"'), ("indicators[0].values", "one of equals")),
    (('values = ["JZ21", "JZ22"]\n', ''), ("indicators[0].others", "beside values")),
])
def test_a_bad_mapping_names_its_key(tmp_path: Path, change: tuple[str, str], named: tuple[str, ...]) -> None:
    old, new = change
    assert old in DATASETS
    with pytest.raises(ConfigError) as err:
        load_node_config(_node(tmp_path, DATASETS.replace(old, new, 1)))
    for text in named:
        assert text in str(err.value), (text, str(err.value))


def test_a_school_export_as_an_excel_sheet_gives_the_same_records_as_its_csv(
        tmp_path: Path, small_federation) -> None:  # type: ignore[no-untyped-def]
    """The synthetic school's pupil file rewritten as a school administration exports it (an Excel
    sheet with its own column names, a title row, BSNs as numbers, J/N codes): read by the node's
    own loader through its mapping, the same children carry the same indicators."""
    import openpyxl
    import tomli_w

    from wijkindex.federation import round_spec
    from wijkindex.nodes.loading import holds, load_dataset
    from wijkindex.protocol.spec import RoundSpec

    school = small_federation.out_dir / "school"
    native_cfg = tmp_path / "native"
    native_cfg.mkdir()
    (native_cfg / "node.toml").write_text(NODE.replace('data_dir = "data"', f'data_dir = "{school}"'), encoding="utf-8")
    for name in ("secret.key", "ca.pem", "node.pem", "node.key"):
        (native_cfg / name).write_text("x", encoding="utf-8")
    native = load_node_config(native_cfg / "node.toml")
    flags = [i.name for i in native.indicators]
    frame = pd.read_csv(school / "leerlingen.csv", dtype=str)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["Leerlingenexport LAS, peildatum 1 oktober"])
    ws.append(["Leerling BSN", "Geb. datum", "BRIN-nummer", *(f.upper() for f in flags)])
    for r in frame.itertuples(index=False):
        row = r._asdict()
        ws.append([int(row["bsn"]), dt.date.fromisoformat(row["geboortedatum"]), row["brin"],
                   *("J" if row[f] == "1" else "N" for f in flags)])
    (tmp_path / "data").mkdir()
    wb.save(tmp_path / "data" / "las.xlsx")
    mapped_toml = {"version": 1, "datasets": [{
        "name": "leerlingen", "file": "las.xlsx", "id_column": "bsn",
        "columns": {"bsn": "bsn", "geboortedatum": "date", "brin": "code", **{f: "code" for f in flags}},
        "read": {"sheet": "Export", "header_row": 2},
        "rename": {"Leerling BSN": "bsn", "Geb. datum": "geboortedatum", "BRIN-nummer": "brin",
                   **{f.upper(): f for f in flags}}}],
        "indicators": [{"name": f, "dataset": "leerlingen", "column": f, "values": ["J"], "others": ["N"]}
                       for f in flags]}
    _node(tmp_path, tomli_w.dumps(mapped_toml))
    mapped = load_node_config(tmp_path / "node.toml")
    spec = RoundSpec.from_toml(round_spec(2014, "GM0193", {"gemeente": ["eenoudergezin"], "school": flags}))
    a, _ = load_dataset(native, native.dataset("leerlingen"), spec)
    b, _ = load_dataset(mapped, mapped.dataset("leerlingen"), spec)
    assert a.n_read == b.n_read == len(frame) and b.n_excluded == a.n_excluded  # the same bad BSNs
    assert a.frame["bsn"].tolist() == b.frame["bsn"].tolist()
    assert (a.frame["geboortedatum"] == b.frame["geboortedatum"]).all()
    for f in flags:
        assert (holds(native.indicator(f), a.frame[f]) == holds(mapped.indicator(f), b.frame[f])).all(), f
        assert holds(mapped.indicator(f), b.frame[f]).any()


def test_node_check_reports_what_the_exports_hold_and_sends_nothing(tmp_path: Path) -> None:
    """``wijkindex node check``: rows read and excluded per column and reason with their first rows,
    each indicator's share, which default-index indicators the node serves; a report file; exit 0.
    The node's aggregator address has nothing listening: the check never dials it."""
    from click.testing import CliRunner

    from wijkindex.cli import main

    config = _node(tmp_path)
    with (tmp_path / "data" / "jeugdhulp.csv").open("ab") as f:
        f.write(b"123456789;01-03-2008;JZ21;01-02-2013;\r\n"  # fails the 11-proef
                b"111222333;01-03-2008;JZ31;01-02-2013;\r\n"  # a code in no list
                b"680542413;01-03-1990;JZ21;01-02-2013;\r\n"  # 23 on the reference date
                b"111222333;01-03-2008;JZ21;01-02-2013;\r\n")  # the first row again
    report = tmp_path / "out" / "check.html"
    r = CliRunner().invoke(main, ["node", "check", "--config", str(config), "--period", "2014",
                                  "--report", str(report)])
    assert r.exit_code == 0, r.output
    assert "rows read 8, excluded 2" in r.output and "kept 4 of 3 distinct persons" in r.output
    assert "1 row(s) identical to an earlier row" in r.output
    assert "column 'bsn': fails the 11-proef (rows 5)" in r.output
    assert "column 'soort': not a declared code: add it to the values or others of indicator 'jeugdhulp'" in r.output
    assert "1 row(s) older than 17" in r.output
    assert "indicator jeugdhulp: 75.0% of the kept rows" in r.output  # JZ21 three times, JZ99 once on 1-1-2014
    assert "serves 1 of its" in r.output and "(jeugdhulp)" in r.output
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "fails the 11-proef" in page and "Niets is verzonden" in page

    (tmp_path / "data" / "jeugdhulp.csv").write_bytes(b"\x00\x01")  # not a table at all
    r = CliRunner().invoke(main, ["node", "check", "--config", str(config), "--period", "2014"])
    assert r.exit_code == 1 and "cannot be read" in r.output and "datasets.toml line 3" in r.output, r.output


# ---- a corpus of malformed exports in the holders' own layouts ---------------------------------
# Each is refused with an error that names the file (and sheet), and the row and column (or what
# the layout must declare); the public text names no value.

CODES = {"soort": CodeList(frozenset({"jz21", "jz22", "jz99"}), "the values or others of indicator 'jeugdhulp' "
                                                                  "(datasets.toml line 14)")}
CP1252 = ExportLayout(**{**DUTCH.__dict__, "encoding": "windows-1252", "header_row": 2})


def _with_value(row: int, column: int, value: str) -> list[tuple[str, ...]]:
    rows = [list(r) for r in ROWS]
    rows[row - 1][column] = value
    return [tuple(r) for r in rows]


def _csv_case(rows, layout=CP1252, title="Jeugdhulp – export", encoding="cp1252"):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> tuple[Path, ExportLayout]:
        p = tmp / "jeugdhulp.csv"
        p.write_bytes(_csv_text(rows, title=title).encode(encoding))
        return p, layout
    return build


def _xlsx_case(rows=ROWS, layout=None, raw_cells=None):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> tuple[Path, ExportLayout]:
        import openpyxl

        p = tmp / "jeugdhulp.xlsx"
        if raw_cells is not None:  # cells as given (text where a number belongs...)
            wb = openpyxl.Workbook()
            ws = wb.active
            ws.title = "Leerlingen"
            ws.append(["Leerlingen per peildatum"])
            for r in raw_cells:
                ws.append(list(r))
            wb.save(p)
        else:
            _xlsx(p, rows)
        return p, layout or ExportLayout(sheet="Leerlingen", header_row=2, rename=RENAME,
                                         date_formats={"geboortedatum": "%d-%m-%Y"})
    return build


def _parquet_case(change=None, damaged: bool = False):  # type: ignore[no-untyped-def]
    def build(tmp: Path) -> tuple[Path, ExportLayout]:
        p = tmp / "jgz.parquet"
        frame = pd.DataFrame({"BSN": [r[0] for r in ROWS], "Geboortedatum": list(EXPECTED["geboortedatum"]),
                              "Soort": [r[2] for r in ROWS], "Gewicht": list(EXPECTED["gewicht"])})
        if change:
            frame = change(frame)
        frame.to_parquet(p)
        if damaged:
            p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
        return p, ExportLayout(rename=RENAME)
    return build


HEADER_CELLS = list(RENAME)
EXPORT_CASES = [
    *((_csv_case(_with_value(r, 1, v)), (f"row {r}", "'geboortedatum'", "%d-%m-%Y")) for r, v in [
        (1, "2008-03-01"), (2, "2010/11/30"), (3, "15.01.2012"), (1, "31-02-2010"), (2, "00-01-2010"),
        (3, "01-13-2010"), (1, " "), (2, "30-11-10"), (3, "maandag"), (1, "01-03-2008x")]),
    *((_csv_case(_with_value(r, 3, v)), (f"row {r}", "'gewicht'", "decimal")) for r, v in [
        (1, "0,3,4"), (2, "abc"), (3, ""), (1, "1e"), (2, "--1"), (3, "nan"), (1, "inf"), (2, "1 2,x")]),
    *((_csv_case(_with_value(r, 2, v)), (f"row {r}", "'soort'", "not a declared code", "line 14")) for r, v in [
        (1, "JZ3"), (2, "JZ 21"), (3, "JZ21x"), (1, "XX"), (2, "0"), (3, "jz-21"), (1, "?")]),
    *((_with_value(r, 0, v), (f"row {r}", "'bsn'")) for r, v in [(1, "123456789"), (2, "12345678"), (3, "")]),
    (_csv_case(ROWS, layout=ExportLayout(**{**CP1252.__dict__, "header_row": 9})), ("header_row = 9",)),
    (_csv_case(ROWS, layout=ExportLayout(**{**CP1252.__dict__, "delimiter": ","})), ("number of fields",)),
    (_csv_case(ROWS, layout=ExportLayout(**{**CP1252.__dict__, "encoding": "utf-8"})), ("not UTF-8", "windows-1252")),
    (_csv_case(ROWS, layout=ExportLayout(**{**CP1252.__dict__, "rename": {**RENAME, "Soort": "type"}})),
     ("missing column", "soort", "[datasets.rename]")),
    (_csv_case([], title="", encoding="cp1252", layout=ExportLayout(**{**CP1252.__dict__, "header_row": 3})),
     ("header_row = 3",)),
    (_xlsx_case(layout=ExportLayout(sheet="Blad1", header_row=2, rename=RENAME)), ("no sheet 'Blad1'",)),
    (_xlsx_case(layout=ExportLayout(sheet="Leerlingen", header_row=40, rename=RENAME)), ("header_row = 40",)),
    (_xlsx_case(layout=ExportLayout(sheet="Leerlingen", header_row=1, rename=RENAME)), ("missing column",)),
    (_xlsx_case(raw_cells=[HEADER_CELLS, ["12345678X", "01-03-2008", "JZ21", 0.3]]), ("row 1", "'bsn'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, "2008-03-01", "JZ21", 0.3]]), ("row 1", "'geboortedatum'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, "01-03-2008", "JZ21", "veel"]]), ("row 1", "'gewicht'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, "01-03-2008", "JZ21", 0.3], [1.5, "01-03-2008", "JZ21", 1]]),
     ("row 2", "'bsn'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, "01-03-2008", True, 0.3]]), ("row 1", "'soort'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, None, "JZ21", 0.3]]), ("row 1", "'geboortedatum'")),
    (_xlsx_case(raw_cells=[HEADER_CELLS[:3], [111222333, "01-03-2008", "JZ21"]]), ("missing column", "gewicht")),
    (_xlsx_case(raw_cells=[HEADER_CELLS, [111222333, "01-03-2008", "JZ77", 0.3]]), ("row 1", "not a declared code")),
    (_parquet_case(damaged=True), ("not a readable Parquet file",)),
    (_parquet_case(lambda f: f.drop(columns=["Soort"])), ("missing column", "soort")),
    (_parquet_case(lambda f: f.assign(BSN=[123456789, 111222333, 12])), ("row 1", "'bsn'")),
    (_parquet_case(lambda f: f.assign(Geboortedatum=[None, *f["Geboortedatum"][1:]])), ("row 1", "'geboortedatum'")),
    (_parquet_case(lambda f: f.assign(Soort=["JZ21", "JZ40", "JZ22"])), ("row 2", "'soort'")),
    (_parquet_case(lambda f: f.assign(Gewicht=["1.5", "x", "2"])), ("row 2", "'gewicht'")),
    (_parquet_case(lambda f: f.assign(Gewicht=[1.5, float("nan"), 2.0])), ("row 2", "'gewicht'")),
]
EXPORT_CASES = [((_csv_case(c) if isinstance(c, list) else c), e) for c, e in EXPORT_CASES]


@pytest.mark.parametrize("build, expected", EXPORT_CASES, ids=[f"export-{i}" for i in range(len(EXPORT_CASES))])
def test_a_malformed_export_in_its_own_layout_is_named(tmp_path: Path, build, expected) -> None:  # type: ignore[no-untyped-def]
    path, layout = build(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, layout=layout, codes=CODES)
    text = str(err.value)
    assert path.name in text and path.name in err.value.public_message()
    for part in expected:
        assert part in text, (part, text)
    for value in ("123456789", "JZ3", "maandag", "veel", "JZ77", "JZ40"):
        assert value not in (err.value.public or "")  # the text a node may send names no value
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # the reader writes nothing
