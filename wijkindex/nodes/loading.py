"""A node's data: reading its exports for a round, and the indicator predicates over them.

Loading refuses, before anything is charged or sent, a dataset whose rows are mostly
unusable (more than ``max_excluded_share`` excluded) or too few to publish anything, so a
round never spends budget on pure noise.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from wijkindex.config import DatasetConfig, IndicatorConfig, NodeConfig
from wijkindex.errors import InputFileError, Location, WijkindexError
from wijkindex.linkage.bsn import normalise_bsn
from wijkindex.linkage.records import CodeList, ColumnSpec, LoadedRecords, RecordIssue, load_records, shown_value
from wijkindex.nodes.derived import derive_fields
from wijkindex.nodes.context import LINK_COLUMN, RoundContext, SpinePlacement
from wijkindex.protocol import messages as m
from wijkindex.protocol.spec import ALL, SOURCE, JointIndicator, RoundSpec

log = logging.getLogger("wijkindex.node")


class UnusableData(WijkindexError):
    """A dataset is too damaged or too small for a round: refused before anything is charged."""

    code = "WI130"
    value_free = True
    fix = ("run `wijkindex node check --config node.toml` and correct the export, or raise max_excluded_share "
           "in the node config if the exclusions are expected")


def content_sha256(path: str | object) -> str:
    h = hashlib.sha256()
    with open(str(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_dataset(config: NodeConfig, ds: DatasetConfig, spec: RoundSpec) -> tuple[LoadedRecords, str]:
    """The dataset's export for the round's period, validated, and the SHA-256 of its content."""
    loaded, digest = read_dataset(config, ds, spec.period, spec.reference_date, config.on_invalid)
    path = ds.file_for(spec.period)
    if loaded.n_excluded:
        log.warning("%s: %d of %d records excluded (first: %s)", path, loaded.n_excluded, loaded.n_read,
                    loaded.issues[0] if loaded.issues else "")
    check_usable(loaded, ds.name, path.name, config.max_excluded_share, spec.min_cell_size)
    return loaded, digest


def read_dataset(config: NodeConfig, ds: DatasetConfig, period: int, on: date,
                 on_invalid: Literal["fail", "exclude"]) -> tuple[LoadedRecords, str]:
    """A dataset's export of ``period`` read through its mapping, the rows valid on ``on`` (the
    reference date) where the file spans several years, and the SHA-256 of its content: what a
    round and ``node check`` read alike."""
    path = ds.file_for(period)
    if not path.exists():
        raise InputFileError(f"dataset {ds.name}: no export for period {period} at {path} ({ds.where})",
                             public=f"dataset {ds.name}: no export for period {period} ({path.name})",
                             fix=f"put the export of {period} at {path}, or correct `file` of the dataset ({ds.where})")
    digest = content_sha256(path)
    fuzzy = bool(ds.identifiers) and not ds.spine
    # with identifiers, a missing or invalid BSN is not an error: the record links fuzzily
    cols = [ColumnSpec(name, "str" if fuzzy and (name == ds.id_column or name in ds.identifiers) else kind,  # type: ignore[arg-type]
                       empty_ok=name == ds.valid_to)  # an open end date
            for name, kind in ds.columns.items()]
    derive = None
    if ds.spine and ds.area_lookup is not None:  # the children's areas from their addresses
        from wijkindex.geography.lookup import area_deriver, load_area_lookup

        derive = area_deriver(load_area_lookup(ds.area_lookup))
    try:
        loaded = load_records(path, cols, on_invalid=on_invalid, dataset=ds.name,
                              unique=ds.id_column if ds.spine and ds.valid_from is None else None, derive=derive,
                              layout=ds.layout, codes=code_lists(config, ds))
    except InputFileError as exc:  # name the config the export is read by
        raise InputFileError(f"{exc.message}\n  (read as dataset {ds.name!r}, {ds.where})", public=exc.public,
                             fix=exc.fix) from None
    if ds.valid_from is not None:
        select_valid(loaded, ds, on)
    if ds.relations is not None:  # household type, the mother's age at her first child, from the relations
        loaded.frame = derive_fields(loaded.frame, ds.id_column, ds.relations, on)
    if fuzzy:
        split_bsns(loaded, ds, f"{path.parent.name}/{path.name}")
    return loaded, digest


def code_lists(config: NodeConfig, ds: DatasetConfig) -> dict[str, CodeList]:
    """Per code column of the dataset, the codes its indicators declare (values and others), where
    an indicator declares ``others``: with both lists given, any other code is an error."""
    out: dict[str, CodeList] = {}
    for i, ind in enumerate(config.indicators):
        if ind.dataset != ds.name or ind.others is None:
            continue
        known = {v.lower() for v in (*ind.counted(), *ind.others)}
        prev = out.get(ind.column)
        where = f"the values or others of indicator {ind.name!r} ({ind.where})"
        out[ind.column] = CodeList(frozenset(known | (prev.known if prev else set())),
                                   where if prev is None else f"{prev.where} or {where}")
    return out


def select_valid(loaded: LoadedRecords, ds: DatasetConfig, on: date) -> None:
    """Keep the rows valid on ``on`` (the peildatum): started on or before it and not ended before it."""
    f = loaded.frame
    start, end = pd.to_datetime(f[ds.valid_from]), pd.to_datetime(f[ds.valid_to])
    day = pd.Timestamp(on)
    keep = (start <= day) & (end.isna() | (end >= day))
    loaded.frame = f.loc[keep.to_numpy()].reset_index(drop=True)
    if ds.spine:  # one valid row per child on the day, as in a file of one period
        repeated = loaded.frame[ds.id_column].astype(str).duplicated(keep=False)
        if repeated.any():
            children = loaded.frame.loc[repeated.to_numpy(), ds.id_column].nunique()
            raise InputFileError(f"dataset {ds.name}: {int(repeated.sum())} rows of {children} children are valid "
                                 f"on {on} (a child's periods overlap; {ds.where})",
                                 public=f"dataset {ds.name}: {int(repeated.sum())} rows valid on {on} belong "
                                        f"to children with overlapping periods")


def check_usable(loaded: LoadedRecords, dataset: str, file: str, max_excluded_share: float, min_rows: int) -> None:
    if loaded.n_read and loaded.n_excluded / loaded.n_read > max_excluded_share:
        raise UnusableData(f"dataset {dataset} ({file}): {loaded.n_excluded:,} of {loaded.n_read:,} rows excluded "
                           f"({loaded.n_excluded / loaded.n_read:.1%}), more than max_excluded_share "
                           f"{max_excluded_share:.0%}; first: {loaded.issues[0] if loaded.issues else '?'}",
                           public=f"dataset {dataset} ({file}): {loaded.n_excluded:,} of {loaded.n_read:,} rows "
                                  f"excluded, more than the node's max_excluded_share {max_excluded_share:.0%}")
    usable = loaded.n_read - loaded.n_excluded
    if usable < min_rows:
        text = (f"dataset {dataset} ({file}): {usable:,} usable rows, fewer than the round's min_cell_size "
                f"{min_rows}: nothing could be published")
        raise UnusableData(text, public=text)


def split_bsns(loaded: LoadedRecords, ds: DatasetConfig, name: str) -> None:
    """Normalise the BSNs of a dataset with identifiers; an invalid one is set to "" (the record
    then links on its identifiers) and noted with its file, row and column."""
    out = []
    for row, raw in enumerate(loaded.frame[ds.id_column].astype(str).tolist(), start=1):
        v = raw.strip()
        if not v:
            out.append("")
            continue
        try:
            out.append(normalise_bsn(v))
        except ValueError as exc:
            out.append("")
            loaded.issues.append(RecordIssue(Location(name, row, ds.id_column), shown_value(v, "bsn"),
                                             f"{exc}; linked on its identifiers instead"))
    loaded.frame[ds.id_column] = out


def place_spine(config: NodeConfig, spec: RoundSpec, cells: tuple[m.Cell, ...], loaded: LoadedRecords,
                ) -> tuple[SpinePlacement, dict[str, int]]:
    """Each spine child's cell (area x age band on the reference date); children of the
    round's ages whose area is not among the signed cells count as excluded."""
    ds = config.spine_dataset
    assert ds is not None
    frame = loaded.frame.drop_duplicates(subset=[ds.id_column])
    area_col = "wijk_code" if spec.level == "wijk" else "buurt_code"
    areas = list(dict.fromkeys(c.area_code for c in cells))
    n_bands = len(spec.age_bands)
    mine = spec.own_areas(config.name, areas)  # in a region round, the spine's own gemeente's areas
    area_idx = frame[area_col].map(area_index(cells, mine))
    ref = spec.reference_date
    born = pd.to_datetime(frame["geboortedatum"])
    age = ref.year - born.dt.year - ((born.dt.month > ref.month) |
                                     ((born.dt.month == ref.month) & (born.dt.day > ref.day))).astype(int)
    band_idx = age.map(lambda a: spec.band_of(int(a)))
    in_ages = band_idx.notna()
    ok = area_idx.notna() & in_ages
    outside_areas = int((in_ages & area_idx.isna()).sum())
    counts = {"spine_children": int(ok.sum()), "spine_outside_ages": int((~in_ages).sum()),
              "spine_outside_areas": outside_areas}
    if outside_areas:
        log.warning("spine: %d children of the round's ages live outside the round's areas", outside_areas)
    if int(in_ages.sum()) and outside_areas / int(in_ages.sum()) > config.max_excluded_share:
        raise UnusableData(
            f"spine {ds.name}: {outside_areas:,} of {int(in_ages.sum()):,} children of the round's ages have an "
            f"area code ({area_col}) that is not among the round's signed cells",
            public=f"spine {ds.name}: {outside_areas:,} of {int(in_ages.sum()):,} children of the round's ages have "
                   f"an {area_col} not among the round's signed cells, more than max_excluded_share")
    if counts["spine_children"] < spec.min_cell_size:
        text = (f"spine {ds.name}: {counts['spine_children']} children in the round's cells, fewer than the "
                f"round's min_cell_size {spec.min_cell_size}: nothing could be published")
        raise UnusableData(text, public=text)
    cell = area_idx[ok].astype(int).to_numpy() * n_bands + band_idx[ok].astype(int).to_numpy()
    rows = frame.loc[ok.to_numpy()]
    return SpinePlacement(rows[ds.id_column].astype(str).to_numpy(), cell, rows,
                          age[ok].astype(int).to_numpy()), counts


