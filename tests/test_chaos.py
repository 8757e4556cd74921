"""Chaos: rounds while processes are killed (SIGKILL) at random points and restarted.

The aggregator and three nodes run as separate processes. In each of ROUNDS rounds one of them
(or none) is killed at a random moment after the round is submitted and started again. After
every round the invariants must hold:

- the round ends, completed or failed with a reason, within its deadline (plus restart time);
- the aggregator's SQLite database passes its integrity check after every kill -9;
- nothing is released twice (one release per round and node, one index per round);
- a completed round has every node's release and an index, a failed one has no index;
- no release without the node's ledger record of it, and no dataset charged twice in a round.

WIJKINDEX_CHAOS_ROUNDS sets the number of rounds (default 50).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from wijkindex.clients import AggregatorClient
from wijkindex.errors import WijkindexError
from wijkindex.federation import Processes, lay_out, round_spec, start_processes, wait_healthy

pytestmark = pytest.mark.slow
ROUNDS = int(os.environ.get("WIJKINDEX_CHAOS_ROUNDS", "50"))
DEADLINE = 20


def _query(db: Path, sql: str, args: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _restart(procs: Processes, name: str, fed) -> None:  # type: ignore[no-untyped-def]
    logs = fed.root / "logs"
    if name == "aggregator":
        procs.start("aggregator", ["aggregator", "serve", "--config", str(fed.aggregator_config)],
                    logs / "aggregator.log")
        wait_healthy(fed.address, fed.credentials("coordinator"), timeout=60)
    else:
        node = name.removeprefix("node-")
        procs.start(name, ["node", "serve", "--config", str(fed.node_configs[node])], logs / f"{name}.log")


def test_rounds_survive_random_kills(tmp_path: Path, small_federation) -> None:
    rng = random.Random(int(os.environ.get("WIJKINDEX_CHAOS_SEED", "7")))
    fed = lay_out(tmp_path / "fed", small_federation.out_dir, nodes=tuple(small_federation.holders),
                  privacy_total=100.0, paillier_bits=1024, poll_seconds=1.0)
    os.environ["WIJKINDEX_WORKERS"] = "1"
    procs = start_processes(fed)
    db = fed.aggregator_config.parent / "aggregator.sqlite"
    ledgers = {n: cfg.parent / "ledger.sqlite" for n, cfg in fed.node_configs.items()}
    outcomes: dict[str, int] = {"completed": 0, "failed": 0}
    kills: dict[str, int] = {}
    try:
        for i in range(ROUNDS):
            rid = f"chaos-{i:03d}"
            spec = round_spec(small_federation.period, small_federation.gemeente_code, small_federation.holders,
                              epsilon=0.5, round_id=rid, deadline_seconds=DEADLINE, fuzzy=small_federation.fuzzy)
            victim = rng.choice([None, "aggregator", *(f"node-{n}" for n in fed.node_configs)])
            t0 = time.monotonic()
            with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=30) as c:
                c.submit_round(spec)
            if victim:
                time.sleep(rng.uniform(0.0, 3.0))
                procs.procs[victim].send_signal(signal.SIGKILL)
                procs.procs[victim].wait(timeout=10)
                kills[victim] = kills.get(victim, 0) + 1
                _restart(procs, victim, fed)
            state = None
            while time.monotonic() - t0 < DEADLINE + 40:
                try:
                    with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=10) as c:
                        status = c.round_status(rid)
                except WijkindexError:
                    time.sleep(0.5)
                    continue
                if status.finished:
                    state = status.state
                    assert state == "completed" or status.reason, f"{rid} failed without a reason"
                    break
                time.sleep(0.3)
            assert state in ("completed", "failed"), f"{rid} still {status.state} after the deadline (victim {victim})"
            outcomes[state] += 1

            # invariants, from the files themselves
            assert _query(db, "PRAGMA integrity_check") == [("ok",)], f"aggregator database damaged after {victim}"
            released = {p for (p,) in _query(db, "SELECT party FROM releases WHERE round_id=?", (rid,))}
            assert len(_query(db, "SELECT party FROM releases WHERE round_id=?", (rid,))) == len(released)
            has_index = bool(_query(db, "SELECT 1 FROM round_index WHERE round_id=?", (rid,)))
            if state == "completed":
                assert released == set(fed.node_configs) and has_index, rid
            else:
                assert not has_index, f"{rid} failed but has an index"
            for node, ledger in ledgers.items():
                if not ledger.exists():
                    assert node not in released
                    continue
                assert _query(ledger, "PRAGMA integrity_check") == [("ok",)]
                charged = _query(ledger, "SELECT dataset, COUNT(*) FROM ledger WHERE round_id=? GROUP BY dataset",
                                 (rid,))
                assert all(n == 1 for _, n in charged), f"{node} charged a dataset twice in {rid}"
                if node in released:
                    assert charged, f"{node} released in {rid} without a ledger record"
    finally:
        procs.stop()
    print(f"chaos: {ROUNDS} rounds, {outcomes}, kills {kills}")
    assert outcomes["completed"] > 0 and sum(kills.values()) >= ROUNDS // 2


def test_a_node_that_never_answers_fails_the_round_at_its_deadline(tmp_path: Path, small_federation) -> None:
    """The GGD's process is frozen (SIGSTOP) for a whole round: the round fails at its deadline
    with a reason that says so and releases nothing; thawed, the node takes part in the next."""
    fed = lay_out(tmp_path / "fed", small_federation.out_dir, nodes=tuple(small_federation.holders),
                  privacy_total=100.0, paillier_bits=1024, poll_seconds=1.0)
    os.environ["WIJKINDEX_WORKERS"] = "1"
    procs = start_processes(fed)
    db = fed.aggregator_config.parent / "aggregator.sqlite"
    try:
        ggd = procs.procs["node-ggd"]
        ggd.send_signal(signal.SIGSTOP)
        spec = round_spec(small_federation.period, small_federation.gemeente_code, small_federation.holders,
                          epsilon=1.0, round_id="frozen-1", deadline_seconds=10, fuzzy=small_federation.fuzzy)
        t0 = time.monotonic()
        with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=30) as c:
            c.submit_round(spec)
            with pytest.raises(WijkindexError, match="deadline"):
                c.wait_round("frozen-1", timeout=60)
        assert time.monotonic() - t0 < 10 + 15  # ended by its deadline, not much later
        assert _query(db, "SELECT 1 FROM round_index WHERE round_id='frozen-1'") == []
        ggd.send_signal(signal.SIGCONT)
        spec = round_spec(small_federation.period, small_federation.gemeente_code, small_federation.holders,
                          epsilon=1.0, round_id="after-1", deadline_seconds=60, fuzzy=small_federation.fuzzy)
        with AggregatorClient(fed.address, fed.credentials("coordinator"), timeout=30) as c:
            c.submit_round(spec)
            assert c.wait_round("after-1", timeout=120).state == "completed"
    finally:
        procs.stop()
