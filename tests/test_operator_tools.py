"""An operator's tools, as a new user meets them: --version, init, node budget, round cancel,
--json on status and list commands (data on stdout, progress on stderr), readable config errors,
one ledger and one report folder per node."""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from conftest import Running, start_federation
from test_demo_cli import COMMANDS, wijkindex
from wijkindex.config import load_aggregator_config, load_client_config, load_node_config
from wijkindex.errors import ConfigError, WijkindexError
from wijkindex.linkage.pseudonym import LinkageSecret
from wijkindex.privacy.ledger import PrivacyLedger
from wijkindex.security.pki import init_pki


def test_version() -> None:
    assert wijkindex("--version").stdout.strip() == f"wijkindex {version('wijkindex')}"


def test_the_new_commands_are_in_the_help_tree() -> None:
    assert {("init",), ("node", "budget"), ("round", "cancel")} <= {tuple(c) for c in COMMANDS}


def test_init_writes_a_config_for_every_role_that_loads_once_filled_in(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki", nodes=("ggd",))
    (tmp_path / "secrets").mkdir()
    LinkageSecret.generate().write(tmp_path / "secrets" / "linkage.key")
    (tmp_path / "data" / "ggd").mkdir(parents=True)
    (tmp_path / "data" / "ggd" / "datasets.toml").write_text(
        'version = 1\n[[datasets]]\nname = "jgz"\nfile = "jgz.csv"\nid_column = "bsn"\n'
        '[datasets.columns]\nbsn = "bsn"\novergewicht = "flag"\n'
        '[[indicators]]\nname = "overgewicht"\ndataset = "jgz"\ncolumn = "overgewicht"\n', encoding="utf-8")
    (tmp_path / "data" / "ggd" / "jgz.csv").write_text("bsn,overgewicht\n", encoding="utf-8")
    for role, file in [("node", "node-ggd.toml"), ("aggregator", "aggregator.toml"),
                       ("coordinator", "coordinator.toml"), ("researcher", "researcher.toml")]:
        done = wijkindex("init", role, str(tmp_path / file))
        assert "wrote" in done.stderr and done.stdout == ""
        text = (tmp_path / file).read_text(encoding="utf-8")
        assert text.count("#") > 5  # commented
    node = load_node_config(tmp_path / "node-ggd.toml")
    assert node.name == "ggd" and node.ledger.name == "ledger-ggd.sqlite" and node.indicators[0].name == "overgewicht"
    assert load_aggregator_config(tmp_path / "aggregator.toml").paillier_bits == 2048
    assert load_client_config(tmp_path / "coordinator.toml").tls.cert.parent.name == "coordinator"
    assert load_client_config(tmp_path / "researcher.toml").tls.cert.parent.name == "researcher"
    before = (tmp_path / "node-ggd.toml").read_bytes()
    again = wijkindex("init", "node", str(tmp_path / "node-ggd.toml"), check=False)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert (tmp_path / "node-ggd.toml").read_bytes() == before


def test_a_config_type_error_reads_as_toml_not_python(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki", nodes=("ggd",))
    wijkindex("init", "node", str(tmp_path / "node-ggd.toml"))
    cfg = tmp_path / "node-ggd.toml"
    cfg.write_text(cfg.read_text().replace("privacy_total = 5.0", 'privacy_total = "5"')
                   .replace('poll_seconds = 20', 'poll_seconds = true'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_node_config(cfg)
    msg = str(err.value)
    assert 'privacy_total: expected a number, got "5" (write it without quotes)' in msg, msg
    assert "poll_seconds: expected a number, got true" in msg and "<class" not in msg


def test_two_nodes_never_share_a_ledger(tmp_path: Path) -> None:
    with PrivacyLedger(tmp_path / "ledger.sqlite", 1.0, owner="ggd"):
        pass
    with pytest.raises(WijkindexError, match="ledger of node 'ggd', not of 'school'") as err:
        PrivacyLedger(tmp_path / "ledger.sqlite", 1.0, owner="school")
    assert 'ledger-school.sqlite' in str(err.value)
    PrivacyLedger(tmp_path / "ledger.sqlite", 1.0, owner="ggd").close()  # its own node opens it again


@pytest.mark.slow
def test_budget_cancel_and_json_against_a_running_federation(tmp_path: Path, small_federation, geography) -> None:
    run: Running = start_federation(tmp_path / "fed", small_federation, geography)
    coord, researcher = str(run.fed.coordinator_config), str(run.fed.researcher_config)
    try:
        _, status = run.run_round(run.spec(epsilon=0.5, round_id="first"))
        assert status.state == "completed"
        ggd_cfg = str(run.fed.node_configs["ggd"])
        budget = json.loads(wijkindex("node", "budget", "--config", ggd_cfg, "--json").stdout)
        ledger = run.nodes["ggd"].ledger
        spent = sum(e.epsilon for e in ledger.entries())
        assert budget["node"] == "ggd" and budget["never_charged"] == []
        [b] = budget["balances"]
        assert b["period"] == small_federation.period and b["spent"] == pytest.approx(spent) == pytest.approx(0.5)
        assert b["left"] == pytest.approx(budget["total_per_dataset_and_period"] - 0.5) and b["rounds"] == 1
        table = wijkindex("node", "budget", "--config", ggd_cfg)
        assert "jgz" in table.stdout and "0.5" in table.stdout

        # a round waiting for a node that is away: the coordinator cancels it, nothing is charged
        run.nodes["school"].stop()
        run.threads[list(run.nodes).index("school")].join(timeout=30)
        with run.client("coordinator") as c:
            c.submit_round(run.spec(epsilon=0.5, round_id="stuck"))
        time.sleep(1.5)
        denied = wijkindex("round", "cancel", "stuck", "--config", researcher, check=False)
        assert denied.returncode == 2 and "PERMISSION_DENIED" in denied.stderr and "coordinator's config" in denied.stderr
        done = wijkindex("round", "cancel", "stuck", "--config", coord, "--reason", "school is away", "--json")
        cancelled = json.loads(done.stdout)
        assert cancelled["state"] == "failed" and cancelled["reason"] == "cancelled by coordinator coordinator: " \
                                                                          "school is away"
        assert run.aggregator.rounds.store.private_key("stuck") is None  # its key is gone
        again = wijkindex("round", "cancel", "stuck", "--config", coord, check=False)
        assert again.returncode == 2 and "only an open round can be cancelled" in again.stderr
        assert not [e for e in ledger.entries() if e.round_id == "stuck"]

        status_json = json.loads(wijkindex("round", "status", "first", "--config", coord, "--json").stdout)
        assert status_json["state"] == "completed" and {n["party"] for n in status_json["nodes"]} == set(run.nodes)
        listed = json.loads(wijkindex("results", "list", "--config", researcher, "--json").stdout)
        assert {r["round_id"]: r["state"] for r in listed} == {"first": "completed", "stuck": "failed"}
        # each node's own report, in its own folder even where nodes share one
        assert (run.nodes["ggd"].reports_dir / "first.json").exists()
        assert run.nodes["ggd"].reports_dir != run.nodes["gemeente"].reports_dir
    finally:
        run.stop()
