"""A node's persistent privacy ledger and round journal, in one SQLite file.

The ledger bounds what a child can lose through one holder's data. An entry is keyed by
dataset, period *and* the SHA-256 of the export's content: what a round may still spend
on a dataset is its configured total less every charge to the same dataset and period
and every charge to the same content (so one file served for several periods shares one
budget, and a corrected export of a period shares the period's).

The journal records, per round id, that the node joined it, which step it began, and
that it released (with the release's bytes). A charge is written in the same
``BEGIN IMMEDIATE`` transaction that records the release, immediately before the node
sends anything derived from its data; a second task for a round id is refused, across
restarts, so a hostile aggregator cannot make a node release the same data twice with
fresh noise. WAL with synchronous=FULL: a crash can waste budget but never overspend.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from wijkindex.errors import BudgetExceeded, ConfigError, WijkindexError

_TOLERANCE = 1e-9
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    dataset TEXT NOT NULL,
    period INTEGER NOT NULL,
    round_id TEXT NOT NULL,
    epsilon REAL NOT NULL CHECK (epsilon > 0),
    recorded_at TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT '',
    UNIQUE (dataset, period, round_id)
);
CREATE TABLE IF NOT EXISTS journal (
    round_id TEXT PRIMARY KEY,
    period INTEGER NOT NULL,
    state TEXT NOT NULL,            -- joined, sealing, aggregating, released
    joined_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    release BLOB                    -- the release's bytes, exactly as sent
);
CREATE TABLE IF NOT EXISTS owner (
    node TEXT NOT NULL              -- the node whose budget this is: one ledger per node
);
CREATE TABLE IF NOT EXISTS audit (
    at TEXT NOT NULL,
    round_id TEXT NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


class ReplayRefused(WijkindexError):
    """A task for a round this node already joined, began or released."""

    code = "WI620"
    value_free = True
    fix = ("nothing to do at the node: a second task for one round is refused so that no data is released twice; "
           "start a new round (a new round id) if the first one failed")


@dataclass(frozen=True)
class LedgerEntry:
    dataset: str
    period: int
    round_id: str
    epsilon: float
    recorded_at: str
    purpose: str
    content_sha256: str = ""


@dataclass(frozen=True)
class Balance:
    """What one dataset has spent of one period's budget, and what is left."""

    dataset: str
    period: int
    spent: float
    left: float
    rounds: int
    last_charged: str


@dataclass(frozen=True)
class Charge:
    """What one release costs one dataset (an export, by the SHA-256 of its content)."""

    dataset: str
    content_sha256: str
    epsilon: float
    purpose: str = ""


