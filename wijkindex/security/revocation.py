"""Certificate revocation: the federation CA's CRL, written by `wijkindex pki revoke`, checked on
every call by the aggregator and by nodes on the certificates they rely on.

The list is re-read whenever its file changes, so a revocation takes effect without a restart.
A CRL that is not signed by the federation CA is an error, never an empty list.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from wijkindex.errors import CertificateError
from wijkindex.security.pki import identity_from_certificate, load_certificate, load_private_key


class RevocationList:
    """Serial numbers the federation CA has revoked; empty when no CRL file is configured."""

    def __init__(self, path: Path | str | None, ca_pem: bytes) -> None:
        self.path = Path(path) if path else None
        self._ca = x509.load_pem_x509_certificate(ca_pem)
        self._serials: frozenset[int] = frozenset()
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise CertificateError(f"{self.path}: the configured certificate revocation list is missing") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            crl = x509.load_pem_x509_crl(self.path.read_bytes())
        except ValueError:
            raise CertificateError(f"{self.path}: not a PEM certificate revocation list") from None
        if crl.issuer != self._ca.subject or not crl.is_signature_valid(self._ca.public_key()):  # type: ignore[arg-type]
            raise CertificateError(f"{self.path}: the revocation list is not signed by the federation CA")
        self._serials = frozenset(r.serial_number for r in crl)
        self._stamp = stamp

    def is_revoked(self, cert: bytes | x509.Certificate) -> bool:
        if self.path is None:
            return False
        if isinstance(cert, bytes):
            cert = x509.load_pem_x509_certificate(cert)
        with self._lock:
            self._load()
            return cert.serial_number in self._serials

    def check(self, cert: bytes | x509.Certificate, what: str = "certificate") -> None:
        """CertificateError if ``cert`` is revoked."""
        if self.is_revoked(cert):
            c = x509.load_pem_x509_certificate(cert) if isinstance(cert, bytes) else cert
            raise CertificateError(f"{what} of {identity_from_certificate(c).uri} is revoked by the federation CA")


def revoke(ca_dir: Path | str, cert_path: Path | str, crl_path: Path | str | None = None) -> Path:
    """Add ``cert_path``'s certificate to the CA's CRL (``ca_dir/crl.pem`` unless given), re-signed.

    The new list is written to a temp file and renamed into place: readers see the old or the new
    list, never half of one."""
    ca_dir = Path(ca_dir)
    crl_path = Path(crl_path) if crl_path else ca_dir / "crl.pem"
    ca_cert = load_certificate(ca_dir / "ca.pem")
    ca_key = load_private_key(ca_dir / "ca-key.pem")
    cert = load_certificate(cert_path)
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(f"{cert_path} was not issued by the CA in {ca_dir}") from None
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - timedelta(minutes=1)).next_update(now + timedelta(days=30)))
    seen = {cert.serial_number}
    builder = builder.add_revoked_certificate(
        x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build())
    if crl_path.exists():
        for r in x509.load_pem_x509_crl(crl_path.read_bytes()):
            if r.serial_number not in seen:
                seen.add(r.serial_number)
                builder = builder.add_revoked_certificate(r)
    crl = builder.sign(ca_key, hashes.SHA256())
    tmp = crl_path.with_name(f".{crl_path.name}.tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    tmp.replace(crl_path)
    return crl_path
