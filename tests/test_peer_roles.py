"""Every client checks whom it talks to: a real gRPC server on loopback with mutual TLS, presenting
the aggregator's certificate (accepted) or another party's, an expired or a revoked one (refused
before gRPC connects, with an error naming the address, the identity found and the one expected);
and a revocation list past its nextUpdate is refused by everyone who relies on it."""

from __future__ import annotations

import ipaddress
from concurrent import futures
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import grpc
import pytest
import tomli_w
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from wijkindex.cli import main
from wijkindex.clients import AggregatorClient, AggregatorError
from wijkindex.config import load_client_config
from wijkindex.errors import CertificateError
from wijkindex.federation import free_port, wait_healthy
from wijkindex.security.auth import RoleAuthInterceptor
from wijkindex.security.pki import (Identity, PartyCredentials, init_pki, issue_certificate, load_certificate,
                                    load_private_key)
from wijkindex.security.revocation import RevocationList, publish_crl, revoke
from wijkindex.security.tls import (GRPC_OPTIONS, PeerUnavailable, channel_credentials, secure_channel,
                                    server_credentials, verify_server)

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("roles") / "pki"
    init_pki(d, nodes=("ggd",))
    return d


@contextmanager
def serving(creds: PartyCredentials, interceptors: tuple = ()) -> Iterator[str]:  # type: ignore[type-arg]
    """A minimal gRPC health server on loopback presenting ``creds`` and requiring client certificates."""
    srv = grpc.server(futures.ThreadPoolExecutor(2), options=GRPC_OPTIONS, interceptors=list(interceptors))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), srv)
    port = srv.add_secure_port("127.0.0.1:0", server_credentials(creds))
    srv.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        srv.stop(0)