@dataclass(frozen=True)
class AuditLine:
    at: str
    round_id: str
    step: str
    outcome: str
    detail: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PrivacyLedger:
    def __init__(self, path: Path | str, total_epsilon: float, owner: str | None = None) -> None:
        """Open (or create) the ledger at ``path``. ``owner``: the node whose ledger it is; a ledger
        another node has written is refused, so two nodes sharing a folder never share a budget."""
        if not total_epsilon > 0:
            raise ValueError("the total privacy budget must be positive")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.total = float(total_epsilon)
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(ledger)")}
        if "content_sha256" not in columns:  # a ledger written before entries carried the content hash
            self._db.execute("ALTER TABLE ledger ADD COLUMN content_sha256 TEXT NOT NULL DEFAULT ''")
        if owner is not None:
            self._claim(owner)

    def _claim(self, owner: str) -> None:
        row = self._db.execute("SELECT node FROM owner").fetchone()
        if row is None:
            self._db.execute("INSERT INTO owner (node) VALUES (?)", (owner,))
        elif row[0] != owner:
            self._db.close()
            raise ConfigError(f"{self.path} is the privacy ledger of node {row[0]!r}, not of {owner!r}",
                              fix=f"give node {owner!r} its own ledger (ledger = \"ledger-{owner}.sqlite\" "
                                  "in its config): a shared ledger would mix two holders' budgets")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "PrivacyLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the budget ------------------------------------------------------------------

    @staticmethod
    def _spent(db: sqlite3.Connection, dataset: str, period: int, content_sha256: str) -> float:
        row = db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM ledger WHERE (dataset=? AND period=?) "
                         "OR (content_sha256 != '' AND content_sha256=?)",
                         (dataset, period, content_sha256)).fetchone()
        return float(row[0])

    def spent(self, dataset: str, period: int, content_sha256: str = "") -> float:
        """Spent on this dataset and period, or on the same content in any period."""
        return self._spent(self._db, dataset, period, content_sha256)

    def remaining(self, dataset: str, period: int, content_sha256: str = "") -> float:
        return max(0.0, self.total - self.spent(dataset, period, content_sha256))

    def would_fit(self, dataset: str, period: int, epsilon: float, content_sha256: str = "") -> bool:
        return self.spent(dataset, period, content_sha256) + epsilon <= self.total + _TOLERANCE

    def balances(self) -> list[Balance]:
        """Per dataset and period charged: spent (counting the same export's content charged under
        another period, as a round's check does), left of the total, rounds, the last charge."""
        out = []
        rows = self._db.execute("SELECT dataset, period, COUNT(*), MAX(recorded_at), GROUP_CONCAT(content_sha256) "
                                "FROM ledger GROUP BY dataset, period ORDER BY period, dataset").fetchall()
        for dataset, period, n, last, contents in rows:
            spent = max(self.spent(dataset, period, c) for c in {*(contents or "").split(","), ""})
            out.append(Balance(dataset, period, spent, max(0.0, self.total - spent), n, last))
        return out

    def entries(self, dataset: str | None = None, period: int | None = None) -> list[LedgerEntry]:
        sql = ("SELECT dataset, period, round_id, epsilon, recorded_at, purpose, content_sha256 "
               "FROM ledger WHERE 1=1")
        args: list[object] = []
        if dataset is not None:
            sql += " AND dataset=?"
            args.append(dataset)
        if period is not None:
            sql += " AND period=?"
            args.append(period)
        return [LedgerEntry(*r) for r in self._db.execute(sql + " ORDER BY rowid", args).fetchall()]

    def _insert_charge(self, db: sqlite3.Connection, period: int, round_id: str, c: Charge, at: str) -> None:
        if not c.epsilon > 0:
            raise ValueError("a charge must be positive")
        spent = self._spent(db, c.dataset, period, c.content_sha256)
        if spent + c.epsilon > self.total + _TOLERANCE:
            raise BudgetExceeded(f"dataset {c.dataset!r}, period {period}: spent {spent:g} + requested "
                                 f"{c.epsilon:g} > total {self.total:g} (round {round_id})")
        try:
            db.execute("INSERT INTO ledger (dataset, period, round_id, epsilon, recorded_at, purpose, content_sha256) "
                       "VALUES (?,?,?,?,?,?,?)", (c.dataset, period, round_id, c.epsilon, at, c.purpose,
                                                  c.content_sha256))
        except sqlite3.IntegrityError:
            raise ValueError(f"round {round_id} was already charged to {c.dataset!r}/{period}") from None

    def charge(self, dataset: str, period: int, round_id: str, epsilon: float, purpose: str = "",
               content_sha256: str = "") -> LedgerEntry:
        """Record ``epsilon`` for a round, or raise BudgetExceeded and record nothing."""
        at = _now()
        with self._transaction() as db:
            self._insert_charge(db, period, round_id, Charge(dataset, content_sha256, epsilon, purpose), at)
        return LedgerEntry(dataset, period, round_id, epsilon, at, purpose, content_sha256)

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)

    # ---- the round journal -----------------------------------------------------------

    def round_state(self, round_id: str) -> str | None:
        row = self._db.execute("SELECT state FROM journal WHERE round_id=?", (round_id,)).fetchone()
        return row[0] if row else None

    def begin_round(self, round_id: str, period: int) -> None:
        """Record that this node joins ``round_id``; a second join of one round id is refused."""
        at = _now()
        try:
            with self._transaction() as db:
                db.execute("INSERT INTO journal VALUES (?,?,?,?,?,NULL)", (round_id, period, "joined", at, at))
        except sqlite3.IntegrityError:
            raise ReplayRefused(f"round {round_id}: this node joined it before "
                                f"(it is {self.round_state(round_id)}); a second join is refused") from None

    def begin_step(self, round_id: str, step: str) -> None:
        """Move a joined round to its one working step; any other state is a replay."""
        with self._transaction() as db:
            row = db.execute("SELECT state FROM journal WHERE round_id=?", (round_id,)).fetchone()
            if row is None:
                raise ReplayRefused(f"round {round_id}: a {step} task for a round this node never joined")
            if row[0] != "joined":
                raise ReplayRefused(f"round {round_id}: a {step} task, but this node's round is already "
                                    f"{row[0]}; a second step is refused")
            db.execute("UPDATE journal SET state=?, updated_at=? WHERE round_id=?", (step, _now(), round_id))

    def record_release(self, round_id: str, period: int, charges: Sequence[Charge], release: bytes) -> None:
        """Charge every dataset and record the release in one transaction, or change nothing.

        Checks the round is in a working step of this node and not released; BudgetExceeded
        if any charge does not fit (then nothing is charged and nothing may be sent).
        """
        at = _now()
        with self._transaction() as db:
            row = db.execute("SELECT state FROM journal WHERE round_id=?", (round_id,)).fetchone()
            if row is None or row[0] not in ("sealing", "aggregating"):
                raise ReplayRefused(f"round {round_id}: a release while this node's round is "
                                    f"{row[0] if row else 'unknown'}; refused")
            for c in charges:
                self._insert_charge(db, period, round_id, c, at)
            db.execute("UPDATE journal SET state='released', updated_at=?, release=? WHERE round_id=?",
                       (at, release, round_id))

    def stored_release(self, round_id: str) -> bytes | None:
        """The bytes of a recorded release (to resend unchanged after a crash, never re-noised)."""
        row = self._db.execute("SELECT release FROM journal WHERE round_id=? AND state='released'",
                               (round_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    # ---- the node's audit log --------------------------------------------------------

    def audit(self, round_id: str, step: str, outcome: str, detail: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO audit VALUES (?,?,?,?,?)", (_now(), round_id, step, outcome, detail[:2000]))

    def audit_lines(self, round_id: str | None = None) -> list[AuditLine]:
        sql, args = "SELECT at, round_id, step, outcome, detail FROM audit", []
        if round_id is not None:
            sql, args = sql + " WHERE round_id=?", [round_id]
        return [AuditLine(*r) for r in self._db.execute(sql + " ORDER BY rowid", args).fetchall()]


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
