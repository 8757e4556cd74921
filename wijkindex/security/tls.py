"""gRPC mutual-TLS credentials and channel options for every role.

Every client channel checks *whom* it talks to, not only that the peer's certificate chains to
the federation CA: :func:`secure_channel` refuses a server whose certificate is not of the
expected role (``aggregator``), is expired or not yet valid, or is revoked on the federation CRL.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from wijkindex.errors import CertificateError, ConfigError
from wijkindex.security.pki import ROLES, Identity, PartyCredentials, verify_party_certificate
from wijkindex.security.revocation import RevocationList

MAX_MESSAGE = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
]
CHECK_TIMEOUT = 10.0  # seconds for the TCP connect plus TLS handshake of the server check


def _read(creds: PartyCredentials) -> tuple[bytes, bytes, bytes]:
    return creds.cert_path.read_bytes(), creds.key_path.read_bytes(), creds.ca_path.read_bytes()


def server_credentials(creds: PartyCredentials) -> grpc.ServerCredentials:
    """Server side: present our certificate, require and verify the client's against the CA."""
    cert, key, ca = _read(creds)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(creds: PartyCredentials) -> grpc.ChannelCredentials:
    cert, key, ca = _read(creds)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


class PeerUnavailable(grpc.RpcError):
    """The server could not be reached (refused, timed out, TLS handshake failed) while checking
    its certificate. It is a :class:`grpc.RpcError` with code ``UNAVAILABLE``, exactly what a gRPC
    call to an absent server raises, so callers' reconnect-with-backoff loops treat it the same."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self._details = details

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> tuple:  # type: ignore[type-arg]
        return ()

    def trailing_metadata(self) -> tuple:  # type: ignore[type-arg]
        return ()

    def __str__(self) -> str:
        return self._details


def _host_port(address: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``dns:///host:port`` -> (host, port)."""
    target = address
    if target.startswith("dns:"):
        target = target[4:].lstrip("/")
    try:
        if target.startswith("["):
            host, _, rest = target[1:].partition("]")
            if not rest.startswith(":"):
                raise ValueError
            port = int(rest[1:])
        else:
            host, _, p = target.rpartition(":")
            port = int(p)
        if not host or not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError(f"aggregator address {address!r}: expected host:port (or [ipv6]:port)") from None
    return host, port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def fetch_server_certificate(address: str, creds: PartyCredentials, *, timeout: float = CHECK_TIMEOUT) -> bytes:
    """The certificate (DER) the server at ``address`` presents in a mutual-TLS handshake made
    with our own certificate and key, as gRPC would; the socket is closed right after.

    The handshake proves the server holds the key of the certificate it presented; whether that
    certificate is acceptable is decided by :func:`check_server_certificate`, not here (the
    ``ssl`` context does not verify, so that the refusal can say which identity was found)."""
    host, port = _host_port(address)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # verified below with the project's own checks, then again by gRPC
    try:
        ctx.load_cert_chain(str(creds.cert_path), str(creds.key_path))
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(f"{creds.cert_path} / {creds.key_path}: cannot be used for TLS ({exc})") from None
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=None if _is_ip(host) else host) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLError as exc:
        raise PeerUnavailable(f"{address}: TLS handshake failed while checking the server's certificate "
                              f"({exc.reason or exc})") from None
    except OSError as exc:  # refused, unreachable, timed out, name not resolved
        raise PeerUnavailable(f"{address}: cannot reach the server to check its certificate "
                              f"({exc.strerror or exc.__class__.__name__})") from None
    if not der:
        raise CertificateError(f"the server at {address} presented no certificate; expected one of the federation CA")
    return der


