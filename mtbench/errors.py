"""Errors that reach the user as one line (the CLI prints ``str(exc)`` and exits with ``exit_code``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MtbenchError(Exception):
    """A failure the user can act on; printed as one line, exit code 1."""

    exit_code = 1


class UsageError(MtbenchError, ValueError):
    """Bad command-line usage or configuration (unknown name, bad option); exit code 2."""

    exit_code = 2


class DataError(MtbenchError):
    """A dataset file or folder is missing or malformed; the message names the file."""


class RecordError(MtbenchError):
    """A result record is malformed or cannot be written; the message names the file."""


def unknown_name(kind: str, name: str, valid: Iterable[str], hint: str = "") -> UsageError:
    """Build the standard 'Unknown <kind> ...' error with close matches and the valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1)
    msg = f"Unknown {kind} '{name}'"
    if close:
        msg += f"; did you mean '{close[0]}'?"
    msg += f" Valid: {', '.join(valid)}."
    if hint:
        msg += f" {hint}"
    return UsageError(msg)