def check(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def certificate_with_server_auth(pki: Path, identity: Identity, out: Path) -> PartyCredentials:
    """What a careless CA could issue: ``identity`` with serverAuth and the loopback names, so that
    gRPC's own checks (chain, hostname, extended key usage) all pass; only the role is wrong."""
    ca, ca_key = load_certificate(pki / "ca.pem"), load_private_key(pki / "ca-key.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    start = NOW - timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.party)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.UniformResourceIdentifier(identity.uri), x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    out.mkdir(parents=True)
    (out / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (out / "ca.pem").write_bytes((pki / "ca.pem").read_bytes())
    return PartyCredentials.from_dir(out.parent, out.name)


def write_crl(pki: Path, path: Path, *, last_update: datetime, next_update: datetime,
              revoked: tuple[Path, ...] = ()) -> Path:
    """A CRL signed by the federation CA with the given dates (e.g. a nextUpdate in the past)."""
    ca, ca_key = load_certificate(pki / "ca.pem"), load_private_key(pki / "ca-key.pem")
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
               .last_update(last_update).next_update(next_update))
    for cert in revoked:
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(
            load_certificate(cert).serial_number).revocation_date(last_update).build())
    path.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


# ---- (a) the aggregator is accepted -----------------------------------------------------

def test_the_aggregator_is_accepted_by_every_client_role(pki: Path, tmp_path: Path) -> None:
    crl = revoke(pki, pki / "researcher" / "cert.pem", tmp_path / "crl.pem")  # a valid list, unrelated entry
    with serving(PartyCredentials.from_dir(pki, "aggregator")) as address:
        for party in ("ggd", "coordinator"):
            creds = PartyCredentials.from_dir(pki, party)
            assert verify_server(address, creds, crl=crl) == Identity("aggregator", "aggregator")
            with secure_channel(address, creds, crl=crl) as channel:
                assert check(channel) == health_pb2.HealthCheckResponse.SERVING
            with secure_channel(address, creds) as channel:  # positional form the node uses, no list
                assert check(channel) == health_pb2.HealthCheckResponse.SERVING
        wait_healthy(address, PartyCredentials.from_dir(pki, "coordinator"), timeout=10, crl=crl)


# ---- (b) another party's certificate serving as the aggregator --------------------------

@pytest.mark.parametrize("role, party", [("node", "ggd"), ("coordinator", "coordinator"),
                                         ("researcher", "researcher")])
def test_a_certificate_of_another_role_cannot_serve_as_the_aggregator(pki: Path, role: str, party: str) -> None:
    with serving(PartyCredentials.from_dir(pki, party)) as address:
        with pytest.raises(CertificateError) as err:
            secure_channel(address, PartyCredentials.from_dir(pki, "ggd" if role != "node" else "coordinator"))
    text = str(err.value)
    assert address in text and f"urn:wijkindex:{role}:{party}" in text and f"(role {role})" in text
    assert "expected urn:wijkindex:aggregator:<name>" in text and err.value.code == "WI500"


def test_the_role_check_refuses_even_what_grpc_alone_would_accept(pki: Path, tmp_path: Path) -> None:
    """A node certificate with serverAuth and the right host names passes every check gRPC makes
    (chain, hostname, extended key usage): only the role check in secure_channel stops it."""
    rogue = certificate_with_server_auth(pki, Identity("node", "rogue"), tmp_path / "rogue")
    ggd = PartyCredentials.from_dir(pki, "ggd")
    with serving(rogue) as address:
        with grpc.secure_channel(address, channel_credentials(ggd), options=GRPC_OPTIONS) as bare:
            assert check(bare) == health_pb2.HealthCheckResponse.SERVING  # gRPC by itself is fooled
        with pytest.raises(CertificateError, match=r"urn:wijkindex:node:rogue \(role node\); expected "
                                                   r"urn:wijkindex:aggregator:<name>"):
            secure_channel(address, ggd)
        with pytest.raises(CertificateError, match="urn:wijkindex:node:rogue"):
            AggregatorClient(address, PartyCredentials.from_dir(pki, "researcher"))
        assert verify_server(address, ggd, expect_role="node") == Identity("node", "rogue")


def test_grpc_itself_refuses_a_server_without_server_auth(pki: Path, tmp_path: Path) -> None:
    """The second layer: the PKI gives serverAuth only to the aggregator, and gRPC's TLS enforces
    it, so a node certificate carrying the right host names still cannot serve (at any reconnect)."""
    ekus = {p: set(load_certificate(pki / p / "cert.pem").extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value) for p in ("aggregator", "ggd", "coordinator", "researcher")}
    assert ekus.pop("aggregator") == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert all(e == {ExtendedKeyUsageOID.CLIENT_AUTH} for e in ekus.values())
    node = issue_certificate(pki, Identity("node", "hosted"), tmp_path / "hosted", hostnames=("127.0.0.1",))
    with serving(node) as address:
        with grpc.secure_channel(address, channel_credentials(PartyCredentials.from_dir(pki, "coordinator")),
                                 options=GRPC_OPTIONS) as bare, pytest.raises(grpc.RpcError) as err:
            check(bare)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "unsupported certificate purpose" in (err.value.details() or "")


def test_an_expired_aggregator_certificate_is_refused(pki: Path, tmp_path: Path) -> None:
    old = issue_certificate(pki, Identity("aggregator", "aggregator"), tmp_path / "old", hostnames=("127.0.0.1",),
                            not_before=NOW - timedelta(days=10), valid_days=1)
    with serving(old) as address, pytest.raises(CertificateError) as err:
        secure_channel(address, PartyCredentials.from_dir(pki, "ggd"))
    assert address in str(err.value) and "expired on" in str(err.value)


# ---- (c) a revoked aggregator certificate -----------------------------------------------

def test_a_revoked_aggregator_certificate_is_refused_with_the_list(pki: Path, tmp_path: Path) -> None:
    agg = issue_certificate(pki, Identity("aggregator", "aggregator"), tmp_path / "agg", hostnames=("127.0.0.1",))
    crl = revoke(pki, agg.cert_path, tmp_path / "crl.pem")
    ggd = PartyCredentials.from_dir(pki, "ggd")
    with serving(agg) as address:
        with secure_channel(address, ggd) as channel:  # without the list it is not known to be revoked
            assert check(channel) == health_pb2.HealthCheckResponse.SERVING
        for given in (crl, str(crl), RevocationList(crl, (pki / "ca.pem").read_bytes())):
            with pytest.raises(CertificateError) as err:
                secure_channel(address, ggd, crl=given)
            assert address in str(err.value) and "urn:wijkindex:aggregator:aggregator" in str(err.value)
            assert "revoked" in str(err.value)
        cfg = tmp_path / "researcher.toml"
        cfg.write_text(tomli_w.dumps({"version": 1, "aggregator": address, "crl": "crl.pem", "tls": {
            "cert": str(pki / "researcher" / "cert.pem"), "key": str(pki / "researcher" / "key.pem"),
            "ca": str(pki / "researcher" / "ca.pem")}}))
        assert load_client_config(cfg).crl == crl.resolve()
        out = CliRunner().invoke(main, ["health", "--config", str(cfg)])
        assert out.exit_code == 2 and "revoked" in out.output and "WI500" in out.output, out.output
        out = CliRunner().invoke(main, ["results", "list", "--config", str(cfg)])
        assert out.exit_code == 2 and "revoked" in out.output, out.output


# ---- (d) a revocation list past its nextUpdate ----------------------------------------------

def test_an_expired_revocation_list_is_refused(pki: Path, tmp_path: Path) -> None:
    stale = write_crl(pki, tmp_path / "stale.pem", last_update=NOW - timedelta(days=40),
                      next_update=NOW - timedelta(days=10))
    with pytest.raises(CertificateError) as err:
        RevocationList(stale, (pki / "ca.pem").read_bytes())
    text = str(err.value)
    assert f"the certificate revocation list at {stale} expired at" in text
    assert f"{(NOW - timedelta(days=10)):%Y-%m-%d}" in text and "wijkindex pki crl" in text
    with serving(PartyCredentials.from_dir(pki, "aggregator")) as address:
        with pytest.raises(CertificateError, match="expired at"):
            secure_channel(address, PartyCredentials.from_dir(pki, "ggd"), crl=stale)
        publish_crl(pki, stale)  # the CA re-signs it: accepted again, with the same (no) entries
        rl = RevocationList(stale, (pki / "ca.pem").read_bytes())
        assert rl.next_update is not None and rl.next_update > NOW + timedelta(days=29)
        with secure_channel(address, PartyCredentials.from_dir(pki, "ggd"), crl=stale) as channel:
            assert check(channel) == health_pb2.HealthCheckResponse.SERVING


def test_a_list_that_expires_while_loaded_is_refused_from_then_on(pki: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    crl = write_crl(pki, tmp_path / "crl.pem", last_update=NOW - timedelta(days=1), next_update=NOW + timedelta(hours=1),
                    revoked=(pki / "researcher" / "cert.pem",))
    rl = RevocationList(crl, (pki / "ca.pem").read_bytes())
    assert rl.is_revoked((pki / "researcher" / "cert.pem").read_bytes())

    class Later(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime.now(tz) + timedelta(hours=2)

    monkeypatch.setattr("wijkindex.security.revocation.datetime", Later)
    with pytest.raises(CertificateError, match="expired at"):  # the file did not change; the clock did
        rl.is_revoked((pki / "coordinator" / "cert.pem").read_bytes())


def test_revoke_and_crl_commands_sign_lists_valid_for_the_given_days(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, nodes=("ggd",))
    now = datetime.now(timezone.utc)  # not the module's NOW: a long test run would have moved past it
    assert CliRunner().invoke(main, ["pki", "revoke", str(pki), "ggd"]).exit_code == 0
    rl = RevocationList(pki / "crl.pem", (pki / "ca.pem").read_bytes())
    assert rl.next_update is not None and timedelta(days=29) < rl.next_update - now <= timedelta(days=30, minutes=5)
    out = CliRunner().invoke(main, ["pki", "crl", str(pki), "--days", "7"])
    assert out.exit_code == 0, out.output
    rl = RevocationList(pki / "crl.pem", (pki / "ca.pem").read_bytes())
    assert rl.is_revoked((pki / "ggd" / "cert.pem").read_bytes())  # re-signed, entries kept
    assert rl.next_update is not None and rl.next_update - now <= timedelta(days=7, minutes=5)


def test_the_aggregator_refuses_every_call_while_its_list_is_expired(pki: Path, tmp_path: Path) -> None:
    crl = publish_crl(pki, tmp_path / "crl.pem")
    audit: list = []
    interceptor = RoleAuthInterceptor({}, audit=lambda *a: audit.append(a),
                                      revoked=RevocationList(crl, (pki / "ca.pem").read_bytes()))
    with serving(PartyCredentials.from_dir(pki, "aggregator"), (interceptor,)) as address:
        with secure_channel(address, PartyCredentials.from_dir(pki, "ggd")) as channel:
            assert check(channel) == health_pb2.HealthCheckResponse.SERVING
            write_crl(pki, crl, last_update=NOW - timedelta(days=40), next_update=NOW - timedelta(days=10))
            with pytest.raises(grpc.RpcError) as err:
                check(channel)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # nodes back off and retry until it is fresh
    assert "cannot check revocations" in (err.value.details() or "") and "expired at" in err.value.details()
    assert any(a[2] == "denied" and "revocation list unusable" in a[3] for a in audit)


# ---- an absent server ------------------------------------------------------------------

def test_an_unreachable_server_is_unavailable_not_a_certificate_error(pki: Path) -> None:
    """The node's loop reconnects on UNAVAILABLE; the pre-check keeps that contract."""
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(grpc.RpcError) as err:
        secure_channel(address, PartyCredentials.from_dir(pki, "ggd"))
    assert isinstance(err.value, PeerUnavailable) and err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert address in (err.value.details() or "")
    with pytest.raises(AggregatorError, match="UNAVAILABLE"):
        AggregatorClient(address, PartyCredentials.from_dir(pki, "coordinator"))
