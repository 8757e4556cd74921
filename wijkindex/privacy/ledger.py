"""A node's persistent privacy ledger: per dataset and period, what each round spent.

Every charge is one ``BEGIN IMMEDIATE`` SQLite transaction that checks the total and
records the entry; it is committed (WAL, synchronous=FULL) before ``charge`` returns, and
callers release only after that, so a crash can waste budget but never overspend it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from wijkindex.errors import BudgetExceeded

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
"""


@dataclass(frozen=True)
class LedgerEntry:
    dataset: str
    period: int
    round_id: str
    epsilon: float
    recorded_at: str
    purpose: str


class PrivacyLedger:
    def __init__(self, path: Path | str, total_epsilon: float) -> None:
        if not total_epsilon > 0:
            raise ValueError("the total privacy budget must be positive")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.total = float(total_epsilon)
        self._db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "PrivacyLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spent(self, dataset: str, period: int) -> float:
        row = self._db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM ledger WHERE dataset=? AND period=?",
                               (dataset, period)).fetchone()
        return float(row[0])

    def remaining(self, dataset: str, period: int) -> float:
        return max(0.0, self.total - self.spent(dataset, period))

    def would_fit(self, dataset: str, period: int, epsilon: float) -> bool:
        return self.spent(dataset, period) + epsilon <= self.total + _TOLERANCE

    def entries(self, dataset: str | None = None, period: int | None = None) -> list[LedgerEntry]:
        sql = "SELECT dataset, period, round_id, epsilon, recorded_at, purpose FROM ledger WHERE 1=1"
        args: list[object] = []
        if dataset is not None:
            sql += " AND dataset=?"
            args.append(dataset)
        if period is not None:
            sql += " AND period=?"
            args.append(period)
        return [LedgerEntry(*r) for r in self._db.execute(sql + " ORDER BY rowid", args).fetchall()]

    def charge(self, dataset: str, period: int, round_id: str, epsilon: float, purpose: str = "") -> LedgerEntry:
        """Record ``epsilon`` for a round, or raise BudgetExceeded and record nothing."""
        if not epsilon > 0:
            raise ValueError("a charge must be positive")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            spent = float(db.execute("SELECT COALESCE(SUM(epsilon), 0) FROM ledger WHERE dataset=? AND period=?",
                                     (dataset, period)).fetchone()[0])
            if spent + epsilon > self.total + _TOLERANCE:
                raise BudgetExceeded(
                    f"dataset {dataset!r}, period {period}: spent {spent:g} + requested {epsilon:g} "
                    f"> total {self.total:g} (round {round_id})")
            at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                db.execute("INSERT INTO ledger VALUES (?,?,?,?,?,?)", (dataset, period, round_id, epsilon, at, purpose))
            except sqlite3.IntegrityError:
                raise ValueError(f"round {round_id} was already charged to {dataset!r}/{period}") from None
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return LedgerEntry(dataset, period, round_id, epsilon, at, purpose)
