"""The aggregator's durable state in SQLite: rounds, node progress, relay, releases, audit log.

WAL mode and one transaction per state change, so a kill at any point leaves either
the old or the new state. The round's Paillier private key is deleted when the round
ends (completed or failed), so a later compromise of the database opens no old round.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS rounds (
    round_id TEXT PRIMARY KEY,
    nonce TEXT NOT NULL UNIQUE,
    spec_toml TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    coordinator TEXT NOT NULL,
    period INTEGER NOT NULL,
    gemeente TEXT NOT NULL,
    public_key BLOB NOT NULL,
    cells_json TEXT NOT NULL,
    layout_json TEXT NOT NULL,
    deadline REAL NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS round_signatures (
    round_id TEXT PRIMARY KEY REFERENCES rounds(round_id),
    signature BLOB NOT NULL,
    certificate_pem BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS round_keys (
    round_id TEXT PRIMARY KEY REFERENCES rounds(round_id),
    private_key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS round_nodes (
    round_id TEXT NOT NULL REFERENCES rounds(round_id),
    party TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    envelope_key BLOB,
    key_signature BLOB,
    certificate_pem BLOB,
    cost_json TEXT,
    PRIMARY KEY (round_id, party)
);
CREATE TABLE IF NOT EXISTS relay (
    round_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    seq INTEGER NOT NULL,
    total INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    PRIMARY KEY (round_id, sender, recipient, seq)
);
CREATE TABLE IF NOT EXISTS releases (
    round_id TEXT NOT NULL,
    party TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (round_id, party)
);
CREATE TABLE IF NOT EXISTS round_index (
    round_id TEXT PRIMARY KEY,
    arrow_ipc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    round_id TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
"""

TERMINAL = ("completed", "failed")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RoundRow:
    round_id: str
    nonce: str
    spec_toml: str
    state: str
    reason: str
    coordinator: str
    period: int
    gemeente: str
    public_key: bytes
    cells_json: str
    layout_json: str
    deadline: float
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class NodeRow:
    round_id: str
    party: str
    state: str
    detail: str
    envelope_key: bytes | None
    key_signature: bytes | None
    certificate_pem: bytes | None
    cost_json: str | None


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: str
    actor: str
    action: str
    round_id: str
    outcome: str
    detail: str


