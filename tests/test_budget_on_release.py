"""Budget is spent on what is released, and unusable data releases nothing.

A round that fails before a node releases costs that node nothing, whoever had joined; a
spine whose dates all fail to parse, or that holds one child, is refused at join with the
reason and nothing charged; the round status shows each node's actual charge.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import start_federation
from wijkindex.errors import RoundFailed
from wijkindex.synth.generator import FederationInfo

pytestmark = pytest.mark.slow


def _copy(info: FederationInfo, dest: Path) -> FederationInfo:
    shutil.copytree(info.out_dir, dest)
    return FederationInfo(**{**info.__dict__, "out_dir": dest})


def _nothing_charged(run, round_id: str) -> None:  # type: ignore[no-untyped-def]
    for name, node in run.nodes.items():
        assert [e for e in node.ledger.entries() if e.round_id == round_id] == [], name
        assert node.ledger.stored_release(round_id) is None, name
    assert run.aggregator.rounds.store.releases(round_id) == {}
    status = run.client("coordinator").round_status(round_id)
    assert status.costs == () and status.per_child_epsilon == 0
    assert all("charged" not in n.detail or "at release" in n.detail for n in status.nodes)


def test_a_typo_in_one_nodes_indicators_costs_no_node_anything(tmp_path: Path, small_federation, geography) -> None:
    run = start_federation(tmp_path / "fed", small_federation, geography)
    try:
        indicators = {**small_federation.holders, "ggd": ["overgewicht", "psychosociale_problemenn"]}
        with pytest.raises(RoundFailed, match="does not offer indicator.*psychosociale_problemenn"):
            run.run_round(run.spec(epsilon=1.0, round_id="typo-1", indicators=indicators))
        _nothing_charged(run, "typo-1")
    finally:
        run.stop()


@pytest.mark.parametrize("damage, why", [
    ("datetimes", "rows excluded"),  # every date as '2006-07-29 00:00:00': excluded, not a pure-noise release
    ("one_row", "fewer than the round's min_cell_size"),
])
def test_an_unusable_spine_is_refused_before_anything_is_charged(tmp_path: Path, small_federation, geography,
                                                                 damage: str, why: str) -> None:
    info = _copy(small_federation, tmp_path / "federation")
    path = info.out_dir / "gemeente" / "brp.csv"
    brp = pd.read_csv(path, dtype=str, keep_default_na=False)
    if damage == "datetimes":
        brp["geboortedatum"] = brp["geboortedatum"] + " 00:00:00"
    else:
        brp = brp.head(1)
    brp.to_csv(path, index=False)
    run = start_federation(tmp_path / "fed", info, geography)
    try:
        with pytest.raises(RoundFailed, match=why):
            run.run_round(run.spec(epsilon=1.0, round_id=f"unusable-{damage}"))
        _nothing_charged(run, f"unusable-{damage}")
        lines = run.nodes["gemeente"].ledger.audit_lines(f"unusable-{damage}")
        assert any(a.outcome == "refused" and "brp" in a.detail for a in lines)
    finally:
        run.stop()


def test_one_file_for_two_periods_shares_one_budget(tmp_path: Path, small_federation, geography) -> None:
    """A dataset path without {period} serves the same export for every period: the ledger
    keys entries by the export's content, so the second period finds the budget spent."""
    run = start_federation(tmp_path / "fed", small_federation, geography, privacy_total=4.0)
    try:
        _, status = run.run_round(run.spec(epsilon=1.0, round_id="period-a"))
        assert status.state == "completed"
        other = run.spec(epsilon=1.0, round_id="period-b").replace(f"period = {small_federation.period}",
                                                                   f"period = {small_federation.period + 1}")
        with pytest.raises(RoundFailed, match="would be exceeded"):
            run.run_round(other)
        _nothing_charged(run, "period-b")
        brp = run.nodes["gemeente"].ledger
        (entry,) = [e for e in brp.entries() if e.dataset == "brp"]
        assert brp.spent("brp", small_federation.period + 1, entry.content_sha256) == pytest.approx(3.0)
    finally:
        run.stop()
