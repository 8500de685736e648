"""Errors the analyzer library raises for problems the user can fix.

The CLI turns these into ``click.ClickException`` (exit code 2) and prints the message as is,
so a message must say what went wrong *and* what to do::

    raise SourceError("kubectl has no current context: pass --context or --source file")
"""

from __future__ import annotations


class AnalyzerError(Exception):
    """Base class of the analyzer's user-facing errors."""


class SourceError(AnalyzerError):
    """A log source cannot be read: missing file, kubectl failure, Cloud Logging refused."""
