"""Numbered errors a user can hit, each with a short fix (see docs/errors.md).

Every error a person can cause (bad input file, bad spec, bad certificate, budget
exhausted) is a :class:`WijkindexError` with a stable code, a message naming what and
where, and a hint on how to resolve it.  Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


class WijkindexError(Exception):
    """Base class: ``code`` is stable (documented in docs/errors.md), ``fix`` says what to do."""

    code: str = "WI000"
    fix: str = ""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if fix is not None:
            self.fix = fix

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.fix:
            text += f"\n  how to resolve: {self.fix}"
        return text


@dataclass(frozen=True)
class Location:
    """Where a bad value sits: file, 1-based data row (header is row 0), column."""

    file: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class InputFileError(WijkindexError):
    """A holder's data file cannot be read or has bad values (names file, row, column)."""

    code = "WI100"
    fix = "correct the named file at the named row and column, or set on_invalid = \"exclude\" in the node config"


class ConfigError(WijkindexError):
    """A TOML config or round spec is invalid; the message lists every offending field."""

    code = "WI200"
    fix = "edit the named fields of the file; see docs/operator-guide.md for every field"


class SpecError(ConfigError):
    """A round spec is invalid (unknown node, unknown indicator, bad privacy loss...)."""

    code = "WI210"
    fix = "correct the round spec; `wijkindex round start --help` shows an example"


class BudgetExceeded(WijkindexError):
    """A node's privacy ledger would pass its configured total: the round is refused."""

    code = "WI300"
    fix = "lower privacy_loss in the round spec, or start a new period; the ledger total is set in the node config"


class CryptoError(WijkindexError):
    """A sealed payload or envelope failed authentication or decoding (tampered or misrouted)."""

    code = "WI400"
    fix = "the message was altered or sent to the wrong party; check the audit log and re-run the round"


class CertificateError(WijkindexError):
    """A certificate is missing, expired, of the wrong role, or not issued by the federation CA."""

    code = "WI500"
    fix = "issue a new certificate for the party with `wijkindex pki init` or the federation CA"


class AuthorisationError(WijkindexError):
    """A caller's role may not call this RPC."""

    code = "WI510"
    fix = "use the certificate of the role this command needs (coordinator, researcher, node)"


class RoundFailed(WijkindexError):
    """A round ended `failed`; the message carries the reason."""

    code = "WI600"
    fix = "read the reason; `wijkindex round status ID` and the aggregator's audit log say more"
