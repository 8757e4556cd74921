"""The federation PKI: a development CA and one certificate per party.

Every certificate names exactly one role and one party as a SAN URI
``urn:wijkindex:<role>:<party>``; keys are EC P-256 (the same key signs envelopes).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wijkindex.errors import CertificateError

ROLES = ("aggregator", "node", "coordinator", "researcher")
_PARTY = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_URI = re.compile(r"^urn:wijkindex:([a-z]+):(.+)$")


@dataclass(frozen=True)
class Identity:
    role: str
    party: str

    @property
    def uri(self) -> str:
        return f"urn:wijkindex:{self.role}:{self.party}"

    @classmethod
    def from_uri(cls, uri: str) -> "Identity":
        m = _URI.match(uri)
        if not m or m.group(1) not in ROLES or not _PARTY.match(m.group(2)):
            raise CertificateError(f"{uri!r} is not a wijkindex identity (urn:wijkindex:<role>:<party>)")
        return cls(m.group(1), m.group(2))


def load_certificate(path: Path | str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{path}: not a readable PEM certificate ({exc})") from None


def load_private_key(path: Path | str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(f"{path}: not a readable PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{path}: wijkindex keys are EC P-256 keys")
    return key


def identity_from_certificate(cert: x509.Certificate | bytes) -> Identity:
    if isinstance(cert, bytes):
        cert = x509.load_pem_x509_certificate(cert)
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    ours = [u for u in uris if u.startswith("urn:wijkindex:")]
    if len(ours) != 1:
        raise CertificateError(f"certificate {cert.subject.rfc4514_string()} names {len(ours)} wijkindex "
                               "identities; exactly one is required")
    return Identity.from_uri(ours[0])


def check_validity(cert: x509.Certificate, source: str, at: datetime | None = None) -> None:
    at = at or datetime.now(timezone.utc)
    if at < cert.not_valid_before_utc:
        raise CertificateError(f"{source}: not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if at > cert.not_valid_after_utc:
        raise CertificateError(f"{source}: expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def verify_party_certificate(cert_pem: bytes, ca_pem: bytes, *, expected: Identity | None = None,
                             at: datetime | None = None) -> Identity:
    """Check a peer's certificate was issued by the federation CA, is valid now, and names ``expected``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise CertificateError("not a PEM certificate") from None
    if cert.issuer != ca.subject:
        raise CertificateError(f"certificate of {cert.subject.rfc4514_string()} was not issued by the federation CA")
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,  # type: ignore[call-arg, union-attr]
                               ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
    except (InvalidSignature, TypeError):
        raise CertificateError("certificate signature does not verify against the federation CA") from None
    check_validity(cert, f"certificate of {cert.subject.rfc4514_string()}", at)
    identity = identity_from_certificate(cert)
    if expected is not None and identity != expected:
        raise CertificateError(f"certificate names {identity.uri}, expected {expected.uri}")
    return identity


@dataclass(frozen=True)
class PartyCredentials:
    identity: Identity
    cert_path: Path
    key_path: Path
    ca_path: Path

    @classmethod
    def from_paths(cls, cert: Path | str, key: Path | str, ca: Path | str) -> "PartyCredentials":
        """Load and check: readable, valid now, one identity; errors name the file."""
        certificate = load_certificate(cert)
        check_validity(certificate, str(cert))
        load_private_key(key)
        load_certificate(ca)
        return cls(identity_from_certificate(certificate), Path(cert), Path(key), Path(ca))

    @classmethod
    def from_dir(cls, pki_dir: Path | str, party: str) -> "PartyCredentials":
        d = Path(pki_dir) / party
        return cls.from_paths(d / "cert.pem", d / "key.pem", d / "ca.pem")


def _write(path: Path, data: bytes, private: bool = False) -> None:
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, identity: Identity,
           hostnames: Sequence[str], not_before: datetime, valid_days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
    for h in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    usage = [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    if identity.role == "aggregator":
        usage.append(x509.oid.ExtendedKeyUsageOID.SERVER_AUTH)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.party),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=valid_days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def issue_certificate(ca_dir: Path | str, identity: Identity, out_dir: Path | str, *, hostnames: Sequence[str] = (),
                      not_before: datetime | None = None, valid_days: int = 365) -> PartyCredentials:
    """Issue a certificate from the CA in ``ca_dir`` into ``out_dir`` (cert.pem, key.pem, ca.pem)."""
    ca_dir, out_dir = Path(ca_dir), Path(out_dir)
    ca_cert = load_certificate(ca_dir / "ca.pem")
    ca_key = load_private_key(ca_dir / "ca-key.pem")
    start = not_before or datetime.now(timezone.utc) - timedelta(minutes=5)
    cert, key = _issue(ca_key, ca_cert, identity, hostnames, start, valid_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (out_dir / name).unlink(missing_ok=True)
    _write(out_dir / "cert.pem", cert.public_bytes(serialization.Encoding.PEM))
    _write(out_dir / "key.pem", _key_pem(key), private=True)
    _write(out_dir / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    return PartyCredentials(identity, out_dir / "cert.pem", out_dir / "key.pem", out_dir / "ca.pem")


def init_pki(out_dir: Path | str, *, nodes: Sequence[str] = ("gemeente", "ggd", "school"),
             extra: Sequence[Identity] = (), hostnames: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
             valid_days: int = 365) -> dict[str, PartyCredentials]:
    """A development CA and one certificate per party, written atomically (temp dir + rename)."""
    out_dir = Path(out_dir)
    if (out_dir / "ca.pem").exists():
        raise CertificateError(f"{out_dir} already holds a CA; refusing to overwrite it",
                               fix="use another folder, or issue single certificates from the existing CA")
    parties = [Identity("aggregator", "aggregator"), Identity("coordinator", "coordinator"),
               Identity("researcher", "researcher"), *(Identity("node", n) for n in nodes), *extra]
    for p in parties:
        if not _PARTY.match(p.party):
            raise CertificateError(f"party name {p.party!r}: lowercase letters, digits and '-' only")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pki-", dir=out_dir.parent))
    try:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wijkindex development CA")])
        now = datetime.now(timezone.utc) - timedelta(minutes=5)
        ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now)
              .not_valid_after(now + timedelta(days=valid_days + 1))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                           content_commitment=False, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False,
                                           encipher_only=False, decipher_only=False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        _write(tmp / "ca.pem", ca.public_bytes(serialization.Encoding.PEM))
        _write(tmp / "ca-key.pem", _key_pem(ca_key), private=True)
        out: dict[str, PartyCredentials] = {}
        for p in parties:
            hosts = hostnames if p.role == "aggregator" else ()
            issue_certificate(tmp, p, tmp / p.party, hostnames=hosts, valid_days=valid_days)
        if out_dir.exists():
            if any(out_dir.iterdir()):
                raise CertificateError(f"{out_dir} is not empty")
            out_dir.rmdir()
        os.replace(tmp, out_dir)
        for p in parties:
            d = out_dir / p.party
            out[p.party] = PartyCredentials(p, d / "cert.pem", d / "key.pem", d / "ca.pem")
        return out
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
