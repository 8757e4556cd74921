"""``wijkindex node check``: a holder's own look at its exports before any round.

Reads every dataset the node serves through its mapping, exactly as a round would
(loading.read_dataset), and reports what it found: rows read and excluded, grouped by column
and reason with the first row numbers, birth dates outside the index's ages, each indicator's
share, and which indicators of the default index the node can serve. The report is for the
holder's own staff: it may show row numbers and counts of its own file, it is written to a local
file and printed, and nothing is sent anywhere (this module opens no connection).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from wijkindex.config import DatasetConfig, NodeConfig
from wijkindex.errors import WijkindexError
from wijkindex.nodes.loading import holds, read_dataset

MAX_AGE = 17  # the index's oldest age (protocol.spec.DEFAULT_AGE_BANDS)
SHOWN_ROWS = 5


@dataclass
class DatasetCheck:
    """What one dataset's export holds, as the node reads it."""

    name: str
    file: str
    n_read: int = 0
    n_excluded: int = 0  # rows with an invalid value
    n_kept: int = 0  # rows read, valid, and (a file spanning years) valid on the reference date
    n_children: int = 0  # distinct identifiers among the kept rows (several rows per child are normal)
    n_repeated: int = 0  # kept rows identical in every declared column to an earlier one (a double export?)
    issues: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (column, reason) -> rows
    ages: dict[str, int] = field(default_factory=dict)  # "born after the reference date", "older than 17"
    shares: dict[str, float] = field(default_factory=dict)  # indicator -> share of the kept rows
    error: str = ""  # the file could not be read at all

    @property
    def n_other_dates(self) -> int:
        """Valid rows of other periods than the reference date's (valid_from, valid_to)."""
        return self.n_read - self.n_excluded - self.n_kept


@dataclass
class NodeCheck:
    node: str
    period: int
    reference_date: date
    datasets: list[DatasetCheck]
    serves: dict[str, bool]  # default-index indicator -> whether this node declares it

    @property
    def ok(self) -> bool:
        return not any(d.error for d in self.datasets)


def _reason(text: str) -> str:
    """An issue's reason without the value it quotes ("... (value '12')" is the log's)."""
    return text.split(" (value ", 1)[0]


def check_dataset(config: NodeConfig, ds: DatasetConfig, period: int, on: date) -> DatasetCheck:
    out = DatasetCheck(ds.name, ds.file_for(period).name)
    try:
        loaded, _ = read_dataset(config, ds, period, on, "exclude")
    except WijkindexError as exc:
        out.error = exc.message
        return out
    out.n_read, out.n_excluded, out.n_kept = loaded.n_read, loaded.n_excluded, len(loaded.frame)
    for issue in loaded.issues:
        rows = out.issues.setdefault((str(issue.location.column), _reason(issue.reason)), [])
        if issue.location.row is not None:
            rows.append(issue.location.row)
    frame = loaded.frame
    ids = frame[ds.id_column].astype(str)
    out.n_children = int(ids[ids != ""].nunique())
    out.n_repeated = int(frame.astype(str).duplicated().sum())
    born = next((c for c, k in ds.columns.items() if k == "date" and c == "geboortedatum"), None)
    if born is not None and len(frame):
        day = pd.Timestamp(on)
        b = pd.to_datetime(frame[born])
        age = day.year - b.dt.year - ((b.dt.month > day.month) | ((b.dt.month == day.month) & (b.dt.day > day.day)))
        out.ages = {"born after the reference date": int((b > day).sum()),
                    f"older than {MAX_AGE} on the reference date": int((age > MAX_AGE).sum())}
    for ind in config.indicators:
        if ind.dataset == ds.name and len(frame):
            out.shares[ind.name] = float(holds(ind, frame[ind.column]).mean())
    return out


def default_index_indicators() -> list[str]:
    """Every indicator the default index definition reads: its domains' and its relative risks'."""
    from wijkindex.estimators.composite import IndexDefinition
    from wijkindex.estimators.relative_risk import load_relative_risks

    names = [i for d in IndexDefinition.load().domains for i in d.weights]
    for rr in load_relative_risks():
        names += [rr.exposure, rr.outcome]
    return list(dict.fromkeys(names))


def check_node(config: NodeConfig, period: int) -> NodeCheck:
    on = date(period, 1, 1)  # as a round takes ages and residence (RoundSpec.reference_date)
    checks = [check_dataset(config, ds, period, on) for ds in config.datasets]
    declared = {i.name for i in config.indicators}
    return NodeCheck(config.name, period, on, checks, {i: i in declared for i in default_index_indicators()})


