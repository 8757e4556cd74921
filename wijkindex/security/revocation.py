"""Certificate revocation: the federation CA's CRL, written by `wijkindex pki revoke`, checked on
every call by the aggregator and by nodes on the certificates they rely on.

The list is re-read whenever its file changes, so a revocation takes effect without a restart.
A CRL that is not signed by the federation CA is an error, never an empty list; so is one whose
nextUpdate has passed (a stale list could hide a revocation made since): every check refuses
until the CA publishes a fresh one. `revoke` and `publish_crl` sign lists valid for
``CRL_VALID_DAYS`` (30) days.
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

CRL_VALID_DAYS = 30  # how long a list `wijkindex pki revoke` / `pki crl` signs stays valid (its nextUpdate)


def _stale_fix(path: Path) -> str:
    return ("the federation CA must publish a fresh list: `wijkindex pki crl CA_DIR` re-signs it (so does "
            f"`wijkindex pki revoke CA_DIR PARTY`), valid for {CRL_VALID_DAYS} days; then copy it to {path}")


class RevocationList:
    """Serial numbers the federation CA has revoked; empty when no CRL file is configured."""

    def __init__(self, path: Path | str | None, ca_pem: bytes) -> None:
        self.path = Path(path) if path else None
        self._ca = x509.load_pem_x509_certificate(ca_pem)
        self._serials: frozenset[int] = frozenset()
        self._next_update: datetime | None = None
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
            self._check_fresh()
            return
        try:
            crl = x509.load_pem_x509_crl(self.path.read_bytes())
        except ValueError:
            raise CertificateError(f"{self.path}: not a PEM certificate revocation list") from None
        if crl.issuer != self._ca.subject or not crl.is_signature_valid(self._ca.public_key()):  # type: ignore[arg-type]
            raise CertificateError(f"{self.path}: the revocation list is not signed by the federation CA")
        next_update = crl.next_update_utc
        if next_update is None:
            raise CertificateError(f"{self.path}: the revocation list has no nextUpdate, so its freshness cannot "
                                   "be judged", fix=_stale_fix(self.path))
        self._serials = frozenset(r.serial_number for r in crl)
        self._next_update = next_update
        self._stamp = stamp
        self._check_fresh()

    def _check_fresh(self) -> None:
        """Refuse a list past its nextUpdate: checked on every use, since time passes without the file changing."""
        if self._next_update is not None and datetime.now(timezone.utc) > self._next_update:
            raise CertificateError(
                f"the certificate revocation list at {self.path} expired at {self._next_update:%Y-%m-%d %H:%M} UTC "
                "(its nextUpdate); a stale list could hide a revocation, so every certificate check is refused",
                fix=_stale_fix(self.path))  # type: ignore[arg-type]

    @property
    def next_update(self) -> datetime | None:
        """When the loaded list expires (None without a list)."""
        return self._next_update

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


def _existing(crl_path: Path, ca_cert: x509.Certificate) -> list[x509.RevokedCertificate]:
    """The entries of the CA's current list (it may have expired; its signature must hold)."""
    if not crl_path.exists():
        return []
    try:
        crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    except ValueError:
        raise CertificateError(f"{crl_path}: not a PEM certificate revocation list") from None
    if crl.issuer != ca_cert.subject or not crl.is_signature_valid(ca_cert.public_key()):  # type: ignore[arg-type]
        raise CertificateError(f"{crl_path}: the revocation list is not signed by this CA; refusing to re-sign "
                               "its entries", fix="remove the file if it is not this CA's list")
    return list(crl)


def _sign(ca_dir: Path, crl_path: Path, add: x509.Certificate | None, valid_days: int) -> Path:
    if not 1 <= valid_days <= 366:
        raise CertificateError(f"a revocation list valid for {valid_days} days: use 1 to 366 days")
    ca_cert = load_certificate(ca_dir / "ca.pem")
    ca_key = load_private_key(ca_dir / "ca-key.pem")
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - timedelta(minutes=1)).next_update(now + timedelta(days=valid_days)))
    seen: set[int] = set()
    for r in _existing(crl_path, ca_cert):  # every entry kept, with its first revocation date
        if r.serial_number not in seen:
            seen.add(r.serial_number)
            builder = builder.add_revoked_certificate(r)
    if add is not None and add.serial_number not in seen:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(add.serial_number).revocation_date(now).build())
    crl = builder.sign(ca_key, hashes.SHA256())
    tmp = crl_path.with_name(f".{crl_path.name}.tmp")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    tmp.replace(crl_path)
    return crl_path


def revoke(ca_dir: Path | str, cert_path: Path | str, crl_path: Path | str | None = None, *,
           valid_days: int = CRL_VALID_DAYS) -> Path:
    """Add ``cert_path``'s certificate to the CA's CRL (``ca_dir/crl.pem`` unless given), re-signed
    with a nextUpdate ``valid_days`` from now.

    The new list is written to a temp file and renamed into place: readers see the old or the new
    list, never half of one."""
    ca_dir = Path(ca_dir)
    crl_path = Path(crl_path) if crl_path else ca_dir / "crl.pem"
    cert = load_certificate(cert_path)
    try:
        cert.verify_directly_issued_by(load_certificate(ca_dir / "ca.pem"))
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(f"{cert_path} was not issued by the CA in {ca_dir}") from None
    return _sign(ca_dir, crl_path, cert, valid_days)


def publish_crl(ca_dir: Path | str, crl_path: Path | str | None = None, *, valid_days: int = CRL_VALID_DAYS) -> Path:
    """Re-sign the CA's CRL (``ca_dir/crl.pem`` unless given) with the same entries and a fresh
    nextUpdate ``valid_days`` from now; an empty list if there is none yet. Run it before the
    list's nextUpdate (e.g. weekly, from cron) so that no party refuses an expired list."""
    ca_dir = Path(ca_dir)
    return _sign(ca_dir, Path(crl_path) if crl_path else ca_dir / "crl.pem", None, valid_days)
