"""Versioned TOML configuration of every role, validated up front.

Paths in a config file are relative to that file's folder. Secrets (the linkage
secret, private keys) are never in a config: the config names the file that holds
them. Each loader raises one :class:`ConfigError` listing every offending field.
"""

from __future__ import annotations

import dataclasses

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from wijkindex.errors import ConfigError
from wijkindex.linkage.tables import ExportLayout, check_layout
from wijkindex.nodes.derived import DERIVATIONS, DERIVED_KIND, Relations

CONFIG_VERSION = 1
COLUMN_KINDS = ("bsn", "date", "flag", "str", "code", "postcode", "int", "number")
IDENTIFIER_KINDS = ("given_name", "surname", "date", "sex", "postcode")
GEOGRAPHY_FILES = (".gpkg", ".geojson", ".json", ".geojson.gz", ".json.gz")  # a CBS wijk- en buurtkaart file


_KIND_NAMES = {str: "a text in quotes", int: "a whole number", float: "a number", bool: "true or false",
               list: "a list [...]", dict: "a table"}


def _kind_name(kind: type | tuple[type, ...]) -> str:
    """What a TOML field must hold, in words ("a number"), not Python's ``(<class 'int'>, ...)``."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if set(kinds) == {int, float}:
        return "a number"
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


def _toml_value(value: Any) -> str:
    """A value as TOML writes it: "5" for a text, true for a boolean, a table or list by kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _unquoted_fits(text: str, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    try:
        return (int in kinds and str(int(text)) == text.strip()) or (float in kinds and float(text) == float(text)) \
            or (bool in kinds and text in ("true", "false"))
    except ValueError:
        return False


class _Checker:
    """Collects field problems so one error lists them all."""

    def __init__(self, source: Path, raw: dict[str, Any]) -> None:
        self.source = source
        self.raw = raw
        self.problems: list[str] = []

    def bad(self, path: str, why: str) -> None:
        self.problems.append(f"{path}: {why}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., table: dict[str, Any] | None = None,
            prefix: str = "") -> Any:
        src = self.raw if table is None else table
        if key not in src:
            if default is ...:
                self.bad(prefix + key, "missing")
                return None
            return default
        value = src[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            self.bad(prefix + key, f"expected {_kind_name(kind)}, got {_toml_value(value)}"
                                   + (" (write it without quotes)" if isinstance(value, str) and _unquoted_fits(value, kind)
                                      else ""))
            return None
        return value

    def path(self, key: str, table: dict[str, Any] | None = None, prefix: str = "",
             must_exist: bool = True) -> Path | None:
        value = self.get(key, str, table=table, prefix=prefix)
        if value is None:
            return None
        p = (self.source.parent / value).resolve()
        if must_exist and not p.exists():
            self.bad(prefix + key, f"{p} does not exist")
        return p

    def finish(self) -> None:
        if self.problems:
            listing = "\n  - ".join(self.problems)
            raise ConfigError(f"{self.source} is invalid ({len(self.problems)} problem(s)):\n  - {listing}")


def _read(path: Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if raw.get("version") != CONFIG_VERSION:
        raise ConfigError(f"{path}: version: must be {CONFIG_VERSION}, got {raw.get('version')!r}")
    return raw


@dataclass(frozen=True)
class TlsPaths:
    cert: Path
    key: Path
    ca: Path


def _tls(c: _Checker) -> TlsPaths | None:
    table = c.get("tls", dict)
    if table is None:
        return None
    cert, key, ca = (c.path(k, table=table, prefix="tls.") for k in ("cert", "key", "ca"))
    if cert and key and ca:
        return TlsPaths(cert, key, ca)
    return None


@dataclass(frozen=True)
class ClientConfig:
    """A coordinator's or researcher's connection to the aggregator."""

    aggregator: str
    tls: TlsPaths
    source: Path
    crl: Path | None = None  # the federation CA's revocation list: refuse an aggregator certificate on it


def load_client_config(path: Path) -> ClientConfig:
    raw = _read(path)
    c = _Checker(Path(path), raw)
    aggregator = c.get("aggregator", str)
    crl = c.path("crl") if "crl" in raw else None
    tls = _tls(c)
    c.finish()
    return ClientConfig(aggregator=aggregator, tls=tls, source=Path(path), crl=crl)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AggregatorConfig:
    listen: str
    database: Path
    tls: TlsPaths
    nodes: tuple[str, ...]
    geography_dir: Path | None  # one gemeente's geography (default: Zwolle's, shipped in the package)
    paillier_bits: int
    audit_log: Path | None
    source: Path
    min_cell_floor: int = 10  # no spec may set a suppression threshold below this
    geography_dirs: tuple[Path, ...] = ()  # or several: one aggregator serving several gemeenten
    gemeenten: tuple[str, ...] = ()  # CBS gemeente codes (GM0363) served from the shipped 2024 wijken
    min_expected_children: int = 5  # no spec may ask for cells that CBS figures put below this
    crl: Path | None = None  # the federation CA's revocation list, re-read when it changes
    geography: Path | None = None  # a CBS wijk- en buurtkaart file: ``gemeenten`` are read from it
    geography_level: str = "wijk"  # "buurt": read the file's buurten (rounds at level buurt)
    regions: Path | None = None  # a user's own regions (TOML [[region]] tables), pooled beside the shipped ones


def load_aggregator_config(path: Path) -> AggregatorConfig:
    raw = _read(path)
    c = _Checker(Path(path), raw)
    listen = c.get("listen", str, "127.0.0.1:50051")
    db = c.get("database", str, "aggregator.sqlite")
    nodes = c.get("nodes", list)
    if nodes is not None and (not nodes or not all(isinstance(n, str) and n for n in nodes)):
        c.bad("nodes", "a non-empty list of node party names")
    geo = c.get("geography_dir", str, None)
    geos = c.get("geography_dirs", list, [])
    if geos and (geo or not all(isinstance(g, str) for g in geos)):
        c.bad("geography_dirs", "a list of folders, one per gemeente, instead of geography_dir")
    kaart = c.path("geography") if "geography" in raw else None
    if kaart is not None and (geo or geos):
        c.bad("geography", "a CBS wijk- en buurtkaart file, or geography_dir(s) folders in Zwolle-2014 form: give one")
    if kaart is not None and kaart.exists() and not (kaart.is_file() and kaart.name.lower().endswith(GEOGRAPHY_FILES)):
        c.bad("geography", f"{kaart} is not a wijk- en buurtkaart file ({', '.join(GEOGRAPHY_FILES)}); a folder in "
                           "Zwolle-2014 form is geography_dir")
    level = c.get("geography_level", str, "wijk")
    if level not in ("wijk", "buurt"):
        c.bad("geography_level", f"'wijk' (the file's wijken) or 'buurt' (its buurten), got {level!r}")
    if "geography_level" in raw and kaart is None:
        c.bad("geography_level", "only with geography (a wijk- en buurtkaart file)")
    gemeenten = _gemeenten(c, raw, shipped=kaart is None)
    bits = c.get("paillier_bits", int, 2048)
    if bits is not None and bits not in (1024, 2048, 3072):
        c.bad("paillier_bits", "1024 (tests only), 2048 or 3072")
    if "slot_bits" in raw:
        c.bad("slot_bits", "the packing slot width is now the round spec's slot_bits (signed by the coordinator, "
                           "checked by every node); remove it here")
    audit = c.get("audit_log", str, None)
    floor = c.get("min_cell_floor", int, 10)
    if floor is not None and not 1 <= floor <= 1000:
        c.bad("min_cell_floor", "an integer from 1 to 1000 (the smallest suppression threshold a spec may set)")
    crl = c.path("crl") if "crl" in raw else None
    expected = c.get("min_expected_children", int, 5)
    if expected is not None and not 1 <= expected <= 1000:
        c.bad("min_expected_children", "an integer from 1 to 1000 (the smallest cell, by CBS figures, a spec may ask)")
    regions = c.path("regions") if "regions" in raw else None
    if regions is not None and regions.is_file():
        from wijkindex.geography.regions import load_regions_toml  # pandas: only when a config names regions

        try:
            load_regions_toml(regions)
        except ConfigError as exc:
            c.bad("regions", f"a TOML file of [[region]] tables (code, name, gemeenten): {exc}")
    tls = _tls(c)
    c.finish()
    base = Path(path).parent
    return AggregatorConfig(
        listen=listen, database=(base / db).resolve(), tls=tls,  # type: ignore[arg-type]
        nodes=tuple(nodes), geography_dir=(base / geo).resolve() if geo else None,  # type: ignore[arg-type]
        paillier_bits=bits,  # type: ignore[arg-type]
        audit_log=(base / audit).resolve() if audit else None, source=Path(path),
        min_cell_floor=floor, min_expected_children=expected, crl=crl,  # type: ignore[arg-type]
        geography_dirs=tuple((base / g).resolve() for g in geos or ()), gemeenten=gemeenten,
        geography=kaart, geography_level=level or "wijk", regions=regions)


def _gemeenten(c: "_Checker", raw: dict[str, Any], shipped: bool = True) -> tuple[str, ...]:
    """``gemeente = "GM0363"`` (or "cbs:GM0363", "Amsterdam") / ``gemeenten = [...]``: CBS
    gemeenten from the shipped data, resolved to GM codes (an unknown name lists close matches);
    beside a ``geography`` file (``shipped=False``) the names are the file's, resolved when it is read."""
    one = c.get("gemeente", str, None)
    many = c.get("gemeenten", list, None)
    if one is not None and many is not None:
        c.bad("gemeenten", "give either gemeente or gemeenten, not both")
        return ()
    names = [one] if one is not None else list(many or [])
    if not all(isinstance(n, str) and n for n in names):
        c.bad("gemeenten", 'a list of CBS gemeente codes or names, e.g. ["GM0363", "Zwolle"]')
        return ()
    if not names or not shipped:
        return tuple(names)
    from wijkindex.geography.cbs import resolve  # pandas: only when a config names a CBS gemeente

    out = []
    for n in names:
        try:
            out.append(resolve(n[4:] if n.lower().startswith("cbs:") else n))
        except ConfigError as exc:
            c.bad("gemeente" if one is not None else "gemeenten", exc.message)
    return tuple(out)


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    file: Path
    id_column: str
    columns: dict[str, str]
    spine: bool = False
    # column -> identifier kind (given_name, surname, date, sex, postcode): with these, a
    # record without a valid BSN links on keyed similarity encodings instead of failing
    identifiers: dict[str, str] = field(default_factory=dict)
    # the spine only: a gemeente's table (postcode, huisnummer, buurt_code, wijk_code) that gives
    # each child's wijk and buurt from its address, instead of wijk_code/buurt_code columns
    area_lookup: Path | None = None
    layout: ExportLayout = ExportLayout()  # [datasets.read], [datasets.rename], [datasets.dates]
    # a file spanning several years: the rows valid on the round's reference date (peildatum),
    # from these date columns (an empty end date is open)
    valid_from: str | None = None
    valid_to: str | None = None
    where: str = ""  # "datasets.toml line 12": where the dataset's table starts, for error messages
    relations: Relations | None = None  # [datasets.derive] and [datasets.relations]: fields derived from the BRP's

    @property
    def all_columns(self) -> dict[str, str]:
        """The declared columns and the derived ones, with their kinds."""
        derived = {c: DERIVED_KIND.get(how, "code") for c, how in (self.relations.derive.items() if self.relations else ())}
        return {**self.columns, **derived}

    def file_for(self, period: int) -> Path:
        """The export of one period: ``{period}`` in the configured path is the round's year."""
        return Path(str(self.file).replace("{period}", str(period)))


@dataclass(frozen=True)
class IndicatorConfig:
    """An indicator this node offers: a child counts once if any record satisfies it."""

    name: str
    dataset: str
    column: str
    equals: str | None = None
    below: float | None = None  # for an int or number column: the indicator holds when the value is below this
    values: tuple[str, ...] = ()  # any of these codes counts (compared without case)
    # codes that are known and do not count; with them declared, any other code is an error
    others: tuple[str, ...] | None = None
    where: str = ""  # "datasets.toml line 31"

    def counted(self) -> tuple[str, ...]:
        """The codes that count: ``values``, or the one ``equals``."""
        return self.values or ((self.equals,) if self.equals is not None else ())


@dataclass(frozen=True)
class NodeConfig:
    name: str
    aggregator: str
    tls: TlsPaths
    linkage_secret: Path
    ledger: Path
    privacy_total: float
    on_invalid: Literal["fail", "exclude"]
    datasets: tuple[DatasetConfig, ...]
    indicators: tuple[IndicatorConfig, ...]
    poll_seconds: float
    source: Path
    crl: Path | None = None  # the federation CA's revocation list, re-read when it changes
    max_excluded_share: float = 0.05  # refuse a round when more of a dataset's rows are excluded
    test_only_small_keys: bool = False  # accept 1024-bit Paillier keys: tests only, never in production

    def dataset(self, name: str) -> DatasetConfig:
        for d in self.datasets:
            if d.name == name:
                return d
        raise KeyError(name)

    def indicator(self, name: str) -> IndicatorConfig:
        for i in self.indicators:
            if i.name == name:
                return i
        raise KeyError(name)

    @property
    def spine_dataset(self) -> DatasetConfig | None:
        return next((d for d in self.datasets if d.spine), None)


def load_node_config(path: Path) -> NodeConfig:
    """Read a node config; its data folder's ``datasets.toml`` declares datasets and indicators."""
    raw = _read(path)
    c = _Checker(Path(path), raw)
    name = c.get("name", str)
    aggregator = c.get("aggregator", str)
    secret = c.path("linkage_secret")
    ledger = c.get("ledger", str, "ledger.sqlite")
    total = c.get("privacy_total", (int, float))
    if total is not None and not 0 < total <= 100:
        c.bad("privacy_total", "a total privacy loss in (0, 100] per dataset and period")
    on_invalid = c.get("on_invalid", str, "fail")
    if on_invalid not in ("fail", "exclude"):
        c.bad("on_invalid", "\"fail\" (the round fails on a bad record) or \"exclude\" (the record is left out and counted)")
    poll = c.get("poll_seconds", (int, float), 20)
    crl = c.path("crl") if "crl" in raw else None
    max_excluded = c.get("max_excluded_share", (int, float), 0.05)
    if max_excluded is not None and not 0 <= max_excluded < 1:
        c.bad("max_excluded_share", "a share in [0, 1): a round is refused when more of a dataset's rows are excluded")
    small_keys = c.get("test_only_small_keys", bool, False)
    data_dir = c.path("data_dir")
    tls = _tls(c)
    datasets: list[DatasetConfig] = []
    indicators: list[IndicatorConfig] = []
    if data_dir is not None and data_dir.exists():
        datasets, indicators = _load_datasets(data_dir / "datasets.toml", c)
    c.finish()
    base = Path(path).parent
    return NodeConfig(name=name, aggregator=aggregator, tls=tls, linkage_secret=secret,  # type: ignore[arg-type]
                      ledger=(base / ledger).resolve(), privacy_total=float(total),  # type: ignore[arg-type]
                      on_invalid=on_invalid, datasets=tuple(datasets),  # type: ignore[arg-type]
                      indicators=tuple(indicators), poll_seconds=float(poll), source=Path(path),  # type: ignore[arg-type]
                      crl=crl, max_excluded_share=float(max_excluded),  # type: ignore[arg-type]
                      test_only_small_keys=bool(small_keys))


def reload_datasets(config: NodeConfig) -> NodeConfig:
    """The node config with its data folder's ``datasets.toml`` read again: a node reads it at
    every round's join, so a corrected mapping applies from the next round, without a restart
    (an invalid one refuses that round with the file's fields, and the node keeps running)."""
    return dataclasses.replace(config, datasets=(fresh := load_node_config(config.source)).datasets,
                               indicators=fresh.indicators)


def _check_area_lookup(c: _Checker, p: str, spine: bool, cols: dict[str, str]) -> None:
    """``area_lookup``: on the spine, with postcode and huisnummer columns, and no area columns."""
    if not spine:
        c.bad(p + "area_lookup", "only the spine dataset is placed in areas; remove area_lookup here")
    need = [col for col in ("postcode", "huisnummer") if col not in cols]
    if need:
        c.bad(p + "columns", f"area_lookup derives the wijk and buurt from the columns postcode and huisnummer; "
                             f"declare {' and '.join(need)} (huisnummer as \"str\" to allow additions like 12a)")
    both = [col for col in ("wijk_code", "buurt_code") if col in cols]
    if both:
        c.bad(p + "area_lookup", f"the dataset declares {', '.join(both)} and an area_lookup: take the areas "
                                 "from the file (remove area_lookup) or from the table (remove the column(s))")


def table_lines(text: str, array: str) -> list[int]:
    """The 1-based line of each ``[[array]]`` table in a TOML text, in order."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if re.match(rf"^\s*\[\[\s*{array}\s*\]\]", line)]


def _layout(c: _Checker, d: dict[str, Any], p: str, cols: dict[str, str]) -> ExportLayout:
    """A dataset's ``read``, ``rename`` and ``dates`` tables."""
    read = c.get("read", dict, {}, table=d, prefix=p) or {}
    settings, problems = check_layout(read)
    for key, why in problems:
        c.bad(f"{p}read.{key}", why)
    rename = c.get("rename", dict, {}, table=d, prefix=p) or {}
    for holder, ours in rename.items():
        if not isinstance(ours, str) or ours not in cols:
            c.bad(f"{p}rename.{holder}", f"the federation's name of the column, one of the declared columns "
                                         f"({', '.join(cols)}), got {ours!r}")
    if len(set(rename.values())) != len(rename):
        c.bad(f"{p}rename", "two of the export's columns are mapped to one column")
    dates = c.get("dates", dict, {}, table=d, prefix=p) or {}
    for col, fmt in dates.items():
        if cols.get(col) != "date":
            c.bad(f"{p}dates.{col}", f"{col!r} is not a declared date column")
        elif not isinstance(fmt, str) or "%" not in fmt:
            c.bad(f"{p}dates.{col}", f"a date format such as \"%d-%m-%Y\" or \"%Y%m%d\", got {fmt!r}")
    return ExportLayout(**settings, rename=dict(rename), date_formats=dict(dates))  # type: ignore[arg-type]


def _relations(c: _Checker, d: dict[str, Any], p: str, cols: dict[str, str]) -> Relations | None:
    """A dataset's ``derive`` (new column -> derivation) and ``relations`` (which columns hold them)."""
    derive = c.get("derive", dict, {}, table=d, prefix=p) or {}
    rel = c.get("relations", dict, {}, table=d, prefix=p) or {}
    if not derive:
        if rel:
            c.bad(p + "relations", "relations are read only to derive fields: add a [datasets.derive] table")
        return None
    for col, how in derive.items():
        if how not in DERIVATIONS:
            c.bad(f"{p}derive.{col}", f"one of {', '.join(DERIVATIONS)}, got {how!r}")
        if col in cols:
            c.bad(f"{p}derive.{col}", f"{col!r} is a column of the export already; derive it under another name "
                                      "or remove it from columns")
    base = Relations()
    parents = rel.get("parents", list(base.parents))
    female = rel.get("female", list(base.female))
    if not (isinstance(parents, list) and 1 <= len(parents) <= 2 and all(isinstance(x, str) for x in parents)):
        c.bad(p + "relations.parents", f"the one or two columns of the parents' BSNs, got {parents!r}")
        parents = list(base.parents)
    if not (isinstance(female, list) and female and all(isinstance(x, str) for x in female)):
        c.bad(p + "relations.female", f"the codes of the sex column that mean female, got {female!r}")
        female = list(base.female)
    named = {"address": rel.get("address", base.address), "sex": rel.get("sex", base.sex),
             "born": rel.get("born", base.born)}
    unknown = set(rel) - {"parents", "female", *named}
    for key in sorted(unknown):
        c.bad(f"{p}relations.{key}", "unknown; relations takes parents, address, sex, born and female")
    needs = {"household_type": ["address", "born", *parents], "mother_age_at_first_child": ["sex", "born", *parents],
             "age": ["born"]}
    for col, how in derive.items():
        for need in needs.get(how, []):
            column = named.get(need, need)
            if column not in cols:
                key = f"relations.{need}" if need in named else "relations.parents"
                c.bad(p + key, f"{how} reads the column {column!r}: declare it in columns (or name the column "
                               f"that holds it here)")
    return Relations(tuple(parents), str(named["address"]), str(named["sex"]), str(named["born"]),
                     tuple(female), dict(derive))


def _codes(c: _Checker, ind: dict[str, Any], p: str, key: str) -> tuple[str, ...] | None:
    value = ind.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) and str(v) for v in value):
        c.bad(p + key, f"a list of codes, e.g. {key} = [\"JZ21\", \"JZ22\"], got {value!r}")
        return None
    return tuple(str(v) for v in value)


def _load_datasets(path: Path, outer: _Checker) -> tuple[list[DatasetConfig], list[IndicatorConfig]]:
    try:
        raw = _read(path)
        text = path.read_text(encoding="utf-8")
    except ConfigError as exc:
        outer.bad("data_dir", str(exc))
        return [], []
    ds_lines, ind_lines = table_lines(text, "datasets"), table_lines(text, "indicators")

    def line(lines: list[int], i: int) -> str:
        return f"{path.name} line {lines[i]}" if i < len(lines) else path.name
    c = _Checker(path, raw)
    datasets: list[DatasetConfig] = []
    for i, d in enumerate(c.get("datasets", list) or []):
        p = f"datasets[{i}]."
        name = c.get("name", str, table=d, prefix=p)
        file = c.path("file", table=d, prefix=p, must_exist="{period}" not in str(d.get("file", "")))
        id_col = c.get("id_column", str, table=d, prefix=p)
        cols = c.get("columns", dict, table=d, prefix=p) or {}
        for col, kind in cols.items():
            if kind not in COLUMN_KINDS:
                c.bad(f"{p}columns.{col}", f"one of {', '.join(COLUMN_KINDS)}, got {kind!r}")
        if id_col and id_col not in cols:
            c.bad(f"{p}id_column", f"{id_col!r} is not among the declared columns")
        spine = c.get("spine", bool, False, table=d, prefix=p)
        idents = c.get("identifiers", dict, {}, table=d, prefix=p) or {}
        for col, kind in idents.items():
            if kind not in IDENTIFIER_KINDS:
                c.bad(f"{p}identifiers.{col}", f"one of {', '.join(IDENTIFIER_KINDS)}, got {kind!r}")
            elif col not in cols:
                c.bad(f"{p}identifiers.{col}", f"{col!r} is not among the declared columns")
        if len(set(idents.values())) != len(idents):
            c.bad(f"{p}identifiers", "each identifier kind may name one column")
        lookup = c.path("area_lookup", table=d, prefix=p) if "area_lookup" in d else None
        if "area_lookup" in d:
            _check_area_lookup(c, p, bool(spine), cols)
        layout = _layout(c, d, p, cols)
        valid = [c.get(k, str, None, table=d, prefix=p) for k in ("valid_from", "valid_to")]
        for key, col in zip(("valid_from", "valid_to"), valid):
            if col is not None and cols.get(col) != "date":
                c.bad(p + key, f"{col!r} is not a declared date column")
        if (valid[0] is None) != (valid[1] is None):
            c.bad(p + "valid_from", "a file that spans several years needs both valid_from and valid_to "
                                    "(the columns of each row's start and end date)")
        relations = _relations(c, d, p, cols)
        if name and file and id_col:
            datasets.append(DatasetConfig(name, file, id_col, dict(cols), bool(spine), dict(idents), lookup, layout,
                                          valid[0], valid[1], line(ds_lines, i), relations))
    names = {d.name for d in datasets}
    if sum(d.spine for d in datasets) > 1:
        c.bad("datasets", "at most one dataset is the spine")
    indicators: list[IndicatorConfig] = []
    for i, ind in enumerate(c.get("indicators", list, []) or []):
        p = f"indicators[{i}]."
        name = c.get("name", str, table=ind, prefix=p)
        ds = c.get("dataset", str, table=ind, prefix=p)
        col = c.get("column", str, table=ind, prefix=p)
        eq = c.get("equals", str, None, table=ind, prefix=p)
        below = c.get("below", (int, float), None, table=ind, prefix=p)
        values, others = _codes(c, ind, p, "values"), _codes(c, ind, p, "others")
        if sum(x is not None for x in (eq, below, values)) > 1:
            c.bad(p + "values", "one of equals, values or below says when the indicator holds")
        if others is not None and values is None and eq is None:
            c.bad(p + "others", "others lists the codes that do not count, beside values (the ones that do)")
        if values and others and set(map(str.lower, values)) & set(map(str.lower, others)):
            c.bad(p + "others", "a code is in both values and others")
        if ds and ds not in names:
            c.bad(p + "dataset", f"unknown dataset {ds!r}")
        elif ds and col and col not in next(d for d in datasets if d.name == ds).all_columns:
            c.bad(p + "column", f"{col!r} is not a declared column of dataset {ds!r}")
        if name and ds and col:
            indicators.append(IndicatorConfig(name, ds, col, eq, below, values or (), others, line(ind_lines, i)))
    try:
        c.finish()
    except ConfigError as exc:
        outer.bad("data_dir", str(exc))
    return datasets, indicators


