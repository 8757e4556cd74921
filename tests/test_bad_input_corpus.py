"""A corpus of malformed inputs (holders' files, round specs, node configs, wire messages).

Each one must be answered with a clear error of wijkindex's own kind that names where the
problem is (file, row and column; or the field), never a crash or a traceback of some
library, and the readers write nothing.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import tomli_w

from wijkindex.config import load_node_config
from wijkindex.errors import ConfigError, CryptoError, InputFileError, SpecError, WijkindexError
from wijkindex.linkage.records import ColumnSpec, load_records
from wijkindex.protocol.spec import RoundSpec

# ---- holders' CSV exports -------------------------------------------------------------

COLUMNS = [ColumnSpec("bsn", "bsn"), ColumnSpec("geboortedatum", "date"), ColumnSpec("brin", "code"),
           ColumnSpec("verzuim", "flag"), ColumnSpec("onderwijsachterstand", "flag")]
HEADER = "bsn,geboortedatum,brin,verzuim,onderwijsachterstand"
GOOD_ROWS = ["111222333,2008-03-01,12AB,0,1", "123456782,2010-11-30,13CD,1,0", "000000012,2012-01-15,14EF,0,0"]


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _with(row: int, column: str, value: str) -> str:
    """The good file with one value replaced (row is 1-based, as errors name it)."""
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[row - 1][HEADER.split(",").index(column)] = value
    return _csv(*(",".join(r) for r in rows))


# (content, what the error must name): the file's name is always required as well
CSV_CASES: list[tuple[str | bytes, tuple[str, ...]]] = [
    *((_csv(*GOOD_ROWS, header=HEADER.replace(c, "x_" + c)), ("missing column", c)) for c in HEADER.split(",")),
    *((_csv(*(",".join(r.split(",")[:i] + r.split(",")[i + 1:]) for r in GOOD_ROWS),
            header=",".join(h for j, h in enumerate(HEADER.split(",")) if j != i)), ("missing column", c))
      for i, c in enumerate(HEADER.split(","))),
    (_csv(*(r + ",111222333" for r in GOOD_ROWS), header=HEADER + ",bsn"), ("appear twice", "bsn")),
    (_csv(*(r + ",1" for r in GOOD_ROWS), header=HEADER + ",verzuim"), ("appear twice", "verzuim")),
    ("", ("empty",)),
    ("\n\n   \n", ("empty",)),
    *((_with(r, "bsn", v), (f"row {r}", "'bsn'")) for r, v in [
        (1, "123456789"), (2, "12345678X"), (3, "1234567890"), (1, "000000000"), (2, "abc"), (3, "-"),
        (1, "12.345.678"), (2, "999999999"), (3, "1 2 3"), (1, "٣٣٣٣٣٣٣٣٣")]),
    *((_with(r, "geboortedatum", v), (f"row {r}", "'geboortedatum'")) for r, v in [
        (1, "2014-02-30"), (2, "2014-13-01"), (3, "00-00-0000"), (1, "yesterday"), (2, "31/04/2012"),
        (3, "2012/01/15"), (1, "15-01"), (2, "20120230"), (3, "2012-1-1x"), (1, "")]),
    *((_with(r, c, v), (f"row {r}", f"'{c}'")) for r, c, v in [
        (1, "verzuim", "2"), (2, "verzuim", "maybe"), (3, "onderwijsachterstand", "-1"),
        (1, "onderwijsachterstand", "0.5"), (2, "verzuim", "truee")]),
    (_with(2, "brin", "x" * 20_001), ("row 2", "'brin'", "longer than")),
    (_csv(GOOD_ROWS[0], "111222333,2008-03-01,12AB,0", GOOD_ROWS[2]), ("row(s) 2", "number of fields")),
    (_csv(GOOD_ROWS[0], GOOD_ROWS[1] + ",extra,fields"), ("row(s) 2", "number of fields")),
    (_csv(*GOOD_ROWS[:2], "111222333"), ("row(s) 3", "number of fields")),
    (_csv(*GOOD_ROWS).encode("utf-8").replace(b"12AB", b"12\xe9B"), ("not UTF-8", "line 2")),
    (_csv(*GOOD_ROWS).encode("utf-8") + b"\xff\xfe", ("not UTF-8",)),
    (_csv(*GOOD_ROWS).encode("utf-16"), ("not UTF-8",)),
    (bytes(range(256)) * 4, ("not UTF-8",)),
    (_csv(*GOOD_ROWS).replace(",", "\t"), ("missing column",)),
    (_csv('111222333,"2008-03-01,12AB,0,1'), ("",)),  # an open quote swallows the rest
    # several bad values at once: all listed, each with its place
    (_csv("123456789,2014-02-30,12AB,0,1", GOOD_ROWS[1]), ("row 1", "'bsn'", "'geboortedatum'", "2 invalid")),
]


@pytest.mark.parametrize("rows, expected", [
    ((GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[0]), ("row 1", "row 3", "more than one row")),
    ((GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1].replace("13CD", "99ZZ")), ("row 2", "row 3", "more than one row")),
])
def test_a_spine_with_a_child_twice_is_refused(tmp_path: Path, rows: tuple[str, ...], expected: tuple[str, ...]) -> None:
    """In the population spine one row is one child: a BSN on two rows (same or different data)."""
    path = tmp_path / "brp.csv"
    path.write_text(_csv(*rows))
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, on_invalid="fail", unique="bsn")
    for part in expected:
        assert part in str(err.value), str(err.value)
    _assert_public_text_is_value_free(err.value, _csv(*rows), ("'bsn'", *expected[:2]))
    kept = load_records(path, COLUMNS, on_invalid="exclude", unique="bsn")
    assert kept.n_excluded == 2 and len(kept.frame) == 1  # both rows of the ambiguous child left out


@pytest.mark.parametrize("content, expected", CSV_CASES, ids=[f"csv{i}" for i in range(len(CSV_CASES))])
def test_malformed_holder_file_gets_a_clear_error(tmp_path: Path, content: str | bytes, expected: tuple[str, ...]) -> None:
    path = tmp_path / "school" / "leerlingen.csv"
    path.parent.mkdir()
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(InputFileError) as err:
        load_records(path, COLUMNS, on_invalid="fail", dataset="leerlingen")
    msg = str(err.value)
    assert "leerlingen.csv" in msg, msg
    for part in expected:
        assert part in msg, (part, msg)
    assert "Traceback" not in msg and "123456789" not in msg.replace("*******89", "")  # BSNs are masked
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
    _assert_public_text_is_value_free(err.value, content, expected)


def _cells(content: str | bytes) -> list[str]:
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    return [c for line in text.splitlines() for c in line.split(",")]


def _assert_public_text_is_value_free(exc: InputFileError, content: str | bytes, expected: tuple[str, ...]) -> None:
    """What a node may send: the file (no folder), the columns and rows the local text names, no cell."""
    public = exc.public_message()
    assert public.startswith("[WI100] leerlingen.csv") or public.startswith("[WI100] brp.csv"), public
    assert "school/" not in public and "Traceback" not in public
    for part in expected:
        if part.startswith("'"):  # a column the error names
            assert part in public, (part, public)
        for n in re.findall(r"^row(?:\(s\))? (\d+)$", part):  # a row it names
            assert re.search(rf"\brows?(?:\(s\))? (?:\d+, )*{n}\b", public), (part, public)
    # pieces of the names and fixed phrases a public text holds anyway ("000000012"[:4] is in "10000")
    names = {"leerlingen.csv", "leerlingen", "brp.csv", *HEADER.split(","), InputFileError.fix,
             "longer than 10000 characters", "fails the 11-proef", "export the file as UTF-8",
             "have a different number of fields than the header"}
    for cell in _cells(content):
        for k in range(4, len(cell) + 1):
            piece = cell[:k]
            if not any(piece in name for name in names):
                assert piece not in public, (piece, public)


# ---- round specs ----------------------------------------------------------------------

GOOD_SPEC = {
    "version": 1, "period": 2014, "gemeente": "GM0193", "level": "wijk",
    "age_bands": ["0-3", "4-11", "12-17"], "spine": "gemeente",
    "nodes": {"gemeente": {"privacy_loss": 1.0, "indicators": ["eenoudergezin"]},
              "ggd": {"privacy_loss": 1.0, "indicators": ["overgewicht"]},
              "school": {"privacy_loss": 1.0, "indicators": ["verzuim"]}},
}


def _spec(path: str, value: object) -> dict:
    """GOOD_SPEC with one dotted field set (or removed when value is ...)."""
    raw = copy.deepcopy(GOOD_SPEC)
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node[p]
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return raw


SPEC_CASES: list[tuple[dict, str]] = [
    (_spec("nodes.gemeente.privacy_loss", v), "nodes.gemeente.privacy_loss")
    for v in (-1, 0, 0.0, 10.5, 1e9, float("nan"), float("inf"), True, "1.0", [1])
] + [
    (_spec("nodes.ggd.indicators", v), "nodes.ggd.indicators") for v in ([], "overgewicht", [1], ["Bad Name"], [""])
] + [
    (_spec("nodes.onbekend", {"privacy_loss": 1.0, "indicators": ["x"]}), "nodes.onbekend"),
    (_spec("nodes", {}), "nodes"),
    (_spec("nodes", "gemeente"), "nodes"),
    (_spec("nodes.ggd", "all"), "nodes.ggd"),
    (_spec("nodes.ggd.extra", 1), "nodes.ggd.extra"),
    (_spec("nodes.ggd.fuzzy", "yes"), "nodes.ggd.fuzzy"),
    (_spec("nodes.gemeente.fuzzy", True), "nodes.gemeente.fuzzy"),
    (_spec("nodes.school.indicators", ["overgewicht"]), "nodes.school.indicators"),
    (_spec("spine", "politie"), "spine"),
    (_spec("spine", ...), "spine"),
    (_spec("spine", 3), "spine"),
    (_spec("period", 1800), "period"),
    (_spec("period", "2014"), "period"),
    (_spec("period", ...), "period"),
    (_spec("gemeente", "Zwolle"), "gemeente"),
    (_spec("gemeente", ""), "gemeente"),
    (_spec("level", "provincie"), "level"),
    (_spec("age_bands", []), "age_bands"),
    (_spec("age_bands", ["0-3", "2-11"]), "age_bands"),
    (_spec("age_bands", ["0-30"]), "age_bands"),
    (_spec("age_bands", ["11-4"]), "age_bands[0]"),
    (_spec("age_bands", ["kinderen"]), "age_bands[0]"),
    (_spec("min_cell_size", -1), "min_cell_size"),
    (_spec("joint_weight", 0), "joint_weight"),
    (_spec("joint_weight", True), "joint_weight"),
    (_spec("version", 3), "version"),
    (_spec("version", 2), "gemeente"),  # version 2 names an area, not a gemeente
    (_spec("extra", 1), "extra"),
    (_spec("joint", [{"name": "j", "attributes": ["gemeente:eenoudergezin"]}]), "joint[0].attributes"),
    (_spec("joint", [{"name": "j", "attributes": ["politie:x", "ggd:overgewicht"]}]), "joint[0].attributes"),
    (_spec("joint", [{"name": "j", "kind": "some", "attributes": ["gemeente:a", "ggd:b"]}]), "joint[0].kind"),
    (_spec("joint", [{"name": "j", "kind": "count", "cap": 0, "attributes": ["gemeente:a", "ggd:b"]}]),
     "joint[0].cap"),
    (_spec("joint", [{"name": "J!", "attributes": ["gemeente:a", "ggd:b"]}]), "joint[0].name"),
    (_spec("joint", [{"name": "verzuim", "attributes": ["gemeente:a", "ggd:b"]}]), "joint[0].name"),
    (_spec("joint", [{"name": "j", "attributes": ["gemeente:a", "gemeente:a"]}]), "joint[0].attributes"),
    (_spec("joint", "eenouder"), "joint"),
]


@pytest.mark.parametrize("raw, field", SPEC_CASES, ids=[f"spec{i}" for i in range(len(SPEC_CASES))])
def test_malformed_spec_names_the_field(raw: dict, field: str) -> None:
    with pytest.raises(SpecError) as err:
        RoundSpec.from_mapping(raw, known_nodes=["gemeente", "ggd", "school"])
    assert f"{field}:" in str(err.value), str(err.value)


@pytest.mark.parametrize("text", ["", "version = ", "[nodes", "period = 2014\nperiod = 2015", "\x00\x01",
                                  "nodes = {gemeente = }"])
def test_spec_that_is_not_toml(text: str) -> None:
    with pytest.raises(SpecError, match="not valid TOML|invalid"):
        RoundSpec.from_toml(text, known_nodes=["gemeente"])


# ---- node configs and dataset declarations ----------------------------------------------

def _node_dir(tmp_path: Path, node: dict, datasets: dict) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "datasets.toml").write_text(tomli_w.dumps(datasets))
    (tmp_path / "data" / "jgz.csv").write_text("bsn\n")
    (tmp_path / "secret.key").write_text("wijkindex-linkage-secret v1\n" + "00" * 32 + "\n")
    cfg = tmp_path / "node.toml"
    cfg.write_text(tomli_w.dumps(node))
    return cfg


NODE = {"version": 1, "name": "ggd", "aggregator": "localhost:50051", "linkage_secret": "secret.key",
        "privacy_total": 5.0, "data_dir": "data",
        "tls": {"cert": "secret.key", "key": "secret.key", "ca": "secret.key"}}
DATASETS = {"version": 1, "datasets": [{"name": "jgz", "file": "jgz.csv", "id_column": "bsn",
                                        "columns": {"bsn": "bsn", "voornaam": "str", "overgewicht": "flag"}}],
            "indicators": [{"name": "overgewicht", "dataset": "jgz", "column": "overgewicht"}]}


def _set(raw: dict, path: str, value: object) -> dict:
    out = copy.deepcopy(raw)
    node = out
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = value
    return out


CONFIG_CASES: list[tuple[dict, dict, str]] = [
    (_set(NODE, "privacy_total", 0), DATASETS, "privacy_total"),
    (_set(NODE, "privacy_total", 101), DATASETS, "privacy_total"),
    (_set(NODE, "privacy_total", "5"), DATASETS, "privacy_total"),
    (_set(NODE, "name", ...), DATASETS, "name"),
    (_set(NODE, "on_invalid", "ignore"), DATASETS, "on_invalid"),
    (_set(NODE, "linkage_secret", "missing.key"), DATASETS, "linkage_secret"),
    (_set(NODE, "data_dir", "nowhere"), DATASETS, "data_dir"),
    (_set(NODE, "version", 2), DATASETS, "version"),
    (NODE, _set(DATASETS, "datasets.0.columns.bsn", "bsnummer"), "columns.bsn"),
    (NODE, _set(DATASETS, "datasets.0.id_column", "kind_id"), "id_column"),
    (NODE, _set(DATASETS, "datasets.0.identifiers", {"voornaam": "nickname"}), "identifiers.voornaam"),
    (NODE, _set(DATASETS, "datasets.0.identifiers", {"achternaam": "surname"}), "identifiers.achternaam"),
    (NODE, _set(DATASETS, "datasets.0.identifiers", {"bsn": "given_name", "voornaam": "given_name"}),
     "identifiers"),
    (NODE, _set(DATASETS, "datasets.0.file", "absent.csv"), "file"),
    (NODE, _set(DATASETS, "indicators.0.dataset", "onbekend"), "indicators[0].dataset"),
    (NODE, _set(DATASETS, "indicators.0.column", "gewicht"), "indicators[0].column"),
    (NODE, _set(DATASETS, "version", 7), "version"),
]


@pytest.mark.parametrize("node, datasets, field", CONFIG_CASES, ids=[f"config{i}" for i in range(len(CONFIG_CASES))])
def test_malformed_node_config_names_the_field(tmp_path: Path, node: dict, datasets: dict, field: str) -> None:
    cfg = _node_dir(tmp_path, node, datasets)
    with pytest.raises(ConfigError) as err:
        load_node_config(cfg)
    assert field in str(err.value), str(err.value)


# ---- wire messages ----------------------------------------------------------------------

def _release_bytes() -> bytes:
    from wijkindex import wire
    from wijkindex.protocol import messages as m

    rel = m.NodeRelease("r1", (m.ReleasedVector("overgewicht", sealed=(b"\x01" * 512,), noise_terms=1),),
                        m.PrivacyCost("ggd", 1.0, "discrete_laplace", 4, 4.0, ("jgz",)))
    return wire.release_to_proto(rel).SerializeToString()


@pytest.mark.parametrize("cut", [1, 7, 50, 300, -1])
def test_truncated_release_is_refused_by_the_decoder(cut: int) -> None:
    from google.protobuf.message import DecodeError

    from wijkindex import wire
    from wijkindex.proto import wijkindex_pb2 as pb

    data = _release_bytes()[:cut]
    try:
        rel = wire.release_from_proto(pb.Release.FromString(data))
    except (DecodeError, WijkindexError, CryptoError):
        return  # refused, with protobuf's or our own error
    # protobuf may decode a prefix as a valid, shorter message: it must then not pass as the original
    assert rel.vectors == () or any(len(c) != 512 for v in rel.vectors for c in (v.sealed or ()))


# ---- properties: whatever the input, a parser answers with a value or its own error ------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from wijkindex.linkage.bsn import is_valid_bsn, normalise_bsn  # noqa: E402
from wijkindex.linkage.normalise import normalise_postcode, parse_date, parse_flag, split_surname  # noqa: E402


@given(st.text(max_size=30))
def test_value_parsers_raise_only_value_error(s: str) -> None:
    for parse in (normalise_bsn, parse_date, normalise_postcode, parse_flag):
        try:
            out = parse(s)
        except ValueError as exc:
            assert str(exc)  # a reason a person can act on
            continue
        if parse is normalise_bsn:
            assert is_valid_bsn(out)  # type: ignore[arg-type]
        if parse is normalise_postcode:
            assert len(out) == 6 and out[:4].isdigit()  # type: ignore[arg-type]
    prefix, core = split_surname(s)  # never raises
    assert isinstance(prefix, str) and isinstance(core, str)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_a_holder_file(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "x.csv"
    path.write_bytes(data)
    try:
        loaded = load_records(path, COLUMNS, on_invalid="exclude")
    except InputFileError as exc:
        assert "x.csv" in str(exc)
    else:
        assert loaded.n_read >= len(loaded.frame)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(list(GOOD_SPEC) + ["joint", "round_id", "nonce", "deadline_seconds"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                                 st.lists(st.text(max_size=6), max_size=3),
                                 st.dictionaries(st.text(max_size=6), st.integers(), max_size=2)),
                       max_size=6))
def test_any_mapping_as_a_spec(changes: dict) -> None:
    raw = {**GOOD_SPEC, **{k: v for k, v in changes.items() if v is not None}}
    try:
        RoundSpec.from_mapping(raw, known_nodes=["gemeente", "ggd", "school"])
    except SpecError as exc:
        assert "round spec is invalid" in str(exc) or "not valid" in str(exc)