def _rows(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
    return shown + (f" and {len(rows) - SHOWN_ROWS} more" if len(rows) > SHOWN_ROWS else "")


def render_text(c: NodeCheck) -> str:
    lines = [f"node {c.node}: exports of period {c.period} (reference date {c.reference_date})", ""]
    for d in c.datasets:
        lines.append(f"dataset {d.name} ({d.file})")
        if d.error:
            lines += [f"  cannot be read: {line}" for line in d.error.splitlines()]
            lines.append("")
            continue
        share = d.n_excluded / d.n_read if d.n_read else 0.0
        other = f", not valid on {c.reference_date} {d.n_other_dates:,}" if d.n_other_dates else ""
        lines.append(f"  rows read {d.n_read:,}, excluded {d.n_excluded:,} ({share:.1%}){other}, kept {d.n_kept:,} "
                     f"of {d.n_children:,} distinct persons")
        for (column, reason), rows in sorted(d.issues.items(), key=lambda kv: -len(kv[1])):
            lines.append(f"  - {len(rows):,} x column {column!r}: {reason} (rows {_rows(rows)})")
        if d.n_repeated:
            lines.append(f"  - {d.n_repeated:,} row(s) identical to an earlier row in every column: exported twice?")
        for what, n in d.ages.items():
            if n:
                lines.append(f"  - {n:,} row(s) {what}: not counted in any age band")
        for ind, s in d.shares.items():
            lines.append(f"  indicator {ind}: {s:.1%} of the kept rows")
        lines.append("")
    served = [i for i, ok in c.serves.items() if ok]
    lines.append(f"default index: this node serves {len(served)} of its {len(c.serves)} indicators"
                 + (f" ({', '.join(served)})" if served else ""))
    lines.append("nothing was sent: this report is for the holder only")
    return "\n".join(lines) + "\n"


def render_html(c: NodeCheck) -> str:
    """The same report as a self-contained page (no script, no remote resource)."""
    e = html.escape
    parts = [f"<h1>Controle van de exports: node {e(c.node)}</h1>",
             f"<p>Periode {c.period}, peildatum {c.reference_date}. Niets is verzonden: dit rapport is alleen voor "
             "de eigen organisatie.</p>"]
    for d in c.datasets:
        parts.append(f"<h2>Dataset {e(d.name)} <small>({e(d.file)})</small></h2>")
        if d.error:
            parts.append(f"<pre class=err>{e(d.error)}</pre>")
            continue
        other = f", niet geldig op de peildatum {d.n_other_dates:,}" if d.n_other_dates else ""
        parts.append(f"<p>Rijen gelezen {d.n_read:,}, uitgesloten {d.n_excluded:,}{other}, "
                     f"behouden {d.n_kept:,} van {d.n_children:,} verschillende personen.</p>")
        if d.issues:
            parts.append("<table><tr><th>kolom</th><th>reden</th><th>aantal</th><th>eerste rijen</th></tr>")
            for (column, reason), rows in sorted(d.issues.items(), key=lambda kv: -len(kv[1])):
                parts.append(f"<tr><td>{e(column)}</td><td>{e(reason)}</td><td>{len(rows):,}</td>"
                             f"<td>{e(_rows(rows))}</td></tr>")
            parts.append("</table>")
        extra = [f"<li>{n:,} rij(en): {e(what)}</li>" for what, n in d.ages.items() if n]
        if d.n_repeated:
            extra.insert(0, f"<li>{d.n_repeated:,} rij(en) gelijk aan een eerdere rij in elke kolom: dubbel "
                            "geëxporteerd?</li>")
        extra += [f"<li>indicator {e(i)}: {s:.1%} van de behouden rijen</li>" for i, s in d.shares.items()]
        if extra:
            parts.append("<ul>" + "".join(extra) + "</ul>")
    parts.append("<h2>Standaardindex</h2><table><tr><th>indicator</th><th>deze node</th></tr>"
                 + "".join(f"<tr><td>{e(i)}</td><td>{'ja' if ok else '-'}</td></tr>" for i, ok in c.serves.items())
                 + "</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}.err{color:#a00}")
    return (f"<!doctype html><html lang=nl><head><meta charset=utf-8><title>node check {e(c.node)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(c: NodeCheck, path: Path) -> Path:
    """The report as HTML (``.html``) or text (anything else), written whole or not at all."""
    import os
    import tempfile

    text = render_html(c) if path.suffix.lower() in (".html", ".htm") else render_text(c)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