def area_index(cells: tuple[m.Cell, ...], mine: set[str]) -> dict[str, int]:
    """{code a spine record may carry: index of the area it counts in}, for the areas in ``mine``:
    each area's own code and its members (small or uninhabited areas folded into it, signed with
    the cells), so a child whose record names a folded wijk is placed in the merged one."""
    out: dict[str, int] = {}
    for i, c in enumerate(dict((c.area_code, c) for c in cells).values()):
        if c.area_code in mine:
            out[c.area_code] = i
            out.update((code, i) for code in c.members)
    return out


def own_cells(spec: RoundSpec, party: str, cells: tuple[m.Cell, ...]) -> np.ndarray:
    """Which of the round's cells this spine counts (its releases are exactly 0 elsewhere)."""
    mine = spec.own_areas(party, (c.area_code for c in cells))
    return np.array([c.area_code in mine for c in cells], dtype=bool)


def holds(ind: IndicatorConfig, column: pd.Series) -> pd.Series:
    """Per record, whether the indicator holds: its column has one of the codes that count, is
    below the threshold, or (a 0/1 flag) is set."""
    if ind.counted():
        return column.astype(str).str.strip().str.lower().isin([v.lower() for v in ind.counted()])
    if ind.below is not None:
        below = pd.to_numeric(column, errors="coerce") < ind.below  # an unknown value (NA) does not count
        return below.fillna(False).astype(bool)
    return column.astype(bool)


