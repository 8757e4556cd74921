"""Rounds that must not release: over budget, bad input files. Nothing is spent or half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import start_federation
from wijkindex.clients import AggregatorError
from wijkindex.errors import RoundFailed
from wijkindex.synth.generator import FederationInfo

pytestmark = pytest.mark.slow


def _copy_federation(info: FederationInfo, dest: Path) -> FederationInfo:
    shutil.copytree(info.out_dir, dest)
    return FederationInfo(**{**info.__dict__, "out_dir": dest})


def test_round_over_budget_is_refused_and_releases_nothing(tmp_path: Path, small_federation, geography) -> None:
    # the spine's BRP pays every release of a round (3 x 1.0): a total of 4 holds one round, not two
    run = start_federation(tmp_path / "fed", small_federation, geography, privacy_total=4.0)
    try:
        first, status = run.run_round(run.spec(epsilon=1.0, round_id="budget-1"))
        assert status.state == "completed"
        spent_before = {n: node.ledger.entries() for n, node in run.nodes.items()}
        with pytest.raises(RoundFailed) as err:
            run.run_round(run.spec(epsilon=1.0, round_id="budget-2"))
        assert "privacy budget" in str(err.value) and "would be exceeded" in str(err.value)
        assert "'brp'" in str(err.value)
        # a round that fails before a node releases costs that node nothing, whoever had joined
        for name, node in run.nodes.items():
            after = node.ledger.entries()
            assert after == spent_before[name], name
            assert all(node.ledger.spent(e.dataset, e.period) <= 4.0 + 1e-9 for e in after)
        status = run.client("coordinator").round_status("budget-2")
        assert status.costs == () and status.per_child_epsilon == 0
        store = run.aggregator.rounds.store
        assert store.releases("budget-2") == {}
        assert store.index("budget-2") is None
        with run.client("researcher") as r, pytest.raises(AggregatorError):
            r.get_index("budget-2")
    finally:
        run.stop()


def test_bad_bsn_fails_the_round_with_file_row_column(tmp_path: Path, small_federation, geography) -> None:
    """The school declares no identifiers: an invalid BSN there cannot link any other way."""
    info = _copy_federation(small_federation, tmp_path / "federation")
    path = info.out_dir / "school" / "leerlingen.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    fields = lines[5].split(",")
    fields[header.index("bsn")] = "123456789"  # fails the 11-proef
    lines[5] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def school_fails_on_bad_records(fed) -> None:  # the other holders keep excluding their few bad rows
        cfg = fed.node_configs["school"]
        cfg.write_text(cfg.read_text().replace('on_invalid = "exclude"', 'on_invalid = "fail"'))

    run = start_federation(tmp_path / "fed", info, geography, tweak=school_fails_on_bad_records)
    try:
        with pytest.raises(RoundFailed) as err:
            run.run_round(run.spec(epsilon=1.0, round_id="bad-bsn"))
        msg = str(err.value)
        assert "leerlingen.csv" in msg and "row" in msg and "'bsn'" in msg and "11-proef" in msg
        assert "123456789" not in msg and "*89" not in msg  # the reason leaves the node: no value, not even masked
        local = [a.detail for a in run.nodes["school"].ledger.audit_lines("bad-bsn")]
        assert any("*******89" in d for d in local)  # the node's own audit keeps the masked value
        assert run.nodes["school"].ledger.entries() == []  # validation happens before any budget is charged
        assert run.aggregator.rounds.store.releases("bad-bsn").get("school") is None
    finally:
        run.stop()


def test_missing_column_is_named(tmp_path: Path, small_federation, geography) -> None:
    info = _copy_federation(small_federation, tmp_path / "federation")
    path = info.out_dir / "school" / "leerlingen.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("onderwijsachterstand", "oab", 1), encoding="utf-8")
    run = start_federation(tmp_path / "fed", info, geography)
    try:
        with pytest.raises(RoundFailed) as err:
            run.run_round(run.spec(epsilon=1.0, round_id="bad-columns"))
        assert "leerlingen.csv" in str(err.value) and "onderwijsachterstand" in str(err.value)
    finally:
        run.stop()


def test_an_unknown_code_in_an_excel_export_fails_the_round_before_any_budget(
        tmp_path: Path, small_federation, geography, caplog: pytest.LogCaptureFixture) -> None:
    """The school's export as its administration writes it (an Excel sheet, its own column names,
    J/N codes with the others declared); one pupil's code is in neither list. The round fails
    naming the file, sheet, row and column and the config line to change; the school's ledger is
    empty and the aggregator holds no release of it. The school's own log has the reason with
    its full path, the coordinator's without the holder's folders. Once the school corrects its
    datasets.toml, the next round uses the new mapping without a restart."""
    import openpyxl
    import pandas as pd
    import tomli_w

    info = _copy_federation(small_federation, tmp_path / "federation")
    school = info.out_dir / "school"
    from wijkindex.linkage.bsn import is_valid_bsn

    caplog.set_level("INFO", logger="wijkindex.node")

    frame = pd.read_csv(school / "leerlingen.csv", dtype=str)
    frame = frame[frame["bsn"].map(is_valid_bsn)]  # only the unknown code is wrong in this export
    flags = [c for c in frame.columns if c not in ("bsn", "geboortedatum", "brin")]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["BSN", "Geboortedatum", "BRIN", *flags])
    for i, r in enumerate(frame.itertuples(index=False)):
        codes = ["J" if getattr(r, f) == "1" else "N" for f in flags]
        if i == 6:
            codes[0] = "?"  # neither J nor N
        ws.append([r.bsn, r.geboortedatum, r.brin, *codes])
    wb.save(school / "las.xlsx")
    (school / "leerlingen.csv").unlink()
    (school / "datasets.toml").write_text(tomli_w.dumps({"version": 1, "datasets": [{
        "name": "leerlingen", "file": "las.xlsx", "id_column": "bsn",
        "columns": {"bsn": "bsn", "geboortedatum": "date", "brin": "code", **{f: "code" for f in flags}},
        "read": {"sheet": "Export"}, "rename": {"BSN": "bsn", "Geboortedatum": "geboortedatum", "BRIN": "brin"}}],
        "indicators": [{"name": f, "dataset": "leerlingen", "column": f, "values": ["J"], "others": ["N"]}
                       for f in flags]}), encoding="utf-8")

    def school_fails_on_bad_records(fed) -> None:  # type: ignore[no-untyped-def]
        cfg = fed.node_configs["school"]
        cfg.write_text(cfg.read_text().replace('on_invalid = "exclude"', 'on_invalid = "fail"'))

    run = start_federation(tmp_path / "fed", info, geography, tweak=school_fails_on_bad_records)
    try:
        with pytest.raises(RoundFailed) as err:
            run.run_round(run.spec(epsilon=1.0, round_id="bad-code"))
        msg = str(err.value)
        assert "las.xlsx, sheet 'Export'" in msg and "row 7" in msg and f"'{flags[0]}'" in msg, msg
        assert "not a declared code" in msg and "'?'" not in msg
        local = [a.detail for a in run.nodes["school"].ledger.audit_lines("bad-code")]
        assert any(f"indicator '{flags[0]}' (datasets.toml line" in d for d in local), local
        assert run.nodes["school"].ledger.entries() == []
        assert run.aggregator.rounds.store.releases("bad-code").get("school") is None
        assert str(tmp_path) not in msg  # the coordinator never sees the holder's folders
        own_log = [r.getMessage() for r in caplog.records if r.name == "wijkindex.node"]
        assert any("bad-code" in line and "school/las.xlsx, sheet 'Export', row 7" in line for line in own_log), own_log

        mapping = (school / "datasets.toml").read_text(encoding="utf-8")
        (school / "datasets.toml").write_text(mapping.replace('others = [\n    "N",\n]', 'others = [\n    "N",\n    "?",\n]', 1),
                                              encoding="utf-8")
        assert (school / "datasets.toml").read_text(encoding="utf-8") != mapping
        _, status = run.run_round(run.spec(epsilon=1.0, round_id="corrected"))
        assert status.state == "completed" and run.nodes["school"].ledger.entries()  # no restart needed
        assert any("corrected" in line and "datasets.toml changed" in line
                   for line in (r.getMessage() for r in caplog.records if r.name == "wijkindex.node"))
    finally:
        run.stop()
