"""Numbered errors a user can hit, each with a short fix (see docs/errors.md).

Every error a person can cause (bad input file, bad spec, bad certificate, budget
exhausted) is a :class:`WijkindexError` with a stable code, a message naming what and
where, and a hint on how to resolve it.  Programming errors stay ordinary exceptions.

Two texts per error
-------------------
``str(exc)`` is the *local* text, for the party's own log and console: it may quote what
was wrong (a masked BSN, up to 20 characters of a field value, a full path).

``exc.public_message()`` is the only text that may *leave* a party.  The contract:

* anything a node sends to the aggregator about a failure -- ``JoinReply.reason``,
  ``ReportFailure.reason`` (``NodeFailure.reason``) -- is ``exc.public_message()`` (or, for an
  exception that is not a :class:`WijkindexError`, :func:`public_reason`), never ``str(exc)``;
  the aggregator stores it as the round's reason and researchers can read it;
* it is ``"[CODE] " + public-or-summary`` and the class's fix line; it holds only the error
  code, file names (basename, no folders), column names the node's config declares, dataset
  names, row numbers and counts, and fixed phrases -- never a record value or any part of one,
  and no header cell a file wrote (a file without a header row has a child's values there);
* ``public`` is given by the raiser (``InputFileError(local, public=...)``); an error raised
  without one falls back to the class's value-free ``summary``, so forgetting it is safe;
* the fix in the public text is always the class's ``fix`` (an instance ``fix=`` is shown
  locally only, since it may name a folder).
"""

from __future__ import annotations

from dataclasses import dataclass


class WijkindexError(Exception):
    """Base class: ``code`` is stable (documented in docs/errors.md), ``fix`` says what to do.

    ``message`` (``str(exc)``) is for the local log; ``public`` / :meth:`public_message` is
    what may be sent to another party (see the module docstring for the contract)."""

    code: str = "WI000"
    fix: str = ""
    # True where every message of the class is composed of names, codes and counts (never a
    # record value), so the message itself may leave the party (``public_reason``)
    value_free: bool = False
    summary: str = "an error occurred at this party; its own log has the details"

    def __init__(self, message: str, *, fix: str | None = None, public: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.public = public
        if fix is not None:
            self.fix = fix

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.fix:
            text += f"\n  how to resolve: {self.fix}"
        return text

    def public_message(self) -> str:
        """The text that may leave this party: code, the value-free ``public`` text (or the
        class's summary) and the class's fix; never a record value."""
        text = f"[{self.code}] {self.public or self.summary}"
        fix = type(self).fix
        if fix:
            text += f"\n  how to resolve: {fix}"
        return text


def public_reason(exc: BaseException) -> str:
    """The reason a node may send for any exception: ``"[CODE] message"`` for a value-free class
    raised without a ``public`` text, ``exc.public_message()`` for our others, a fixed text naming
    only the exception's type for anything else (its str() may quote data)."""
    if isinstance(exc, WijkindexError):
        if exc.value_free and not exc.public:
            return f"[{exc.code}] {exc.message}"
        return exc.public_message()
    return f"[{WijkindexError.code}] internal error ({type(exc).__name__}); the party's own log has the details"


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
    summary = "a data file cannot be read or has invalid values; the node's log names file, row and column"
    fix = ("correct the named file, or the datasets.toml line that reads it; `wijkindex node check --config "
           "node.toml` lists every problem before a round")


class ConfigError(WijkindexError):
    """A TOML config or round spec is invalid; the message lists every offending field."""

    code = "WI200"
    summary = "a config file is invalid; the party's log lists the fields"
    fix = "edit the named fields of the file; see docs/operator-guide.md for every field"


class SpecError(ConfigError):
    """A round spec is invalid (unknown node, unknown indicator, bad privacy loss...)."""

    code = "WI210"
    value_free = True
    summary = "the round spec is invalid"
    fix = "correct the round spec; `wijkindex round start --help` shows an example"


class BudgetExceeded(WijkindexError):
    """A node's privacy ledger would pass its configured total: the round is refused."""

    code = "WI300"
    value_free = True
    summary = "a privacy budget would be exceeded"
    fix = "lower privacy_loss in the round spec, or start a new period; the ledger total is set in the node config"


class CryptoError(WijkindexError):
    """A sealed payload or envelope failed authentication or decoding (tampered or misrouted)."""

    code = "WI400"
    value_free = True
    summary = "a sealed message, ciphertext or key failed to verify or decode"
    fix = "the message was altered or sent to the wrong party; check the audit log and re-run the round"


class CertificateError(WijkindexError):
    """A certificate is missing, expired, of the wrong role, or not issued by the federation CA."""

    code = "WI500"
    value_free = True
    summary = "a certificate was refused (missing, expired, wrong role or not from the federation CA)"
    fix = "issue a new certificate for the party with `wijkindex pki init` or the federation CA"


class AuthorisationError(WijkindexError):
    """A caller's role may not call this RPC."""

    code = "WI510"
    summary = "this role may not make the call"
    fix = "use the certificate of the role this command needs (coordinator, researcher, node)"


class RoundFailed(WijkindexError):
    """A round ended `failed`; the message carries the reason."""

    code = "WI600"
    summary = "the round failed"
    fix = "read the reason; `wijkindex round status ID` and the aggregator's audit log say more"