def flagged_ids(config: NodeConfig, ctx: RoundContext, indicator: str) -> np.ndarray:
    """Identifiers of the children for whom any record satisfies the indicator (counted once):
    BSNs at the spine node, spine pseudonyms (hex) at a source node once it has linked. Within
    the indicator's scope: of its ages (a source's record's birth date, the spine's own at the
    spine) and, for a sub-population, among the children flagged by its population indicator."""
    ind = config.indicator(indicator)
    ds = config.dataset(ind.dataset)
    frame = ctx.data[ind.dataset].frame
    hit = holds(ind, frame[ind.column])
    scope = ctx.spec.scope(indicator)
    if LINK_COLUMN in frame.columns:
        if not scope.full_ages:
            hit &= _of_ages(frame, ds, ctx.spec, scope.low, scope.high)
        ids = frame.loc[(hit & (frame[LINK_COLUMN] != "")).to_numpy(), LINK_COLUMN].unique()
    else:
        ids = frame.loc[hit.to_numpy(), ds.id_column].astype(str).unique()
        if not scope.full_ages:
            ids = np.intersect1d(ids, spine_ids_of_ages(ctx, scope.low, scope.high))
    if scope.population not in (ALL, SOURCE):
        ids = np.intersect1d(ids, flagged_ids(config, ctx, scope.population))
    return ids


