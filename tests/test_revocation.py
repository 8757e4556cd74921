"""Revoked certificates: refused by the aggregator on the next call (no restart), audited; a
revocation list not signed by the federation CA is an error, not an empty list."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from wijkindex.cli import main
from wijkindex.errors import CertificateError
from wijkindex.security.auth import RoleAuthInterceptor, current_identity
from wijkindex.security.pki import PartyCredentials, init_pki
from wijkindex.security.revocation import RevocationList, revoke
from wijkindex.security.tls import GRPC_OPTIONS, secure_channel, server_credentials

ECHO = "/test.Echo/Say"


def _serve(pki: Path, audit: list):  # type: ignore[no-untyped-def]
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(lambda req, ctx: current_identity(ctx).uri.encode())})
    revoked = RevocationList(pki / "crl.pem", (pki / "ca.pem").read_bytes())
    srv = grpc.server(futures.ThreadPoolExecutor(4), options=GRPC_OPTIONS, interceptors=[
        RoleAuthInterceptor({ECHO: frozenset({"coordinator", "researcher"})}, audit=lambda *a: audit.append(a),
                            revoked=revoked)])
    srv.add_generic_rpc_handlers((handler,))
    port = srv.add_secure_port("127.0.0.1:0", server_credentials(PartyCredentials.from_dir(pki, "aggregator")))
    srv.start()
    return srv, f"127.0.0.1:{port}"


def _call(address: str, creds: PartyCredentials) -> bytes:
    with secure_channel(address, creds) as ch:
        return ch.unary_unary(ECHO)(b"hi", timeout=5)


def test_a_revoked_certificate_is_refused_from_the_next_call(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki, nodes=("ggd",))
    revoke(pki, pki / "ggd" / "cert.pem")  # an unrelated revocation: the list exists and is valid
    audit: list = []
    srv, address = _serve(pki, audit)
    try:
        researcher = PartyCredentials.from_dir(pki, "researcher")
        assert _call(address, researcher) == b"urn:wijkindex:researcher:researcher"
        out = CliRunner().invoke(main, ["pki", "revoke", str(pki), "researcher"])
        assert out.exit_code == 0, out.output
        with pytest.raises(grpc.RpcError) as err:
            _call(address, researcher)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in (err.value.details() or "")
        assert any(a[2] == "denied" and "revoked" in a[3] for a in audit)
        assert _call(address, PartyCredentials.from_dir(pki, "coordinator"))  # the others are unaffected
    finally:
        srv.stop(0)


def test_a_revocation_list_of_another_ca_is_an_error(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    init_pki(ours)
    init_pki(theirs)
    crl = revoke(theirs, theirs / "researcher" / "cert.pem")
    with pytest.raises(CertificateError, match="not signed by the federation CA"):
        RevocationList(crl, (ours / "ca.pem").read_bytes())
    with pytest.raises(CertificateError, match="missing"):
        RevocationList(tmp_path / "absent.pem", (ours / "ca.pem").read_bytes())
    with pytest.raises(CertificateError, match="not issued by the CA"):
        revoke(ours, theirs / "ggd" / "cert.pem")


def test_revoking_twice_keeps_every_serial(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki)
    revoke(pki, pki / "ggd" / "cert.pem")
    revoke(pki, pki / "school" / "cert.pem")
    revoke(pki, pki / "ggd" / "cert.pem")
    rl = RevocationList(pki / "crl.pem", (pki / "ca.pem").read_bytes())
    assert rl.is_revoked((pki / "ggd" / "cert.pem").read_bytes())
    assert rl.is_revoked((pki / "school" / "cert.pem").read_bytes())
    assert not rl.is_revoked((pki / "gemeente" / "cert.pem").read_bytes())
    with pytest.raises(CertificateError, match="urn:wijkindex:node:school is revoked"):
        rl.check((pki / "school" / "cert.pem").read_bytes())
