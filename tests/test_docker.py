"""The container image definition and the compose file, checked without a Docker engine, and the
`wijkindex health` command their healthchecks run, against a real aggregator."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import Running
from wijkindex.cli import main
from wijkindex.config import load_aggregator_config, load_node_config
from wijkindex.geography import DEFAULT_DATA_DIR
from wijkindex.linkage.pseudonym import LinkageSecret
from wijkindex.security.pki import init_pki

DOCKER = Path(__file__).resolve().parent.parent / "docker"
NODES = ("gemeente", "ggd", "school")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _instructions() -> list[tuple[str, str]]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in (ln.strip() for ln in text.splitlines()) if line and not line.startswith("#")]


def test_image_is_pinned_non_root_and_healthchecked() -> None:
    ins = _instructions()
    (base,) = [arg for op, arg in ins if op == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base  # an exact release
    users = [arg for op, arg in ins if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (check,) = [arg for op, arg in ins if op == "HEALTHCHECK"]
    assert '"wijkindex", "health"' in check
    assert [arg for op, arg in ins if op == "ENTRYPOINT"] == ['["wijkindex"]']
    copied = " ".join(arg for op, arg in ins if op in ("COPY", "ADD"))
    for never in ("pki", "secret", "data", "tests", ".key", ".pem", "ledger", "sqlite"):
        assert never not in copied, f"the image must not contain {never}"


def test_compose_runs_the_aggregator_and_three_nodes_locked_down(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"aggregator", *NODES}
    for name, svc in services.items():
        assert svc["user"].split(":")[0] not in ("0", "root"), name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["healthcheck"]["test"][:3] == ["CMD", "wijkindex", "health"], name
        for vol in svc["volumes"]:
            source, target, *mode = vol.split(":")
            if target == "/var/lib/wijkindex":  # the service's own state: a named volume, writable
                assert not source.startswith((".", "/")) and source in compose["volumes"], (name, vol)
            else:  # keys, secrets, data, configs, geography: bind mounts, read-only
                assert mode == ["ro"], (name, vol)
    assert services["aggregator"]["ports"] == ["50051:50051"]
    for n in NODES:
        assert "ports" not in services[n], f"node {n} must open no port"
        assert services[n]["depends_on"]["aggregator"]["condition"] == "service_healthy"
        assert services[n]["command"][:2] == ["node", "serve"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in services[n]["volumes"]}
        assert mounts["/etc/wijkindex/pki"] == f"./pki/{n}"  # each node gets only its own key
        assert mounts["/data"] == f"./data/{n}"


def _container_fs(root: Path, party: str, pki: Path, data: Path | None) -> dict[str, Path]:
    """What compose mounts for ``party``, laid out under ``root``; container path -> host path."""
    fs = {"/etc/wijkindex/pki": root / "etc/wijkindex/pki", "/run/secrets": root / "run/secrets",
          "/data": root / "data", "/var/lib/wijkindex": root / "var/lib/wijkindex",
          "/etc/wijkindex/geography": Path(DEFAULT_DATA_DIR)}
    shutil.copytree(pki / party, fs["/etc/wijkindex/pki"])
    fs["/run/secrets"].mkdir(parents=True)
    LinkageSecret.generate().write(fs["/run/secrets"] / "linkage.key")
    if data is not None:
        shutil.copytree(data, fs["/data"])
    fs["/var/lib/wijkindex"].mkdir(parents=True)
    return fs


def _in_container(config: Path, fs: dict[str, Path], dest: Path) -> Path:
    text = config.read_text()
    for inside, outside in sorted(fs.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'"{inside}', f'"{outside}')
    dest.write_text(text)
    return dest


def test_every_container_config_loads_with_its_mounts(tmp_path: Path, compose: dict, small_federation) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, nodes=NODES, hostnames=("aggregator", "localhost"))
    services = compose["services"]
    config_of = {n: next(v.split(":")[0] for v in s["volumes"] if v.split(":")[1] == "/etc/wijkindex/config.toml")
                 for n, s in services.items()}
    agg_fs = _container_fs(tmp_path / "aggregator", "aggregator", pki, None)
    agg = load_aggregator_config(_in_container(DOCKER / config_of["aggregator"], agg_fs, tmp_path / "agg.toml"))
    assert agg.nodes == NODES and str(agg.database).startswith(str(agg_fs["/var/lib/wijkindex"]))
    port = agg.listen.rsplit(":", 1)[1]
    assert services["aggregator"]["ports"] == [f"{port}:{port}"]
    for n in NODES:
        fs = _container_fs(tmp_path / n, n, pki, small_federation.out_dir / n)
        cfg = load_node_config(_in_container(DOCKER / config_of[n], fs, tmp_path / f"{n}.toml"))
        assert cfg.name == n and cfg.aggregator == f"aggregator:{port}"  # the compose service name
        assert str(cfg.ledger).startswith(str(fs["/var/lib/wijkindex"]))  # the only writable place
        assert cfg.datasets  # the holder's datasets.toml was found under /data


def test_health_command_answers_serving_over_mtls(running: Running) -> None:
    out = CliRunner().invoke(main, ["health", "--config", str(running.fed.researcher_config)])
    assert out.exit_code == 0 and "SERVING" in out.output, out.output
    out = CliRunner().invoke(main, ["health", "--config", str(running.fed.node_configs["ggd"])])
    assert out.exit_code == 0, out.output


def test_health_command_fails_clearly_when_nobody_serves(running: Running, tmp_path: Path) -> None:
    cfg = running.fed.researcher_config
    text = cfg.read_text()
    dead = re.sub(r'aggregator = "[^"]+"', 'aggregator = "127.0.0.1:9"', text)
    bad = cfg.parent / "dead.toml"
    bad.write_text(dead)
    out = CliRunner().invoke(main, ["health", "--config", str(bad), "--timeout", "1"])
    assert out.exit_code != 0 and "not healthy" in out.output, out.output