def spine_ids_of_ages(ctx: RoundContext, low: int, high: int) -> np.ndarray:
    placement = ctx.placement
    assert placement is not None and placement.ages is not None
    return placement.bsns[(placement.ages >= low) & (placement.ages <= high)]


def _of_ages(frame: pd.DataFrame, ds: DatasetConfig, spec: RoundSpec, low: int, high: int) -> pd.Series:
    """Which of a source dataset's records are of a child aged low..high on the reference date,
    by the record's own birth date (the dataset's identifier of kind date, or geboortedatum)."""
    column = next((c for c, kind in ds.identifiers.items() if kind == "date"), None)
    column = column or ("geboortedatum" if "geboortedatum" in frame.columns else None)
    if column is None:
        raise UnusableData(f"dataset {ds.name} has no birth date column, but an indicator of this round is "
                           f"limited to ages {low}-{high}", public=f"dataset {ds.name} has no birth date "
                           f"column for an indicator limited to ages {low}-{high}")
    ref = spec.reference_date
    born = pd.to_datetime(frame[column], errors="coerce")
    age = ref.year - born.dt.year - ((born.dt.month > ref.month) |
                                     ((born.dt.month == ref.month) & (born.dt.day > ref.day))).astype(int)
    return (age >= low) & (age <= high)


def population_ids(config: NodeConfig, ctx: RoundContext, denominator: str) -> np.ndarray:
    """At a source: the spine pseudonyms (hex) of the children linked to a record of the
    datasets whose indicators are rates of ``denominator`` (``population:NODE[@LOW-HIGH]``),
    of those ages by the record's birth date."""
    spec = ctx.spec
    low, high = spec.denominator_ages(denominator)
    datasets = {config.indicator(i).dataset for i in spec.node(config.name).indicators
                if spec.denominator_of(i) == denominator}
    ids: list[np.ndarray] = []
    for name in sorted(datasets):
        frame = ctx.data[name].frame
        keep = frame[LINK_COLUMN] != ""
        if (low, high) != (0, 17):
            keep &= _of_ages(frame, config.dataset(name), spec, low, high)
        ids.append(frame.loc[keep.to_numpy(), LINK_COLUMN].unique())
    return np.unique(np.concatenate(ids)) if ids else np.array([], dtype=object)


def joint_levels(config: NodeConfig, ctx: RoundContext, joint: JointIndicator) -> tuple[dict[str, int], bool]:
    """This node's part of a joint indicator: ({child id: levels to shift}, whether others drop out).

    ``all``: the children with every one of this node's attributes (shift 0); the others drop out.
    ``count``: how many of this node's attributes a child has, capped (children absent count 0).
    """
    mine = ctx.spec.joint_at(joint, config.name)
    if not mine:
        return {}, False
    hits = [set(flagged_ids(config, ctx, ind)) for ind in mine]
    if joint.kind == "all":
        return {i: 0 for i in set.intersection(*hits)}, True
    counts: dict[str, int] = {}
    for ids in hits:
        for i in ids:
            counts[i] = min(counts.get(i, 0) + 1, joint.cap)
    return counts, False
