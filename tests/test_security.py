"""PKI and role authorisation over real TLS sockets: wrong role, no certificate, foreign CA, expired."""

from __future__ import annotations

from concurrent import futures
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from wijkindex.errors import CertificateError
from wijkindex.security.auth import RoleAuthInterceptor, current_identity
from wijkindex.security.pki import (Identity, PartyCredentials, identity_from_certificate, init_pki,
                                    issue_certificate, load_certificate, verify_party_certificate)
from wijkindex.security.tls import GRPC_OPTIONS, channel_credentials, secure_channel, server_credentials

ECHO = "/test.Echo/Say"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki") / "pki"
    init_pki(d, nodes=("ggd",))
    return d


@pytest.fixture(scope="module")
def server(pki: Path) -> Iterator[tuple[str, list]]:
    audit: list = []

    def say(request: bytes, context: grpc.ServicerContext) -> bytes:
        return current_identity(context).uri.encode()

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say)})
    srv = grpc.server(futures.ThreadPoolExecutor(4), options=GRPC_OPTIONS, interceptors=[
        RoleAuthInterceptor({ECHO: frozenset({"coordinator"})}, audit=lambda *a: audit.append(a))])
    srv.add_generic_rpc_handlers((handler,))
    h = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(h, srv)
    port = srv.add_secure_port("127.0.0.1:0", server_credentials(PartyCredentials.from_dir(pki, "aggregator")))
    srv.start()
    yield f"127.0.0.1:{port}", audit
    srv.stop(0)


def call(address: str, creds: PartyCredentials) -> bytes:
    with secure_channel(address, creds) as ch:
        return ch.unary_unary(ECHO)(b"hi", timeout=5)


def test_layout_modes_and_identities(pki: Path) -> None:
    for party, role in [("aggregator", "aggregator"), ("coordinator", "coordinator"),
                        ("researcher", "researcher"), ("ggd", "node")]:
        c = PartyCredentials.from_dir(pki, party)
        assert c.identity == Identity(role, party)
        assert (pki / party / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (pki / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(CertificateError, match="already holds a CA"):
        init_pki(pki)
    with pytest.raises(CertificateError):
        Identity.from_uri("urn:wijkindex:admin:root")


def test_right_role_is_served_with_its_identity(server, pki: Path) -> None:
    address, _ = server
    assert call(address, PartyCredentials.from_dir(pki, "coordinator")) == b"urn:wijkindex:coordinator:coordinator"


def test_wrong_role_is_denied_and_audited(server, pki: Path) -> None:
    address, audit = server
    with pytest.raises(grpc.RpcError) as err:
        call(address, PartyCredentials.from_dir(pki, "researcher"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "needs role coordinator" in err.value.details()
    assert any(a[0] == ECHO and a[2] == "denied" and a[1].role == "researcher" for a in audit)


def test_health_for_any_authenticated_role(server, pki: Path) -> None:
    address, _ = server
    with secure_channel(address, PartyCredentials.from_dir(pki, "ggd")) as ch:
        reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_no_certificate_cannot_connect(server, pki: Path) -> None:
    address, _ = server
    creds = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with grpc.secure_channel(address, creds) as ch, pytest.raises(grpc.RpcError) as err:
        ch.unary_unary(ECHO)(b"hi", timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_foreign_ca_is_refused(server, pki: Path, tmp_path: Path) -> None:
    address, _ = server
    other = init_pki(tmp_path / "other", nodes=())
    with grpc.secure_channel(address, channel_credentials(other["coordinator"]), options=GRPC_OPTIONS) as ch, \
            pytest.raises(grpc.RpcError) as err:  # the server refuses the foreign client...
        ch.unary_unary(ECHO)(b"hi", timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(CertificateError, match="the server at .* is refused: .*federation CA"):
        call(address, other["coordinator"])  # ...and the foreign client refuses the server before gRPC connects
    with pytest.raises(CertificateError, match="federation CA"):
        verify_party_certificate(other["coordinator"].cert_path.read_bytes(), (pki / "ca.pem").read_bytes())


def test_expired_certificate_is_refused(server, pki: Path, tmp_path: Path) -> None:
    address, _ = server
    old = datetime.now(timezone.utc) - timedelta(days=10)
    creds = issue_certificate(pki, Identity("coordinator", "coordinator"), tmp_path / "old", not_before=old,
                              valid_days=1)
    with pytest.raises(CertificateError, match="expired"):
        PartyCredentials.from_paths(creds.cert_path, creds.key_path, creds.ca_path)  # caught before the network
    with pytest.raises(grpc.RpcError) as err:
        call(address, creds)  # and the TLS layer refuses it too
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(CertificateError, match="expired"):
        verify_party_certificate(creds.cert_path.read_bytes(), (pki / "ca.pem").read_bytes())


def test_verify_checks_the_expected_identity(pki: Path) -> None:
    pem = (pki / "ggd" / "cert.pem").read_bytes()
    ca = (pki / "ca.pem").read_bytes()
    assert verify_party_certificate(pem, ca, expected=Identity("node", "ggd")) == Identity("node", "ggd")
    with pytest.raises(CertificateError, match="expected urn:wijkindex:node:school"):
        verify_party_certificate(pem, ca, expected=Identity("node", "school"))
    assert identity_from_certificate(load_certificate(pki / "ggd" / "cert.pem")).uri == "urn:wijkindex:node:ggd"