def check_server_certificate(address: str, der: bytes, ca_pem: bytes, *, crl: Path | str | RevocationList | None = None,
                             expect_role: str = "aggregator") -> Identity:
    """Refuse (:class:`CertificateError`) a server certificate that is not from the federation CA,
    not valid now, not of role ``expect_role`` or revoked on ``crl``; the message names the
    address, the identity found and the identity expected. Returns the server's identity."""
    expected = f"urn:wijkindex:{expect_role}:<name>"
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateError(f"the server at {address} presented an unreadable certificate; "
                               f"expected {expected}") from None
    pem = cert.public_bytes(serialization.Encoding.PEM)
    try:
        identity = verify_party_certificate(pem, ca_pem)
    except CertificateError as exc:
        raise CertificateError(f"the server at {address} is refused: {exc.message}; expected {expected}",
                               fix="point the config's aggregator address at the federation's aggregator, or "
                                   "have the federation CA issue the aggregator a new certificate") from None
    if identity.role != expect_role:
        raise CertificateError(
            f"the server at {address} presents the certificate of {identity.uri} (role {identity.role}); "
            f"expected {expected} (role {expect_role})",
            fix=f"point the config's aggregator address at the {expect_role}; a certificate of role "
                f"{identity.role} may not serve as the {expect_role}")
    revoked = crl if isinstance(crl, RevocationList) else RevocationList(crl, ca_pem) if crl else None
    if revoked is not None and revoked.is_revoked(cert):
        raise CertificateError(
            f"the server at {address} presents the certificate of {identity.uri}, which the federation CA "
            f"revoked (serial {cert.serial_number:x}, list {revoked.path}); expected a valid {expected}",
            fix=f"the {expect_role} needs a new certificate from the federation CA; until then nothing connects")
    return identity


def verify_server(address: str, creds: PartyCredentials, *, crl: Path | str | RevocationList | None = None,
                  expect_role: str = "aggregator", timeout: float = CHECK_TIMEOUT) -> Identity:
    """Handshake with the server at ``address`` and check its certificate: federation CA, valid
    now, role ``expect_role``, not revoked. :class:`PeerUnavailable` if it cannot be reached,
    :class:`CertificateError` if it is the wrong party."""
    if expect_role not in ROLES:
        raise ValueError(f"expect_role must be one of {', '.join(ROLES)}, got {expect_role!r}")
    der = fetch_server_certificate(address, creds, timeout=timeout)
    return check_server_certificate(address, der, creds.ca_path.read_bytes(), crl=crl, expect_role=expect_role)


def secure_channel(address: str, creds: PartyCredentials, *, crl: Path | str | RevocationList | None = None,
                   expect_role: str = "aggregator", timeout: float = CHECK_TIMEOUT) -> grpc.Channel:
    """A mutual-TLS channel to the aggregator, opened only after its certificate was checked.

    gRPC Python gives a client no hook on the server's certificate, so before the channel is
    made (at every call of this function, which is how the nodes reconnect) this makes a TLS
    handshake of its own to ``address`` with the same CA and client certificate and checks the
    certificate it gets (:func:`verify_server`): from the federation CA, valid now, of role
    ``expect_role`` (``urn:wijkindex:aggregator:<name>``) and, with ``crl`` (a path or a
    :class:`~wijkindex.security.revocation.RevocationList`), not revoked -- a CRL past its
    nextUpdate is refused too. A wrong party raises :class:`CertificateError`; a server that
    cannot be reached raises :class:`PeerUnavailable` (a ``grpc.RpcError``, ``UNAVAILABLE``).

    What the check binds is the address, not the connection: gRPC opens its own connection
    afterwards, and re-opens it by itself if it drops. A server swapped in at the same address
    between the check and gRPC's connect (or at a transparent reconnect) is a network attacker,
    and it must still pass gRPC's own checks: a chain to the federation CA, the address's name
    among the certificate's DNS/IP names, and the serverAuth extended key usage (BoringSSL
    enforces it). The federation PKI gives serverAuth only to the aggregator (``pki._issue``;
    ``init_pki`` also gives DNS/IP names only to it), so such an attacker needs an aggregator
    certificate the CA issued; one revoked since is the residual risk, for as long as one
    channel lives (nodes make a new channel, and check again, whenever a call fails with
    ``UNAVAILABLE``).
    """
    verify_server(address, creds, crl=crl, expect_role=expect_role, timeout=timeout)
    return grpc.secure_channel(address, channel_credentials(creds), options=GRPC_OPTIONS)