class Store:
    """Thread-safe access to the aggregator database (one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change: BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # ---- rounds -------------------------------------------------------------------

    def create_round(self, row: RoundRow, private_key: bytes, parties: list[str], *,
                     signature: bytes = b"", certificate_pem: bytes = b"") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                row.round_id, row.nonce, row.spec_toml, row.state, row.reason, row.coordinator, row.period,
                row.gemeente, row.public_key, row.cells_json, row.layout_json, row.deadline,
                row.created_at, row.updated_at))
            db.execute("INSERT INTO round_signatures VALUES (?,?,?)", (row.round_id, signature, certificate_pem))
            db.execute("INSERT INTO round_keys VALUES (?,?)", (row.round_id, private_key))
            db.executemany("INSERT INTO round_nodes (round_id, party, state) VALUES (?,?,'invited')",
                           [(row.round_id, p) for p in parties])

    def spec_signature(self, round_id: str) -> tuple[bytes, bytes]:
        """(signature, coordinator certificate PEM) of a round's spec; empty when it has none."""
        rows = self._query("SELECT signature, certificate_pem FROM round_signatures WHERE round_id=?", (round_id,))
        return (bytes(rows[0][0]), bytes(rows[0][1])) if rows else (b"", b"")

    def round_exists(self, round_id: str, nonce: str) -> bool:
        return bool(self._query("SELECT 1 FROM rounds WHERE round_id=? OR nonce=?", (round_id, nonce)))

    def get_round(self, round_id: str) -> RoundRow | None:
        rows = self._query("SELECT * FROM rounds WHERE round_id=?", (round_id,))
        return RoundRow(*rows[0]) if rows else None

    def list_rounds(self, states: tuple[str, ...] | None = None) -> list[RoundRow]:
        if states:
            marks = ",".join("?" * len(states))
            rows = self._query(f"SELECT * FROM rounds WHERE state IN ({marks}) ORDER BY created_at", states)
        else:
            rows = self._query("SELECT * FROM rounds ORDER BY created_at")
        return [RoundRow(*r) for r in rows]

    def set_round_state(self, round_id: str, state: str, reason: str = "", *, expect: str | None = None) -> bool:
        """Move a round on; with ``expect`` only from that state (so two threads never both advance it)."""
        with self.transaction() as db:
            cur = db.execute("SELECT state FROM rounds WHERE round_id=?", (round_id,)).fetchone()
            if cur is None or cur[0] in TERMINAL or (expect is not None and cur[0] != expect):
                return False
            db.execute("UPDATE rounds SET state=?, reason=?, updated_at=? WHERE round_id=?",
                       (state, reason, now(), round_id))
            if state in TERMINAL:
                db.execute("DELETE FROM round_keys WHERE round_id=?", (round_id,))
                db.execute("DELETE FROM relay WHERE round_id=?", (round_id,))
            return True

    def private_key(self, round_id: str) -> bytes | None:
        rows = self._query("SELECT private_key FROM round_keys WHERE round_id=?", (round_id,))
        return rows[0][0] if rows else None

    # ---- nodes --------------------------------------------------------------------

    def nodes(self, round_id: str) -> list[NodeRow]:
        return [NodeRow(*r) for r in self._query(
            "SELECT round_id, party, state, detail, envelope_key, key_signature, certificate_pem, cost_json "
            "FROM round_nodes WHERE round_id=? ORDER BY party", (round_id,))]

    def node(self, round_id: str, party: str) -> NodeRow | None:
        rows = [n for n in self.nodes(round_id) if n.party == party]
        return rows[0] if rows else None

    def rounds_of(self, party: str) -> list[tuple[RoundRow, NodeRow]]:
        """Open rounds this party takes part in, oldest first."""
        out = []
        for r in self.list_rounds(states=("joining", "sealing", "aggregating")):
            n = self.node(r.round_id, party)
            if n is not None:
                out.append((r, n))
        return out

    def set_node(self, round_id: str, party: str, state: str, detail: str = "", *,
                 envelope_key: bytes | None = None, key_signature: bytes | None = None,
                 certificate_pem: bytes | None = None, cost: dict | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE round_nodes SET state=?, detail=?, envelope_key=COALESCE(?, envelope_key), "
                "key_signature=COALESCE(?, key_signature), certificate_pem=COALESCE(?, certificate_pem), "
                "cost_json=COALESCE(?, cost_json) WHERE round_id=? AND party=?",
                (state, detail, envelope_key, key_signature, certificate_pem,
                 json.dumps(cost) if cost is not None else None, round_id, party))
            db.execute("UPDATE rounds SET updated_at=? WHERE round_id=?", (now(), round_id))

    # ---- relay and releases -------------------------------------------------------

    def put_relay(self, round_id: str, sender: str, chunks: list[tuple[str, int, int, bytes]]) -> bool:
        """Store a whole upload at once (a broken stream stores nothing); False if this sender
        already relayed to one of these recipients (nothing is relayed twice)."""
        with self.transaction() as db:
            for rcpt in {c[0] for c in chunks}:
                if db.execute("SELECT 1 FROM relay WHERE round_id=? AND sender=? AND recipient=? LIMIT 1",
                              (round_id, sender, rcpt)).fetchone():
                    return False
            db.executemany("INSERT INTO relay VALUES (?,?,?,?,?,?)",
                           [(round_id, sender, rcpt, seq, total, env) for rcpt, seq, total, env in chunks])
        return True

    def relay_for(self, round_id: str, recipient: str) -> Iterator[tuple[str, int, int, bytes]]:
        """(sender, seq, total, envelope) of every chunk addressed to ``recipient``."""
        keys = self._query("SELECT sender, seq FROM relay WHERE round_id=? AND recipient=? ORDER BY sender, seq",
                           (round_id, recipient))
        for sender, seq in keys:  # one row at a time keeps memory flat for large spines
            rows = self._query("SELECT sender, seq, total, envelope FROM relay "
                               "WHERE round_id=? AND sender=? AND recipient=? AND seq=?",
                               (round_id, sender, recipient, seq))
            if rows:
                yield rows[0]

    def relay_edges(self, round_id: str) -> set[tuple[str, str]]:
        """(sender, recipient) pairs whose relay is stored."""
        return {(r[0], r[1]) for r in self._query(
            "SELECT DISTINCT sender, recipient FROM relay WHERE round_id=?", (round_id,))}

    def put_release(self, round_id: str, party: str, payload: bytes, node_state: str, cost: dict) -> bool:
        """Record a node's release once; a second release of the same round is refused."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM releases WHERE round_id=? AND party=?", (round_id, party)).fetchone():
                return False
            db.execute("INSERT INTO releases VALUES (?,?,?)", (round_id, party, payload))
            db.execute("UPDATE round_nodes SET state=?, cost_json=? WHERE round_id=? AND party=?",
                       (node_state, json.dumps(cost), round_id, party))
            return True

    def releases(self, round_id: str) -> dict[str, bytes]:
        return {r[0]: r[1] for r in self._query("SELECT party, payload FROM releases WHERE round_id=?", (round_id,))}

    def complete_round(self, round_id: str, arrow_ipc: bytes) -> bool:
        """Store the index and end the round in one transaction."""
        with self.transaction() as db:
            cur = db.execute("SELECT state FROM rounds WHERE round_id=?", (round_id,)).fetchone()
            if cur is None or cur[0] in TERMINAL:
                return False
            db.execute("INSERT OR REPLACE INTO round_index VALUES (?,?)", (round_id, arrow_ipc))
            db.execute("UPDATE rounds SET state='completed', reason='', updated_at=? WHERE round_id=?",
                       (now(), round_id))
            db.execute("DELETE FROM round_keys WHERE round_id=?", (round_id,))
            db.execute("DELETE FROM relay WHERE round_id=?", (round_id,))
            return True

    def index(self, round_id: str) -> bytes | None:
        rows = self._query("SELECT arrow_ipc FROM round_index WHERE round_id=?", (round_id,))
        return rows[0][0] if rows else None

    # ---- audit ----------------------------------------------------------------------

    def audit(self, actor: str, action: str, outcome: str, detail: str = "", round_id: str = "") -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO audit (at, actor, action, round_id, outcome, detail) VALUES (?,?,?,?,?,?)",
                       (now(), actor, action, round_id, outcome, detail))

    def audit_log(self, round_id: str | None = None) -> list[AuditRow]:
        if round_id is None:
            return [AuditRow(*r) for r in self._query("SELECT * FROM audit ORDER BY id")]
        return [AuditRow(*r) for r in self._query("SELECT * FROM audit WHERE round_id=? ORDER BY id", (round_id,))]
